"""An artifact's provenance: how it was compiled, as typed, frozen records.

Provenance is read from untrusted files like the rest of an artifact: every record refuses
unknown keys and numbers that are not finite, and names, texts and lists are bounded. It is
never part of the content hash (it does not change behaviour); a signature covers it.
Artifacts written by earlier versions lack some fields (``id`` of a trial, ``by_phase`` of the
spend, the paired ``gain``): those fields are optional, and a record dumps exactly the fields
it was given, so an artifact read and written again keeps its provenance (and its signature)
byte for byte.
"""

from __future__ import annotations

from typing import Annotated, Any

import pydantic
from pydantic import JsonValue

__all__ = [
    "MAX_ITEMS",
    "CandidateDescription",
    "Comparison",
    "DataRecord",
    "DataSplit",
    "Edit",
    "OptimizerRecord",
    "PairedGain",
    "PhaseSpend",
    "PredictorChange",
    "Preferences",
    "Provenance",
    "RankedCandidate",
    "Record",
    "ScoreRecord",
    "Scores",
    "Selection",
    "Spent",
    "TrialRecord",
]

MAX_NAME = 1_000  # characters of a name (optimizer, metric, predictor, phase, reason)
MAX_TEXT = 1_000_000  # characters of an instruction
MAX_ITEMS = 100_000  # entries of a list (trials, demo rows, edits)
MAX_KEYS = 1_000  # entries of a mapping (config, phases, predictors)

Name = Annotated[str, pydantic.Field(max_length=MAX_NAME)]
Count = Annotated[int, pydantic.Field(ge=0)]
Interval = tuple[float, float]


class Record(pydantic.BaseModel):
    """A frozen record that refuses unknown keys and dumps only the fields it was given.

    Dumping only what was given keeps every earlier shape: a record read from a file is
    written back as it was, and a record the compiler builds leaves out what does not apply
    (a trial stopped by the budget has no ``best``; a compile without held-out rows has no
    ``holdout``).
    """

    # A score, cost or interval that is not a finite number (YAML reads ``.nan``, ``.inf``)
    # would print as one and sort or compare as nonsense: refused like any other bad value.
    model_config = pydantic.ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @pydantic.model_serializer(mode="wrap")
    def _given_fields(self, handler: pydantic.SerializerFunctionWrapHandler) -> Any:
        data = handler(self)
        return {k: v for k, v in data.items() if k in self.model_fields_set}


class PredictorChange(Record):
    """What a candidate sets for one predictor, described against the uncompiled program.

    Attributes:
        instruction: the instruction's text.
        instruction_changed: whether it differs from the uncompiled program's (``None`` in
            artifacts written before it was recorded).
        demos: how many demos.
        demo_rows: the training row each demo came from, in prompt order (``None`` for a
            demo not found among the training rows).
        format: the prompt format, when the candidate changes it.
    """

    instruction: Annotated[str, pydantic.Field(max_length=MAX_TEXT)]
    instruction_changed: bool | None = None
    demos: Count
    demo_rows: Annotated[list[int | None], pydantic.Field(max_length=MAX_ITEMS)] | None = None
    format: Name | None = None


#: A trial's candidate: ``"baseline"`` (the uncompiled program), a word for a step that
#: proposed no candidate (``"setup"``, ``"tell"``), or what it sets per predictor.
CandidateDescription = (
    Name | Annotated[dict[Name, PredictorChange], pydantic.Field(max_length=MAX_KEYS)]
)


class TrialRecord(Record):
    """One trial of a compile, frozen (as optuna's ``FrozenTrial``).

    Attributes:
        id: the trial's number, from 0, in evaluation order (missing in early artifacts).
        candidate: what the trial evaluated (see :data:`CandidateDescription`).
        phase: ``"baseline"`` or ``"credit"`` for the driver's own evaluations; ``None`` for
            the search.
        rows: validation rows the trial covers.
        score: mean score on those rows; ``None`` if the budget stopped it.
        errors: rows that failed in this trial's fresh evaluations.
        requests: LM requests the compile had spent when the trial ended.
        best: the best score on all validation rows so far.
        stopped: why the trial stopped early (``"budget"``), or ``None``.
    """

    id: Count | None = None
    candidate: CandidateDescription
    phase: Name | None = None
    rows: Count | None = None
    score: float | None = None
    errors: Count | None = None
    requests: Count | None = None
    best: float | None = None
    stopped: Name | None = None


