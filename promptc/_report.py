"""A compile report as a self-contained HTML page, a JSON file and a terminal table.

The report is the JSON-safe dict a compile produces: program, optimizer, seed, metric, budget,
LM requests spent by phase, the trials in evaluation order, baseline vs. compiled scores and,
optionally, the score change credited to each predictor. Every view here is a pure function of
that dict (same report, same bytes), and every piece of text taken from it is HTML-escaped: an
instruction is model- or user-written text and may well contain markup.
"""

from __future__ import annotations

import html
import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from promptc._files import write_atomic

__all__ = ["format_table", "render_html", "write_report"]

_PHASES = ("bootstrap", "propose", "search", "credit", "holdout")
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
# Past this many trial points the chart drops per-point tooltips to keep the page small.
_MAX_TOOLTIPS = 500
_SVG_WIDTH, _SVG_HEIGHT = 720, 340
_LEFT, _RIGHT, _TOP, _BOTTOM = 64, 24, 40, 52
_BEST_COLOR, _SCORE_COLOR, _BUDGET_COLOR = "#2563eb", "#ea580c", "#9ca3af"

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:#1f2937;
max-width:1100px;margin:24px auto;padding:0 16px}
h1{font-size:22px;margin:0 0 8px}h2{font-size:16px;margin:28px 0 8px}
table{border-collapse:collapse}
th,td{padding:4px 10px;border-bottom:1px solid #e5e7eb;text-align:left;vertical-align:top}
th{background:#f9fafb;font-weight:600}
.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
table.meta th{background:none;color:#6b7280;font-weight:500}
tr.improved td{background:#eff6ff}
.demos,.note{color:#6b7280}.demos{white-space:nowrap}
code{font-size:12px;word-break:break-all}
""".strip()


# -- formatting helpers -----------------------------------------------------------------------


def _esc(value: Any) -> str:
    return html.escape(value if isinstance(value, str) else str(value), quote=True)


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _number(value: Any) -> float | None:
    """``value`` as a finite float; None for null, bools, text, NaN and infinities."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


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


def _trials(report: Mapping[str, Any]) -> list[Mapping[str, Any]]:
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


def _predictor_specs(candidate: Mapping[str, Any]) -> list[tuple[str, str, Any]]:
    """(predictor name, instruction, demo count) for each predictor a candidate sets."""
    specs = []
    for name, spec in candidate.items():
        if isinstance(spec, Mapping):
            specs.append((str(name), _text(spec.get("instruction")), spec.get("demos")))
        else:
            specs.append((str(name), _text(spec), None))
    return specs


def _demos(count: Any, template: str) -> str:
    """``template`` filled with "1 demo" / "4 demos"; empty when the count is unknown."""
    if count is None:
        return ""
    return template.format(f"{_fmt(count)} demo{'' if count == 1 else 's'}")


def _candidate_text(candidate: Any) -> str:
    if not isinstance(candidate, Mapping):
        return _short(_text(candidate), _INSTRUCTION_WIDTH)
    parts = [
        f'{name}{_demos(demos, " ({})")}: "{_short(instruction, _INSTRUCTION_WIDTH)}"'
        for name, instruction, demos in _predictor_specs(candidate)
    ]
    return "; ".join(parts) or "(no predictors)"


def _candidate_html(candidate: Any) -> str:
    if not isinstance(candidate, Mapping):
        return _esc(_short(_text(candidate), _INSTRUCTION_WIDTH))
    lines = []
    for name, instruction, demos in _predictor_specs(candidate):
        short = _short(instruction, _INSTRUCTION_WIDTH)
        tip = f' title="{_esc(instruction)}"' if short != instruction else ""
        label = f'<b>{_esc(name)}</b><span class="demos">{_esc(_demos(demos, " ({})"))}</span>'
        lines.append(f"<div>{label}: <q{tip}>{_esc(short)}</q></div>")
    return "".join(lines) or "(no predictors)"


def _table(head: Sequence[str], rows: Sequence[str], numeric_from: int = 1) -> str:
    """A table of pre-rendered ``<tr>`` rows; columns from ``numeric_from`` on align right."""
    cells = "".join(
        f'<th class="num">{_esc(h)}</th>' if i >= numeric_from else f"<th>{_esc(h)}</th>"
        for i, h in enumerate(head)
    )
    return f"<table><thead><tr>{cells}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _row(cells: Sequence[str], numeric_from: int = 1, css: str = "") -> str:
    """A ``<tr>`` of already-escaped cells."""
    attr = f' class="{css}"' if css else ""
    tds = "".join(
        f'<td class="num">{c}</td>' if i >= numeric_from else f"<td>{c}</td>"
        for i, c in enumerate(cells)
    )
    return f"<tr{attr}>{tds}</tr>"


# -- page sections ----------------------------------------------------------------------------


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


def _header_html(report: Mapping[str, Any], program: str) -> str:
    optimizer = _mapping(report.get("optimizer"))
    config = json.dumps(
        optimizer.get("config", {}), ensure_ascii=False, sort_keys=True, default=str
    )
    budget = report.get("budget")
    rows = [
        ("optimizer", f"{_esc(_fmt(optimizer.get('name')))} <code>{_esc(config)}</code>"),
        ("seed", _esc(_fmt(report.get("seed")))),
        ("metric", _esc(_fmt(report.get("metric")))),
        ("budget", "none" if budget is None else f"{_esc(_fmt_usage('', budget))} LM requests"),
        ("spent", _esc(_spent_summary(report))),
    ]
    body = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows)
    return (
        f"<header><h1>promptc report: {_esc(program)}</h1>"
        f'<table class="meta"><tbody>{body}</tbody></table></header>'
    )


def _score_row(label: str, scores: Mapping[str, Any]) -> str:
    baseline, compiled = _mapping(scores.get("baseline")), _mapping(scores.get("compiled"))
    before, after = _number(baseline.get("mean")), _number(compiled.get("mean"))
    change = _DASH if before is None or after is None else f"{after - before:+.3f}"
    n_before, n_after = baseline.get("n"), compiled.get("n")
    n = _fmt(n_after) if n_before == n_after else f"{_fmt(n_before)} / {_fmt(n_after)}"
    cells = [
        label,
        _fmt(before),
        _fmt_ci(baseline.get("ci95")),
        _fmt(after),
        _fmt_ci(compiled.get("ci95")),
        change,
        n,
    ]
    return _row([_esc(c) for c in cells])


def _scores_html(report: Mapping[str, Any]) -> str:
    result = _mapping(report.get("result"))
    labels = (("search", "search (validation)"), ("holdout", "held-out"))
    rows = [_score_row(label, _mapping(result[key])) for key, label in labels if key in result]
    if not rows:
        return '<p class="note">No scores recorded.</p>'
    head = ("split", "baseline", "95% CI", "compiled", "95% CI", "change", "n")
    notes = []
    gap = _number(result.get("gap"))
    if gap is not None:
        notes.append(
            f"Gap (compiled: search mean minus held-out mean): {gap:+.3f}. A large positive gap "
            "means the search fitted its validation rows more than the task."
        )
    if "holdout" not in result:
        notes.append("No held-out split: the compiled score is the one the search selected on.")
    return _table(head, rows) + "".join(f'<p class="note">{_esc(n)}</p>' for n in notes)


def _phase_order(by_phase: Mapping[str, Any]) -> list[str]:
    known = [p for p in _PHASES if p in by_phase]
    return known + sorted(str(p) for p in by_phase if p not in _PHASES)


def _spent_html(report: Mapping[str, Any]) -> str:
    spent = _mapping(report.get("spent"))
    by_phase = _mapping(spent.get("by_phase"))
    rows = []
    for phase in _phase_order(by_phase):
        usage = _mapping(by_phase[phase])
        rows.append(_row([_esc(phase), *(_esc(_fmt_usage(k, usage.get(k))) for k in _USAGE_KEYS)]))
    if "total" in spent:
        total = _mapping(spent["total"])
        cells = [
            "<b>total</b>",
            *(f"<b>{_esc(_fmt_usage(k, total.get(k)))}</b>" for k in _USAGE_KEYS),
        ]
        rows.append(_row(cells))
    if not rows:
        return '<p class="note">No spending recorded.</p>'
    return _table(("phase", *(k.replace("_", " ") for k in _USAGE_KEYS)), rows)


def _credit_html(report: Mapping[str, Any]) -> str:
    credit = _mapping(report.get("credit"))
    if not credit:
        return ""
    ordered = sorted(credit.items(), key=lambda kv: (-(_number(kv[1]) or 0.0), str(kv[0])))
    rows = []
    for name, value in ordered:
        number = _number(value)
        rows.append(_row([_esc(name), _esc(_fmt(value) if number is None else f"{number:+.3f}")]))
    return _table(("predictor", "score change"), rows)


def _trials_html(trials: Sequence[Mapping[str, Any]]) -> str:
    head = ("id", "candidate", "rows", "score", "requests", "best", "stopped")
    rows = []
    for trial, improved in zip(trials, _improvements(trials), strict=True):
        best = _esc(_fmt(trial.get("best")))
        cells = [
            _esc(_fmt(trial.get("id"))),
            _candidate_html(trial.get("candidate")),
            _esc(_fmt(trial.get("rows"))),
            _esc(_fmt(trial.get("score"))),
            _esc(_fmt(trial.get("requests"))),
            f"<b>{best}</b>" if improved else best,
            _esc(_fmt(trial.get("stopped"), missing="")),
        ]
        rows.append(_row(cells, numeric_from=2, css="improved" if improved else ""))
    if not rows:
        rows.append(f'<tr><td colspan="{len(head)}" class="note">No trials.</td></tr>')
    return _table(head, rows, numeric_from=2)


# -- the chart --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Frame:
    """Maps data (LM requests, score) to SVG coordinates inside the plot area."""

    x0: float
    x1: float
    y0: float
    y1: float

    def x(self, value: float) -> float:
        width = _SVG_WIDTH - _LEFT - _RIGHT
        return _LEFT + (value - self.x0) / (self.x1 - self.x0) * width

    def y(self, value: float) -> float:
        height = _SVG_HEIGHT - _TOP - _BOTTOM
        return _TOP + (self.y1 - value) / (self.y1 - self.y0) * height


def _nice_ticks(lo: float, hi: float, min_step: float = 0.0) -> list[float]:
    """About five round tick values (steps of 1, 2 or 5 times a power of ten) covering lo..hi."""
    if hi <= lo:
        hi = lo + max(1.0, min_step)
    raw = (hi - lo) / 5
    magnitude = 10.0 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw * (1 - 1e-9))
    step = max(step, min_step)
    first = math.floor(lo / step + 1e-9) * step
    count = math.ceil((hi - first) / step - 1e-9)
    return [round(first + i * step, 9) for i in range(count + 1)]


def _tick_label(value: float, ticks: Sequence[float]) -> str:
    step = ticks[1] - ticks[0] if len(ticks) > 1 else 1.0
    decimals = max(0, -math.floor(math.log10(step) + 1e-9))
    return f"{0.0 if abs(value) < step / 1e6 else value:,.{decimals}f}"


def _xy(x: float, y: float) -> str:
    return f"{x:.1f},{y:.1f}"


def _axes_svg(frame: _Frame, xticks: Sequence[float], yticks: Sequence[float]) -> list[str]:
    right, bottom = _SVG_WIDTH - _RIGHT, _SVG_HEIGHT - _BOTTOM
    out = ['<g stroke="#e5e7eb" stroke-width="1">']
    out += [
        f'<line x1="{_LEFT}" y1="{frame.y(v):.1f}" x2="{right}" y2="{frame.y(v):.1f}"/>'
        for v in yticks
    ]
    out.append("</g>")
    out.append(f'<g stroke="#6b7280"><line x1="{_LEFT}" y1="{_TOP}" x2="{_LEFT}" y2="{bottom}"/>')
    out.append(f'<line x1="{_LEFT}" y1="{bottom}" x2="{right}" y2="{bottom}"/>')
    out += [
        f'<line x1="{frame.x(v):.1f}" y1="{bottom}" x2="{frame.x(v):.1f}" y2="{bottom + 5}"/>'
        for v in xticks
    ]
    out.append('</g><g fill="#4b5563" text-anchor="end">')
    out += [
        f'<text x="{_LEFT - 8}" y="{frame.y(v) + 4:.1f}">{_esc(_tick_label(v, yticks))}</text>'
        for v in yticks
    ]
    out.append('</g><g fill="#4b5563" text-anchor="middle">')
    out += [
        f'<text x="{frame.x(v):.1f}" y="{bottom + 19}">{_esc(_tick_label(v, xticks))}</text>'
        for v in xticks
    ]
    out.append(f'<text x="{(_LEFT + right) / 2:.1f}" y="{_SVG_HEIGHT - 10}">LM requests</text>')
    middle = (_TOP + bottom) / 2
    out.append(
        f'<text x="16" y="{middle:.1f}" transform="rotate(-90 16 {middle:.1f})">score</text></g>'
    )
    return out


def _step_svg(frame: _Frame, steps: Sequence[tuple[float, float]]) -> str:
    """The best-so-far step line: one vertex per trial, plus the corner before each rise."""
    points: list[str] = []
    for i, (requests, best) in enumerate(steps):
        if i:
            points.append(_xy(frame.x(requests), frame.y(steps[i - 1][1])))
        points.append(_xy(frame.x(requests), frame.y(best)))
    return (
        f'<polyline class="best" fill="none" stroke="{_BEST_COLOR}" stroke-width="2" '
        f'stroke-linejoin="round" points="{" ".join(points)}"/>'
    )


def _dots_svg(frame: _Frame, dots: Sequence[tuple[Any, float, float]]) -> list[str]:
    radius = 3.5 if len(dots) <= 100 else 2.5 if len(dots) <= _MAX_TOOLTIPS else 1.5
    out = [f'<g class="scores" fill="{_SCORE_COLOR}" fill-opacity="0.7">']
    for trial_id, requests, score in dots:
        circle = f'<circle cx="{frame.x(requests):.1f}" cy="{frame.y(score):.1f}" r="{radius}"'
        if len(dots) > _MAX_TOOLTIPS:
            out.append(circle + "/>")
            continue
        tip = f"trial {_fmt(trial_id)}: score {score:.3f} after {requests:,.0f} LM requests"
        out.append(f"{circle}><title>{_esc(tip)}</title></circle>")
    out.append("</g>")
    return out


def _legend_svg(with_budget: bool) -> list[str]:
    y = 18
    out = [
        f'<g font-size="12" fill="#374151"><line x1="{_LEFT}" y1="{y}" x2="{_LEFT + 24}" '
        f'y2="{y}" stroke="{_BEST_COLOR}" stroke-width="2"/>',
        f'<text x="{_LEFT + 30}" y="{y + 4}">best so far</text>',
        f'<circle cx="{_LEFT + 130}" cy="{y}" r="3.5" fill="{_SCORE_COLOR}" fill-opacity="0.7"/>',
        f'<text x="{_LEFT + 140}" y="{y + 4}">trial score</text>',
    ]
    if with_budget:
        out.append(
            f'<line x1="{_LEFT + 230}" y1="{y}" x2="{_LEFT + 254}" y2="{y}" '
            f'stroke="{_BUDGET_COLOR}" stroke-width="1.5" stroke-dasharray="4 3"/>'
        )
        out.append(f'<text x="{_LEFT + 260}" y="{y + 4}">budget</text>')
    out.append("</g>")
    return out


def _chart_data(
    trials: Sequence[Mapping[str, Any]],
) -> tuple[list[tuple[float, float]], list[tuple[Any, float, float]]]:
    """(requests, best) steps and (id, requests, score) dots, skipping missing values."""
    steps, dots = [], []
    for trial in trials:
        requests = _number(trial.get("requests"))
        if requests is None:
            continue
        if (best := _number(trial.get("best"))) is not None:
            steps.append((requests, best))
        if (score := _number(trial.get("score"))) is not None:
            dots.append((trial.get("id"), requests, score))
    return steps, dots


def _chart_frame(
    steps: Sequence[tuple[float, float]], dots: Sequence[tuple[Any, float, float]], budget: Any
) -> tuple[_Frame, list[float], list[float], float | None]:
    """The frame, the x and y ticks, and where to draw the budget line (if it fits the view)."""
    xs = [r for r, _ in steps] + [r for _, r, _ in dots]
    ys = [b for _, b in steps] + [s for _, _, s in dots]
    x_max = max(xs, default=0.0)
    limit = _number(budget)
    # A budget far beyond what was spent would squash the data into the left edge: leave it out.
    shown = limit if limit is not None and 0 < limit <= 2 * x_max else None
    x_lo, x_hi = min([0.0, *xs]), max(x_max, shown or 0.0)
    xticks = _nice_ticks(x_lo, x_hi, min_step=1.0)
    if x_hi > x_lo:
        # End the axis at the data, not at the next round tick: no empty band on the right.
        xticks = [t for t in xticks if t <= x_hi * (1 + 1e-9)]
    yticks = _nice_ticks(min([0.0, *ys]), max([1.0, *ys]))
    # A little room on the right so the last point is not drawn on the frame edge.
    x_end = max(x_hi + 0.03 * (x_hi - x_lo), xticks[-1])
    frame = _Frame(xticks[0], x_end, yticks[0], yticks[-1])
    return frame, xticks, yticks, shown


def _chart_svg(report: Mapping[str, Any]) -> str:
    steps, dots = _chart_data(_trials(report))
    frame, xticks, yticks, budget = _chart_frame(steps, dots, report.get("budget"))
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_SVG_WIDTH}" height="{_SVG_HEIGHT}" '
        f'viewBox="0 0 {_SVG_WIDTH} {_SVG_HEIGHT}" role="img" font-size="12" '
        'font-family="system-ui, sans-serif">',
        "<title>best score vs LM requests</title>",
        *_axes_svg(frame, xticks, yticks),
        *_legend_svg(budget is not None),
    ]
    if budget is not None:
        x = frame.x(budget)
        out.append(
            f'<line x1="{x:.1f}" y1="{_TOP}" x2="{x:.1f}" y2="{_SVG_HEIGHT - _BOTTOM}" '
            f'stroke="{_BUDGET_COLOR}" stroke-width="1.5" stroke-dasharray="4 3"/>'
        )
    if steps:
        out.append(_step_svg(frame, steps))
    out += _dots_svg(frame, dots)
    if not steps and not dots:
        middle = (_TOP + _SVG_HEIGHT - _BOTTOM) / 2
        out.append(
            f'<text x="{(_LEFT + _SVG_WIDTH - _RIGHT) / 2:.1f}" y="{middle:.1f}" '
            'text-anchor="middle" fill="#6b7280">no scored trials</text>'
        )
    out.append("</svg>")
    return "\n".join(out)


# -- public API -------------------------------------------------------------------------------


def render_html(report: dict[str, Any]) -> str:
    """Render a compile report as one self-contained HTML page.

    The page has no JavaScript and loads nothing: a header (program, optimizer and its config,
    seed, metric, budget, spent), baseline vs. compiled scores with 95% CIs, an inline SVG chart
    of the best score against LM requests, LM requests by phase, credit by predictor (when the
    report has it) and the trials. All text from the report is HTML-escaped.

    Args:
        report: the compile report (a JSON-safe dict). Missing or malformed entries render as
            blanks rather than failing.

    Returns:
        The page; the same report always gives the same string.
    """
    program = _text(report.get("program")) or "program"
    sections = [
        ("Scores", _scores_html(report)),
        ("Best score vs LM requests", _chart_svg(report)),
        ("Spent by phase (LM requests)", _spent_html(report)),
        ("Credit by predictor", _credit_html(report)),
        ("Trials", _trials_html(_trials(report))),
    ]
    body = [f"<section><h2>{_esc(t)}</h2>\n{s}\n</section>" for t, s in sections if s]
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            '<head><meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>promptc report: {_esc(program)}</title>",
            f"<style>\n{_CSS}\n</style></head>",
            "<body>",
            _header_html(report, program),
            *body,
            "</body>",
            "</html>",
            "",
        ]
    )


