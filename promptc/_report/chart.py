"""The report's chart: best score and trial scores against LM requests, as SVG geometry.

Only numbers are computed here (coordinates, ticks, labels) from the report's typed trial
records; ``report_chart.svg.jinja2`` draws them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from promptc._artifact.provenance import TrialRecord

__all__ = ["Chart", "chart", "nice_ticks", "tick_label"]

WIDTH, HEIGHT = 720, 340
LEFT, RIGHT, TOP, BOTTOM = 64, 24, 40, 52
BEST_COLOR, SCORE_COLOR, BUDGET_COLOR = "#2563eb", "#ea580c", "#9ca3af"
# Past this many trial points the chart drops per-point tooltips to keep the page small.
MAX_TOOLTIPS = 500


@dataclass(frozen=True)
class _Frame:
    """Maps data (LM requests, score) to SVG coordinates inside the plot area."""

    x0: float
    x1: float
    y0: float
    y1: float

    def x(self, value: float) -> float:
        return LEFT + (value - self.x0) / (self.x1 - self.x0) * (WIDTH - LEFT - RIGHT)

    def y(self, value: float) -> float:
        return TOP + (self.y1 - value) / (self.y1 - self.y0) * (HEIGHT - TOP - BOTTOM)


@dataclass(frozen=True)
class Dot:
    """One trial's score: centre, radius and tooltip (empty past :data:`MAX_TOOLTIPS`)."""

    cx: str
    cy: str
    r: float
    tip: str


@dataclass(frozen=True)
class Chart:
    """Everything the chart template draws (coordinates already formatted)."""

    width: int
    height: int
    left: int
    right: int
    top: int
    bottom: int
    xticks: tuple[tuple[float, str], ...]
    yticks: tuple[tuple[float, str], ...]
    points: str
    dots: tuple[Dot, ...]
    budget_x: str | None
    colors: tuple[str, str, str]

    @property
    def middle_x(self) -> str:
        """The centre of the plot area, horizontally."""
        return f"{(self.left + self.width - self.right) / 2:.1f}"

    @property
    def middle_y(self) -> str:
        """The centre of the plot area, vertically."""
        return f"{(self.top + self.height - self.bottom) / 2:.1f}"


def nice_ticks(lo: float, hi: float, min_step: float = 0.0) -> list[float]:
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


def tick_label(value: float, ticks: Sequence[float]) -> str:
    step = ticks[1] - ticks[0] if len(ticks) > 1 else 1.0
    decimals = max(0, -math.floor(math.log10(step) + 1e-9))
    return f"{0.0 if abs(value) < step / 1e6 else value:,.{decimals}f}"


def _xy(x: float, y: float) -> str:
    return f"{x:.1f},{y:.1f}"


_Dot = tuple[int | None, float, float]  # (trial id, requests, score)


def _data(trials: Sequence[TrialRecord]) -> tuple[list[tuple[float, float]], list[_Dot]]:
    """(requests, best) steps and (id, requests, score) dots of the trials that have them."""
    steps: list[tuple[float, float]] = []
    dots: list[_Dot] = []
    for trial in trials:
        if trial.requests is None:  # stopped by the budget: nothing to plot
            continue
        requests = float(trial.requests)
        if trial.best is not None:
            steps.append((requests, trial.best))
        if trial.score is not None:
            dots.append((trial.id, requests, trial.score))
    return steps, dots


def _frame(
    steps: Sequence[tuple[float, float]], dots: Sequence[_Dot], budget: int | None
) -> tuple[_Frame, list[float], list[float], float | None]:
    """The frame, the x and y ticks, and where to draw the budget line (if it fits the view)."""
    xs = [r for r, _ in steps] + [r for _, r, _ in dots]
    ys = [b for _, b in steps] + [s for _, _, s in dots]
    x_max = max(xs, default=0.0)
    limit = None if budget is None else float(budget)
    # A budget far beyond what was spent would squash the data into the left edge: leave it out.
    shown = limit if limit is not None and 0 < limit <= 2 * x_max else None
    x_lo, x_hi = min([0.0, *xs]), max(x_max, shown or 0.0)
    xticks = nice_ticks(x_lo, x_hi, min_step=1.0)
    if x_hi > x_lo:
        # End the axis at the data, not at the next round tick: no empty band on the right.
        xticks = [t for t in xticks if t <= x_hi * (1 + 1e-9)]
    yticks = nice_ticks(min([0.0, *ys]), max([1.0, *ys]))
    # A little room on the right so the last point is not drawn on the frame edge.
    x_end = max(x_hi + 0.03 * (x_hi - x_lo), xticks[-1])
    return _Frame(xticks[0], x_end, yticks[0], yticks[-1]), xticks, yticks, shown


def _points(frame: _Frame, steps: Sequence[tuple[float, float]]) -> str:
    """The best-so-far step line: one vertex per trial, plus the corner before each rise."""
    points: list[str] = []
    for i, (requests, best) in enumerate(steps):
        if i:
            points.append(_xy(frame.x(requests), frame.y(steps[i - 1][1])))
        points.append(_xy(frame.x(requests), frame.y(best)))
    return " ".join(points)


def _dots(frame: _Frame, dots: Sequence[_Dot]) -> tuple[Dot, ...]:
    radius = 3.5 if len(dots) <= 100 else 2.5 if len(dots) <= MAX_TOOLTIPS else 1.5
    out = []
    for trial_id, requests, score in dots:
        tip = ""
        if len(dots) <= MAX_TOOLTIPS:
            shown = "\u2014" if trial_id is None else str(trial_id)
            tip = f"trial {shown}: score {score:.3f} after {requests:,.0f} LM requests"
        out.append(Dot(f"{frame.x(requests):.1f}", f"{frame.y(score):.1f}", radius, tip))
    return tuple(out)


def chart(trials: Sequence[TrialRecord], budget: int | None) -> Chart:
    """The chart of a report's trials (and its budget line, when it fits the view)."""
    steps, dots = _data(trials)
    frame, xticks, yticks, shown = _frame(steps, dots, budget)
    return Chart(
        width=WIDTH,
        height=HEIGHT,
        left=LEFT,
        right=RIGHT,
        top=TOP,
        bottom=BOTTOM,
        xticks=tuple((frame.x(v), tick_label(v, xticks)) for v in xticks),
        yticks=tuple((frame.y(v), tick_label(v, yticks)) for v in yticks),
        points=_points(frame, steps),
        dots=_dots(frame, dots),
        budget_x=None if shown is None else f"{frame.x(shown):.1f}",
        colors=(BEST_COLOR, SCORE_COLOR, BUDGET_COLOR),
    )
