"""benchmarks.compile_tasks, its systems and records, on a fake data root and a fake LM.

The last test runs the module for real on SmolLM2.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import subprocess
import sys
from pathlib import Path

import pytest
from benchmark_support import demo_reader, load, make_data_root

import promptc
from benchmarks import compile_tasks, run_env, table
from benchmarks.records import ResultRow, SystemResult, TestRecord, row_from_json
from benchmarks.spend import spend_of
from benchmarks.systems import PromptcStrategy, RunOptions, System, Uncompiled
from benchmarks.tasks import Task
from promptc import LMRequest
from promptc.testing import FakeBackend

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def data_root(tmp_path: Path) -> Path:
    return make_data_root(tmp_path)


def _systems(*names: str) -> list[System]:
    return compile_tasks.make_systems(names, RunOptions(threads=4))


def _antonyms(data_root: Path) -> Task:
    return load(data_root, "instruction_induction/fake_antonyms", n_train=8, n_val=4, n_test=6)


def _test(row: ResultRow) -> TestRecord:
    assert row.result.test is not None, row.result.error
    return row.result.test


def test_run_task_and_table_with_a_fake_lm(data_root: Path) -> None:
    args = compile_tasks.parse_args(
        ["--tasks", "x", "--quick", "--optimizer", "labeled", "--optimizer", "random"]
    )
    assert (args.n_train, args.n_val, args.n_test, args.budget) == (8, 4, 6, 40)
    backend = FakeBackend(demo_reader)
    lm = promptc.LM("fake/t", backend=backend, cache=False)
    systems = _systems(*args.systems)
    assert [type(s) for s in systems] == [Uncompiled, PromptcStrategy, PromptcStrategy]
    rows = compile_tasks.run_task(_antonyms(data_root), systems, lm, budget=12, seed=0)
    assert [r.system for r in rows] == ["uncompiled", "labeled", "random"]
    uncompiled, labeled, random_ = rows
    assert _test(uncompiled).scores.mean == 0.0 and _test(uncompiled).lm_requests == 6
    assert _test(labeled).scores.mean == 1.0 and _test(random_).scores.mean == 1.0
    record = labeled.result.compile
    assert record is not None and record.val_best_mean == 1.0
    assert record.to_json()["val_uncompiled"]["mean"] == 0.0
    assert len(record.to_json()["params"]["self"]["demos"]) == 4
    spent = [r.result.compile.lm_requests for r in (labeled, random_) if r.result.compile]
    assert all(0 < n <= 12 for n in spent) and spent[1] == 12  # random stops at the budget
    # Without a cache, every request the table counts reached the backend, and no others.
    assert backend.calls == sum(_test(r).lm_requests for r in rows) + sum(spent)
    lines = table.format_table(rows).splitlines()
    assert lines[0] == table.HEADER and len(lines) == 2 + 3
    assert lines[2].startswith("| instruction_induction/fake_antonyms | exact_match | uncompiled |")
    assert "| 0.000 [0.000, 0.000] | 6 | 0 | 0.000 | — | 6 |" in lines[2]
    assert f"| labeled | 1.000 [1.000, 1.000] | 6 | 0 | 1.000 | {spent[0]} | 6 |" in lines[3]
    # Each compiled system beat the uncompiled program on every one of the same 6 rows.
    diffs = table.differences(rows)
    assert [(d.a, d.b, d.mean, d.ci95, d.n) for d in diffs] == [
        ("labeled", "uncompiled", 1.0, (1.0, 1.0), 6),
        ("random", "uncompiled", 1.0, (1.0, 1.0), 6),
    ]
    assert "| labeled - uncompiled | +1.000 [+1.000, +1.000] | 6 |" in table.format_differences(
        diffs
    )


def test_rows_serialise_to_the_results_format_and_back(data_root: Path) -> None:
    lm = promptc.LM("fake/t", backend=FakeBackend(demo_reader), cache=False)
    rows = compile_tasks.run_task(_antonyms(data_root), _systems("labeled"), lm, budget=12, seed=0)
    data = json.loads(json.dumps([r.to_json() for r in rows]))
    assert set(data[0]) == {"task", "group", "metric", "system", "test"}
    assert set(data[1]["compile"]) == {
        "lm_requests",
        "spent",
        "run_usage",
        "wall_s",
        "val_uncompiled",
        "val_best",
        "trials",
        "params",
    }
    assert set(data[1]["test"]) == {
        "mean",
        "ci95",
        "n",
        "errors",
        "lm_requests",
        "usage",
        "wall_s",
        "examples",
    }
    assert data[1]["compile"]["spent"]["budget"] == 12
    assert [row_from_json(d).to_json() for d in data] == data


def test_a_system_is_anything_with_a_name_and_compile(data_root: Path) -> None:
    class Broken:
        name = "broken"

        def compile(self, task: Task, lm: promptc.LM, budget: int, seed: int) -> SystemResult:
            return SystemResult(error=f"no luck on {task.name} with {budget}")

    lm = promptc.LM("fake/t", backend=FakeBackend(demo_reader), cache=False)
    rows = compile_tasks.run_task(_antonyms(data_root), [Broken()], lm, budget=3, seed=0)
    assert rows[0].to_json() == {
        "task": "instruction_induction/fake_antonyms",
        "group": "instruction_induction",
        "metric": "exact_match",
        "system": "broken",
        "error": "no luck on instruction_induction/fake_antonyms with 3",
    }


def test_budget_failures_are_reported_not_raised(data_root: Path) -> None:
    lm = promptc.LM("fake/t", backend=FakeBackend(demo_reader), cache=False)
    rows = compile_tasks.run_task(_antonyms(data_root), _systems("labeled"), lm, budget=2, seed=0)
    error = rows[1].result.error
    assert error is not None and error.startswith("BudgetExhaustedError")
    row = table.format_table(rows).splitlines()[3]
    assert "| labeled | failed: BudgetExhaustedError" in row
    assert table.differences(rows) == []  # nothing to pair with


def test_spend_is_read_from_the_compile_result(data_root: Path) -> None:
    task = _antonyms(data_root)
    backend = FakeBackend(demo_reader)
    lm = promptc.LM("fake/t", backend=backend, cache=False)
    result = promptc.compile(
        promptc.Predict("input -> target"),
        list(task.train),
        "exact_match",
        valset=list(task.val),
        optimizer="random",
        budget=12,
        lm=lm,
    )
    spend = spend_of(result)
    assert spend.lm_requests == backend.calls == 12 and spend.lm_errors == 0
    assert spend.prompt_tokens > 0 and spend.record["budget"] == 12


def test_main_logs_progress_on_stderr_and_exits_1_on_a_failed_system(
    data_root: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    lm = promptc.LM("fake/t", backend=FakeBackend(demo_reader), cache=False)
    monkeypatch.setattr(compile_tasks, "make_lm", lambda args: lm)
    argv = ["--tasks", "instruction_induction/fake_antonyms", "--quick", "--budget", "2"]
    argv += ["--data-dir", str(data_root), "--out", str(tmp_path), "--optimizer", "labeled"]
    assert compile_tasks.main(argv) == 1  # labeled cannot compile on 2 requests
    out, err = capsys.readouterr()
    assert "instruction_induction/fake_antonyms: compiling with 'labeled' (budget 2)" in err
    assert "instruction_induction/fake_antonyms: labeled failed: BudgetExhaustedError" in err
    assert "| labeled | failed: BudgetExhaustedError" in out
    assert logging.getLogger("benchmarks").handlers == []  # the stderr handler is gone again


def test_parse_args_refuses_bad_values(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        compile_tasks.parse_args(["--tasks", "x", "--n-test", "0"])
    assert "--n-test must be at least 1" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        compile_tasks.parse_args(["--tasks", "x", "--optimizer", "nope"])
    args = compile_tasks.parse_args(["--tasks", "x", "--quick", "--n-test", "9"])
    assert isinstance(args, argparse.Namespace) and (args.n_test, args.n_val) == (9, 4)


def test_a_dspy_system_runs_with_one_adapter_when_named_with_it() -> None:
    options = RunOptions(threads=1)
    both = compile_tasks.make_systems(["dspy-mipro"], options, dspy_adapter="best")
    assert [s.name for s in both] == ["uncompiled", "dspy-mipro", "dspy-mipro+best"]
    one = compile_tasks.make_systems(["dspy-mipro+best", "dspy-bfrs+xml"], options)
    assert [s.name for s in one] == ["uncompiled", "dspy-mipro+best", "dspy-bfrs+xml"]
    args = compile_tasks.parse_args(["--tasks", "x", "--system", "dspy-mipro+json"])
    assert args.systems == ["dspy-mipro+json"]


def test_a_system_named_twice_runs_once() -> None:
    names = ["random", "dspy-mipro", "dspy-mipro+best", "random"]
    systems = compile_tasks.make_systems(names, RunOptions(threads=1), dspy_adapter="best")
    assert [s.name for s in systems] == ["uncompiled", "random", "dspy-mipro", "dspy-mipro+best"]


def _proposer_reader(request: LMRequest) -> str:
    """A fake proposer: one instruction per proposal, a rewording per variation request."""
    system = request.message_list[0]["content"]
    assert system.startswith(("You write instructions", "Write a variation")), system
    if system.startswith("Write a variation"):
        return "<variation>Give the opposite word.</variation>"
    return (
        f"<proposed_instruction>Write the antonym, take {request.rollout}.</proposed_instruction>"
    )


def test_a_proposer_lm_proposes_every_instruction_within_the_budget(data_root: Path) -> None:
    task_backend, proposer_backend = FakeBackend(demo_reader), FakeBackend(_proposer_reader)
    lm = promptc.LM("fake/t", backend=task_backend, cache=False)
    proposer = promptc.LM("fake/p", backend=proposer_backend, cache=False)
    systems = compile_tasks.make_systems(["ape"], RunOptions(threads=4), proposer=proposer)
    assert [getattr(s, "proposer", None) for s in systems] == [None, proposer]
    rows = compile_tasks.run_task(_antonyms(data_root), systems, lm, budget=40, seed=0)
    ape = rows[1]
    record = ape.result.compile
    assert record is not None and proposer_backend.calls > 0
    # Every proposal went to the proposer (the task LM's fake asserts it sees task prompts
    # only), and the proposer's requests are charged to the compile's budget.
    assert record.spent["by_phase"]["propose"]["requests"] == proposer_backend.calls
    compiling = task_backend.calls - sum(_test(r).lm_requests for r in rows)
    assert record.lm_requests == compiling + proposer_backend.calls <= 40
    tried = [
        c["self"]["instruction"] for t in record.trials if isinstance(c := t["candidate"], dict)
    ]
    assert any(text.startswith("Write the antonym, take") for text in tried), tried


def test_main_records_the_proposer_and_refuses_to_resume_with_another(
    data_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[str] = []

    def make_lm(args: argparse.Namespace, model: str | None = None) -> promptc.LM:
        made.append(model or args.model)
        handler = demo_reader if model is None else _proposer_reader
        return promptc.LM(model or "fake/t", backend=FakeBackend(handler), cache=False)

    monkeypatch.setattr(compile_tasks, "make_lm", make_lm)
    argv = ["--tasks", "instruction_induction/fake_antonyms", "--quick", "--optimizer", "ape"]
    argv += ["--data-dir", str(data_root), "--out", str(tmp_path), "--run-id", "p"]
    assert compile_tasks.main([*argv, "--proposer", "fake/p"]) == 0
    assert made == [compile_tasks.parse_args(argv).model, "fake/p"]
    payload = json.loads((tmp_path / "compile_tasks-p.json").read_text(encoding="utf-8"))
    assert payload["settings"]["proposer"] == "fake/p"
    assert payload["environment"]["proposer"]["model"] == "fake/p"
    run = json.loads((tmp_path / "compile_tasks-p" / "run.json").read_text(encoding="utf-8"))
    assert run["settings"]["proposer"] == "fake/p"
    for other in (["--proposer", "fake/q"], []):
        with pytest.raises(SystemExit, match="proposer: 'fake/p' in the folder"):
            compile_tasks.main([*argv, *other])


def test_make_lm_builds_the_proposer_as_the_task_lm(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[tuple[str, int]] = []

    class Backend:
        def __init__(self, name: str, *, num_threads: int, **options: int) -> None:
            built.append((name, num_threads))

    monkeypatch.setattr(promptc, "LocalBackend", Backend)
    monkeypatch.setattr(promptc, "LM", lambda model, **options: (model, options))
    argv = ["--tasks", "x", "--lm-threads", "1", "--max-tokens", "64"]
    assert compile_tasks.make_proposer(compile_tasks.parse_args(argv)) is None
    args = compile_tasks.parse_args([*argv, "--proposer", "local/qwen2.5-coder-1.5b"])
    model, options = compile_tasks.make_proposer(args)  # type: ignore[misc]
    assert (model, options["max_tokens"]) == ("local/qwen2.5-coder-1.5b", 64)
    assert built == [("qwen2.5-coder-1.5b", 1)]
    with pytest.raises(SystemExit, match="local/ models only, not fake/p"):
        compile_tasks.make_proposer(compile_tasks.parse_args([*argv, "--proposer", "fake/p"]))


def test_lm_slots_give_each_decoding_slot_the_default_context(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["--tasks", "x", "--model", "local/smollm2-135m"]
    backend = compile_tasks.make_lm(compile_tasks.parse_args([*argv, "--lm-slots", "3"])).backend
    assert isinstance(backend, promptc.LocalBackend)
    assert (backend.n_parallel, backend.n_ctx) == (3, 3 * 4096)
    plain = compile_tasks.make_lm(compile_tasks.parse_args(argv)).backend
    assert isinstance(plain, promptc.LocalBackend) and plain.n_parallel == 1
    with pytest.raises(SystemExit, match="local/ models only, not fake/m"):
        compile_tasks.make_lm(
            compile_tasks.parse_args(["--tasks", "x", "--lm-slots", "2"]), "fake/m"
        )
    with pytest.raises(SystemExit):
        compile_tasks.parse_args([*argv, "--lm-slots", "0"])
    assert "--lm-slots must be at least 1" in capsys.readouterr().err


# -- the module, for real ------------------------------------------------------------------------


def test_a_run_is_dirty_only_when_a_file_that_can_change_results_differs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = {
        "promptc/core.py": "x = 1\n",
        "benchmarks/results/cells/a.json": "{}\n",
        "tests/test_core.py": "def test(): ...\n",
        "README.md": "# r\n",
        "pyproject.toml": "[project]\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text, encoding="utf-8")
    git = ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "c"], check=True)
    monkeypatch.setattr(run_env, "REPO_ROOT", tmp_path)
    head = subprocess.run(
        [*git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert run_env.source_state() == {"git_commit": head, "git_dirty": False}

    for name in ("benchmarks/results/cells/a.json", "tests/test_core.py", "README.md"):
        (tmp_path / name).write_text("edited\n", encoding="utf-8")
    (tmp_path / "untracked.py").write_text("y = 2\n", encoding="utf-8")
    assert run_env.source_state()["git_dirty"] is False

    for name in ("pyproject.toml", "promptc/core.py"):
        (tmp_path / name).write_text("edited\n", encoding="utf-8")
        assert run_env.source_state()["git_dirty"] is True
        subprocess.run([*git, "checkout", "-q", "--", name], check=True)
    assert run_env.source_state()["git_dirty"] is False

    monkeypatch.setattr(run_env, "REPO_ROOT", tmp_path / "not-a-checkout")
    assert run_env.source_state() == {"git_commit": None, "git_dirty": None}


@pytest.mark.local_model
@pytest.mark.requires_model("smollm2-135m")
def test_module_quick_run_on_smollm2(data_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "results"
    command = [sys.executable, "-m", "benchmarks.compile_tasks"]
    command += ["--tasks", "instruction_induction/fake_antonyms", "bbh/fake_bool"]
    command += ["--data-dir", str(data_root), "--model", "local/smollm2-135m"]
    command += ["--optimizer", "labeled", "--quick", "--out", str(out)]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=900)
    assert done.returncode == 0, done.stderr
    assert "instruction_induction/fake_antonyms: compiling with 'labeled' (budget 40)" in (
        done.stderr
    )
    lines = done.stdout.splitlines()
    assert table.HEADER in lines and table.DIFF_HEADER in lines
    rows = [line for line in lines if line.startswith("| ") and "exact_match" in line]
    assert [r.split(" | ")[0:3] for r in rows] == [
        ["| instruction_induction/fake_antonyms", "exact_match", "uncompiled"],
        ["| instruction_induction/fake_antonyms", "exact_match", "labeled"],
        ["| bbh/fake_bool", "exact_match", "uncompiled"],
        ["| bbh/fake_bool", "exact_match", "labeled"],
    ]
    (path,) = out.glob("compile_tasks-*.json")
    assert re.fullmatch(r"compile_tasks-\d{4}-\d\d-\d\dT\d{6}Z\.json", path.name)
    assert f"results: {path}" in done.stdout
    payload = json.loads(path.read_text(encoding="utf-8"))
    assert payload["table"] in done.stdout
    assert payload["environment"]["lm"]["model"] == "local/smollm2-135m"
    # every cell of this run ran at the checkout's commit, and the report says so
    commit, dirty = payload["environment"]["git_commit"], payload["environment"]["git_dirty"]
    ran = f"{commit[:7]}{'+dirty' if dirty else ''}" if commit else "unrecorded"
    assert payload["cells_ran_at"] == {ran: 4} and f"cells ran at {ran} (4)" in done.stdout
    assert [t["sizes"] for t in payload["tasks"]] == [{"train": 8, "val": 4, "test": 6}] * 2
    assert [(d["a"], d["b"]) for d in payload["differences"]] == [("labeled", "uncompiled")] * 2
    for record, row in zip(payload["results"], rows, strict=True):
        test = record["test"]
        assert len(test["examples"]) == test["n"] == 6
        assert test["mean"] == sum(e["score"] for e in test["examples"]) / 6
        assert f"| {test['mean']:.3f} [{test['ci95'][0]:.3f}, {test['ci95'][1]:.3f}] |" in row
        if record["system"] == "labeled":
            assert 0 < record["compile"]["lm_requests"] <= 40
            assert record["compile"]["spent"]["budget"] == 40