def format_table(report: dict[str, Any], top: int | None = None) -> str:
    """Format a compile report's trials as a fixed-width plain-text table for a terminal.

    Args:
        report: the compile report (a JSON-safe dict).
        top: show only the ``top`` best-scoring trials (more rows scored wins ties), still in
            trial order; ``None`` shows every trial.

    Returns:
        A header line, a rule, then one line per trial (``(no trials)`` when there are none);
        the candidate column comes last and is shortened so lines stay bounded.
    """
    head = ("id", "rows", "score", "requests", "best", "stopped", "candidate")
    rows = [
        (
            _fmt(t.get("id"), "-"),
            _fmt(t.get("rows"), "-"),
            _fmt(t.get("score"), "-"),
            _fmt(t.get("requests"), "-"),
            _fmt(t.get("best"), "-"),
            _fmt(t.get("stopped"), ""),
            _short(_candidate_text(t.get("candidate")), _TEXT_CANDIDATE_WIDTH),
        )
        for t in _top(_trials(report), top)
    ]
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(head)]

    def line(cells: Sequence[str]) -> str:
        # Numbers align right; the stopped reason and the candidate (last) align left.
        padded = [
            c.rjust(w) if i < 5 else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(padded).rstrip()

    lines = [line(head), line(["-" * w for w in widths]), *(line(r) for r in rows)]
    return "\n".join(lines if rows else [*lines, "(no trials)"])


def _top(trials: list[Mapping[str, Any]], top: int | None) -> list[Mapping[str, Any]]:
    if top is None or len(trials) <= top:
        return trials

    def rank(t: Mapping[str, Any]) -> tuple[float, float]:
        score, rows = _number(t.get("score")), _number(t.get("rows"))
        return (-math.inf if score is None else score, 0.0 if rows is None else rows)

    kept = {id(t) for t in sorted(trials, key=rank, reverse=True)[: max(0, top)]}
    return [t for t in trials if id(t) in kept]


def _write_atomic(target: Path, text: str) -> None:
    write_atomic(target, text.encode("utf-8"))


def write_report(report: dict[str, Any], path: str | os.PathLike[str]) -> tuple[Path, Path]:
    """Write a compile report as ``<path>.json`` and ``<path>.html``, each atomically.

    Args:
        report: the compile report (a JSON-safe dict).
        path: where to write, without suffix; a trailing ``.json`` or ``.html`` is dropped, so
            ``out/run.json`` and ``out/run`` both give ``out/run.json`` and ``out/run.html``.
            Missing parent directories are created.

    Returns:
        The JSON path and the HTML path.
    """
    base = Path(path)
    if base.suffix.lower() in (".json", ".html"):
        base = base.with_suffix("")
    json_path = base.with_name(base.name + ".json")
    html_path = base.with_name(base.name + ".html")
    # Render both first: a report that cannot be rendered leaves no half-written pair behind.
    json_text = json.dumps(report, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    html_text = render_html(report)
    base.parent.mkdir(parents=True, exist_ok=True)
    _write_atomic(json_path, json_text)
    _write_atomic(html_path, html_text)
    return json_path, html_path
