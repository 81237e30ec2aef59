"""An SVG of held-out score vs. LM requests, one panel per task, from a task-table run.

Each system is a dot at (compile LM requests, test score) with its 95% CI as a vertical bar;
the uncompiled program sits at 0 requests. No plotting library: the SVG is written by hand.
Plot any results file (older ones too) from the repository root::

    python -m benchmarks.plot benchmarks/results/compile_tasks-2026-11-27T075959Z.json
"""

from __future__ import annotations

import argparse
import html
import math
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from benchmarks.records import ResultRow, load_rows

__all__ = ["COLORS", "Point", "accuracy_vs_calls_svg", "main", "scatter_svg"]

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


def _panel(
    task: str, points: list[Point], colors: dict[str, str], x_label: str, x_unit: str
) -> str:
    xticks = _nice_ticks(0.0, max([p[1] for p in points] + [1.0]))
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
        f"{_esc(x_label)}</text>"
    )
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


def accuracy_vs_calls_svg(rows: Sequence[ResultRow], title: str = "") -> str:
    """The plot as a standalone SVG document (two panels per row, a legend at the top)."""
    tasks = list(dict.fromkeys(r.task for r in rows))
    return scatter_svg(
        {task: _points(rows, task) for task in tasks},
        title=title or "held-out score vs. LM requests (bars: 95% CI)",
        x_label="compile LM requests",
        x_unit="LM requests",
        series=list(dict.fromkeys(r.system for r in rows)),
    )


def scatter_svg(
    panels: Mapping[str, Sequence[Point]],
    *,
    title: str,
    x_label: str,
    x_unit: str,
    series: Sequence[str] | None = None,
) -> str:
    """Panels of ``(series, x, score, 95% CI)`` points as a standalone SVG document: two panels
    per row, one colour per series, a legend at the top.

    Args:
        panels: the points of each panel, by panel title.
        title: the figure's title.
        x_label: the x axis's label (``compile LM requests``).
        x_unit: what x counts, in a point's tooltip (``after 144 LM requests``).
        series: the legend's series, in order (default: those of the points).
    """
    systems = list(series or dict.fromkeys(p[0] for points in panels.values() for p in points))
    colors = {s: COLORS[i % len(COLORS)] for i, s in enumerate(systems)}
    columns = min(2, max(1, len(panels)))
    lines = (len(panels) + columns - 1) // columns
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
    for i, (task, points) in enumerate(panels.items()):
        dx, dy = (i % columns) * _W, 56 + (i // columns) * _H
        out.append(f'<g transform="translate({dx},{dy})">')
        out.append(_panel(task, list(points), colors, x_label, x_unit))
        out.append("</g>")
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Write the plot of a ``compile_tasks-*.json`` results file (default: beside it)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("results", type=Path, help="a compile_tasks-*.json results file")
    parser.add_argument("--out", type=Path, help="the SVG to write (default: <results>.svg)")
    args = parser.parse_args(argv)
    out = args.out or args.results.with_suffix(".svg")
    out.write_text(accuracy_vs_calls_svg(load_rows(args.results)), encoding="utf-8")
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
