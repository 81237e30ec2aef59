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
from promptc._artifact.artifact import Artifact
from promptc._artifact.runtime import CompiledProgram, load
from promptc._lm.backend import Backend, LMRequest, LMResponse
from promptc._lm.cache import Cache, CacheStats
from promptc._lm.context import Trace, TraceEntry, context, trace
from promptc._lm.lm import DEFAULT_MODEL, LM, default_lm
from promptc._lm.openai import OpenAIBackend
from promptc._lm.usage import Usage
from promptc._program.adapter import ChatAdapter
from promptc._program.module import ChainOfThought, Module, Params, Predict, Prediction
from promptc._program.signature import InputField, OutputField, Signature, make_signature
from promptc.exceptions import DataError

if TYPE_CHECKING:
    from promptc import judges
    from promptc._compile.data import load_dataset
    from promptc._compile.driver import compile_program as compile
    from promptc._compile.evaluate import EvalResult, ExampleResult, evaluate
    from promptc._compile.plan import CompilePlan
    from promptc._compile.result import CompileResult, PreferenceResult
    from promptc._lm.litellm import LiteLLMBackend
    from promptc._local.backend import LocalBackend
    from promptc._program.decompose import Decompose, Subtask
    from promptc.interop.dspy import from_dspy, to_dspy

# Public names whose modules a production process never needs: imported on first access.
_LAZY = {
    "compile": ("promptc._compile.driver", "compile_program"),
    "CompileResult": ("promptc._compile.result", "CompileResult"),
    "CompilePlan": ("promptc._compile.plan", "CompilePlan"),
    "PreferenceResult": ("promptc._compile.result", "PreferenceResult"),
    "evaluate": ("promptc._compile.evaluate", "evaluate"),
    "EvalResult": ("promptc._compile.evaluate", "EvalResult"),
    "ExampleResult": ("promptc._compile.evaluate", "ExampleResult"),
    "load_dataset": ("promptc._compile.data", "load_dataset"),
    "Decompose": ("promptc._program.decompose", "Decompose"),
    "Subtask": ("promptc._program.decompose", "Subtask"),
    "LiteLLMBackend": ("promptc._lm.litellm", "LiteLLMBackend"),
    "LocalBackend": ("promptc._local.backend", "LocalBackend"),
    "from_dspy": ("promptc.interop.dspy", "from_dspy"),
    "to_dspy": ("promptc.interop.dspy", "to_dspy"),
    "judges": ("promptc.judges", ""),  # the module itself
}


def __getattr__(name: str) -> Any:
    try:
        module, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'promptc' has no attribute {name!r}") from None
    imported = importlib.import_module(module)
    value = getattr(imported, attr) if attr else imported
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


__version__ = "0.1.0"

__all__ = [
    "DEFAULT_MODEL",
    "LM",
    "Artifact",
    "Backend",
    "Cache",
    "CacheStats",
    "ChainOfThought",
    "ChatAdapter",
    "CompilePlan",
    "CompileResult",
    "CompiledProgram",
    "DataError",
    "Decompose",
    "EvalResult",
    "ExampleResult",
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
    "PreferenceResult",
    "Signature",
    "Subtask",
    "Trace",
    "TraceEntry",
    "Usage",
    "__version__",
    "compile",
    "context",
    "default_lm",
    "evaluate",
    "exceptions",
    "from_dspy",
    "judges",
    "load",
    "load_dataset",
    "make_signature",
    "metrics",
    "to_dspy",
    "trace",
]
