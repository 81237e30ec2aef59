"""The compile report: everything a compile knows about its run, as one typed, frozen record.

Written beside the artifact as ``.report.json`` (its :meth:`~pydantic.BaseModel.model_dump`)
and ``.report.html``. It shares its trial records, optimizer record and score comparisons with
the artifact's provenance (:mod:`promptc._artifact.provenance`); both are built in one place,
:func:`promptc._compile.records.finish`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import JsonValue

from promptc._artifact.provenance import (
    CandidateDescription,
    Comparison,
    OptimizerRecord,
    Preferences,
    Record,
    TrialRecord,
)

__all__ = [
    "CompileReport",
    "DuelRecord",
    "Explanation",
    "FailingRow",
    "LabelCoverage",
    "Message",
    "Outcome",
    "OverlapRow",
    "PreferenceReport",
    "RenderedPrompt",
    "ReportSpent",
    "Results",
    "UncompiledPredictor",
    "UsageRecord",
]


class UsageRecord(Record):
    """LM usage of a phase or of the whole run (fresh calls and cache hits both count)."""

    requests: int
    calls: int
    cache_hits: int
    errors: int
    cache_errors: int
    parse_errors: int
    prompt_tokens: int
    completion_tokens: int
    cost: float


class ReportSpent(Record):
    """LM usage in total and per phase (baseline, bootstrap, propose, search, credit, holdout)."""

    total: UsageRecord
    by_phase: dict[str, UsageRecord]


class Results(Record):
    """Baseline against compiled: on the validation rows and, when given, the held-out rows.

    Attributes:
        search: on the validation rows (what the search selected on).
        holdout: on the held-out rows.
        gap: the compiled program's validation mean minus its held-out mean.
    """

    search: Comparison
    holdout: Comparison | None = None
    gap: float | None = None


class Outcome(Record):
    """Which program the compile kept (``compiled`` or ``baseline``) and why, with numbers."""

    kept: Literal["compiled", "baseline"]
    reason: str


class UncompiledPredictor(Record):
    """The uncompiled program's instruction and demo count of one predictor."""

    instruction: str
    demos: int


class FailingRow(Record):
    """A validation row the kept program did not get fully right (texts clipped).

    Attributes:
        row: the validation row's index.
        inputs: its input values.
        expected: its other columns.
        got: what the program returned (``None`` when it failed).
        error: the error, when it failed.
        raw: the LM's raw reply.
        score: the row's score.
    """

    row: int
    inputs: dict[str, JsonValue]
    expected: dict[str, JsonValue]
    got: JsonValue
    error: str | None
    raw: str | None
    score: float


class Message(Record):
    """One chat message of a rendered prompt."""

    role: str
    content: str


class RenderedPrompt(Record):
    """A predictor's messages as the kept program renders them for the first validation row."""

    predictor: str
    messages: list[Message]


class LabelCoverage(Record):
    """Label counts of a categorical output field: in the chosen demos, train and validation.

    Attributes:
        predictor: the predictor.
        field: the output field.
        labels: its labels, in declaration order.
        demos: label -> count in the kept program's demos.
        train: label -> count in the training rows.
        val: label -> count in the validation rows.
        missing_in_demos: labels the demos never show.
    """

    predictor: str
    field: str
    labels: list[str]
    demos: dict[str, int]
    train: dict[str, int]
    val: dict[str, int]
    missing_in_demos: list[str]


class OverlapRow(Record):
    """A validation row whose inputs also occur in a training row."""

    val: int
    train: int


class CompileReport(Record):
    """Everything a compile knows about its run (the ``.report.json`` beside the artifact).

    Attributes:
        program: the program's name.
        optimizer: the strategy and its settings.
        seed: the compile's seed.
        metric: the metric's name.
        budget: the LM-request cap (``None``: no cap).
        spent: LM usage in total and per phase.
        trials: every trial, in evaluation order.
        result: baseline against compiled, with the paired gains and the held-out gap.
        credit: per predictor, how far the kept program's validation score falls when its
            change is undone (leave-one-out); empty when nothing was kept.
        outcome: which program was kept, and why.
        uncompiled: the uncompiled program's instruction and demos, per predictor.
        failures: the kept program's first failing validation rows.
        prompt: the kept program's prompt, as rendered for the first validation row.
        coverage: label counts of each categorical output field.
        overlap: validation rows whose inputs also occur in the training rows.
    """

    program: str
    optimizer: OptimizerRecord
    seed: int
    metric: str
    budget: int | None
    spent: ReportSpent
    trials: list[TrialRecord]
    result: Results
    credit: dict[str, float]
    outcome: Outcome
    uncompiled: dict[str, UncompiledPredictor]
    failures: list[FailingRow]
    prompt: list[RenderedPrompt]
    coverage: list[LabelCoverage]
    overlap: list[OverlapRow]


class Explanation(Record):
    """Why a compile came out as it did (no LM request): the report's explanatory parts.

    Attributes:
        outcome: which program was kept, and why.
        uncompiled: the uncompiled program's instruction and demos, per predictor.
        failures: the kept program's first failing validation rows.
        prompt: the kept program's prompt, as rendered for the first validation row.
        coverage: label counts of each categorical output field.
        overlap: validation rows whose inputs also occur in the training rows.
    """

    outcome: Outcome
    uncompiled: dict[str, UncompiledPredictor]
    failures: list[FailingRow]
    prompt: list[RenderedPrompt]
    coverage: list[LabelCoverage]
    overlap: list[OverlapRow]


class DuelRecord(Record):
    """One comparison of a compile from preferences.

    Attributes:
        id: its number, from 0, in the order asked.
        row: the validation row (input) it was asked on.
        first: the index of the candidate shown as output A (in the report's ``candidates``).
        second: the index of the candidate shown as output B.
        verdict: ``"A"``, ``"B"``, ``"tie"`` or ``"skip"``.
        source: ``"judge"`` (asked), ``"log"`` (read back from the feedback log) or ``"auto"``
            (identical outputs, or one output failed: settled without asking).
        requests: LM requests the compile had spent when it ended.
    """

    id: int
    row: int
    first: int
    second: int
    verdict: Literal["A", "B", "tie", "skip"]
    source: Literal["judge", "log", "auto"]
    requests: int


class PreferenceReport(Record):
    """Everything a compile from preferences knows about its run (``.report.json``).

    Attributes:
        program: the program's name.
        optimizer: the strategy and its settings.
        seed: the compile's seed.
        budget: the LM-request cap (``None``: no cap).
        spent: LM usage in total and per phase.
        preferences: who judged, how often, and every candidate's estimated utility.
        candidates: what each candidate sets, by index (0 is the uncompiled program).
        duels: every comparison, in the order asked.
        kept: the index of the candidate the artifact holds.
        outcome: why it was kept, with numbers.
    """

    program: str
    optimizer: OptimizerRecord
    seed: int
    budget: int | None
    spent: ReportSpent
    preferences: Preferences
    candidates: list[CandidateDescription]
    duels: list[DuelRecord]
    kept: int
    outcome: str
