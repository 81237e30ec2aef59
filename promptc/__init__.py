"""promptc: a declarative prompt-program compiler.

Write LM programs as typed Python modules, run them on any model through one LM layer, and
compile them into frozen prompt artifacts. Importing promptc stays light: httpx, litellm, the
embedded model runtime and the optimizers' dependencies load only when used.
"""

from promptc import exceptions, metrics
from promptc._adapter import ChatAdapter
from promptc._backend import Backend, LMRequest, LMResponse
from promptc._cache import Cache, CacheStats
from promptc._compile import compile_program as compile
from promptc._context import Trace, TraceEntry, context, trace
from promptc._data import load_dataset
from promptc._decompose import Decompose, Subtask
from promptc._evaluate import evaluate
from promptc._litellm import LiteLLMBackend
from promptc._lm import DEFAULT_MODEL, LM, default_lm
from promptc._local import LocalBackend, register_litellm_provider
from promptc._module import ChainOfThought, Module, Params, Predict, Prediction
from promptc._openai import OpenAIBackend
from promptc._runtime import CompiledProgram, load
from promptc._signature import Field, InputField, OutputField, Signature, make_signature
from promptc._usage import Usage, UsageTracker

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
