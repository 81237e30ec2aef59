"""What a compile report says about its result: why it came out as it did.

Pure functions of the run's data (no LM requests): what each trial changed against the
uncompiled program, the winner's failing validation rows, the final prompt as rendered, the
label coverage of the chosen demos and of the validation rows, rows found in both train and
validation, and the reason the compile kept the program it kept.
"""

from __future__ import annotations

import enum
import json
import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any, Literal, get_args, get_origin

from promptc._artifact.provenance import (
    CandidateDescription,
    PairedGain,
    PredictorChange,
    TrialRecord,
)
from promptc._compile.evaluate import EvalResult
from promptc._program.module import Module, Params, Predict
from promptc._report.models import (
    Explanation,
    FailingRow,
    LabelCoverage,
    Message,
    Outcome,
    OverlapRow,
    RenderedPrompt,
    UncompiledPredictor,
)
from promptc.exceptions import PromptcError

__all__ = [
    "TrialDescriber",
    "explain",
    "failing_rows",
    "label_coverage",
    "outcome",
    "overlapping_rows",
    "rendered_prompts",
]

logger = logging.getLogger(__name__)

MAX_TEXT = 1_000  # characters of one row value or reply kept in the report
MAX_FAILURES = 5


def _clip(value: Any) -> Any:
    """``value`` with long text cut to :data:`MAX_TEXT` characters (JSON-safe)."""
    if isinstance(value, str):
        return value if len(value) <= MAX_TEXT else value[: MAX_TEXT - 1] + "\u2026"
    if isinstance(value, Mapping):
        return {str(k): _clip(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clip(v) for v in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    return _clip(str(value))


def _key(row: Mapping[str, Any], names: Sequence[str]) -> str:
    """A row's content over ``names``: whitespace-normalized, case-folded text."""

    def norm(value: Any) -> Any:
        return " ".join(value.split()).casefold() if isinstance(value, str) else value

    values = {n: norm(row[n]) for n in names if n in row}
    return json.dumps(values, sort_keys=True, ensure_ascii=False, default=str)


class TrialDescriber:
    """Describes a candidate by what differs from the uncompiled program.

    Args:
        predictors: the program's predictors by name.
        base: the uncompiled program's parameters by name.
        train: the training rows (demos are matched back to them by their inputs).
    """

    def __init__(
        self,
        predictors: Mapping[str, Predict],
        base: Mapping[str, Params],
        train: Sequence[Mapping[str, Any]],
    ) -> None:
        self.predictors = dict(predictors)
        self.base = dict(base)
        self.train = list(train)
        self._index: dict[str, dict[str, int]] = {}

    def _rows(self, name: str) -> dict[str, int]:
        if name not in self._index:
            inputs = list(self.predictors[name].signature.input_fields)
            index: dict[str, int] = {}
            for i, row in enumerate(self.train):
                index.setdefault(_key(row, inputs), i)
            self._index[name] = index
        return self._index[name]

    def describe(self, candidate: Mapping[str, Params]) -> CandidateDescription:
        """``"baseline"``, or per changed predictor: its instruction, demos and format.

        Each predictor's :class:`~promptc._artifact.provenance.PredictorChange` has the
        instruction, whether it changed, how many demos, the training row each demo came from
        (in prompt order; ``None`` for a demo not found in the training rows) and the format
        when the prompt layout changed.
        """
        if not candidate:
            return "baseline"
        out: dict[str, PredictorChange] = {}
        for name, params in candidate.items():
            base = self.base.get(name)
            inputs = list(self.predictors[name].signature.input_fields)
            rows = self._rows(name)
            extra = {} if params.format is None else {"format": params.format}
            out[name] = PredictorChange(
                instruction=params.instruction,
                instruction_changed=base is None or params.instruction != base.instruction,
                demos=len(params.demos),
                demo_rows=[rows.get(_key(d, inputs)) for d in params.demos],
                **extra,
            )
        return out


def uncompiled(program: Module) -> dict[str, UncompiledPredictor]:
    """The uncompiled program's parameters, as trial descriptions compare against them."""
    return {
        name: UncompiledPredictor(instruction=p.signature.instruction, demos=len(p.demos))
        for name, p in program.named_predictors()
    }


def failing_rows(
    result: EvalResult, val: Sequence[Mapping[str, Any]], inputs: Sequence[str]
) -> list[FailingRow]:
    """The first few validation rows the winner did not get fully right.

    Each: the row index, its inputs, the expected values (the row's other columns), what the
    program returned (or the error), the raw reply and the score.
    """
    out = []
    for example in result.results:
        if example.score >= 1.0 and example.error is None:
            continue
        row = val[example.index]
        out.append(
            FailingRow(
                row=example.index,
                inputs=_clip({n: row[n] for n in inputs if n in row}),
                expected=_clip({k: v for k, v in row.items() if k not in inputs}),
                got=_clip(example.prediction),
                error=_clip(example.error),
                raw=_clip(example.raw),
                score=round(example.score, 6),
            )
        )
        if len(out) == MAX_FAILURES:
            break
    return out


def rendered_prompts(program: Module, row: Mapping[str, Any]) -> list[RenderedPrompt]:
    """Each predictor's messages as the compiled program renders them for ``row``.

    A predictor whose inputs are not columns of the row (an inner step of a pipeline) is
    rendered with a placeholder for each missing input.
    """
    out = []
    for name, predictor in program.named_predictors():
        fields = predictor.signature.input_fields
        values = {f: row[f] if f in row else f"<{f} from an earlier step>" for f in fields}
        try:
            messages = predictor.messages(**values)
        except (PromptcError, ValueError, TypeError):
            raw = {f: str(v) for f, v in values.items()}
            messages = predictor.adapter.format(predictor.signature, predictor.demos, raw)
        out.append(RenderedPrompt(predictor=name, messages=_clip_messages(messages)))
    return out


def _clip_messages(messages: Sequence[Mapping[str, str]]) -> list[Message]:
    limit = 20 * MAX_TEXT  # a whole prompt may be long; a runaway one is still cut
    return [
        Message(role=m["role"], content=m["content"][:limit]) for m in messages if "content" in m
    ]


def _labels(annotation: Any) -> list[Any] | None:
    """The finite label set of a categorical type (``Literal``, ``bool``, an enum), else None."""
    if annotation is bool:
        return [True, False]
    if get_origin(annotation) is Literal:
        return list(get_args(annotation))
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return [m.value for m in annotation]
    return None


def _counts(values: Sequence[Any], labels: Sequence[Any]) -> dict[str, int]:
    seen = Counter(json.dumps(v, default=str) for v in values)
    return {str(label): seen[json.dumps(label, default=str)] for label in labels}


def label_coverage(
    program: Module,
    train: Sequence[Mapping[str, Any]],
    val: Sequence[Mapping[str, Any]],
) -> list[LabelCoverage]:
    """Label counts of each categorical output field: in the chosen demos, train and val rows.

    Only fields typed ``Literal[...]``, ``bool`` or an enum are counted. Each entry names the
    predictor and field, lists the labels, counts them in the demos of ``program`` (the
    compiled one), in the training rows and in the validation rows, and names the labels the
    demos never show.
    """
    out = []
    for name, predictor in program.named_predictors():
        for field_name, field in predictor.signature.output_fields.items():
            labels = _labels(field.annotation)
            if labels is None:
                continue
            demos = _counts([d[field_name] for d in predictor.demos if field_name in d], labels)
            out.append(
                LabelCoverage(
                    predictor=name,
                    field=field_name,
                    labels=[str(label) for label in labels],
                    demos=demos,
                    train=_counts([r[field_name] for r in train if field_name in r], labels),
                    val=_counts([r[field_name] for r in val if field_name in r], labels),
                    missing_in_demos=[k for k, v in demos.items() if not v],
                )
            )
    return out


def overlapping_rows(
    train: Sequence[Mapping[str, Any]], val: Sequence[Mapping[str, Any]], inputs: Sequence[str]
) -> list[OverlapRow]:
    """Validation rows whose inputs also occur in a training row (same text, ignoring case and
    whitespace), each with the first such training row."""
    seen: dict[str, int] = {}
    for j, row in enumerate(train):
        seen.setdefault(_key(row, inputs), j)
    return [
        OverlapRow(val=i, train=seen[k])
        for i, row in enumerate(val)
        if (k := _key(row, inputs)) in seen
    ]


def outcome(
    *,
    winner: Mapping[str, Params],
    baseline: EvalResult,
    best: EvalResult,
    gain: PairedGain,
    trials: Sequence[TrialRecord],
    partial: Sequence[tuple[int, float]],
    budget: int | None,
    used: int,
    empty_pools: Sequence[str] = (),
) -> Outcome:
    """Which program the compile kept, and why, with numbers.

    Args:
        winner: the kept candidate (empty: the uncompiled program).
        baseline: the uncompiled program's validation result.
        best: the kept program's validation result.
        gain: the kept program's paired gain over the uncompiled one on the validation rows.
        trials: the trial records.
        partial: (rows scored, paired gain) of every candidate never scored on all rows.
        budget: the request budget, if any.
        used: LM requests spent.
        empty_pools: predictors no training row can give a demo to (it lacks their fields).
    """
    n = len(baseline.results)
    if winner:
        reason = (
            f"the compiled program scored {best.mean:.3f} against the uncompiled program's "
            f"{baseline.mean:.3f} on all {n} validation rows (gain {gain.text()})"
        )
        return Outcome(kept="compiled", reason=reason)
    complete = [t for t in trials if t.rows == n and t.candidate != "baseline"]
    scored = [t.score for t in complete if t.score is not None]
    ran_out = any(t.stopped == "budget" for t in trials)
    parts = []
    if ran_out:
        cap = f"{budget} LM requests" if budget is not None else "the token or cost budget"
        parts.append(f"the budget ({cap}) ran out during the search after {used} requests")
    if scored:
        parts.append(
            f"the best of {len(scored)} candidate evaluation(s) on all {n} rows scored "
            f"{max(scored):.3f}, not above the uncompiled program's {baseline.mean:.3f}"
        )
    if partial:
        rows, leader = max(partial, key=lambda p: (p[1], p[0]))
        parts.append(
            f"{len(partial)} candidate(s) were scored on only part of the rows (the leader: "
            f"paired gain {leader:+.3f} on {rows} of {n} rows) and never confirmed on all {n}"
        )
    if not scored and not partial:
        parts.append("the strategy proposed no candidate to score")
        if empty_pools:
            parts.append(
                f"no training row has every field of {', '.join(empty_pools)}, so there were "
                "no demos to try"
            )
    hint = ""
    if ran_out:
        hint = "; raise the budget (`promptc compile --dry-run` shows what each phase needs)"
    reason = "kept the uncompiled program: " + "; ".join(parts) + hint
    return Outcome(kept="baseline", reason=reason)


def explain(
    *,
    program: Module,
    compiled: Module,
    winner: Mapping[str, Params],
    baseline: EvalResult,
    best: EvalResult,
    gain: PairedGain,
    train: Sequence[Mapping[str, Any]],
    val: Sequence[Mapping[str, Any]],
    inputs: Sequence[str],
    trials: Sequence[TrialRecord],
    partial: Sequence[tuple[int, float]],
    budget: int | None,
    used: int,
) -> Explanation:
    """The report's explanation of a compile (see the module docstring); no LM request."""
    pools = {
        name: any(all(f in row for f in p.signature.fields()) for row in train)
        for name, p in program.named_predictors()
    }
    result = outcome(
        winner=winner,
        baseline=baseline,
        best=best,
        gain=gain,
        trials=trials,
        partial=partial,
        budget=budget,
        used=used,
        empty_pools=[n for n, ok in pools.items() if not ok],
    )
    logger.info("%s", result.reason)
    return Explanation(
        outcome=result,
        uncompiled=uncompiled(program),
        failures=failing_rows(best, val, inputs),
        prompt=rendered_prompts(compiled, val[0]) if val else [],
        coverage=label_coverage(compiled, train, val),
        overlap=overlapping_rows(train, val, inputs),
    )
