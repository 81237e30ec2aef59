"""The view of a compile report: the values its HTML template and terminal table show.

The report is the JSON-safe dict a compile produces: program, optimizer, seed, metric, budget,
LM requests spent by phase, the trials in evaluation order (each described by what it changes
against the uncompiled program), baseline vs. compiled scores, why the compile kept what it
kept, the kept program's failing validation rows and rendered prompt, label coverage and
train/validation overlap. Every view here is a pure function of that dict (same report, same
bytes). The page is rendered from Jinja2 templates shipped with promptc
(``templates/report.html.jinja2``) with autoescaping on: instructions, rows and replies are
user- or model-written text and may well contain markup.
"""

from __future__ import annotations

import difflib
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from promptc._report.chart import chart
from promptc._report.chart import number as _number

__all__ = ["candidate_text", "page_view", "trials_of"]

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
_TEXT_CANDIDATE_WIDTH = 60
_CELL_WIDTH = 300  # characters of a row value shown in a table cell


# -- formatting helpers -----------------------------------------------------------------------


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


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


def _fmt_usage(key: str, value: Any) -> str:
    if key == "cost" and _number(value) is not None:
        return f"${value:.4f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return _fmt(value)


def _fmt_ci(ci: Any) -> str:
    if isinstance(ci, Sequence) and not isinstance(ci, str) and len(ci) == 2:
        return f"[{_fmt(_number(ci[0]))}, {_fmt(_number(ci[1]))}]"
    return _DASH


