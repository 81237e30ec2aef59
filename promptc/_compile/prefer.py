"""Compile from preferences: no labels, no metric, a judge choosing the better of two outputs.

``compile(program, rows, feedback=judge)`` runs this driver instead of the metric one. A
:class:`~promptc._compile.duel.DuelingOptimizer` (default: APOHF) builds the candidates, with
demos bootstrapped from the program's own outputs on the training rows' inputs; then, per
comparison, the driver takes the next validation row's inputs, runs both candidates of the
strategy's pair on them and asks the judge which output is better. Two hard caps end the loop:
``feedback_budget`` questions to the judge and the LM-request ``budget`` (the judge's own
requests, when the judge is an LM, count too). Comparisons settled without asking (identical
outputs tie, a failing output loses) cost no question. The artifact keeps the strategy's
estimated best candidate; its provenance says how many preferences it was compiled from.
"""

from __future__ import annotations

import logging
import random
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from promptc._compile.board import Board, Candidate
from promptc._compile.data import split_train_val
from promptc._compile.duel import Duel, DuelingOptimizer
from promptc._compile.evaluate import ExampleResult, program_inputs, program_name
from promptc._compile.explain import TrialDescriber
from promptc._compile.prefer_records import finish_preferences
from promptc._compile.progress import CompileProgress
from promptc._compile.result import PreferenceResult
from promptc._compile.run import Run
from promptc._compile.strategy import SearchSpace
from promptc._lm.context import context, current_lm, metering
from promptc._lm.lm import LM, default_lm
from promptc._lm.usage import Budget
from promptc._program.module import Module
from promptc._report.models import DuelRecord
from promptc.exceptions import BudgetExhaustedError, ConfigurationError
from promptc.judges._types import Feedback, Question, Verdict, check_verdict

__all__ = ["compile_from_preferences", "resolve_dueling"]

logger = logging.getLogger(__name__)

_OUTCOME = {"A": 1.0, "B": 0.0, "tie": 0.5}
#: Where a duel's verdict came from: asked, read back from the feedback log, or settled alone.
Source = Literal["judge", "log", "auto"]
#: Comparisons settled without asking, per question of the feedback budget: a strategy that
#: keeps pairing candidates whose outputs agree must still end.
_AUTOMATIC_PER_QUESTION = 4


def resolve_dueling(spec: DuelingOptimizer | str | None, **kwargs: Any) -> DuelingOptimizer:
    """A preference strategy from an instance or a name (``"apohf"``, ``"random_pairs"``)."""
    if isinstance(spec, DuelingOptimizer):
        return spec
    from promptc.optimizers import (  # type: ignore[import-not-found,unused-ignore]
        PREFERENCE_OPTIMIZERS,
    )

    name = spec or "apohf"
    if name not in PREFERENCE_OPTIMIZERS:
        raise ConfigurationError(
            f"a compile from preferences needs a preference strategy, got {name!r}; choose one "
            f"of {sorted(PREFERENCE_OPTIMIZERS)} (the metric strategies need labels and a metric)"
        )
    strategy: DuelingOptimizer = PREFERENCE_OPTIMIZERS[name](**kwargs)
    return strategy


def _every_output(row: Mapping[str, Any], prediction: Any) -> float:
    """The bootstrap's filter without labels: every trace that ran is a demo candidate."""
    return 1.0


def _judge_kind(feedback: Feedback, lm: LM) -> tuple[str, str | None]:
    from promptc.judges._pairwise import Pairwise
    from promptc.judges._person import Person

    if isinstance(feedback, Pairwise):  # without its own LM it asks the compile's
        return "lm", (feedback.lm or lm).model
    if isinstance(feedback, Person):
        return "person", None
    return "function", None


@dataclass
class _Tally:
    """What the duel loop saw, by verdict and by source."""

    questions: int = 0
    automatic: int = 0
    from_log: int = 0
    verdicts: dict[str, int] = field(default_factory=dict)
    duels: list[DuelRecord] = field(default_factory=list)

    def add(self, duel: Duel, row: int, verdict: Verdict, source: Source, requests: int) -> None:
        if source == "auto":
            self.automatic += 1
        else:
            self.questions += 1
            self.from_log += source == "log"
            self.verdicts[verdict] = self.verdicts.get(verdict, 0) + 1
        record = DuelRecord(
            id=len(self.duels),
            row=row,
            first=duel.first,
            second=duel.second,
            verdict=verdict,
            source=source,
            requests=requests,
        )
        self.duels.append(record)
        logger.info(
            "duel %d: candidate %d vs %d on row %d -> %s (%s)",
            record.id,
            duel.first,
            duel.second,
            row,
            verdict,
            source,
        )


