"""The litellm backend: every hosted provider, by model string (``anthropic/...``, ...).

litellm is an optional extra (``pip install 'promptc[litellm]'``); it takes about two seconds to
import, so it is imported on the first call, not with promptc. ``openai/`` models do not need it:
promptc's own :class:`~promptc._lm.openai.OpenAIBackend` serves them.
"""

from __future__ import annotations

import os
import re
import threading
from typing import Any

from promptc._lm.backend import Backend, LMRequest, LMResponse, blank_out, public_base
from promptc.exceptions import (
    LMConfigurationError,
    LMError,
    LMRequestError,
    LMTimeoutError,
    RateLimitError,
    ServerError,
)

__all__ = ["LiteLLMBackend", "import_litellm"]

_IMPORT_LOCK = threading.Lock()
# Environment variables litellm takes a provider's base URL from (OPENAI_BASE_URL,
# OLLAMA_API_BASE, AZURE_API_BASE, ...): they change where a request goes, so they key the cache.
_BASE_VAR = re.compile(r"(_API_BASE|_BASE_URL|_API_BASE_URL)$")
_SECRET_VAR = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD)$")


def _shown(base: str) -> str:
    """A base URL as shown and keyed (:func:`public_base`), or a placeholder for a non-URL."""
    return public_base(base) or "<an api_base that is not a URL>"


def _environment_bases() -> str | None:
    """The base URLs set in the environment, as one string (None when there are none, so the
    cache keys of a plain setup stay what they were)."""
    found = sorted((k, _shown(v)) for k, v in os.environ.items() if _BASE_VAR.search(k) and v)
    return "env " + " ".join(f"{k}={v}" for k, v in found) if found else None


def import_litellm() -> Any:
    """Import litellm with its remote price-table fetch turned off.

    Raises:
        LMConfigurationError: litellm is not installed (the message gives the install command).
    """
    with _IMPORT_LOCK:
        os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        try:
            import litellm
        except ImportError as exc:
            raise LMConfigurationError(
                f"litellm is not installed ({exc}): pip install 'promptc[litellm]', or reach "
                "an OpenAI-compatible endpoint without it: LM('openai/<name>', api_base=...)"
            ) from None

        litellm.suppress_debug_info = True
        return litellm


def _map_error(litellm: Any, exc: Exception, model: str, redact: Any) -> LMError:
    """Sort litellm's exceptions into retryable and final ones (``redact`` blanks secrets out
    of the message: a provider's error may quote the key it was sent)."""
    msg = f"{model}: {type(exc).__name__}: {redact(str(exc))[:500]}"
    if isinstance(exc, litellm.Timeout):
        return LMTimeoutError(msg, model=model)
    if isinstance(exc, litellm.AuthenticationError) or "Missing credentials" in str(exc):
        # litellm reports a missing OpenAI key as a 500; retrying cannot make a key appear.
        return LMConfigurationError(
            f"{msg}. Set the provider's API key in the environment (e.g. OPENAI_API_KEY).",
            model=model,
        )
    if isinstance(exc, litellm.RateLimitError):
        return RateLimitError(msg, model=model)
    transient = (
        litellm.InternalServerError,
        litellm.ServiceUnavailableError,
        litellm.APIConnectionError,
        litellm.BadGatewayError,
    )
    if isinstance(exc, transient):
        return ServerError(msg, model=model)
    if isinstance(exc, litellm.BadRequestError) and "LLM Provider NOT provided" in str(exc):
        return LMConfigurationError(
            f"unknown model {model!r}: litellm knows no provider for it. Use a litellm model "
            "string such as 'openai/gpt-4o-mini', or 'local/qwen2.5-coder-0.5b' for the "
            "embedded model.",
            model=model,
        )
    status = getattr(exc, "status_code", None)
    if isinstance(status, int) and status >= 500:
        return ServerError(msg, model=model)
    return LMRequestError(msg, model=model)


