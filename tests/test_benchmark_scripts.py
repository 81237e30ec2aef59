"""The other benchmarks, run as modules: overhead (tiny), reliability (fakes only), ease_order."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import reliability

ROOT = Path(__file__).resolve().parents[1]


def test_the_reliability_benchmark_measures_and_passes(capsys: pytest.CaptureFixture[str]) -> None:
    assert reliability.main(["--seeds", "1", "--fuzz-examples", "10"]) == 0
    out = capsys.readouterr().out
    assert "trials lost          0 of 8 asked" in out and "budget exact         yes" in out
    assert re.search(r"faults injected      [1-9]\d* \(timeout \d+", out)
    assert "escapes total        0" in out and out.count(" 10 inputs  0 escapes") == 6


def test_a_fuzz_escape_is_counted() -> None:
    from hypothesis import strategies as st

    from benchmarks.fuzz import FuzzTarget

    def body(value: int) -> None:
        if value % 2:
            raise KeyError(value)  # not a documented error: an escape

    count, escapes = reliability.run_fuzz_target(FuzzTarget("odd", st.integers(0, 10**6), body), 30)
    assert count == 30 and escapes and all(e.startswith("KeyError: ") for e in escapes)


def test_overhead_module_tiny_run(tmp_path: Path) -> None:
    pytest.importorskip("dspy")
    command = [sys.executable, "-m", "benchmarks.overhead", "--out", str(tmp_path)]
    command += ["--calls", "20", "--litellm-calls", "2", "--http-calls", "3", "--repeats", "1"]
    command += ["--waves", "1", "--latency", "0.01", "--no-install-size"]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr
    (path,) = tmp_path.glob("overhead-*.json")
    assert re.fullmatch(r"overhead-\d{4}-\d\d-\d\dT\d{6}Z\.json", path.name)
    payload = json.loads(path.read_text(encoding="utf-8"))
    assert payload["table"] in done.stdout and "Provider List" not in done.stdout
    rows = {(r["system"], r["lm"]): r["us_per_call"] for r in payload["per_call"]}
    assert set(rows) == {
        ("promptc load()", "zero-latency backend"),
        ("promptc load()", "litellm mock_response"),
        ("dspy.Predict", "DummyLM (zero latency)"),
        ("dspy.Predict", "engine (zero latency)"),
        ("dspy.Predict", "litellm mock_response"),
        ("litellm.completion", "mock_response"),
        ("httpx.Client.post", "loopback HTTP stub"),
        ("promptc load()", "loopback HTTP stub"),
    }
    assert all(us > 0 for us in rows.values())
    targets = {r["target"]: r for r in payload["targets"]}
    assert set(targets) == {
        "promptc zero-latency call / dspy.Predict (DummyLM)",
        "promptc over loopback HTTP / raw httpx POST",
        "import promptc, s",
    }  # the core install is measured only in full runs
    assert all(isinstance(r["met"], bool) and r["measured"] > 0 for r in targets.values())
    assert "install" not in payload
    assert [r["module"] for r in payload["imports"]] == ["promptc", "dspy", "litellm"]
    levels = [(r["system"], r["concurrency"]) for r in payload["throughput"]]
    assert levels == [(s, n) for n in (1, 8, 64) for s in ("promptc.evaluate", "dspy.Evaluate")]
    assert all(r["examples_per_s"] > 0 for r in payload["throughput"])


def test_ease_order_reports_the_difference_paired_by_seed_and_row() -> None:
    from benchmarks.ease_order import paired_line

    ease = [{"test_scores": [1.0, 1.0, 0.0]}, {"test_scores": [1.0, 0.0, 0.0]}]
    rand = [{"test_scores": [0.0, 1.0, 0.0]}, {"test_scores": [0.0, 0.0, 0.0]}]
    assert paired_line(ease, rand).startswith("ease - random, test rows paired: +0.333 [")
    assert paired_line(ease, rand).endswith("(n=6)")
