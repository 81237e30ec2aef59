"""``dspy_lm``: a ``dspy.LM`` that answers through a :class:`promptc.LM` (a litellm provider)."""

from __future__ import annotations

import threading
from typing import Any

from promptc._lm.lm import LM

__all__ = ["PROVIDER", "dspy_lm"]

#: The litellm provider :func:`dspy_lm` registers: ``dspy.LM("promptc_lm/<n>")``.
PROVIDER = "promptc_lm"


_LMS: dict[str, LM] = {}
_KEYS: dict[int, str] = {}
_LOCK = threading.Lock()


def _register_provider() -> None:
    import litellm
    from litellm.llms.custom_llm import CustomLLM
    from litellm.types.llms.custom_llm import CustomLLMItem

    from promptc._local.backend import fill_model_response, plain_messages

    def call(model: str, kwargs: dict[str, Any]) -> tuple[LM, dict[str, Any]]:
        lm = _LMS[model.removeprefix(f"{PROVIDER}/")]
        opts = kwargs.get("optional_params") or {}
        return lm, {k: opts[k] for k in ("temperature", "max_tokens") if opts.get(k) is not None}

    class _PromptcProvider(CustomLLM):
        def completion(  # type: ignore[override]
            self, *, model: str, messages: list[Any], **kwargs: Any
        ) -> Any:
            lm, overrides = call(model, kwargs)
            response = lm(plain_messages(messages), tag="dspy", **overrides)
            return fill_model_response(kwargs["model_response"], response)

        async def acompletion(  # type: ignore[override]
            self, *, model: str, messages: list[Any], **kwargs: Any
        ) -> Any:
            lm, overrides = call(model, kwargs)
            response = await lm.acall(plain_messages(messages), tag="dspy", **overrides)
            return fill_model_response(kwargs["model_response"], response)

    with _LOCK:
        if not any(item.get("provider") == PROVIDER for item in litellm.custom_provider_map):
            entry: CustomLLMItem = {"provider": PROVIDER, "custom_handler": _PromptcProvider()}
            litellm.custom_provider_map = [*litellm.custom_provider_map, entry]


def dspy_lm(lm: LM) -> Any:
    """A ``dspy.LM`` whose every request is answered by ``lm``.

    DSPy sends its requests through litellm, as always, to a custom provider that hands them to
    ``lm``: the same backend (a hosted model, the embedded one, or a ``FakeBackend`` in tests),
    sampling settings and on-disk cache as promptc's own calls, and each request is counted in
    ``lm``'s usage (tag ``"dspy"``). DSPy's own response cache is off for this LM, and it does
    not retry (``lm`` retries transient errors itself). The LM stays registered for the life of
    the process.

    Example::

        lm = promptc.LM("local/qwen2.5-coder-0.5b")
        dspy.configure(lm=promptc.interop.dspy.dspy_lm(lm))
    """
    from promptc.interop.dspy import _import_dspy

    dspy = _import_dspy()
    _register_provider()
    with _LOCK:
        key = _KEYS.get(id(lm))
        if key is None:
            key = _KEYS[id(lm)] = str(len(_LMS))
            _LMS[key] = lm  # kept alive, so its id is never reused for another LM
    return dspy.LM(
        f"{PROVIDER}/{key}",
        cache=False,
        temperature=lm.temperature,
        max_tokens=lm.max_tokens,
        num_retries=0,
    )
