"""The DSPy baselines' adapter setting (chat, xml, json, best), their validation curves, the
GSM8K twin, and programs without a twin, on fake LMs behind DSPy's litellm path."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest
from benchmark_support import adapter_reader, load, make_data_root, math_reader

import promptc
from benchmarks import compile_tasks, dspy_baseline, table
from benchmarks.dspy_adapters import ADAPTERS, AdapterRun, ValidationCurve, merge_choice
from benchmarks.dspy_baseline import DSPySystem
from benchmarks.records import DSPyCompile, SystemResult
from benchmarks.systems import RunOptions
from benchmarks.tasks import Task
from promptc.programs import KthLetterConcat
from promptc.testing import FakeBackend


@pytest.fixture
def data_root(tmp_path: Path) -> Path:
    return make_data_root(tmp_path)


@pytest.fixture
def dspy() -> ModuleType:
    return pytest.importorskip("dspy")


def _antonyms(data_root: Path) -> Task:
    return load(data_root, "instruction_induction/fake_antonyms", n_train=8, n_val=4, n_test=6)


def _record(result: SystemResult) -> DSPyCompile:
    assert result.error is None, result.error
    assert isinstance(result.compile, DSPyCompile)
    return result.compile


def test_adapters_are_dspys_classes(dspy: ModuleType) -> None:
    from benchmarks.dspy_adapters import make_adapter

    assert [type(make_adapter(name)) for name in ADAPTERS] == [
        dspy.ChatAdapter,
        dspy.XMLAdapter,
        dspy.JSONAdapter,
    ]
    with pytest.raises(ValueError, match=r"unknown DSPy adapter 'yaml'; known: \['chat'"):
        make_adapter("yaml")


def test_make_systems_adds_the_configured_adapter_beside_dspys_default() -> None:
    options = RunOptions(threads=2)
    names = ["random", "dspy-mipro"]
    for adapter, expected in [
        ("chat", ["uncompiled", "random", "dspy-mipro"]),
        ("json", ["uncompiled", "random", "dspy-mipro", "dspy-mipro+json"]),
        ("best", ["uncompiled", "random", "dspy-mipro", "dspy-mipro+best"]),
    ]:
        systems = compile_tasks.make_systems(names, options, dspy_adapter=adapter)
        assert [s.name for s in systems] == expected
    args = compile_tasks.parse_args(["--tasks", "x"])
    assert args.dspy_adapter == "best"


@pytest.mark.parametrize("system", ["dspy-bfrs", "dspy-mipro"])
def test_best_keeps_the_adapter_that_wins_on_validation(
    data_root: Path, dspy: ModuleType, system: str
) -> None:
    """Only JSON replies are right: DSPy's default scores 0, the choice finds JSON and pays
    for all three compiles."""
    backend = FakeBackend(adapter_reader({"json"}))
    lm = promptc.LM("fake/t", backend=backend, cache=False)
    task = _antonyms(data_root)
    options = RunOptions(threads=2)
    default = DSPySystem(system, options).compile(task, lm, 40, 0)
    assert default.test is not None and default.test.scores.mean == 0.0
    assert _record(default).adapter == "chat"
    calls = backend.calls
    best = DSPySystem(system, options, "best")
    assert best.name == f"{system}+best"
    result = best.compile(task, lm, 40, 0)
    record = _record(result)
    assert result.test is not None and result.test.scores.mean == 1.0
    assert record.adapter == "json" and record.val_best == 1.0
    assert record.adapters is not None and list(record.adapters) == ["chat", "xml", "json"]
    assert [record.adapters[a]["val_best"] for a in ADAPTERS] == [0.0, 0.0, 1.0]
    spent = [record.adapters[a]["lm_requests"] for a in ADAPTERS]
    assert record.lm_requests == sum(spent) and all(n > 0 for n in spent)
    assert backend.calls - calls == record.lm_requests + result.test.lm_requests
    # The choice's curve runs through the three compiles in turn.
    assert record.curve is not None and record.curve[-1][1] == 1.0
    requests = [r for r, _ in record.curve]
    assert requests == sorted(requests) and requests[-1] <= record.lm_requests
    assert requests[-1] > spent[0] + spent[1]  # the JSON compile's passes come after both


def test_a_compile_records_its_validation_passes(data_root: Path, dspy: ModuleType) -> None:
    lm = promptc.LM("fake/t", backend=FakeBackend(adapter_reader({"chat"})), cache=False)
    task = _antonyms(data_root)
    _, record = dspy_baseline.compile_dspy(
        "dspy-bfrs", task, lm, budget=40, seed=0, threads=2, adapter="chat"
    )
    settings = dspy_baseline.bfrs_settings(40, 8, 4)
    passes = 3 + settings["num_candidate_programs"]  # zero-shot, labeled, bootstrapped, ...
    assert record.curve is not None and len(record.curve) == passes
    assert record.curve[0][1] == 0.0 and record.curve[-1][1] == 1.0  # zero-shot is wrong
    assert all(
        a[1] <= b[1] and a[0] < b[0] for a, b in zip(record.curve, record.curve[1:], strict=False)
    )
    assert record.curve[-1][0] <= record.lm_requests


def test_validation_curve_counts_only_full_passes() -> None:
    spent = iter([10, 25, 40])
    curve = ValidationCurve(4, lambda: next(spent))

    class Result:
        def __init__(self, score: float) -> None:
            self.score = score

    class Evaluate:
        devset = (1, 2, 3, 4)

    for call, rows, score in [("a", 4, 50.0), ("b", 1, 100.0), ("c", 4, 25.0), ("d", 4, 75.0)]:
        curve.started(call, Evaluate(), {"devset": list(range(rows))})
        curve.ended(call, Result(score), None)
    curve.started("e", Evaluate(), {"devset": None})  # the Evaluate's own devset: 4 rows
    curve.ended("e", None, RuntimeError("broke"))
    assert curve.curve() == ((10, 0.5), (25, 0.5), (40, 0.75))


def test_merge_choice_prefers_dspys_default_on_a_tie_and_reports_failures() -> None:
    def run(adapter: str, val: float, requests: int) -> AdapterRun:
        record = DSPyCompile(requests, {"calls": requests}, 1.0, val, {}, {"self": 2}, adapter)
        return AdapterRun(adapter, object(), record, val)

    chosen, record = merge_choice(
        [run("chat", 0.5, 10), AdapterRun("xml", error="E"), run("json", 0.5, 7)]
    )
    assert chosen.adapter == "chat" and record.adapter == "chat"
    assert record.lm_requests == 17 and record.run_usage == {"calls": 17}
    assert record.adapters == {
        "chat": {"val_best": 0.5, "lm_requests": 10},
        "xml": {"error": "E"},
        "json": {"val_best": 0.5, "lm_requests": 7},
    }
    with pytest.raises(RuntimeError, match="no adapter compiled: chat: A; xml: B"):
        merge_choice([AdapterRun("chat", error="A"), AdapterRun("xml", error="B")])


# -- programs with more than one prompt, and programs without a twin ----------------------------


def test_gsm8k_runs_math_cot_in_both_systems(data_root: Path, dspy: ModuleType) -> None:
    task = load(data_root, "gsm8k", n_train=4, n_val=2, n_test=3)
    backend = FakeBackend(math_reader)
    lm = promptc.LM("fake/t", backend=backend, cache=False)
    args = compile_tasks.parse_args(
        ["--tasks", "x", "--optimizer", "random", "--system", "dspy-bfrs"]
    )
    systems = compile_tasks.make_systems(args.systems, RunOptions(threads=2))
    rows = [compile_tasks.run_cell(task, s, lm, budget=40, seed=0) for s in systems]
    assert [r.system for r in rows] == ["uncompiled", "random", "dspy-bfrs"]
    for row in rows:
        assert row.result.error is None, row.result.error
        assert row.result.test is not None and row.result.test.scores.mean == 1.0
        assert row.seed == 0
    assert rows[2].result.compile is not None
    assert set(rows[2].result.compile.to_json()["demos"]) == {"solve.predict"}
    prediction = rows[1].result.test.examples[0].prediction  # type: ignore[union-attr]
    assert set(prediction) == {"target", "reasoning"}


def test_a_program_without_a_twin_is_na_not_a_failure(
    data_root: Path, monkeypatch: pytest.MonkeyPatch, dspy: ModuleType
) -> None:
    monkeypatch.setattr(dspy_baseline, "program_for", lambda task: KthLetterConcat())
    lm = promptc.LM("fake/t", backend=FakeBackend(adapter_reader(set())), cache=False)
    system = DSPySystem("dspy-mipro", RunOptions(threads=2), "best")
    row = compile_tasks.run_cell(_antonyms(data_root), system, lm, budget=40, seed=0)
    assert row.result.error is None and row.result.test is None
    assert (
        row.result.skipped is not None and "no DSPy twin for KthLetterConcat" in row.result.skipped
    )
    assert row.to_json()["skipped"] == row.result.skipped
    line = table.format_table([row]).splitlines()[2]
    assert "| dspy-mipro+best | n/a: no DSPy twin for KthLetterConcat" in line
    assert lm.usage.total().calls == 0


def test_an_adapter_without_dspys_own_score_is_measured_on_validation(
    data_root: Path, monkeypatch: pytest.MonkeyPatch, dspy: ModuleType
) -> None:
    task = _antonyms(data_root)

    def choose() -> tuple[DSPyCompile, int]:
        backend = FakeBackend(adapter_reader({"xml"}))
        lm = promptc.LM("fake/t", backend=backend, cache=False)
        _, record = dspy_baseline.choose_adapter(
            "dspy-bfrs", task, lm, budget=20, seed=0, threads=2
        )
        return record, backend.calls

    reported, _ = choose()
    monkeypatch.setattr(dspy_baseline, "_val_score", lambda program: None)
    measured, calls = choose()
    assert measured.adapter == reported.adapter == "xml" and measured.val_best == 1.0
    assert measured.adapters is not None and reported.adapters is not None
    assert [measured.adapters[a]["val_best"] for a in ADAPTERS] == [0.0, 1.0, 0.0]
    # Each measurement ran the 4 validation rows once more, charged to the choice.
    for adapter in ADAPTERS:
        spent = reported.adapters[adapter]["lm_requests"] + 4
        assert measured.adapters[adapter]["lm_requests"] == spent
    assert calls == measured.lm_requests == reported.lm_requests + 3 * 4
    assert measured.run_usage["calls"] == calls
