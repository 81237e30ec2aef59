"""A compile's run: its state, the ask/tell loop, the baseline, the credit and the held-out
re-score. The driver (:mod:`promptc._compile.driver`) sets it up and hands it to the records."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from promptc._artifact.provenance import TrialRecord
from promptc._compile.board import Board, Candidate
from promptc._compile.evaluate import EvalResult, evaluate
from promptc._compile.explain import TrialDescriber
from promptc._compile.progress import CompileProgress
from promptc._compile.strategy import Optimizer, SearchSpace, Trial
from promptc._lm.context import metering
from promptc._lm.lm import LM
from promptc._lm.usage import Budget, UsageTracker
from promptc._program.module import Module
from promptc.exceptions import BudgetExhaustedError, ConfigurationError, OutputParseError
from promptc.metrics import Metric

__all__ = [
    "Run",
    "evaluate_trial",
    "holding_back",
    "leave_one_out_credit",
    "leaves_reserve",
    "partial_gains",
    "score_baseline",
    "score_holdout",
    "search",
]

logger = logging.getLogger(__name__)


@dataclass
class Run:
    """Run state shared by the driver and the search space."""

    program: Module
    metric: Metric
    lm: LM
    teacher: LM
    proposer: LM
    inputs: list[str]
    val: list[dict[str, Any]]
    threads: int
    progress: CompileProgress
    budget: Budget
    describer: TrialDescriber
    baseline_requests: int = 0
    phases: dict[str, UsageTracker] = field(default_factory=dict)
    trials: list[TrialRecord] = field(default_factory=list)

    def add_trial(self, record: TrialRecord) -> None:
        """Keep a trial's record and report it (a log line, the progress bar)."""
        self.trials.append(record)
        self.progress.trial(record)

    def stopped(self, step: str) -> None:
        """Record that the budget ran out in a strategy's step that scores nothing (``setup``
        proposing candidates, ``tell`` resampling them)."""
        self.add_trial(TrialRecord(id=len(self.trials), candidate=step, stopped="budget"))

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        with metering() as meter:
            try:
                yield
            finally:
                self.phases.setdefault(name, UsageTracker()).record(name, meter.usage.total())

    def score(self, program: Module, rows: Sequence[int], phase: str = "search") -> EvalResult:
        with self.phase(phase):
            return evaluate(
                program,
                [self.val[i] for i in rows],
                self.metric,
                lm=self.lm,
                num_threads=self.threads,
                on_result=lambda _: self.progress.tick(),
                keep_raw=True,
            )


def evaluate_trial(
    run: Run, board: Board, trial: Trial, phase: str = "search"
) -> list[float] | None:
    """Score a trial (skipping rows already scored); ``None`` if the budget ran out."""
    rows = list(trial.rows if trial.rows is not None else range(len(run.val)))
    known = board.scores(trial.candidate)
    todo = [r for r in rows if r not in known]
    record: dict[str, Any] = {
        "id": len(run.trials),
        "candidate": run.describer.describe(trial.candidate),
        "rows": len(rows),
    }
    if phase != "search":
        record["phase"] = phase
    errors = 0  # examples that failed in this trial's fresh evaluations (each counted once)
    try:
        if todo:
            result = run.score(run.program.with_params(trial.candidate), todo, phase)
            board.record(trial.candidate, todo, result)
            errors = result.errors
    except BudgetExhaustedError:
        run.add_trial(TrialRecord(**record, score=None, stopped="budget"))
        return None
    scores = [board.scores(trial.candidate)[r] for r in rows]
    best = board.mean(board.incumbent())
    run.add_trial(
        TrialRecord(
            **record,
            score=round(sum(scores) / len(scores), 6) if scores else None,
            errors=errors,
            requests=run.budget.used,
            best=round(best, 6) if math.isfinite(best) else None,  # nan: nothing complete yet
        )
    )
    return scores


def search(run: Run, optimizer: Optimizer, space: SearchSpace, board: Board) -> Candidate:
    """The ask/tell loop, then a full-row check of the strategy's pick.

    The driver keeps back what the pick's full evaluation needs (as the strategy's
    :attr:`~Optimizer.final_reserve` says): a trial that does not fit next to it ends the search
    before it starts. (The reserve is checked when a trial is admitted, not enforced as a cap
    during it: a trial whose parse retries overrun the estimate still completes, rather than
    being cut and wasted.)
    """
    try:
        optimizer.setup(space)
    except BudgetExhaustedError:  # proposing candidates spent the budget: nothing to race
        run.stopped("setup")
        return board.incumbent()
    while (trial := optimizer.ask()) is not None:
        if not leaves_reserve(run, optimizer, board, trial):
            break
        scores = evaluate_trial(run, board, trial)
        if scores is None:
            break
        try:
            optimizer.tell(trial, scores)
        except BudgetExhaustedError:  # a strategy that proposes mid-search (APE's resampling)
            run.stopped("tell")
            break
    pick = optimizer.best(board)
    if pick and len(board.scores(pick)) < board.n_rows:
        evaluate_trial(run, board, Trial(pick))  # the full evaluation of the winner
    return board.incumbent()


