"""An SVG of held-out score vs. LM requests, one panel per task, from compile_tasks records.

Each system is a dot at (compile LM requests, test score) with its 95% CI as a vertical bar;
the uncompiled program sits at 0 requests. No plotting library: the SVG is written by hand, with
the tick helpers of promptc's compile report.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

from promptc._report.chart import nice_ticks as _nice_ticks
from promptc._report.chart import tick_label as _tick_label


def _esc(value: Any) -> str:
    return html.escape(value if isinstance(value, str) else str(value), quote=True)


__all__ = ["COLORS", "accuracy_vs_calls_svg"]

COLORS = ["#6b7280", "#2563eb", "#16a34a", "#9333ea", "#dc2626", "#ea580c", "#0891b2"]
_W, _H = 420, 260  # one panel
_L, _R, _T, _B = 52, 16, 34, 42  # its margins


def _points(records: Sequence[dict[str, Any]], task: str) -> list[tuple[str, float, float, Any]]:
    out = []
    for r in records:
        if r["task"] != task or "test" not in r:
            continue
        requests = float(r["compile"]["lm_requests"]) if r.get("compile") else 0.0
        out.append((r["system"], requests, float(r["test"]["mean"]), r["test"]["ci95"]))
    return out


def _panel(task: str, points: list[tuple[str, float, float, Any]], colors: dict[str, str]) -> str:
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
        "compile LM requests</text>"
    )
    for system, requests, score, ci in points:
        color = colors[system]
        lo, hi = (float(ci[0]), float(ci[1])) if ci else (score, score)
        tip = f"{system}: {score:.3f} [{lo:.3f}, {hi:.3f}] after {requests:,.0f} LM requests"
        out.append(
            f'<line x1="{x(requests):.1f}" y1="{y(lo):.1f}" x2="{x(requests):.1f}" '
            f'y2="{y(hi):.1f}" stroke="{color}" stroke-width="2" opacity="0.6"/>'
            f'<circle cx="{x(requests):.1f}" cy="{y(score):.1f}" r="5" fill="{color}">'
            f"<title>{_esc(tip)}</title></circle>"
        )
    return "\n".join(out)


def accuracy_vs_calls_svg(records: Sequence[dict[str, Any]], title: str = "") -> str:
    """The plot as a standalone SVG document (two panels per row, a legend at the top)."""
    tasks = list(dict.fromkeys(r["task"] for r in records))
    systems = list(dict.fromkeys(r["system"] for r in records))
    colors = {s: COLORS[i % len(COLORS)] for i, s in enumerate(systems)}
    columns = min(2, max(1, len(tasks)))
    rows = (len(tasks) + columns - 1) // columns
    width, height = columns * _W, 56 + rows * _H
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12" fill="#111827">',
        '<rect width="100%" height="100%" fill="white"/>',
        f'<text x="12" y="20" font-size="14" font-weight="600">'
        f"{_esc(title or 'held-out score vs. LM requests (bars: 95% CI)')}</text>",
    ]
    for i, system in enumerate(systems):
        out.append(
            f'<circle cx="{18 + i * 130}" cy="38" r="5" fill="{colors[system]}"/>'
            f'<text x="{28 + i * 130}" y="42">{_esc(system)}</text>'
        )
    for i, task in enumerate(tasks):
        dx, dy = (i % columns) * _W, 56 + (i // columns) * _H
        out.append(f'<g transform="translate({dx},{dy})">')
        out.append(_panel(task, _points(records, task), colors))
        out.append("</g>")
    out.append("</svg>")
    return "\n".join(out) + "\n"
