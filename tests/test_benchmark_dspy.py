"""The DSPy baselines of benchmarks.compile_tasks, with a fake LM behind DSPy's litellm path."""

from __future__ import annotations

import argparse
import json
import typing
from pathlib import Path
from types import ModuleType

import pytest
from benchmark_support import (
    both_formats,
    hotpot_reader,
    hotpot_rows,
    load,
    make_data_root,
    write_rows,
)

import promptc
from benchmarks import compile_tasks, dspy_baseline, dspy_twin, plot, table, tasks
from benchmarks.records import ResultRow
from benchmarks.systems import RunOptions
from benchmarks.tasks import Task
from promptc.programs import KthLetterConcat
from promptc.testing import FakeBackend


@pytest.fixture
def data_root(tmp_path: Path) -> Path:
    return make_data_root(tmp_path)


@pytest.fixture
def dspy() -> ModuleType:
    """DSPy (the [dspy] extra); the tests that need it skip without it."""
    return pytest.importorskip("dspy")


def _run(task: Task, lm: promptc.LM, args: argparse.Namespace) -> list[ResultRow]:
    systems = compile_tasks.make_systems(args.systems, RunOptions(args.threads, args.progress))
    return compile_tasks.run_task(task, systems, lm, budget=args.budget, seed=args.seed)


def test_dspy_twin_keeps_fields_types_instruction_and_demos(dspy: ModuleType) -> None:
    program = promptc.Predict("text -> label: Literal['a', 'b']").with_params(
        {"self": promptc.Params("Pick a or b.", ({"text": "x", "label": "a"},))}
    )
    twin = dspy_twin.dspy_program(program)
    assert isinstance(twin, dspy.Predict)
    assert list(twin.signature.input_fields) == ["text"]
    assert list(twin.signature.output_fields) == ["label"]
    assert twin.signature.instructions == "Pick a or b."
    assert twin.signature.output_fields["label"].annotation == typing.Literal["a", "b"]
    assert [d.toDict() for d in twin.demos] == [{"text": "x", "label": "a"}]
    cot = dspy_twin.dspy_program(promptc.ChainOfThought("question -> answer: float"))
    assert isinstance(cot, dspy.ChainOfThought)
    assert list(cot.predict.signature.output_fields) == ["reasoning", "answer"]  # one reasoning
    with pytest.raises(NotImplementedError, match="one-prompt programs and the multi-hop"):
        dspy_twin.dspy_program(KthLetterConcat())


def test_dspy_calls_reach_the_same_lm_through_litellm(dspy: ModuleType) -> None:
    backend = FakeBackend(both_formats)
    lm = promptc.LM("fake/t", backend=backend, cache=False, max_tokens=77)
    twin = dspy_twin.dspy_lm(lm)
    with dspy.context(lm=twin):
        out = dspy.Predict("input -> target")(input="kind")
    assert out.target == "kind"
    (request,) = backend.requests
    assert (request.max_tokens, request.temperature) == (77, 0.0)  # the LM's settings
    assert "[[ ## input ## ]]\nkind" in request.message_list[-1]["content"]
    assert lm.usage.by_tag()["dspy"].calls == 1


def test_dspy_metric_and_budget_sizing(dspy: ModuleType) -> None:
    metric = dspy_twin.dspy_metric(promptc.metrics.exact_match)
    example = dspy.Example(input="x", target="Yes", targets=["yes", "y"]).with_inputs("input")
    assert metric(example, dspy.Prediction(reasoning="...", target="y")) == 1.0
    assert metric(example, dspy.Prediction(target="no")) == 0.0
    for budget, n_train, n_val in [(200, 30, 16), (40, 8, 4), (1000, 100, 50)]:
        bfrs = dspy_baseline.bfrs_settings(budget, n_train, n_val)
        mipro = dspy_baseline.mipro_settings(budget, n_train, n_val)
        assert bfrs["num_candidate_programs"] >= 1 and mipro["num_trials"] >= 1
        assert bfrs["estimated_requests"] <= budget and mipro["estimated_requests"] <= budget


def test_run_task_with_dspy_systems_counts_every_request(data_root: Path, dspy: ModuleType) -> None:
    systems = ["--optimizer", "labeled", "--system", "dspy-bfrs", "--system", "dspy-mipro"]
    args = compile_tasks.parse_args(["--tasks", "x", "--quick", "--threads", "2", *systems])
    assert args.systems == ["labeled", "dspy-bfrs", "dspy-mipro"]
    backend = FakeBackend(both_formats)
    lm = promptc.LM("fake/t", backend=backend, cache=False)
    task = load(data_root, "instruction_induction/fake_antonyms", n_train=8, n_val=4, n_test=6)
    rows = _run(task, lm, args)
    records = [r.to_json() for r in rows]
    assert [r["system"] for r in records] == ["uncompiled", "labeled", "dspy-bfrs", "dspy-mipro"]
    for record in records[2:]:
        assert "error" not in record, record.get("error")
        assert record["test"]["mean"] == 1.0 and record["test"]["n"] == 6  # demos were found
        assert record["compile"]["lm_requests"] > 0 and record["compile"]["demos"]["self"] > 0
        assert record["test"]["usage"]["prompt_tokens"] > 0
    spent = sum(r["compile"]["lm_requests"] for r in records[1:])
    assert backend.calls == spent + sum(r["test"]["lm_requests"] for r in records)
    lines = table.format_table(rows).splitlines()
    assert len(lines) == 2 + 4
    assert "| dspy-mipro | 1.000 [1.000, 1.000] | 6 | 0 |" in lines[5]
    pairs = [(d.a, d.b) for d in table.differences(rows)]
    assert pairs == [
        ("labeled", "uncompiled"),
        ("dspy-bfrs", "uncompiled"),
        ("dspy-mipro", "uncompiled"),
        ("labeled", "dspy-bfrs"),
        ("labeled", "dspy-mipro"),
    ]
    svg = plot.accuracy_vs_calls_svg(rows)
    assert svg.startswith("<svg") and svg.count("<circle") == 4 + 4  # 4 legend dots, 4 points
    assert "dspy-bfrs: 1.000 [1.000, 1.000] after" in svg