class ScoreRecord(Record):
    """One program's mean score on a split, with its (unpaired) bootstrap 95% interval.

    Attributes:
        mean: the mean score.
        ci95: the percentile bootstrap 95% interval of the mean.
        n: rows scored.
        errors: rows that failed (raised or did not parse).
    """

    mean: float
    ci95: Interval
    n: Count
    errors: Count


class PairedGain(Record):
    """Compiled minus uncompiled mean score on the same rows, with a *paired* 95% interval.

    Each bootstrap resample draws rows and takes both programs' scores on them, so what both
    share (easy and hard rows) cancels: read this interval, not two overlapping unpaired ones,
    for "is the compiled program better".

    Attributes:
        mean: the mean of the per-row differences.
        ci95: the paired percentile bootstrap 95% interval of that mean.
        n: rows compared.
    """

    mean: float
    ci95: Interval
    n: Count

    def text(self) -> str:
        """``+0.125 [95% paired CI +0.042, +0.208]``."""
        lo, hi = self.ci95
        return f"{self.mean:+.3f} [95% paired CI {lo:+.3f}, {hi:+.3f}]"


class Comparison(Record):
    """The uncompiled and the compiled program on the same rows.

    Attributes:
        baseline: the uncompiled program's score.
        compiled: the compiled program's score.
        gain: compiled minus baseline, paired (missing in artifacts written before it was).
    """

    baseline: ScoreRecord
    compiled: ScoreRecord
    gain: PairedGain | None = None


class Selection(Record):
    """The winner's curse: what choosing the best candidate on the validation rows adds.

    Attributes:
        candidates: candidates scored on every validation row, the uncompiled one included
            (the winner was the best of these).
        rows: validation rows they were scored on.
        expected: the estimated score on new rows of making that choice (out-of-bag
            bootstrap over the validation rows; see ``promptc/_compile/selection.py``).
        optimism: the compiled program's validation mean minus ``expected``: how much of its
            validation score to expect to lose on new rows.
    """

    candidates: Count
    rows: Count
    expected: float
    optimism: float

    def text(self) -> str:
        """``~0.625 expected (the best of 9 candidates on 16 rows: ...)``."""
        return (
            f"~{self.expected:.3f} expected (the best of {self.candidates} candidates on "
            f"{self.rows} rows: validation overstates it by {self.optimism:+.3f}, out-of-bag "
            "bootstrap)"
        )


class Scores(Record):
    """The compile's scores: validation (the rows the search selected on) and held-out.

    Attributes:
        metric: the metric's name.
        baseline: the uncompiled program on the validation rows.
        compiled: the compiled program on the validation rows.
        gain: compiled minus baseline on the validation rows, paired.
        holdout: both programs re-scored on the held-out rows, when given.
        gap: the compiled program's validation mean minus its held-out mean.
        selection: the winner's curse on the validation rows (missing when nothing was chosen
            between, and in artifacts written before it was estimated).
    """

    metric: Name | None = None
    baseline: ScoreRecord | None = None
    compiled: ScoreRecord | None = None
    gain: PairedGain | None = None
    holdout: Comparison | None = None
    gap: float | None = None
    selection: Selection | None = None


class DataSplit(Record):
    """A data split's size and the sha256 of its rows' canonical JSON."""

    rows: Count
    hash: Annotated[str, pydantic.Field(pattern="^sha256:[0-9a-f]{64}$")]


class DataRecord(Record):
    """The training and validation rows a compile used (never the held-out rows)."""

    train: DataSplit
    val: DataSplit


