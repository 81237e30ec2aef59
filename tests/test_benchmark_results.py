"""The results files in benchmarks/results: every earlier run still loads, tabulates and plots;
and the paired bootstrap the harness compares systems with."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import plot, table
from benchmarks.records import load_rows, rows_to_json
from benchmarks.stats import paired_bootstrap_ci
from promptc.compiler import bootstrap_ci

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


def test_paired_bootstrap_ci_of_identical_and_shifted_scores() -> None:
    a = [1.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0, 0.0]
    assert paired_bootstrap_ci(a, a) == (0.0, 0.0)
    assert paired_bootstrap_ci([x + 0.25 for x in a], a) == (0.25, 0.25)
    assert paired_bootstrap_ci([], []) == (0.0, 0.0)
    with pytest.raises(ValueError, match="same rows, got 2 and 1 scores"):
        paired_bootstrap_ci([1.0, 0.0], [1.0])


def test_pairing_removes_the_rows_shared_difficulty() -> None:
    """Two systems that agree on hard and easy rows, and differ on a few: the paired interval
    of the difference is much narrower than one from two unpaired intervals."""
    b = [float(i % 2) for i in range(60)]
    a = [1.0 if i in range(0, 20, 2) else x for i, x in enumerate(b)]  # right on 10 more rows
    lo, hi = paired_bootstrap_ci(a, b)
    diff = sum(a) / 60 - sum(b) / 60
    assert 0.0 < lo <= diff <= hi
    (alo, ahi), (blo, bhi) = bootstrap_ci(a), bootstrap_ci(b)
    assert hi - lo < 0.5 * ((ahi - alo) + (bhi - blo))
    assert paired_bootstrap_ci(a, b, seed=0) == (lo, hi)  # seeded: reproducible
    assert paired_bootstrap_ci(b, a) == (-hi, -lo)
