"""The report of a compile from preferences as a self-contained HTML page and a JSON file.

The page shows who judged and how often, the candidates ranked by estimated utility (relative
to the uncompiled program) with each one's 95% interval drawn as a bar, and every comparison.
Rendered with autoescaping on (candidates' instructions and demos are untrusted text); no
JavaScript, nothing loaded.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from promptc._report.html import get_template, write_pair
from promptc._report.models import PreferenceReport
from promptc._report.view import candidate_text

__all__ = ["render_preference_html", "write_preference_report"]

_BAR_WIDTH = 240  # pixels of the utility axis


def _scale(report: PreferenceReport) -> tuple[float, float]:
    ranking = report.preferences.ranking
    lo = min([0.0, *(r.ci95[0] for r in ranking)])
    hi = max([0.0, *(r.ci95[1] for r in ranking)])
    return lo, max(hi, lo + 1e-9)


def _view(report: PreferenceReport) -> dict[str, Any]:
    lo, hi = _scale(report)

    def x(value: float) -> int:
        return round((value - lo) / (hi - lo) * _BAR_WIDTH)

    prefs = report.preferences
    rows = []
    for rank, r in enumerate(prefs.ranking):
        rows.append(
            {
                "rank": rank + 1,
                "index": r.index,
                "text": candidate_text(r.candidate),
                "utility": f"{r.utility:+.2f}",
                "ci": f"[{r.ci95[0]:+.2f}, {r.ci95[1]:+.2f}]",
                "duels": r.duels,
                "kept": r.index == report.kept,
                "bar": {"x0": x(r.ci95[0]), "x1": x(r.ci95[1]), "mid": x(r.utility)},
            }
        )
    return {
        "program": report.program,
        "optimizer": report.optimizer.name,
        "seed": report.seed,
        "budget": report.budget,
        "spent": report.spent.total.requests,
        "prefs": prefs,
        "outcome": report.outcome,
        "zero": x(0.0),
        "width": _BAR_WIDTH,
        "ranking": rows,
        "duels": report.duels,
    }


def render_preference_html(report: PreferenceReport) -> str:
    """The report as one self-contained HTML page (same report, same string)."""
    return get_template("preference_report.html.jinja2").render(v=_view(report))


def write_preference_report(
    report: PreferenceReport, path: str | os.PathLike[str]
) -> tuple[Path, Path]:
    """Write the report as ``<path>.json`` (its ``model_dump``) and ``<path>.html``."""
    return write_pair(path, report.model_dump(mode="json"), render_preference_html(report))
