"""A compile report as a self-contained HTML page, a JSON file and a terminal table.

The report is the typed record a compile produces (:class:`~promptc._report.models.
CompileReport`): program, optimizer, seed, metric, budget, LM requests spent by phase, the
trials in evaluation order (each described by what it changes against the uncompiled program),
baseline vs. compiled scores with the paired gain, why the compile kept what it kept, the kept
program's failing validation rows and rendered prompt, label coverage and train/validation
overlap. Every view here is a pure function of it (same report, same bytes); the JSON file is
its ``model_dump``. The page is rendered from Jinja2 templates shipped with promptc
(``templates/report.html.jinja2`` and ``report_chart.svg.jinja2``) with autoescaping on:
instructions, rows and replies are user- or model-written text and may well contain markup.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jinja2

from promptc._artifact.provenance import TrialRecord
from promptc._files import write_atomic
from promptc._report.models import CompileReport
from promptc._report.view import _fmt, _short, candidate_text, page_view

__all__ = ["format_table", "get_template", "render_html", "write_pair", "write_report"]

_TEXT_CANDIDATE_WIDTH = 60

_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("promptc", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def get_template(name: str) -> jinja2.Template:
    """A template shipped in ``promptc/templates``, autoescaped, undefined names refused."""
    return _ENV.get_template(name)


def render_html(report: CompileReport) -> str:
    """Render a compile report as one self-contained HTML page.

    The page has no JavaScript and loads nothing: a header (program, optimizer and its config,
    seed, metric, budget, spent), the outcome and its reason, baseline vs. compiled scores with
    95% CIs and the change with its paired 95% CI, an inline SVG chart of the best score
    against LM requests, LM requests by phase, credit by predictor, the kept program's failing
    validation rows, label coverage and train/validation overlap, the kept program's prompt as
    rendered, and the trials with what each changes. All text from the report is HTML-escaped
    (Jinja2 autoescaping).

    Args:
        report: the compile report.

    Returns:
        The page; the same report always gives the same string.
    """
    view = page_view(report)
    return _ENV.get_template("report.html.jinja2").render(v=view, chart=view["chart"])


def format_table(report: CompileReport, top: int | None = None) -> str:
    """Format a compile report's trials as a fixed-width plain-text table for a terminal.

    Args:
        report: the compile report.
        top: show only the ``top`` best-scoring trials (more rows scored wins ties), still in
            trial order; ``None`` shows every trial.

    Returns:
        A header line, a rule, then one line per trial (``(no trials)`` when there are none);
        the candidate column comes last and is shortened so lines stay bounded.
    """
    head = ("id", "rows", "score", "requests", "best", "stopped", "candidate")
    rows = [
        (
            _fmt(t.id, "-"),
            _fmt(t.rows, "-"),
            _fmt(t.score, "-"),
            _fmt(t.requests, "-"),
            _fmt(t.best, "-"),
            _fmt(t.stopped, ""),
            _short(candidate_text(t.candidate), _TEXT_CANDIDATE_WIDTH),
        )
        for t in _top(report.trials, top)
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


def _top(trials: list[TrialRecord], top: int | None) -> list[TrialRecord]:
    if top is None or len(trials) <= top:
        return trials

    def rank(t: TrialRecord) -> tuple[float, float]:
        return (-math.inf if t.score is None else t.score, 0.0 if t.rows is None else t.rows)

    kept = {id(t) for t in sorted(trials, key=rank, reverse=True)[: max(0, top)]}
    return [t for t in trials if id(t) in kept]


def _write_atomic(target: Path, text: str) -> None:
    write_atomic(target, text.encode("utf-8"))


def write_report(report: CompileReport, path: str | os.PathLike[str]) -> tuple[Path, Path]:
    """Write a compile report as ``<path>.json`` (its ``model_dump``) and ``<path>.html``, each
    atomically.

    Args:
        report: the compile report.
        path: where to write, without suffix; a trailing ``.json`` or ``.html`` is dropped, so
            ``out/run.json`` and ``out/run`` both give ``out/run.json`` and ``out/run.html``.
            Missing parent directories are created.

    Returns:
        The JSON path and the HTML path.
    """
    data = report.model_dump(mode="json")
    return write_pair(path, data, render_html(report))


def write_pair(
    path: str | os.PathLike[str], data: dict[str, Any], html_text: str
) -> tuple[Path, Path]:
    """Write ``data`` as ``<path>.json`` and ``html_text`` as ``<path>.html``, each atomically
    (a trailing ``.json`` or ``.html`` on ``path`` is dropped; parents are created)."""
    base = Path(path)
    if base.suffix.lower() in (".json", ".html"):
        base = base.with_suffix("")
    json_path = base.with_name(base.name + ".json")
    html_path = base.with_name(base.name + ".html")
    json_text = json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    base.parent.mkdir(parents=True, exist_ok=True)
    _write_atomic(json_path, json_text)
    _write_atomic(html_path, html_text)
    return json_path, html_path
