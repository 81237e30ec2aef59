"""promptc: a declarative prompt-program compiler.

Write LM programs as typed Python modules, run them on any model through one LM layer, and
compile them into frozen prompt artifacts. Importing promptc stays light: what production needs
(load an artifact, render, call an LM) is imported with it; the compiler, evaluation, the
embedded model's and litellm's backends load on first use of their names, and httpx, litellm,
the model runtime and the optimizers' dependencies on first use of theirs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from promptc import exceptions, metrics
from promptc._adapter import ChatAdapter
from promptc._backend import Backend, LMRequest, LMResponse
from promptc._cache import Cache, CacheStats
from promptc._context import Trace, TraceEntry, context, trace
from promptc._lm import DEFAULT_MODEL, LM, default_lm
from promptc._module import ChainOfThought, Module, Params, Predict, Prediction
from promptc._openai import OpenAIBackend
from promptc._runtime import CompiledProgram, load
from promptc._signature import Field, InputField, OutputField, Signature, make_signature
from promptc._usage import Usage, UsageTracker

if TYPE_CHECKING:
    from promptc._compile import compile_program as compile
    from promptc._data import load_dataset
    from promptc._decompose import Decompose, Subtask
    from promptc._evaluate import evaluate
    from promptc._litellm import LiteLLMBackend
    from promptc._local import LocalBackend, register_litellm_provider

# Public names whose modules a production process never needs: imported on first access.
_LAZY = {
    "compile": ("promptc._compile", "compile_program"),
    "evaluate": ("promptc._evaluate", "evaluate"),
    "load_dataset": ("promptc._data", "load_dataset"),
    "Decompose": ("promptc._decompose", "Decompose"),
    "Subtask": ("promptc._decompose", "Subtask"),
    "LiteLLMBackend": ("promptc._litellm", "LiteLLMBackend"),
    "LocalBackend": ("promptc._local", "LocalBackend"),
    "register_litellm_provider": ("promptc._local", "register_litellm_provider"),
}


def __getattr__(name: str) -> Any:
    try:
        module, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'promptc' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


__version__ = "0.1.0"

__all__ = [
    "DEFAULT_MODEL",
    "LM",
    "Backend",
    "Cache",
    "CacheStats",
    "ChainOfThought",
    "ChatAdapter",
    "CompiledProgram",
    "Decompose",
    "Field",
    "InputField",
    "LMRequest",
    "LMResponse",
    "LiteLLMBackend",
    "LocalBackend",
    "Module",
    "OpenAIBackend",
    "OutputField",
    "Params",
    "Predict",
    "Prediction",
    "Signature",
    "Subtask",
    "Trace",
    "TraceEntry",
    "Usage",
    "UsageTracker",
    "__version__",
    "compile",
    "context",
    "default_lm",
    "evaluate",
    "exceptions",
    "load",
    "load_dataset",
    "make_signature",
    "metrics",
    "register_litellm_provider",
    "trace",
]