def test_main_writes_json_table_and_plot(
    data_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dspy: ModuleType
) -> None:
    lm = promptc.LM("fake/t", backend=FakeBackend(both_formats), cache=False)
    monkeypatch.setattr(compile_tasks, "make_lm", lambda args: lm)
    out = tmp_path / "results"
    argv = ["--tasks", "instruction_induction/fake_antonyms", "bbh/fake_bool", "--quick"]
    argv += ["--data-dir", str(data_root), "--out", str(out), "--system", "dspy-bfrs"]
    argv += ["--dspy-adapter", "chat"]  # DSPy's default only: one DSPy row per task
    assert compile_tasks.main(argv) == 0
    (path,) = out.glob("compile_tasks-*.json")
    payload = json.loads(path.read_text(encoding="utf-8"))
    systems = [(r["task"], r["system"]) for r in payload["results"]]
    assert systems == [
        (task, system)
        for task in ("instruction_induction/fake_antonyms", "bbh/fake_bool")
        for system in ("uncompiled", "dspy-bfrs")
    ]
    md = path.with_suffix(".md").read_text(encoding="utf-8")
    assert payload["table"] in md and f"]({path.with_suffix('.svg').name})" in md
    assert table.DIFF_HEADER in md and len(payload["differences"]) == 2
    assert path.with_suffix(".svg").read_text(encoding="utf-8").count("<g transform") == 2


def test_mipro_proposes_with_the_proposer_and_counts_its_requests(
    data_root: Path, dspy: ModuleType
) -> None:
    task_backend, proposer_backend = FakeBackend(both_formats), FakeBackend(both_formats)
    lm = promptc.LM("fake/t", backend=task_backend, cache=False)
    proposer = promptc.LM("fake/p", backend=proposer_backend, cache=False)
    task = load(data_root, "instruction_induction/fake_antonyms", n_train=8, n_val=4, n_test=6)
    _, record = dspy_baseline.compile_dspy(
        "dspy-mipro", task, lm, budget=40, seed=0, threads=2, proposer=proposer
    )
    assert proposer_backend.calls > 0  # data and program summaries, instructions
    proposals = [r.message_list[0]["content"] for r in proposer_backend.requests]
    assert not any("`target` (str)" in text for text in proposals)  # never the task's prompt
    assert record.lm_requests == task_backend.calls + proposer_backend.calls
    assert record.run_usage["calls"] == record.lm_requests


# -- the multi-hop HotPotQA task ----------------------------------------------------------------


def test_hotpotqa_folder_gets_the_multihop_program_in_both_systems(tmp_path: Path) -> None:
    pytest.importorskip("dspy")
    write_rows(tmp_path / "hotpotqa" / "dev_distractor_first53.jsonl", hotpot_rows(12))
    task = tasks.load_task(tmp_path / "hotpotqa", seed=0, n_train=4, n_val=3, n_test=5)
    assert (task.metric, task.sources["test"]) == ("exact_match", "dev_distractor_first53.jsonl")
    program = tasks.program_for(task)
    assert isinstance(program, tasks.HotpotMultiHop)
    assert len(program.retriever) == 12 * 3  # every loaded row's paragraphs, once each
    default = compile_tasks.parse_args(["--tasks", "hotpotqa", "--data-dir", str(tmp_path)])
    fitted = compile_tasks.load_fitted(tmp_path / "hotpotqa", default)
    assert fitted.sizes() == {"train": 3, "val": 2, "test": 5}  # 30/16/40 halved 3 times
    args = compile_tasks.parse_args(["--tasks", "x", "--quick", "--system", "dspy-bfrs"])
    backend = FakeBackend(hotpot_reader)
    lm = promptc.LM("fake/t", backend=backend, cache=False)
    records = [r.to_json() for r in _run(task, lm, args)]
    assert [r["system"] for r in records] == ["uncompiled", "dspy-bfrs"]
    uncompiled, dspy_bfrs = records
    assert "error" not in dspy_bfrs, dspy_bfrs.get("error")
    assert uncompiled["test"]["mean"] == 1.0 and dspy_bfrs["test"]["mean"] == 1.0
    example = uncompiled["test"]["examples"][0]["prediction"]
    assert example["queries"][1].startswith("Zed Quux")  # the second hop read the first
    assert uncompiled["test"]["lm_requests"] == dspy_bfrs["test"]["lm_requests"] == 5 * 3
    assert set(dspy_bfrs["compile"]["demos"]) == {
        "generate_query[0]",
        "generate_query[1]",
        "answer",
    }