class OptimizerRecord(Record):
    """The strategy: its registered name, its settings, and, when ``optimizer="auto"`` chose
    it (the default), why (``chosen_by``)."""

    name: Name
    config: Annotated[dict[Name, JsonValue], pydantic.Field(max_length=MAX_KEYS)] = {}
    chosen_by: Name | None = None


class PhaseSpend(Record):
    """LM requests one phase spent."""

    requests: Count


class Spent(Record):
    """What a compile spent, and the caps it ran under.

    Attributes:
        budget: the LM-request cap (``None``: no cap).
        token_budget: the token cap, when one was set.
        cost_budget: the dollar cap, when one was set.
        lm_requests: LM requests served (cache hits count: a warm recompile spends the same).
        prompt_tokens: prompt tokens of every response served.
        completion_tokens: completion tokens of every response served.
        cost_usd: dollars of the responses served, where the price is known.
        by_phase: LM requests per phase (baseline, bootstrap, propose, search, credit, holdout).
    """

    budget: Count | None = None
    token_budget: Count | None = None
    cost_budget: float | None = None
    lm_requests: Count
    prompt_tokens: Count
    completion_tokens: Count
    cost_usd: float
    by_phase: Annotated[dict[Name, PhaseSpend], pydantic.Field(max_length=MAX_KEYS)] | None = None


class RankedCandidate(Record):
    """A candidate's estimated latent utility after a compile from preferences.

    Attributes:
        index: the candidate's number in the compile (0: the uncompiled program).
        candidate: what the candidate sets (see :data:`CandidateDescription`).
        utility: its estimated utility minus the uncompiled program's, on the Bradley-Terry
            scale (+1: preferred in about 73% of comparisons).
        ci95: the strategy model's 95% confidence interval of that difference.
        duels: comparisons it took part in.
    """

    index: Count
    candidate: CandidateDescription
    utility: float
    ci95: Interval
    duels: Count


class Preferences(Record):
    """What a compile from preferences learned from: who judged, how often, and the ranking.

    Attributes:
        judge: who answered: ``"function"``, ``"lm"`` (with the judge's model) or ``"person"``.
        model: the judge LM's model, for an LM judge.
        feedback_budget: the cap on questions to the judge.
        questions: questions the judge answered (skips included; answers read back from a
            feedback log count too).
        preferred_a: answers preferring output A.
        preferred_b: answers preferring output B.
        ties: answers saying both are as good.
        skips: questions the judge could not answer.
        from_log: answers read back from the feedback log rather than asked.
        automatic: comparisons settled without asking: identical outputs (a tie) or one
            output failing (the other wins).
        ranking: the candidates by estimated utility, best first.
    """

    judge: Name
    model: Name | None = None
    feedback_budget: Count
    questions: Count
    preferred_a: Count
    preferred_b: Count
    ties: Count
    skips: Count
    from_log: Count
    automatic: Count
    ranking: Annotated[list[RankedCandidate], pydantic.Field(max_length=MAX_ITEMS)]


class Edit(Record):
    """A reviewed hand edit accepted by ``promptc rehash``: the hash it replaced, and when."""

    previous_hash: Name
    at: Annotated[str, pydantic.Field(max_length=64)]


class Provenance(Record):
    """How an artifact was compiled (empty for an artifact not made by a compile).

    Attributes:
        optimizer: the strategy and its settings.
        seed: the compile's seed.
        data: sizes and hashes of the training and validation rows.
        scores: baseline and compiled scores, with the paired gain.
        spent: LM requests, tokens and dollars, and the caps.
        trials: every trial, in evaluation order.
        edited: hand edits accepted by ``promptc rehash``, oldest first.
        preferences: for a compile from preferences (no metric): the judgements it learned
            from and the candidates' estimated utilities.
    """

    optimizer: OptimizerRecord | None = None
    seed: int | None = None
    data: DataRecord | None = None
    scores: Scores | None = None
    spent: Spent | None = None
    trials: Annotated[list[TrialRecord], pydantic.Field(max_length=MAX_ITEMS)] | None = None
    edited: Annotated[list[Edit], pydantic.Field(max_length=MAX_ITEMS)] | None = None
    preferences: Preferences | None = None
