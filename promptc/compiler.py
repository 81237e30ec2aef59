"""The compiler's public surface: the driver, the strategy base class, evaluation, records.

Strategies in ``promptc.optimizers`` build on :class:`Optimizer` and :class:`SearchSpace`. A
compile's records are typed and frozen: each trial's :class:`TrialRecord`, the artifact's
:class:`Provenance` (its :class:`Spent`, and the :class:`PairedGain` of the compiled program
over the uncompiled one) and the :class:`CompileReport`.
"""

from promptc._artifact.provenance import PairedGain, Provenance, Spent, TrialRecord
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
from promptc._compile.report import CompileReport

__all__ = [
    "Board",
    "Candidate",
    "CompileReport",
    "CompileResult",
    "EvalResult",
    "ExampleResult",
    "Fingerprint",
    "Optimizer",
    "PairedGain",
    "PlanShape",
    "Provenance",
    "SearchSpace",
    "Spent",
    "Trial",
    "TrialRecord",
    "bootstrap_ci",
    "compile_program",
    "evaluate",
    "paired_bootstrap_ci",
    "resolve_optimizer",
]