class LiteLLMBackend(Backend):
    """Calls ``litellm.completion`` (retries are left to :class:`~promptc.LM`).

    Args:
        api_base: the provider's base URL, when not its default; it enters cache keys (as
            :attr:`endpoint`) but is never written into artifacts.
        api_key: the provider's API key, when not from its environment variable; it stays in
            this process (never written, cached or shown).
        extra: further keyword arguments for every litellm call (``mock_response``, ...); they
            are never written into artifacts or cache keys.
    """

    def __init__(
        self, *, api_base: str | None = None, api_key: str | None = None, **extra: Any
    ) -> None:
        self.endpoint = _shown(api_base) if api_base is not None else _environment_bases()
        self._secrets = [api_key] if api_key else []
        self._auth = {
            k: v for k, v in (("api_base", api_base), ("api_key", api_key)) if v is not None
        }
        self.extra = extra
        self._checked: set[str] = set()

    def __repr__(self) -> str:
        return f"LiteLLMBackend(endpoint={self.endpoint!r})"

    def _redact(self, text: str) -> str:
        """``text`` without the key given here or any secret-named environment variable's value."""
        named = [v for k, v in os.environ.items() if _SECRET_VAR.search(k) and len(v) >= 8]
        return blank_out(text, [*self._secrets, *named])

    def _check_environment(self, litellm: Any, request: LMRequest) -> None:
        """Fail fast, naming the variable, when the provider's API key is not set.

        Without this, litellm reports a missing OpenAI key as a server error, which would be
        retried with backoff before failing with a misleading message.
        """
        model, given = request.model, {**self.extra, **self._auth}
        if model in self._checked or "api_key" in given or "mock_response" in given:
            return
        try:
            env = litellm.validate_environment(model=model)
        except Exception:  # an unknown provider: the call itself says so, clearly
            return
        missing = [k for k in env.get("missing_keys") or [] if str(k).endswith("_API_KEY")]
        if missing:
            raise LMConfigurationError(
                f"{model}: the environment variable {' / '.join(missing)} is not set. Export "
                f"it (export {missing[0]}=...), pass LM(..., api_key=...), or use "
                "'local/qwen2.5-coder-0.5b' to run offline.",
                model=model,
            )
        self._checked.add(model)

    def _kwargs(self, request: LMRequest) -> dict[str, Any]:
        return {
            "model": request.model,
            "messages": request.message_list,
            "temperature": request.temperature,
            "max_tokens": request.max_tokens,
            "timeout": request.timeout,
            "num_retries": 0,
            **request.param_dict,
            **self.extra,
            **self._auth,
        }

    def complete(self, request: LMRequest) -> LMResponse:
        litellm = import_litellm()
        self._check_environment(litellm, request)
        try:
            raw = litellm.completion(**self._kwargs(request))
        except Exception as exc:
            raise _map_error(litellm, exc, request.model, self._redact) from None
        return _to_response(litellm, raw, request.model)

    async def acomplete(self, request: LMRequest) -> LMResponse:
        litellm = import_litellm()
        self._check_environment(litellm, request)
        try:
            raw = await litellm.acompletion(**self._kwargs(request))
        except Exception as exc:
            raise _map_error(litellm, exc, request.model, self._redact) from None
        return _to_response(litellm, raw, request.model)


def _to_response(litellm: Any, raw: Any, model: str) -> LMResponse:
    choice = raw.choices[0]
    usage = getattr(raw, "usage", None)
    # litellm has usually priced the call already; asking again costs ~0.6 ms per call.
    known = (getattr(raw, "_hidden_params", None) or {}).get("response_cost")
    try:
        cost: float | None = (
            float(known)
            if known is not None
            else float(litellm.completion_cost(completion_response=raw))
        )
    except Exception:  # price unknown for this model: report None, not 0
        cost = None
    return LMResponse(
        text=choice.message.content or "",
        prompt_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
        completion_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
        cost=cost,
        finish_reason=getattr(choice, "finish_reason", None),
        model=getattr(raw, "model", None) or model,
    )
