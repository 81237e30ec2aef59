"""The compiler's public surface: the driver, the strategy base class, evaluation.

Strategies in ``promptc.optimizers`` build on :class:`Optimizer` and :class:`SearchSpace`.
"""

from promptc._compile.driver import (
    Board,
    Candidate,
    CompileResult,
    Optimizer,
    PlanShape,
    SearchSpace,
    Trial,
    compile_program,
    resolve_optimizer,
)
from promptc._compile.evaluate import (
    EvalResult,
    ExampleResult,
    bootstrap_ci,
    evaluate,
    paired_bootstrap_ci,
)
from promptc._compile.fingerprint import Fingerprint
from promptc._compile.strategy import StrategyOption

__all__ = [
    "Board",
    "Candidate",
    "CompileResult",
    "EvalResult",
    "ExampleResult",
    "Fingerprint",
    "Optimizer",
    "PlanShape",
    "SearchSpace",
    "StrategyOption",
    "Trial",
    "bootstrap_ci",
    "compile_program",
    "evaluate",
    "paired_bootstrap_ci",
    "resolve_optimizer",
]
