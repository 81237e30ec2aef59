"""The view of a compile report: the values its HTML template and terminal table show.

The report (:class:`~promptc._report.models.CompileReport`) holds program, optimizer, seed,
metric, budget, LM requests spent by phase, the trials in evaluation order (each described by
what it changes against the uncompiled program), baseline vs. compiled scores with the paired
gain, why the compile kept what it kept, the kept program's failing validation rows and
rendered prompt, label coverage and train/validation overlap. Every view here is a pure
function of the report (same report, same bytes). The page is rendered from Jinja2 templates
shipped with promptc (``templates/report.html.jinja2``) with autoescaping on: instructions,
rows and replies are user- or model-written text and may well contain markup.
"""

from __future__ import annotations

import difflib
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from promptc._artifact.provenance import (
    CandidateDescription,
    Comparison,
    PairedGain,
    PredictorChange,
    TrialRecord,
)
from promptc._report.chart import chart
from promptc._report.models import CompileReport, UncompiledPredictor, UsageRecord

__all__ = ["candidate_text", "page_view"]

_PHASES = ("baseline", "bootstrap", "propose", "search", "credit", "holdout")
_USAGE_KEYS = (
    "requests",
    "calls",
    "cache_hits",
    "errors",
    "cache_errors",
    "parse_errors",
    "prompt_tokens",
    "completion_tokens",
    "cost",
)
_DASH = "\u2014"
_INSTRUCTION_WIDTH = 80
_CELL_WIDTH = 300  # characters of a row value shown in a table cell


# -- formatting helpers -----------------------------------------------------------------------


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def _short(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1].rstrip() + "\u2026"


def _fmt(value: Any, missing: str = _DASH) -> str:
    """A cell: 3 decimals for floats (scores), integers and text as they are."""
    if value is None:
        return missing
    if isinstance(value, float) and math.isfinite(value):
        return f"{value:.3f}"
    return _text(value)


def _fmt_usage(key: str, value: float) -> str:
    if key == "cost":
        return f"${value:.4f}"
    if isinstance(value, int):
        return f"{value:,}"
    return _fmt(value)


def _fmt_ci(ci: tuple[float, float]) -> str:
    return f"[{_fmt(ci[0])}, {_fmt(ci[1])}]"


def _fmt_gain(gain: PairedGain) -> str:
    lo, hi = gain.ci95
    return f"{gain.mean:+.3f} [{lo:+.3f}, {hi:+.3f}]"


def _improvements(trials: Sequence[TrialRecord]) -> list[bool]:
    """Whether each trial raised the best-so-far score (the first scored one always does)."""
    flags, best = [], None
    for trial in trials:
        value = trial.best
        flags.append(value is not None and (best is None or value > best))
        best = value if value is not None else best
    return flags


def _rows_text(rows: Sequence[int | None] | None) -> str:
    """Where the demos came from, in prompt order: ``train #3, #7, bootstrapped``."""
    if not rows:
        return ""
    shown = [f"#{r}" if r is not None else "not a train row" for r in rows]
    return "train " + ", ".join(shown)


def _demos(count: int) -> str:
    return f" ({count} demo{'' if count == 1 else 's'})"


def candidate_text(candidate: CandidateDescription) -> str:
    """A candidate in one line: per predictor, its demos and its instruction (or that the
    instruction is unchanged)."""
    if isinstance(candidate, str):
        return _short(candidate, _INSTRUCTION_WIDTH)
    parts = []
    for name, change in candidate.items():
        said = (
            "instruction unchanged"
            if change.instruction_changed is False
            else f'"{_short(change.instruction, _INSTRUCTION_WIDTH)}"'
        )
        extra = [x for x in (_rows_text(change.demo_rows), change.format or "") if x]
        more = f" [{'; '.join(extra)}]" if extra else ""
        parts.append(f"{name}{_demos(change.demos)}: {said}{more}")
    return "; ".join(parts) or "(no predictors)"


# -- the page's sections ------------------------------------------------------------------------


def _spent_summary(total: UsageRecord) -> str:
    text = f"{_fmt_usage('requests', total.requests)} LM requests"
    details = [
        f"{_fmt_usage(k, getattr(total, k))} {k.replace('_', ' ')}" for k in _USAGE_KEYS[1:4]
    ]
    text += f" ({', '.join(details)})"
    text += (
        f"; {_fmt_usage('prompt_tokens', total.prompt_tokens)} prompt + "
        f"{_fmt_usage('completion_tokens', total.completion_tokens)} completion tokens"
    )
    return f"{text}; {_fmt_usage('cost', total.cost)}"


def _score_row(label: str, scores: Comparison) -> list[str]:
    baseline, compiled = scores.baseline, scores.compiled
    # The change is read with its paired interval (both programs on the same rows), never
    # from the two unpaired intervals beside it.
    change = (
        f"{compiled.mean - baseline.mean:+.3f}" if scores.gain is None else _fmt_gain(scores.gain)
    )
    n = _fmt(compiled.n) if baseline.n == compiled.n else f"{baseline.n} / {compiled.n}"
    return [
        label,
        _fmt(baseline.mean),
        _fmt_ci(baseline.ci95),
        _fmt(compiled.mean),
        _fmt_ci(compiled.ci95),
        change,
        n,
    ]


def _scores(report: CompileReport) -> tuple[list[list[str]], list[str]]:
    result = report.result
    rows = [_score_row("search (validation)", result.search)]
    if result.holdout is not None:
        rows.append(_score_row("held-out", result.holdout))
    notes = [
        "Change: compiled minus baseline, with its paired 95% interval (both programs scored "
        "on the same rows; two overlapping unpaired intervals say little about the change)."
    ]
    if result.gap is not None:
        notes.append(
            f"Gap (compiled: search mean minus held-out mean): {result.gap:+.3f}. A large "
            "positive gap means the search fitted its validation rows more than the task."
        )
    if result.holdout is None:
        notes.append("No held-out split: the compiled score is the one the search selected on.")
    return rows, notes