def leaves_reserve(run: Run, optimizer: Optimizer, board: Board, trial: Trial) -> bool:
    """Whether the budget left pays for ``trial``'s rows and then for the full evaluation of the
    pick, as the strategy's :attr:`~Optimizer.final_reserve` says.

    A row is taken to cost what the uncompiled program took per row (at least 1 request). A
    trial on every row (``rows=None``) is itself a full evaluation and always goes ahead.
    """
    if optimizer.final_reserve == "none" or trial.rows is None:
        return True
    n_val, rows = board.n_rows, len(trial.rows)
    if optimizer.final_reserve == "all_rows":
        missing = n_val
    else:  # the pick is the strategy's current one, or this trial's candidate
        pick = optimizer.best(board)
        missing = max(
            n_val - len(board.scores(trial.candidate)) - rows,
            n_val - len(board.scores(pick)) if pick else 0,
        )
    row_cost = max(1.0, run.baseline_requests / max(1, n_val))
    return run.budget.remaining >= row_cost * (rows + missing)


@contextmanager
def holding_back(budget: Budget, requests: int) -> Iterator[None]:
    """Lower ``budget``'s limit by ``requests`` (never below what is spent) for the block."""
    lowered = max(0, min(requests, budget.limit - budget.used))
    budget.limit -= lowered
    try:
        yield
    finally:
        budget.limit += lowered


def score_baseline(run: Run, board: Board, budget: int | None) -> None:
    scores = evaluate_trial(run, board, Trial({}), phase="baseline")
    run.baseline_requests = run.budget.used
    if scores is None:
        caps = [f"{budget} LM requests" if budget is not None else ""]
        caps += [f"{k.replace('_', ' ')} {v}" for k, v in run.budget.caps().items()]
        raise BudgetExhaustedError(
            f"a budget of {', '.join(c for c in caps if c)} cannot even score the uncompiled "
            f"program on {len(run.val)} validation rows; raise the budget or use fewer "
            "validation rows",
            limit=budget or 0,
        )
    failed = [r.error for r in board.result({}).results if r.error]
    # Replies that do not parse are what compiling fixes (demos teach the format); a program
    # that raises on every row is a bug no prompt can fix.
    unparsed = sum(e.startswith(OutputParseError.__name__) for e in failed)
    if len(failed) == len(run.val) and unparsed < len(failed):
        raise ConfigurationError(
            f"the uncompiled program failed on all {len(failed)} validation rows, e.g. "
            f"{failed[0]}; fix the program (try one row: `promptc eval FILE.py:OBJECT --data "
            "VAL --limit 1`) before compiling it"
        )


def score_holdout(run: Run, winner: Candidate, held: list[dict[str, Any]]) -> dict[str, EvalResult]:
    """Re-score both programs on the held-out rows; ``{}`` if parse retries outran the reserve."""
    try:
        return _holdout_results(run, winner, held)
    except BudgetExhaustedError:
        logger.warning("the budget ran out during the held-out re-score; no held-out figures")
        return {}


def _holdout_results(
    run: Run, winner: Candidate, held: list[dict[str, Any]]
) -> dict[str, EvalResult]:
    with run.phase("holdout"):
        return {
            label: evaluate(
                run.program.with_params(cand), held, run.metric, lm=run.lm, num_threads=run.threads
            )
            for label, cand in (("baseline", {}), ("compiled", winner))
        }


def leave_one_out_credit(run: Run, board: Board, winner: Candidate) -> dict[str, float]:
    """Leave-one-out credit: how far the winner's validation score falls when one predictor's
    change is undone.

    With one changed predictor that is the winner's gain over the uncompiled program (no LM
    requests). With several, each ablation is scored on every validation row (phase
    ``credit``, inside the search budget); an ablation the budget cannot pay for is left out.
    """
    credit: dict[str, float] = {}
    for name in winner:
        rest = {n: p for n, p in winner.items() if n != name}
        scored = len(board.scores(rest)) == board.n_rows
        if not scored and evaluate_trial(run, board, Trial(rest), phase="credit") is None:
            logger.warning("the budget ran out before the credit of %r was scored", name)
            break
        credit[name] = round(board.mean(winner) - board.mean(rest), 6)
    return credit


def partial_gains(board: Board) -> list[tuple[int, float]]:
    """(rows scored, paired gain) of each candidate scored on only part of the rows."""
    return [
        (len(board.scores(c)), board.gain(c))
        for c in board.candidates()
        if c and 0 < len(board.scores(c)) < board.n_rows
    ]
