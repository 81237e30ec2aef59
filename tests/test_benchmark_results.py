"""The results files in benchmarks/results: every earlier run still loads, tabulates and plots;
and the paired bootstrap the harness compares systems with."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import plot, table
from benchmarks.records import (
    ExampleOutcome,
    PromptcCompile,
    ResultRow,
    Scores,
    SystemResult,
    TestRecord,
    load_rows,
    rows_to_json,
)
from promptc.compiler import bootstrap_ci, paired_bootstrap_ci

ROOT = Path(__file__).resolve().parents[1]
RESULTS = sorted((ROOT / "benchmarks" / "results").glob("compile_tasks-*.json"))


def test_there_are_results_files() -> None:
    assert len(RESULTS) >= 5


@pytest.mark.parametrize("path", RESULTS, ids=lambda p: p.name)
def test_results_files_round_trip_through_the_typed_records(path: Path) -> None:
    payload = json.loads(path.read_text(encoding="utf-8"))
    rows = load_rows(path)
    assert json.dumps(rows_to_json(rows)) == json.dumps(payload["results"])  # same keys, order
    if table.HEADER in payload["table"]:  # runs since the token columns were added
        assert table.format_table(rows) == payload["table"]


@pytest.mark.parametrize("path", [p for p in RESULTS if p.with_suffix(".svg").is_file()])
def test_results_files_plot_as_when_they_were_written(path: Path, tmp_path: Path) -> None:
    out = tmp_path / "plot.svg"
    command = [sys.executable, "-m", "benchmarks.plot", str(path), "--out", str(out)]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    assert out.read_text(encoding="utf-8") == path.with_suffix(".svg").read_text(encoding="utf-8")


def test_the_oldest_results_file_plots_too() -> None:
    svg = plot.accuracy_vs_calls_svg(load_rows(RESULTS[0]))
    assert svg.startswith("<svg") and svg.count('<g transform="translate') >= 1


def _row(system: str, scores: list[float], ids: str = "r") -> ResultRow:
    """A row scored on test rows ``<ids>0``, ``<ids>1``, ..."""
    examples = tuple(ExampleOutcome(f"{ids}{i}", s, None, None) for i, s in enumerate(scores))
    mean = sum(scores) / len(scores)
    test = TestRecord(Scores(mean, (0.0, 1.0), len(scores), 0), 0, {}, 0.0, examples)
    if system == "uncompiled":
        return ResultRow("t", "g", "exact_match", system, SystemResult(test=test))
    val = Scores(0.5, (0.0, 1.0), 4, 0)
    compiled = PromptcCompile(8, {"budget": 8}, {}, 0.1, val, val, (), {})
    return ResultRow("t", "g", "exact_match", system, SystemResult(compiled, test))


def test_differences_are_paired_by_row() -> None:
    """Two systems that agree on hard and easy rows and differ on a few: the paired interval
    of the difference is much narrower than two unpaired intervals together."""
    b = [float(i % 2) for i in range(60)]
    a = [1.0 if i in range(0, 20, 2) else x for i, x in enumerate(b)]  # right on 10 more rows
    (diff,) = table.differences([_row("uncompiled", b), _row("random", a)])
    assert (diff.a, diff.b, diff.n) == ("random", "uncompiled", 60)
    assert diff.mean == pytest.approx(10 / 60)
    lo, hi = diff.ci95
    assert (lo, hi) == paired_bootstrap_ci(a, b) and 0.0 < lo <= diff.mean <= hi
    (alo, ahi), (blo, bhi) = bootstrap_ci(a), bootstrap_ci(b)
    assert hi - lo < 0.5 * ((ahi - alo) + (bhi - blo))


def test_rows_scored_on_other_rows_are_not_paired() -> None:
    rows = [_row("uncompiled", [0.0, 0.0]), _row("random", [1.0, 1.0], ids="x")]
    assert table.differences(rows) == []
    assert len(table.differences([rows[0], _row("random", [1.0, 1.0])])) == 1
