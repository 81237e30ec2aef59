"""SVGs of a task-table run, one panel per task: held-out score vs. LM requests, and each
compile's best validation score so far vs. the LM requests it had spent.

In the first (:func:`accuracy_vs_calls_svg`), each system is a dot at (compile LM requests,
test score) with its 95% CI as a vertical bar; the uncompiled program sits at 0 requests. In
the second (:func:`best_val_vs_requests_svg`, ``--curves``), each compile is a step line, so
systems that spent differently are read at the same spend. No plotting library: the SVG is
written by hand. Plot any results file (older ones too) from the repository root::

    python -m benchmarks.plot benchmarks/results/compile_tasks-2026-11-27T075959Z.json
    python -m benchmarks.plot --curves benchmarks/results/compile_tasks-2026-11-27T075959Z.json
"""

from __future__ import annotations

import argparse
import html
import math
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from benchmarks.evidence import curves_json
from benchmarks.records import JSON, ResultRow, load_rows

__all__ = [
    "COLORS",
    "Point",
    "accuracy_vs_calls_svg",
    "best_val_vs_requests_svg",
    "main",
    "scatter_svg",
]

COLORS = ["#6b7280", "#2563eb", "#16a34a", "#9333ea", "#dc2626", "#ea580c", "#0891b2"]
_W, _H = 420, 260  # one panel
_L, _R, _T, _B = 52, 16, 34, 42  # its margins


Point = tuple[str, float, float, tuple[float, float]]


def _esc(value: Any) -> str:
    return html.escape(value if isinstance(value, str) else str(value), quote=True)


def _nice_ticks(lo: float, hi: float) -> list[float]:
    """About five round tick values (steps of 1, 2 or 5 times a power of ten) covering lo..hi."""
    if hi <= lo:
        hi = lo + 1.0
    raw = (hi - lo) / 5
    magnitude = 10.0 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw * (1 - 1e-9))
    first = math.floor(lo / step + 1e-9) * step
    count = math.ceil((hi - first) / step - 1e-9)
    return [round(first + i * step, 9) for i in range(count + 1)]


def _tick_label(value: float, ticks: Sequence[float]) -> str:
    step = ticks[1] - ticks[0] if len(ticks) > 1 else 1.0
    decimals = max(0, -math.floor(math.log10(step) + 1e-9))
    return f"{0.0 if abs(value) < step / 1e6 else value:,.{decimals}f}"


def _points(rows: Sequence[ResultRow], task: str) -> list[Point]:
    out = []
    for r in rows:
        test, compiled = r.result.test, r.result.compile
        if r.task != task or test is None:
            continue
        requests = float(compiled.lm_requests) if compiled is not None else 0.0
        out.append((r.system, requests, test.scores.mean, test.scores.ci95))
    return out


Scale = Callable[[float], float]


def _axes(task: str, x_max: float, x_label: str) -> tuple[list[str], Scale, Scale]:
    """A panel's title, grid, ticks and x axis; and its x and y scales."""
    xticks = _nice_ticks(0.0, x_max)
    yticks = [0.0, 0.25, 0.5, 0.75, 1.0]
    x1 = xticks[-1] or 1.0

    def x(v: float) -> float:
        return _L + v / x1 * (_W - _L - _R)

    def y(v: float) -> float:
        return _T + (1.0 - v) * (_H - _T - _B)

    out = [f'<text x="{_L}" y="20" font-weight="600">{_esc(task)}</text>']
    out += [
        f'<line x1="{_L}" y1="{y(v):.1f}" x2="{_W - _R}" y2="{y(v):.1f}" stroke="#e5e7eb"/>'
        f'<text x="{_L - 6}" y="{y(v) + 4:.1f}" text-anchor="end">{v:.2f}</text>'
        for v in yticks
    ]
    out += [
        f'<text x="{x(v):.1f}" y="{_H - _B + 16}" text-anchor="middle">'
        f"{_esc(_tick_label(v, xticks))}</text>"
        for v in xticks
    ]
    out.append(
        f'<line x1="{_L}" y1="{_H - _B}" x2="{_W - _R}" y2="{_H - _B}" stroke="#6b7280"/>'
        f'<text x="{(_L + _W - _R) / 2}" y="{_H - 8}" text-anchor="middle">'
        f"{x_label}</text>"
    )
    return out, x, y


def _panel(
    task: str,
    points: Sequence[Point],
    colors: dict[str, str],
    x_label: str = "compile LM requests",
    x_unit: str = "LM requests",
) -> str:
    x_max = max([p[1] for p in points] + [1.0])
    out, x, y = _axes(task, x_max, x_label)
    for system, requests, score, ci in points:
        color = colors[system]
        lo, hi = ci
        tip = f"{system}: {score:.3f} [{lo:.3f}, {hi:.3f}] after {requests:,.0f} {x_unit}"
        out.append(
            f'<line x1="{x(requests):.1f}" y1="{y(lo):.1f}" x2="{x(requests):.1f}" '
            f'y2="{y(hi):.1f}" stroke="{color}" stroke-width="2" opacity="0.6"/>'
            f'<circle cx="{x(requests):.1f}" cy="{y(score):.1f}" r="5" fill="{color}">'
            f"<title>{_esc(tip)}</title></circle>"
        )
    return "\n".join(out)