def _phases(report: CompileReport) -> list[dict[str, Any]]:
    by_phase = report.spent.by_phase
    order = [p for p in _PHASES if p in by_phase]
    order += sorted(p for p in by_phase if p not in _PHASES)
    rows = []
    for phase in order:
        cells = [phase, *(_fmt_usage(k, getattr(by_phase[phase], k)) for k in _USAGE_KEYS)]
        rows.append({"cells": cells, "total": False})
    total = report.spent.total
    cells = ["total", *(_fmt_usage(k, getattr(total, k)) for k in _USAGE_KEYS)]
    rows.append({"cells": cells, "total": True})
    return rows


def _credit(report: CompileReport) -> list[tuple[str, str]]:
    ordered = sorted(report.credit.items(), key=lambda kv: (-kv[1], kv[0]))
    return [(name, f"{value:+.3f}") for name, value in ordered]


def _diff(before: str, after: str) -> list[tuple[str, str]]:
    """A word diff of two instructions: ("-", removed), ("+", added), ("=", kept) runs."""
    old, new = before.split(), after.split()
    out: list[tuple[str, str]] = []
    matcher = difflib.SequenceMatcher(a=old, b=new, autojunk=False)
    for op, a0, a1, b0, b1 in matcher.get_opcodes():
        if op in ("delete", "replace"):
            out.append(("-", " ".join(old[a0:a1])))
        if op in ("insert", "replace"):
            out.append(("+", " ".join(new[b0:b1])))
        if op == "equal":
            out.append(("=", " ".join(old[a0:a1])))
    return out


def _predictor_view(
    name: str, change: PredictorChange, base: Mapping[str, UncompiledPredictor]
) -> dict[str, Any]:
    instruction = change.instruction
    short = _short(instruction, _INSTRUCTION_WIDTH)
    before = base[name].instruction if name in base else None
    changed = change.instruction_changed
    diff = _diff(before, instruction) if before is not None and changed else []
    return {
        "name": name,
        "demos": _demos(change.demos),
        "same": changed is False,
        "diff": diff if len(instruction) <= 20 * _INSTRUCTION_WIDTH else [],
        "instruction": short,
        "title": instruction if short != instruction else "",
        "rows": _rows_text(change.demo_rows),
        "format": change.format or "",
    }


def _trial_views(report: CompileReport) -> list[dict[str, Any]]:
    trials = report.trials
    out = []
    for trial, improved in zip(trials, _improvements(trials), strict=True):
        candidate = trial.candidate
        if isinstance(candidate, str):
            predictors, text = [], _short(candidate, _INSTRUCTION_WIDTH)
        else:
            base = report.uncompiled
            predictors = [_predictor_view(n, c, base) for n, c in candidate.items()]
            text = "(no predictors)"
        out.append(
            {
                "id": _fmt(trial.id),
                "predictors": predictors,
                "text": text,
                "rows": _fmt(trial.rows),
                "score": _fmt(trial.score),
                "requests": _fmt(trial.requests),
                "best": _fmt(trial.best),
                "stopped": _fmt(trial.stopped, missing=""),
                "improved": improved,
            }
        )
    return out


def _cell(value: Any) -> str:
    return _short(_text(value), _CELL_WIDTH) if value is not None else _DASH


def _failures(report: CompileReport) -> list[dict[str, str]]:
    return [
        {
            "row": _fmt(f.row),
            "inputs": _cell(f.inputs),
            "expected": _cell(f.expected),
            "got": _cell(f.got if f.error is None else f.error),
            "raw": _text(f.raw) or _DASH,
            "score": _fmt(f.score),
        }
        for f in report.failures
    ]


def _coverage(report: CompileReport) -> list[dict[str, Any]]:
    return [
        {
            "predictor": c.predictor,
            "field": c.field,
            "rows": [
                [label, c.demos.get(label, 0), c.train.get(label, 0), c.val.get(label, 0)]
                for label in c.labels
            ],
            "missing": ", ".join(c.missing_in_demos),
        }
        for c in report.coverage
    ]


def _prompt(report: CompileReport) -> list[dict[str, Any]]:
    return [
        {
            "predictor": p.predictor,
            "messages": [{"role": m.role, "content": m.content} for m in p.messages],
        }
        for p in report.prompt
    ]


def page_view(report: CompileReport) -> dict[str, Any]:
    """Everything the page template shows, as plain text and numbers (never markup)."""
    scores, notes = _scores(report)
    budget = report.budget
    return {
        "program": report.program or "program",
        "optimizer": report.optimizer.name,
        "config": json.dumps(
            report.optimizer.config, ensure_ascii=False, sort_keys=True, default=str
        ),
        "seed": _fmt(report.seed),
        "metric": report.metric,
        "budget": "none" if budget is None else f"{budget:,} LM requests",
        "spent": _spent_summary(report.spent.total),
        "outcome": {"kept": report.outcome.kept, "reason": report.outcome.reason},
        "scores": scores,
        "score_notes": notes,
        "phases": _phases(report),
        "usage_heads": [k.replace("_", " ") for k in _USAGE_KEYS],
        "credit": _credit(report),
        "failures": _failures(report),
        "coverage": _coverage(report),
        "overlap": report.overlap,
        "overlap_text": ", ".join(f"val {o.val} = train {o.train}" for o in report.overlap),
        "prompt": _prompt(report),
        "trials": _trial_views(report),
        "chart": chart(report.trials, budget),
    }
