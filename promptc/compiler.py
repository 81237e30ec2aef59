"""The compiler's public surface: the driver, the strategy base class, evaluation.

Strategies in ``promptc.optimizers`` build on :class:`Optimizer` and :class:`SearchSpace`.
"""

from promptc._compile import (
    Candidate,
    CompileResult,
    Optimizer,
    SearchSpace,
    compile_program,
    resolve_optimizer,
)
from promptc._evaluate import EvalResult, ExampleResult, bootstrap_ci, evaluate

__all__ = [
    "Candidate",
    "CompileResult",
    "EvalResult",
    "ExampleResult",
    "Optimizer",
    "SearchSpace",
    "bootstrap_ci",
    "compile_program",
    "evaluate",
    "resolve_optimizer",
]