def trials_of(report: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    trials = report.get("trials")
    if not isinstance(trials, Sequence) or isinstance(trials, str):
        return []
    return [t for t in trials if isinstance(t, Mapping)]


def _improvements(trials: Sequence[Mapping[str, Any]]) -> list[bool]:
    """Whether each trial raised the best-so-far score (the first scored one always does)."""
    flags, best = [], None
    for trial in trials:
        value = _number(trial.get("best"))
        flags.append(value is not None and (best is None or value > best))
        best = value if value is not None else best
    return flags


def _specs(candidate: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    """(predictor name, its entry) for each predictor a candidate sets."""
    return [
        (str(name), spec if isinstance(spec, Mapping) else {"instruction": _text(spec)})
        for name, spec in candidate.items()
    ]


def _rows_text(rows: Any) -> str:
    """Where the demos came from, in prompt order: ``train #3, #7, bootstrapped``."""
    if not isinstance(rows, Sequence) or isinstance(rows, str) or not rows:
        return ""
    shown = [f"#{r}" if isinstance(r, int) else "not a train row" for r in rows]
    return "train " + ", ".join(shown)


def _demos(count: Any, template: str) -> str:
    """``template`` filled with "1 demo" / "4 demos"; empty when the count is unknown."""
    if count is None:
        return ""
    return template.format(f"{_fmt(count)} demo{'' if count == 1 else 's'}")


def candidate_text(candidate: Any) -> str:
    """A candidate in one line: per predictor, its demos and its instruction (or that the
    instruction is unchanged)."""
    if not isinstance(candidate, Mapping):
        return _short(_text(candidate), _INSTRUCTION_WIDTH)
    parts = []
    for name, spec in _specs(candidate):
        said = (
            "instruction unchanged"
            if spec.get("instruction_changed") is False
            else f'"{_short(_text(spec.get("instruction")), _INSTRUCTION_WIDTH)}"'
        )
        extra = [x for x in (_rows_text(spec.get("demo_rows")), _text(spec.get("format"))) if x]
        more = f" [{'; '.join(extra)}]" if extra else ""
        parts.append(f"{name}{_demos(spec.get('demos'), ' ({})')}: {said}{more}")
    return "; ".join(parts) or "(no predictors)"


# -- the page's sections ------------------------------------------------------------------------


def _spent_summary(report: Mapping[str, Any]) -> str:
    total = _mapping(_mapping(report.get("spent")).get("total"))
    if not total:
        return _DASH
    text = f"{_fmt_usage('requests', total.get('requests'))} LM requests"
    details = [f"{_fmt_usage(k, total.get(k))} {k.replace('_', ' ')}" for k in _USAGE_KEYS[1:4]]
    text += f" ({', '.join(details)})"
    text += (
        f"; {_fmt_usage('prompt_tokens', total.get('prompt_tokens'))} prompt + "
        f"{_fmt_usage('completion_tokens', total.get('completion_tokens'))} completion tokens"
    )
    return f"{text}; {_fmt_usage('cost', total.get('cost'))}"


def _score_row(label: str, scores: Mapping[str, Any]) -> list[str]:
    baseline, compiled = _mapping(scores.get("baseline")), _mapping(scores.get("compiled"))
    before, after = _number(baseline.get("mean")), _number(compiled.get("mean"))
    change = _DASH if before is None or after is None else f"{after - before:+.3f}"
    n_before, n_after = baseline.get("n"), compiled.get("n")
    n = _fmt(n_after) if n_before == n_after else f"{_fmt(n_before)} / {_fmt(n_after)}"
    return [
        label,
        _fmt(before),
        _fmt_ci(baseline.get("ci95")),
        _fmt(after),
        _fmt_ci(compiled.get("ci95")),
        change,
        n,
    ]


def _scores(report: Mapping[str, Any]) -> tuple[list[list[str]], list[str]]:
    result = _mapping(report.get("result"))
    labels = (("search", "search (validation)"), ("holdout", "held-out"))
    rows = [_score_row(label, _mapping(result[key])) for key, label in labels if key in result]
    notes = []
    gap = _number(result.get("gap"))
    if gap is not None:
        notes.append(
            f"Gap (compiled: search mean minus held-out mean): {gap:+.3f}. A large positive gap "
            "means the search fitted its validation rows more than the task."
        )
    if rows and "holdout" not in result:
        notes.append("No held-out split: the compiled score is the one the search selected on.")
    return rows, notes


def _phases(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    spent = _mapping(report.get("spent"))
    by_phase = _mapping(spent.get("by_phase"))
    order = [p for p in _PHASES if p in by_phase]
    order += sorted(str(p) for p in by_phase if p not in _PHASES)
    rows = []
    for phase in order:
        usage = _mapping(by_phase[phase])
        cells = [phase, *(_fmt_usage(k, usage.get(k)) for k in _USAGE_KEYS)]
        rows.append({"cells": cells, "total": False})
    if "total" in spent:
        total = _mapping(spent["total"])
        cells = ["total", *(_fmt_usage(k, total.get(k)) for k in _USAGE_KEYS)]
        rows.append({"cells": cells, "total": True})
    return rows


def _credit(report: Mapping[str, Any]) -> list[tuple[str, str]]:
    credit = _mapping(report.get("credit"))
    ordered = sorted(credit.items(), key=lambda kv: (-(_number(kv[1]) or 0.0), str(kv[0])))
    out = []
    for name, value in ordered:
        number = _number(value)
        out.append((str(name), _fmt(value) if number is None else f"{number:+.3f}"))
    return out


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


def _predictor_view(name: str, spec: Mapping[str, Any], base: Mapping[str, Any]) -> dict[str, Any]:
    instruction = _text(spec.get("instruction"))
    short = _short(instruction, _INSTRUCTION_WIDTH)
    before = _mapping(base.get(name)).get("instruction")
    changed = spec.get("instruction_changed")
    diff = _diff(before, instruction) if isinstance(before, str) and changed else []
    return {
        "name": name,
        "demos": _demos(spec.get("demos"), " ({})"),
        "same": changed is False,
        "diff": diff if len(instruction) <= 20 * _INSTRUCTION_WIDTH else [],
        "instruction": short,
        "title": instruction if short != instruction else "",
        "rows": _rows_text(spec.get("demo_rows")),
        "format": _text(spec.get("format")),
    }


def _trial_views(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    trials = trials_of(report)
    base = _mapping(report.get("uncompiled"))
    out = []
    for trial, improved in zip(trials, _improvements(trials), strict=True):
        candidate = trial.get("candidate")
        predictors = (
            [_predictor_view(n, s, base) for n, s in _specs(candidate)]
            if isinstance(candidate, Mapping)
            else []
        )
        out.append(
            {
                "id": _fmt(trial.get("id")),
                "predictors": predictors,
                "text": _short(_text(candidate), _INSTRUCTION_WIDTH)
                if not isinstance(candidate, Mapping)
                else "(no predictors)",
                "rows": _fmt(trial.get("rows")),
                "score": _fmt(trial.get("score")),
                "requests": _fmt(trial.get("requests")),
                "best": _fmt(trial.get("best")),
                "stopped": _fmt(trial.get("stopped"), missing=""),
                "improved": improved,
            }
        )
    return out


def _cell(value: Any) -> str:
    return _short(_text(value), _CELL_WIDTH) if value is not None else _DASH


def _failures(report: Mapping[str, Any]) -> list[dict[str, str]] | None:
    failures = report.get("failures")
    if not isinstance(failures, Sequence) or isinstance(failures, str):
        return None
    return [
        {
            "row": _fmt(f.get("row")),
            "inputs": _cell(f.get("inputs")),
            "expected": _cell(f.get("expected")),
            "got": _cell(f.get("got") if f.get("error") is None else f.get("error")),
            "raw": _text(f.get("raw")) or _DASH,
            "score": _fmt(f.get("score")),
        }
        for f in failures
        if isinstance(f, Mapping)
    ]


def _coverage(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    out = []
    for c in report.get("coverage") or []:
        if not isinstance(c, Mapping):
            continue
        labels = [str(x) for x in c.get("labels") or []]
        counts = [_mapping(c.get(k)) for k in ("demos", "train", "val")]
        rows = [[label, *(counts[i].get(label, 0) for i in range(3))] for label in labels]
        missing = ", ".join(str(m) for m in c.get("missing_in_demos") or [])
        out.append(
            {
                "predictor": _text(c.get("predictor")),
                "field": _text(c.get("field")),
                "rows": rows,
                "missing": missing,
            }
        )
    return out


def _prompt(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    out = []
    for p in report.get("prompt") or []:
        if isinstance(p, Mapping):
            messages = [
                {"role": _text(m.get("role")), "content": _text(m.get("content"))}
                for m in p.get("messages") or []
                if isinstance(m, Mapping)
            ]
            out.append({"predictor": _text(p.get("predictor")), "messages": messages})
    return out


def page_view(report: Mapping[str, Any]) -> dict[str, Any]:
    """Everything the page template shows, as plain text and numbers (never markup)."""
    optimizer = _mapping(report.get("optimizer"))
    budget = report.get("budget")
    scores, notes = _scores(report)
    outcome = _mapping(report.get("outcome"))
    overlap = [o for o in report.get("overlap") or [] if isinstance(o, Mapping)]
    return {
        "program": _text(report.get("program")) or "program",
        "optimizer": _fmt(optimizer.get("name")),
        "config": json.dumps(
            optimizer.get("config", {}), ensure_ascii=False, sort_keys=True, default=str
        ),
        "seed": _fmt(report.get("seed")),
        "metric": _fmt(report.get("metric")),
        "budget": "none" if budget is None else f"{_fmt_usage('', budget)} LM requests",
        "spent": _spent_summary(report),
        "outcome": {"kept": _text(outcome.get("kept")), "reason": _text(outcome.get("reason"))}
        if outcome.get("reason")
        else None,
        "scores": scores,
        "score_notes": notes,
        "phases": _phases(report),
        "usage_heads": [k.replace("_", " ") for k in _USAGE_KEYS],
        "credit": _credit(report),
        "failures": _failures(report),
        "coverage": _coverage(report),
        "overlap": overlap,
        "overlap_text": ", ".join(f"val {o.get('val')} = train {o.get('train')}" for o in overlap),
        "prompt": _prompt(report),
        "trials": _trial_views(report),
        "chart": chart(trials_of(report), budget),
    }
