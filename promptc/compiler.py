"""The compiler's public surface: the driver, the strategy base class, evaluation, records.

Strategies in ``promptc.optimizers`` build on :class:`Optimizer` (or, learning from preferences,
:class:`DuelingOptimizer`) and :class:`SearchSpace`, and
import only from here (and ``promptc``, ``promptc.exceptions``): the read-only board
(:class:`BoardView`, :class:`CandidateKey`), the prompt formats (:data:`PROMPT_FORMATS`,
:func:`format_templates`, :func:`format_value`), a predictor's fields (:class:`Field`, what
``signature.fields()`` returns), trial storage (:class:`TrialStore`, :func:`open_storage`) and
pulled local models (:func:`model_path`).

A compile's records are typed and frozen: each trial's :class:`TrialRecord`, the artifact's
:class:`Provenance` (its :class:`Spent`, and the :class:`PairedGain` of the compiled program
over the uncompiled one) and the :class:`CompileReport`. :data:`AUTO` names the default
strategy (``optimizer="auto"``), chosen per compile from the budget, program and proposer.
"""

from promptc._artifact.provenance import PairedGain, Provenance, Spent, TrialRecord
from promptc._compile.auto import AUTO
from promptc._compile.board import BoardView, CandidateKey
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
from promptc._compile.duel import Duel, DuelingOptimizer, Utility
from promptc._compile.evaluate import (
    EvalResult,
    ExampleResult,
    bootstrap_ci,
    evaluate,
    paired_bootstrap_ci,
)
from promptc._compile.fingerprint import Fingerprint
from promptc._compile.result import PreferenceResult
from promptc._compile.storage import TrialStore, open_storage
from promptc._compile.strategy import StrategyOption
from promptc._local.models import model_path
from promptc._program.adapter import PROMPT_FORMATS, format_templates
from promptc._program.signature import Field
from promptc._program.types import format_value
from promptc._report.models import CompileReport

__all__ = [
    "AUTO",
    "PROMPT_FORMATS",
    "Board",
    "BoardView",
    "Candidate",
    "CandidateKey",
    "CompileReport",
    "CompileResult",
    "Duel",
    "DuelingOptimizer",
    "EvalResult",
    "ExampleResult",
    "Field",
    "Fingerprint",
    "Optimizer",
    "PairedGain",
    "PlanShape",
    "PreferenceResult",
    "Provenance",
    "SearchSpace",
    "Spent",
    "StrategyOption",
    "Trial",
    "TrialRecord",
    "TrialStore",
    "Utility",
    "bootstrap_ci",
    "compile_program",
    "evaluate",
    "format_templates",
    "format_value",
    "model_path",
    "open_storage",
    "paired_bootstrap_ci",
    "resolve_optimizer",
]
