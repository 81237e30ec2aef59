"""The preference benchmark's table and its summary against issue 14's targets, as Markdown.

A cell is ``score [95% CI] (compile LM requests/questions)``: the test score of the system's
program, what its compile spent, and how many questions the judge answered (``—``: the
labelled compile asks none, it reads the labels).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from benchmarks.records import Difference, PreferenceCompile, ResultRow

__all__ = ["BudgetSummary", "format_summary", "format_table", "summarize"]

#: The issue's target: APOHF within this many points (as a fraction) of the labelled compile.
WITHIN = 0.05


def _cell(row: ResultRow) -> str:
    test, c = row.result.test, row.result.compile
    if test is None:
        return f"failed ({(row.result.error or 'no test score').split(':')[0]})"
    lo, hi = test.scores.ci95
    score = f"{test.scores.mean:.3f} [{lo:.2f}, {hi:.2f}]"
    if isinstance(c, PreferenceCompile):
        return f"{score} ({c.lm_requests}/{c.questions})"
    return f"{score} ({c.lm_requests}/—)" if c is not None else f"{score} (0/0)"


def format_table(columns: Sequence[tuple[str, Sequence[ResultRow]]]) -> str:
    """A row per system, a column per (label, that task's rows)."""
    systems = list(dict.fromkeys(r.system for _, rows in columns for r in rows))
    lines = [
        "| system | " + " | ".join(label for label, _ in columns) + " |",
        "|---|" + "---|" * len(columns),
    ]
    for system in systems:
        cells = []
        for _, rows in columns:
            row = next((r for r in rows if r.system == system), None)
            cells.append("—" if row is None else _cell(row))
        lines.append(f"| {system} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


@dataclass(frozen=True)
class BudgetSummary:
    """APOHF at one feedback budget, over all task runs.

    Attributes:
        feedback_budget: questions per compile.
        vs_random: task runs where APOHF and random_pairs were both scored.
        above_random: of those, where APOHF's test score is higher.
        tied_random: of those, where it is equal.
        vs_labelled: task runs where APOHF and the labelled compile were both scored.
        mean_gap_labelled: the mean of APOHF - labelled over those (``None``: none).
        within_labelled: task runs where APOHF is at most :data:`WITHIN` below labelled.
    """

    feedback_budget: int
    vs_random: int
    above_random: int
    tied_random: int
    vs_labelled: int
    mean_gap_labelled: float | None
    within_labelled: int

    def to_json(self) -> dict[str, Any]:
        return {
            "feedback_budget": self.feedback_budget,
            "vs_random": self.vs_random,
            "above_random": self.above_random,
            "tied_random": self.tied_random,
            "vs_labelled": self.vs_labelled,
            "mean_gap_labelled": self.mean_gap_labelled,
            "within_labelled": self.within_labelled,
        }


def summarize(
    differences: Sequence[Sequence[Difference]], feedback_budgets: Sequence[int], labelled: str
) -> list[BudgetSummary]:
    """One :class:`BudgetSummary` per feedback budget, from each task run's differences."""
    out = []
    for n in feedback_budgets:
        ours = [d for diffs in differences for d in diffs if d.a == f"apohf@{n}"]
        random = [d.mean for d in ours if d.b == f"random_pairs@{n}"]
        gaps = [d.mean for d in ours if d.b == labelled]
        out.append(
            BudgetSummary(
                feedback_budget=n,
                vs_random=len(random),
                above_random=sum(m > 0 for m in random),
                tied_random=sum(m == 0 for m in random),
                vs_labelled=len(gaps),
                mean_gap_labelled=sum(gaps) / len(gaps) if gaps else None,
                # A small tolerance: a 2-point gap on 40 rows is 0.05 minus a rounding error.
                within_labelled=sum(g >= -WITHIN - 1e-9 for g in gaps),
            )
        )
    return out


def format_summary(summary: Sequence[BudgetSummary]) -> str:
    """Two lines: APOHF vs. random pairs, and APOHF vs. labelled, at each feedback budget."""
    random = "; ".join(
        f"@{s.feedback_budget}: above on {s.above_random} of {s.vs_random} tasks "
        f"({s.tied_random} tied)"
        for s in summary
    )
    labelled = "; ".join(
        f"@{s.feedback_budget}: mean {s.mean_gap_labelled:+.3f}, within {WITHIN * 100:.0f} "
        f"points on {s.within_labelled} of {s.vs_labelled} tasks"
        if s.mean_gap_labelled is not None
        else f"@{s.feedback_budget}: no labelled compile to compare"
        for s in summary
    )
    return (
        f"APOHF vs. random_pairs (test score, equal queries): {random}\n"
        f"APOHF - labelled (test score): {labelled}"
    )