def _document(
    tasks: list[str], systems: list[str], title: str, panel: Callable[[str, dict[str, str]], str]
) -> str:
    """Panels two per row under a title and a legend of ``systems``."""
    colors = {s: COLORS[i % len(COLORS)] for i, s in enumerate(systems)}
    columns = min(2, max(1, len(tasks)))
    lines = (len(tasks) + columns - 1) // columns
    width, height = columns * _W, 56 + lines * _H
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12" fill="#111827">',
        '<rect width="100%" height="100%" fill="white"/>',
        f'<text x="12" y="20" font-size="14" font-weight="600">{_esc(title)}</text>',
    ]
    for i, system in enumerate(systems):
        out.append(
            f'<circle cx="{18 + i * 130}" cy="38" r="5" fill="{colors[system]}"/>'
            f'<text x="{28 + i * 130}" y="42">{_esc(system)}</text>'
        )
    for i, task in enumerate(tasks):
        dx, dy = (i % columns) * _W, 56 + (i // columns) * _H
        out.append(f'<g transform="translate({dx},{dy})">')
        out.append(panel(task, colors))
        out.append("</g>")
    out.append("</svg>")
    return "\n".join(out) + "\n"


def accuracy_vs_calls_svg(rows: Sequence[ResultRow], title: str = "") -> str:
    """The plot as a standalone SVG document (two panels per row, a legend at the top)."""
    tasks = list(dict.fromkeys(r.task for r in rows))
    systems = list(dict.fromkeys(r.system for r in rows))
    return _document(
        tasks,
        systems,
        title or "held-out score vs. LM requests (bars: 95% CI)",
        lambda task, colors: _panel(task, _points(rows, task), colors),
    )


def scatter_svg(
    panels: Mapping[str, Sequence[Point]], *, title: str, x_label: str, x_unit: str
) -> str:
    """Panels of ``(series, x, score, 95% CI)`` points as a standalone SVG document: two
    panels per row, one colour per series, a legend at the top.

    Args:
        panels: the points of each panel, by panel title.
        title: the figure's title.
        x_label: the x axis's label (``preference queries``).
        x_unit: what x counts, in a point's tooltip (``after 25 queries``).
    """
    systems = list(dict.fromkeys(p[0] for points in panels.values() for p in points))
    return _document(
        list(panels),
        systems,
        title,
        lambda task, colors: _panel(task, panels[task], colors, x_label, x_unit),
    )


def _curve_panel(task: str, curves: list[JSON], colors: dict[str, str]) -> str:
    x_max = max([float(c["lm_requests"]) for c in curves] + [1.0])
    out, x, y = _axes(task, x_max, "compile LM requests")
    for c in curves:
        corners, last = [], None
        for requests, best in c["curve"]:
            if last is not None:
                corners.append(f"{x(requests):.1f},{y(last):.1f}")
            corners.append(f"{x(requests):.1f},{y(best):.1f}")
            last = best
        corners.append(f"{x(c['lm_requests']):.1f},{y(last or 0.0):.1f}")  # spent to the end
        tip = f"{c['system']}, seed {c['seed']}: best {last or 0.0:.3f} on validation"
        out.append(
            f'<polyline points="{" ".join(corners)}" fill="none" stroke="{colors[c["system"]]}" '
            f'stroke-width="2" opacity="0.7"><title>{_esc(tip)}</title></polyline>'
        )
    return "\n".join(out)


def best_val_vs_requests_svg(rows: Sequence[ResultRow], title: str = "") -> str:
    """Each compile's best validation score so far vs. the LM requests it had spent, a line
    per system and seed, so systems read at the same spend."""
    curves = curves_json(rows)
    tasks = list(dict.fromkeys(c["task"] for c in curves))
    systems = list(dict.fromkeys(c["system"] for c in curves))
    return _document(
        tasks,
        systems,
        title or "best validation score so far vs. LM requests (a line per compile)",
        lambda task, colors: _curve_panel(task, [c for c in curves if c["task"] == task], colors),
    )


def main(argv: list[str] | None = None) -> int:
    """Write the plot of a ``compile_tasks-*.json`` results file (default: beside it)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("results", type=Path, help="a compile_tasks-*.json results file")
    parser.add_argument(
        "--curves",
        action="store_true",
        help="plot best validation score vs. LM requests (default: <results>.curves.svg)",
    )
    parser.add_argument("--out", type=Path, help="the SVG to write (default: <results>.svg)")
    args = parser.parse_args(argv)
    rows = load_rows(args.results)
    if args.curves:
        out = args.out or args.results.with_suffix(".curves.svg")
        out.write_text(best_val_vs_requests_svg(rows), encoding="utf-8")
    else:
        out = args.out or args.results.with_suffix(".svg")
        out.write_text(accuracy_vs_calls_svg(rows), encoding="utf-8")
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