class _Duels:
    """The duel loop: rows in a seeded cycle, both outputs per pair, one verdict per duel."""

    def __init__(
        self,
        run: Run,
        candidates: list[Candidate],
        feedback: Feedback,
        log: Any,
        seed: int,
    ) -> None:
        self.run, self.candidates, self.feedback, self.log = run, candidates, feedback, log
        self.order = list(range(len(run.val)))
        random.Random(seed).shuffle(self.order)
        self.outputs: dict[tuple[int, int], ExampleResult] = {}
        self.tally = _Tally()
        self.budget = 0  # questions allowed, set by play

    def output(self, index: int, row: int) -> ExampleResult:
        key = (index, row)
        if key not in self.outputs:
            program = self.run.program.with_params(self.candidates[index])
            self.outputs[key] = self.run.score(program, [row]).results[0]
        return self.outputs[key]

    def verdict(self, a: ExampleResult, b: ExampleResult) -> tuple[Verdict, Source]:
        if a.error or b.error:
            return ("tie" if a.error and b.error else "B" if a.error else "A"), "auto"
        if a.prediction == b.prediction:
            return "tie", "auto"
        question = Question(dict(a.inputs), _outputs(a.prediction), _outputs(b.prediction))
        known = self.log.lookup(question) if self.log is not None else None
        if known is not None:
            return known, "log"
        show = getattr(self.feedback, "set_progress", None)  # a person's page shows progress
        if show is not None:
            show(self.tally.questions, self.budget)
        with context(lm=self.run.lm):  # an LM judge without its own LM uses the compile's
            answer = self.feedback(question)
        verdict = check_verdict(answer, "the feedback function")
        if self.log is not None:
            self.log.record(question, verdict)
        return verdict, "judge"

    def play(self, strategy: DuelingOptimizer, feedback_budget: int) -> None:
        tally, self.budget = self.tally, feedback_budget
        while (
            tally.questions < feedback_budget
            and tally.automatic < _AUTOMATIC_PER_QUESTION * feedback_budget
            and (duel := strategy.ask()) is not None
        ):
            row = self.order[len(tally.duels) % len(self.order)]
            try:
                a, b = self.output(duel.first, row), self.output(duel.second, row)
                verdict, source = self.verdict(a, b)
            except BudgetExhaustedError:
                logger.info("the LM budget ran out after %d duels", len(tally.duels))
                return
            tally.add(duel, row, verdict, source, self.run.budget.used)
            if verdict != "skip":
                strategy.tell(duel, _OUTCOME[verdict])


def _outputs(prediction: Any) -> dict[str, Any]:
    return dict(prediction) if isinstance(prediction, Mapping) else {"output": prediction}


def _check_feedback(feedback: object, feedback_budget: object) -> None:
    if not callable(feedback):
        raise ConfigurationError(
            f"feedback must be callable as feedback(question) -> 'A' | 'B' | 'tie' | 'skip', got "
            f"{type(feedback).__name__}; pass a function, promptc.judges.Pairwise(lm) or "
            "promptc.judges.Person()"
        )
    if not isinstance(feedback_budget, int) or isinstance(feedback_budget, bool):
        raise ConfigurationError(
            f"feedback_budget must be a number of questions, got {feedback_budget!r}"
        )
    if feedback_budget < 1:
        raise ConfigurationError(
            f"feedback_budget must be at least 1 question to the judge, got {feedback_budget}"
        )


def compile_from_preferences(
    program: Module,
    trainset: Sequence[Mapping[str, Any]],
    feedback: Feedback,
    *,
    feedback_budget: int = 50,
    feedback_log: Any = None,
    optimizer: DuelingOptimizer | str | None = None,
    lm: LM | None = None,
    valset: Sequence[Mapping[str, Any]] | None = None,
    budget: int | None = None,
    token_budget: int | None = None,
    cost_budget: float | None = None,
    seed: int = 0,
    teacher: LM | None = None,
    proposer: LM | None = None,
    name: str | None = None,
    entry: str | None = None,
    num_threads: int = 4,
    progress: bool = False,
) -> PreferenceResult:
    """Search ``program``'s prompts from pairwise preferences (see the module docstring).

    Called by :func:`promptc.compile` when it is given ``feedback``; its arguments are
    documented there.
    """
    _check_feedback(feedback, feedback_budget)
    if budget is not None and budget < 1:
        raise ConfigurationError(f"budget must be a positive number of LM requests, got {budget}")
    strategy = resolve_dueling(optimizer)
    lm = lm or current_lm() or default_lm()
    train, val = split_train_val(trainset, valset, seed)
    required, optional = program_inputs(program)
    missing = [i for i, row in enumerate(val) if any(n not in row for n in required)]
    if missing:
        raise ConfigurationError(
            f"{len(missing)} row(s) lack the program's inputs {required}, e.g. row "
            f"{missing[0]} has {sorted(val[missing[0]])}; every row needs the inputs (labels "
            "are not needed)"
        )
    name = name or program_name(program)
    spend = Budget(
        budget if budget is not None else sys.maxsize, tokens=token_budget, cost=cost_budget
    )
    run = Run(
        program,
        _every_output,
        lm,
        teacher or lm,
        proposer or lm,
        [*required, *optional],
        val,
        num_threads,
        CompileProgress(spend, total=budget, bar=progress, label=f"{name} ({strategy.name})"),
        spend,
        TrialDescriber(dict(program.named_predictors()), program.get_params(), train),
    )
    try:
        with metering(spend) as meter:
            board = Board(program.get_params(), len(val))
            space = SearchSpace(
                dict(program.named_predictors()), program.get_params(), train, len(val), seed,
                board, run,
            )  # fmt: skip
            try:
                candidates = strategy.setup(space)
            except BudgetExhaustedError:
                logger.warning("the LM budget ran out while building candidates")
                candidates = [{}]
            duels = _Duels(run, candidates, feedback, _open_log(feedback_log), seed)
            duels.play(strategy, feedback_budget)
    finally:
        run.progress.close()
    judge, model = _judge_kind(feedback, lm)
    return finish_preferences(
        run,
        strategy,
        candidates,
        duels.tally,
        meter.usage.total(),
        judge=(judge, model, feedback_budget),
        train=train,
        budget=budget,
        seed=seed,
        name=name,
        entry=entry,
    )


def _open_log(feedback_log: Any) -> Any:
    if feedback_log is None:
        return None
    from promptc.judges._log import FeedbackLog

    return feedback_log if isinstance(feedback_log, FeedbackLog) else FeedbackLog(feedback_log)
