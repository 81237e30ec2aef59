"""Command-line options shared by several strategies (see ``Optimizer.cli_options``)."""

from __future__ import annotations

from promptc.compiler import StrategyOption

__all__ = ["CANDIDATES", "DEMOS", "STORAGE", "STUDY", "TRIALS"]

DEMOS = StrategyOption("--k", "k", "demos per predictor")
# The CLI has always raced 8 candidates (the constructors' own default may be larger).
CANDIDATES = StrategyOption("--candidates", "num_candidates", "candidates", default=8)
TRIALS = StrategyOption("--trials", "num_trials", "trials in the study")
_ELSEWHERE = "other strategies resume from the LM cache: run the same command again"
STORAGE = StrategyOption(
    "--storage", "storage", "optuna storage of the trials: FILE or DB URL", str, hint=_ELSEWHERE
)
STUDY = StrategyOption(
    "--study", "study_name", "study name in --storage (default: from the run)", str, hint=_ELSEWHERE
)
