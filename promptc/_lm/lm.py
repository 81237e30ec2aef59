"""``LM``: one model with its sampling settings, cache, retries, concurrency limit and usage.

Model strings are uniform: ``local/<name>`` runs an embedded model in-process; ``openai/<name>``
goes to any OpenAI-compatible Chat Completions endpoint through promptc's own HTTP backend
(OpenAI, Azure, vLLM, llama.cpp server, Ollama, LM Studio, ...: ``api_base=``); any other
provider prefix (``anthropic/...``, ``gemini/...``) goes to litellm, an optional extra.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import random
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from promptc._lm.backend import Backend, LMRequest, LMResponse, Message
from promptc._lm.cache import Cache
from promptc._lm.context import current_meters
from promptc._lm.sampling import check_model, check_params
from promptc._lm.usage import Usage, UsageTracker
from promptc.exceptions import (
    CacheError,
    ConfigurationError,
    LMError,
    RetriesExhaustedError,
    TransientLMError,
)

if TYPE_CHECKING:
    import asyncio  # at run time only in async code: it costs ~20 ms at import time

__all__ = ["DEFAULT_MODEL", "LM", "default_lm"]

logger = logging.getLogger(__name__)

DEFAULT_MODEL = "local/qwen2.5-coder-0.5b"
T = TypeVar("T")


def _backend_for(model: str, api_base: str | None, api_key: str | None) -> Backend:
    if model.startswith("local/"):
        if api_base is not None or api_key is not None:
            raise ConfigurationError(
                f"{model} runs in this process: it takes no api_base or api_key. For a model "
                "served over HTTP use 'openai/<name>' with api_base=..."
            )
        from promptc._local.backend import LocalBackend

        return LocalBackend(model.removeprefix("local/"))
    if model.startswith("openai/"):
        from promptc._lm.openai import OpenAIBackend

        return OpenAIBackend(api_base=api_base, api_key=api_key)
    if importlib.util.find_spec("litellm") is None:
        raise ConfigurationError(
            f"model {model!r} needs litellm, which is not installed: pip install "
            "'promptc[litellm]'. Models served behind an OpenAI-compatible endpoint need no "
            "extra: use 'openai/<name>' with api_base=..."
        )
    from promptc._lm.litellm import LiteLLMBackend

    return LiteLLMBackend(api_base=api_base, api_key=api_key)


def _check_params(params: dict[str, Any], where: str) -> None:
    """Refuse anything but sampling settings (params travel into artifacts and cache keys), by
    the same rule an artifact's ``lm.params`` is checked with, so a compile never ends on an
    LM setting it cannot save."""
    try:
        check_params(params)
    except ValueError as exc:
        raise ConfigurationError(
            f"{where}: {exc}. An endpoint or key goes in LM(api_base=..., api_key=...) (kept in "
            "this process, never saved); other transport options belong to the backend (e.g. "
            "LiteLLMBackend(**options))."
        ) from None


def _check_settings(model: str, temperature: float, max_tokens: int, retries: int) -> None:
    if not isinstance(model, str) or not model.strip():
        raise ConfigurationError(f"model must be a non-empty model string, got {model!r}")
    try:
        check_model(model)  # what an artifact may store, so the compile's result can be saved
    except ValueError as exc:
        raise ConfigurationError(str(exc)) from None
    if not 0.0 <= float(temperature) <= 2.0:
        raise ConfigurationError(f"temperature must be within [0, 2], got {temperature!r}")
    if int(max_tokens) < 1:
        raise ConfigurationError(f"max_tokens must be at least 1, got {max_tokens!r}")
    if int(retries) < 0:
        raise ConfigurationError(f"num_retries must be >= 0, got {retries!r}")


class LM:
    """A language model as promptc calls it.

    Args:
        model: ``local/<name>`` for an embedded model, ``openai/<name>`` for an OpenAI-compatible
            endpoint, else a litellm model string (``pip install 'promptc[litellm]'``).
        api_base: the endpoint's base URL, e.g. ``http://localhost:8000/v1`` for a vLLM server
            (default for ``openai/``: ``$OPENAI_BASE_URL``, else OpenAI's). It is part of every
            cache key but never saved in artifacts.
        api_key: the API key (default for ``openai/``: ``$OPENAI_API_KEY``). It stays in this
            process: never saved, cached, logged or shown.
        temperature: sampling temperature (``0.0`` means greedy, and is kept as such).
        max_tokens: completion length cap.
        cache: ``True`` for the default SQLite cache (``$PROMPTC_CACHE_DIR`` or
            ``~/.cache/promptc``), a path or :class:`Cache` for another, ``False`` for none.
        backend: the transport; chosen from ``model`` by default.
        num_retries: retries of transient errors (timeouts, 429, 5xx), never of bad requests.
        backoff: first retry delay in seconds, doubled each retry (with jitter, capped at 30 s).
        timeout: seconds per call.
        max_concurrency: calls in flight at once through this LM.
        params: further sampling parameters, only those in
            :data:`~promptc._lm.backend.SAMPLING_PARAMS` (``top_p``, ``seed``, ``stop``, ...).

    Raises:
        ConfigurationError: a setting is out of range, ``params`` holds anything but sampling
            settings, or ``model`` needs litellm and it is not installed.
    """

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        *,
        api_base: str | None = None,
        api_key: str | None = None,
        temperature: float = 0.0,
        max_tokens: int = 512,
        cache: bool | str | os.PathLike[str] | Cache = True,
        backend: Backend | None = None,
        num_retries: int = 3,
        backoff: float = 0.5,
        timeout: float | None = 120.0,
        max_concurrency: int = 8,
        params: dict[str, Any] | None = None,
    ) -> None:
        _check_settings(model, temperature, max_tokens, num_retries)
        if max_concurrency < 1:
            raise ConfigurationError(f"max_concurrency must be >= 1, got {max_concurrency!r}")
        _check_params(dict(params or {}), "LM(params=...)")
        if backend is not None and (api_base is not None or api_key is not None):
            raise ConfigurationError(
                "LM got both backend= and api_base=/api_key=: give the endpoint and key to the "
                "backend you pass (e.g. OpenAIBackend(api_base=..., api_key=...))"
            )
        self.model = model
        self.temperature = float(temperature)
        self.max_tokens = int(max_tokens)
        self.params = dict(params or {})
        self.num_retries = int(num_retries)
        self.backoff = float(backoff)
        self.timeout = timeout
        self.max_concurrency = max_concurrency
        self.backend = backend if backend is not None else _backend_for(model, api_base, api_key)
        self.cache = _make_cache(cache)
        self.usage = UsageTracker()
        self._sem = threading.BoundedSemaphore(max_concurrency)
        self._async_sems: dict[asyncio.AbstractEventLoop, asyncio.Semaphore] = {}
        self._sems_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"LM({self.model!r}, temperature={self.temperature}, max_tokens={self.max_tokens})"

    @property
    def endpoint(self) -> str | None:
        """Where this LM's requests go (its backend's base URL, no credentials), if anywhere."""
        return self.backend.endpoint

    def __deepcopy__(self, memo: dict[int, Any]) -> LM:
        return self  # an LM is a shared resource (model, cache, counters), not program state

    def settings(self) -> dict[str, Any]:
        """The settings that change outputs (for artifacts): never keys or endpoints."""
        return {
            "model": self.model,
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            **({"params": dict(sorted(self.params.items()))} if self.params else {}),
        }

    def request(self, messages: list[Message], *, rollout: int = 0, **overrides: Any) -> LMRequest:
        """The request this LM would send for ``messages``.

        Raises:
            ConfigurationError: an override is not a sampling setting.
        """
        temperature = overrides.pop("temperature", self.temperature)
        max_tokens = overrides.pop("max_tokens", self.max_tokens)
        if overrides:
            _check_params(overrides, "an LM call")
        return LMRequest.build(
            self.model,
            messages,
            temperature=temperature,
            max_tokens=max_tokens,
            params={**self.params, **overrides},
            rollout=rollout,
            timeout=self.timeout,
            endpoint=self.backend.endpoint,
        )

    def __call__(
        self, messages: list[Message], *, tag: str = "lm", rollout: int = 0, **overrides: Any
    ) -> LMResponse:
        """Complete ``messages`` (from the cache when possible).

        Args:
            messages: chat messages.
            tag: the name usage is counted under (predictors pass their own name).
            rollout: sample index; different rollouts of one prompt are cached apart.
            overrides: per-call sampling settings (``temperature``, ``max_tokens``, ...).

        Raises:
            LMRequestError: the request is wrong; not retried.
            RetriesExhaustedError: transient errors outlasted ``num_retries``.
        """
        request = self.request(messages, rollout=rollout, **overrides)
        hit = self._cached(request, tag)
        if hit is not None:
            return hit

        def attempt() -> LMResponse:
            with self._sem:
                return self.backend.complete(request)

        response = self._retrying(request, tag, attempt)
        return response

    async def acall(
        self, messages: list[Message], *, tag: str = "lm", rollout: int = 0, **overrides: Any
    ) -> LMResponse:
        """Async twin of :meth:`__call__`."""
        request = self.request(messages, rollout=rollout, **overrides)
        hit = self._cached(request, tag)
        if hit is not None:
            return hit
        sem = self._async_sem()

        async def attempt() -> LMResponse:
            async with sem:
                return await self.backend.acomplete(request)

        return await self._aretrying(request, tag, attempt)

    def _async_sem(self) -> asyncio.Semaphore:
        import asyncio

        # Keyed by the loop itself, not its id: a new loop may reuse a closed one's id, and a
        # semaphore used on one loop cannot be used on another.
        loop = asyncio.get_running_loop()
        sem = self._async_sems.get(loop)
        if sem is None:
            with self._sems_lock:
                for closed in [other for other in self._async_sems if other.is_closed()]:
                    del self._async_sems[closed]
                sem = self._async_sems.setdefault(loop, asyncio.Semaphore(self.max_concurrency))
        return sem

    def record_parse_error(self, tag: str = "lm") -> None:
        """Count a reply of this LM that could not be parsed (predictors call this)."""
        self._record(tag, Usage(parse_errors=1))

    def _take(self) -> None:
        for meter in current_meters():
            if meter.budget is not None:
                meter.budget.take()

    def _record(self, tag: str, usage: Usage) -> None:
        self.usage.record(tag, usage)
        for meter in current_meters():
            meter.usage.record(tag, usage)
            if meter.budget is not None:
                meter.budget.charge(usage)

    def _cached(self, request: LMRequest, tag: str) -> LMResponse | None:
        self._take()
        if self.cache is None:
            return None
        try:
            hit = self.cache.get(request)
        except CacheError:  # logged by the cache; a cache never costs an answer: a miss
            self._record(tag, Usage(cache_errors=1))
            return None
        if hit is not None:
            self._record(tag, Usage.served(hit))
        return hit

    def _done(self, request: LMRequest, tag: str, response: LMResponse) -> LMResponse:
        self._record(tag, Usage.served(response))
        if self.cache is not None:
            try:
                self.cache.put(request, response)
            except CacheError:  # logged by the cache; the answer is returned all the same
                self._record(tag, Usage(cache_errors=1))
        return response

    def _failed(self, tag: str, exc: LMError, attempt: int) -> float:
        """Count a failed call; return the delay before the next try."""
        self._record(tag, Usage(calls=1, errors=1))
        delay: float = min(30.0, self.backoff * (2**attempt)) * (0.5 + random.random() / 2)
        logger.warning(
            "%s: transient error (attempt %d of %d): %s",
            self.model,
            attempt + 1,
            self.num_retries + 1,
            exc,
        )
        return delay

    def _exhausted(self, request: LMRequest, last: TransientLMError) -> RetriesExhaustedError:
        return RetriesExhaustedError(
            f"{request.model}: gave up after {self.num_retries + 1} attempts; last error: {last}",
            model=request.model,
            attempts=self.num_retries + 1,
            last_error=last,
        )

    def _retrying(
        self, request: LMRequest, tag: str, attempt: Callable[[], LMResponse]
    ) -> LMResponse:
        for i in range(self.num_retries + 1):
            try:
                return self._done(request, tag, attempt())
            except TransientLMError as exc:
                delay = self._failed(tag, exc, i)
                if i == self.num_retries:
                    raise self._exhausted(request, exc) from exc
                time.sleep(delay)
                self._take()
            except LMError:
                self._record(tag, Usage(calls=1, errors=1))
                raise
        raise AssertionError("unreachable")

    async def _aretrying(
        self, request: LMRequest, tag: str, attempt: Callable[[], Awaitable[LMResponse]]
    ) -> LMResponse:
        import asyncio

        for i in range(self.num_retries + 1):
            try:
                return self._done(request, tag, await attempt())
            except TransientLMError as exc:
                delay = self._failed(tag, exc, i)
                if i == self.num_retries:
                    raise self._exhausted(request, exc) from exc
                await asyncio.sleep(delay)
                self._take()
            except LMError:
                self._record(tag, Usage(calls=1, errors=1))
                raise
        raise AssertionError("unreachable")


def _make_cache(cache: bool | str | os.PathLike[str] | Cache) -> Cache | None:
    if cache is False:
        return None
    if cache is True:
        return Cache()
    if isinstance(cache, Cache):
        return cache
    if isinstance(cache, (str, os.PathLike)):
        return Cache(Path(cache))
    raise ConfigurationError(f"cache must be True, False, a path or a Cache, got {cache!r}")


def default_lm(**kwargs: Any) -> LM:
    """The LM to use when none is given: ``$PROMPTC_MODEL`` if set, else the embedded model.

    Set ``PROMPTC_MODEL`` (e.g. ``openai/gpt-4o-mini``) together with the provider's API key to
    use a hosted model; without it promptc runs the embedded local model, offline.
    """
    return LM(os.environ.get("PROMPTC_MODEL") or DEFAULT_MODEL, **kwargs)
