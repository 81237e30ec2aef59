"""benchmarks/tasks.py and benchmarks/compile_tasks.py on a fake data root built per test.

Nothing here reads ../shared/data. The last test runs the script for real on SmolLM2.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
import subprocess
import sys
import typing
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import promptc
from promptc import LMRequest
from promptc.programs import KthLetterConcat
from promptc.testing import FakeBackend

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "benchmarks"


def _import(name: str) -> ModuleType:
    """Import a benchmarks/ script by file (benchmarks/ is not a package)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # compile_tasks imports `tasks` (and the others) by this name
    spec.loader.exec_module(module)
    return module


tasks = _import("tasks")
dspy_baseline = _import("dspy_baseline")
plot = _import("plot")
compile_tasks = _import("compile_tasks")

WORDS = [f"word{i}" for i in range(60)]


def _write(path: Path, rows: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def _antonym_rows(split: str, n: int) -> list[dict[str, Any]]:
    return [
        {"id": f"ant-{split}-{i}", "input": f"{split}{i}", "target": f"un{split}{i}"}
        | {"targets": [f"un{split}{i}"]}
        for i in range(n)
    ]


@pytest.fixture
def data_root(tmp_path: Path) -> Path:
    """Two groups and a top-level task, shaped like ../shared/data, with a manifest."""
    root = tmp_path / "data"
    ii = root / "instruction_induction"
    _write(ii / "fake_antonyms" / "train.jsonl", _antonym_rows("train", 40))
    _write(ii / "fake_antonyms" / "test.jsonl", _antonym_rows("test", 20))
    _write(ii / "fake_set" / "train.jsonl", _antonym_rows("train", 10))
    _write(ii / "fake_set" / "test.jsonl", _antonym_rows("test", 10))
    _write(ii / "synonyms" / "test.jsonl", _antonym_rows("test", 10))  # not in the manifest
    bools = [
        {"id": f"bool-{i}", "input": f"{i % 2 == 0} and True #{i} is", "target": str(i % 2 == 0)}
        for i in range(50)
    ]
    _write(root / "bbh" / "fake_bool" / "test.jsonl", bools)
    cot = [{"id": f"bool-cot-{i}", "input": "not True is", "target": "False"} for i in range(3)]
    _write(root / "bbh" / "fake_bool" / "fewshot_cot.jsonl", cot)
    (root / "bbh" / "fake_bool" / "cot_prompt.txt").write_text("Q: ...", encoding="utf-8")
    mc = [
        {"id": f"mc-{i}", "input": f"Pick {i}\n(A) x\n(B) y", "target": "(A)", "options": ["(A)"]}
        for i in range(20)
    ]
    _write(root / "bbh" / "fake_mc" / "test.jsonl", mc)
    _write(
        root / "gsm8k" / "train.jsonl",
        [{"input": f"{i}+1?", "target": str(i + 1)} for i in range(9)],
    )
    _write(
        root / "gsm8k" / "test.jsonl",
        [{"input": f"{i}+2?", "target": str(i + 2)} for i in range(5)],
    )
    (root / "notes").mkdir()
    manifest = {
        "instruction_induction": {
            "fake_antonyms": {"metric": "em", "train": 40, "test": 20},
            "fake_set": {"metric": "es", "train": 10, "test": 10},
        },
        "bbh": {"fake_bool": {"type": "free_form", "test": 50}},
        "gsm8k": {"train": 9, "test": 5},
    }
    (root / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return root


def _load(root: Path, name: str, **sizes: int) -> Any:
    sizes = {"seed": 0, "n_train": 10, "n_val": 5, "n_test": 8} | sizes
    return tasks.load_task(root / name, root=root, **sizes)


def _ids(rows: Any) -> list[str]:
    return [r["id"] for r in rows]


# -- find_tasks ----------------------------------------------------------------------------------


def test_find_tasks_resolves_tasks_groups_and_top_level_tasks(data_root: Path) -> None:
    found = tasks.find_tasks(data_root, ["bbh/fake_bool", "instruction_induction", "gsm8k"])
    names = [p.relative_to(data_root).as_posix() for p in found]
    assert names == [
        "bbh/fake_bool",
        "instruction_induction/fake_antonyms",
        "instruction_induction/fake_set",
        "instruction_induction/synonyms",
        "gsm8k",
    ]
    again = tasks.find_tasks(data_root, ["bbh/fake_mc", "bbh", "bbh/fake_mc"])
    assert [p.name for p in again] == ["fake_mc", "fake_bool"]  # in order, no repeats


def test_find_tasks_error_names_what_exists(data_root: Path) -> None:
    with pytest.raises(tasks.TaskNotFoundError) as caught:
        tasks.find_tasks(data_root, ["instruction_induction/fake_antonym"])
    message = str(caught.value)
    assert "no task 'instruction_induction/fake_antonym'" in message
    assert "Did you mean instruction_induction/fake_antonyms" in message
    assert "instruction_induction (3: fake_antonyms, fake_set, synonyms)" in message
    assert "bbh (2: fake_bool, fake_mc)" in message and "gsm8k" in message
    with pytest.raises(tasks.TaskNotFoundError, match=r"notes holds no train\.jsonl"):
        tasks.find_tasks(data_root, ["notes"])
    with pytest.raises(tasks.TaskNotFoundError, match="must be a path inside"):
        tasks.find_tasks(data_root, ["../data/bbh"])
    with pytest.raises(tasks.TaskNotFoundError, match="PROMPTC_DATA_DIR"):
        tasks.find_tasks(data_root / "missing", ["bbh"])


def test_default_data_dir_honours_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PROMPTC_DATA_DIR", raising=False)
    assert tasks.default_data_dir() == ROOT.parent / "shared" / "data"
    monkeypatch.setenv("PROMPTC_DATA_DIR", str(tmp_path))
    assert tasks.default_data_dir() == tmp_path


# -- load_task -----------------------------------------------------------------------------------


def test_instruction_induction_splits(data_root: Path) -> None:
    task = _load(data_root, "instruction_induction/fake_antonyms")
    assert (task.name, task.group, task.metric) == (
        "instruction_induction/fake_antonyms",
        "instruction_induction",
        "exact_match",
    )
    assert task.sizes() == {"train": 10, "val": 5, "test": 8}
    assert task.sources == {"test": "test.jsonl", "val": "train.jsonl", "train": "train.jsonl"}
    assert all(i.startswith("ant-train-") for i in _ids(task.train) + _ids(task.val))
    assert all(i.startswith("ant-test-") for i in _ids(task.test))
    assert len(set(_ids(task.train) + _ids(task.val))) == 15
    assert _ids(task.test) != [f"ant-test-{i}" for i in range(8)]  # shuffled, not the head


def test_splits_are_seeded_and_test_is_disjoint(data_root: Path) -> None:
    for name in ("instruction_induction/fake_antonyms", "bbh/fake_bool", "gsm8k"):
        first, again = _load(data_root, name, seed=3), _load(data_root, name, seed=3)
        assert first == again
        other = _load(data_root, name, seed=4)
        assert (_ids(other.train), _ids(other.test)) != (_ids(first.train), _ids(first.test))
        for task in (first, other):
            assert not set(_ids(task.test)) & set(_ids(task.train) + _ids(task.val))
            assert not set(_ids(task.train)) & set(_ids(task.val))
        # The test rows depend only on the seed and n_test.
        bigger = _load(data_root, name, seed=3, n_train=4, n_val=2)
        assert _ids(bigger.test) == _ids(first.test)


def test_bbh_is_carved_from_test_with_the_cot_exemplars_in_train(data_root: Path) -> None:
    task = _load(data_root, "bbh/fake_bool", n_train=10, n_val=5, n_test=30)
    assert task.metric == "exact_match"
    assert task.sizes() == {"train": 10, "val": 5, "test": 30}
    assert task.sources == {
        "test": "test.jsonl",
        "val": "test.jsonl",
        "train": "fewshot_cot.jsonl + test.jsonl",
    }
    cot = [i for i in _ids(task.train) if i.startswith("bool-cot-")]
    assert sorted(cot) == ["bool-cot-0", "bool-cot-1", "bool-cot-2"]
    carved = set(_ids(task.test) + _ids(task.val)) | (set(_ids(task.train)) - set(cot))
    assert len(carved) == 30 + 5 + 7  # every carved row is a distinct test.jsonl row
    # All inputs of the CoT exemplars equal "not True is", which no test row has.
    assert task.input_overlap == 0


def test_small_tasks_give_fewer_rows_but_never_an_empty_split(data_root: Path) -> None:
    task = _load(data_root, "gsm8k", n_train=30, n_val=4, n_test=30)
    assert task.sizes() == {"train": 5, "val": 4, "test": 5}
    assert _ids(task.train)[0].startswith("train.jsonl:")  # ids made up for rows without one
    with pytest.raises(ValueError, match=r"no rows left for \['val', 'train'\]"):
        _load(data_root, "bbh/fake_mc", n_test=20)
    with pytest.raises(ValueError, match="positive integers"):
        _load(data_root, "bbh/fake_mc", n_val=0)


def test_repeated_inputs_under_other_ids_are_counted(data_root: Path) -> None:
    rows = [{"input": f"q{i}", "target": "a"} for i in range(6)]
    _write(data_root / "dup" / "train.jsonl", rows)
    _write(data_root / "dup" / "test.jsonl", rows)
    task = _load(data_root, "dup", n_train=2, n_val=2, n_test=6)
    assert task.input_overlap == 4  # same inputs, but ids train.jsonl:N vs test.jsonl:N
    assert not set(_ids(task.test)) & set(_ids(task.train) + _ids(task.val))


def test_rows_without_target_are_refused(data_root: Path) -> None:
    _write(data_root / "broken" / "test.jsonl", [{"input": "x"}])
    with pytest.raises(ValueError, match=r"row 1 lacks \['target'\]"):
        _load(data_root, "broken")


# -- metrics -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "metric"),
    [
        ("instruction_induction/fake_antonyms", "exact_match"),
        ("instruction_induction/fake_set", "exact_set"),
        ("instruction_induction/synonyms", "contains"),  # SOURCES.md, absent from the manifest
        ("bbh/fake_bool", "exact_match"),
        ("bbh/fake_mc", "choice_letter_match"),  # has `options`, absent from the manifest
        ("gsm8k", "numeric_match"),
    ],
)
def test_metric_selection(data_root: Path, name: str, metric: str) -> None:
    task = _load(data_root, name, n_train=2, n_val=2, n_test=2)
    assert task.metric == metric
    assert callable(tasks.metric_for(task.metric))


def test_metric_selection_without_a_manifest_and_with_an_unknown_code(tmp_path: Path) -> None:
    rows = [{"input": "a", "target": "b"}]
    assert tasks.task_metric("instruction_induction/taxonomy_animal", rows) == "exact_set"
    assert tasks.task_metric("instruction_induction/antonyms", rows) == "exact_match"
    assert tasks.task_metric("bbh/x", [{**rows[0], "options": ["(A)"]}]) == "choice_letter_match"
    assert tasks.task_metric("sst2", rows) == "exact_match"
    (tmp_path / "manifest.json").write_text('{"g": {"t": {"metric": "bleu"}}}', encoding="utf-8")
    with pytest.raises(ValueError, match="unknown metric 'bleu'"):
        tasks.task_metric("g/t", rows, tmp_path)


def test_exact_set_compares_token_sets_after_normalising() -> None:
    row = {"input": "...", "target": "cat, dog", "targets": ["cat, dog", "lion"]}
    assert tasks.exact_set(row, {"target": "Dog and cat."}) == 1.0
    assert tasks.exact_set(row, {"target": "dog, cat, dog\nand a bird"}) == 1.0
    assert tasks.exact_set(row, {"target": "Lion"}) == 1.0  # any accepted answer
    assert tasks.exact_set(row, {"target": "cat"}) == 0.0
    assert tasks.exact_set(row, {"target": "cat, dog, bird"}) == 0.0
    assert tasks.exact_set({"target": "well-known"}, "well known") == 1.0
    with pytest.raises(ValueError, match="'target' output field"):
        tasks.exact_set(row, {"answer": "cat, dog"})
    assert tasks.metric_for("exact_set") is tasks.exact_set
    assert tasks.metric_for("exact_match") is promptc.metrics.exact_match


def test_program_for_is_the_generic_uncompiled_program(data_root: Path) -> None:
    program = tasks.program_for(_load(data_root, "gsm8k", n_train=2, n_val=2, n_test=2))
    assert isinstance(program, promptc.Predict)
    assert program.params.instruction == "Answer the input." and program.params.demos == ()
    assert list(program.signature.input_fields) == ["input"]
    assert list(program.signature.output_fields) == ["target"]


# -- compile_tasks, with a fake LM ---------------------------------------------------------------


def _demo_reader(request: LMRequest) -> str:
    """Answers right only when the prompt carries demos (more than system + one user turn)."""
    messages = request.message_list
    word = re.search(r"<input>\n(.*?)\n</input>", messages[-1]["content"], re.DOTALL)
    assert word is not None
    answer = f"un{word.group(1)}" if len(messages) > 2 else word.group(1)
    return f"<target>{answer}</target>"


def test_run_task_and_table_with_a_fake_lm(data_root: Path, tmp_path: Path) -> None:
    args = compile_tasks.parse_args(
        ["--tasks", "x", "--quick", "--optimizer", "labeled", "--optimizer", "random"]
    )
    assert (args.n_train, args.n_val, args.n_test, args.budget) == (8, 4, 6, 40)
    args.budget = 12
    backend = FakeBackend(_demo_reader)
    runner = compile_tasks.Runner(promptc.LM("fake/t", backend=backend, cache=False), args)
    task = _load(data_root, "instruction_induction/fake_antonyms", n_train=8, n_val=4, n_test=6)
    records = compile_tasks.run_task(runner, task)
    assert [r["system"] for r in records] == ["uncompiled", "labeled", "random"]
    uncompiled, labeled, random_ = records
    assert uncompiled["test"]["mean"] == 0.0 and uncompiled["test"]["lm_requests"] == 6
    assert labeled["test"]["mean"] == 1.0 and random_["test"]["mean"] == 1.0
    assert labeled["compile"]["val_uncompiled"]["mean"] == 0.0
    assert labeled["compile"]["val_best"]["mean"] == 1.0
    assert len(labeled["compile"]["params"]["self"]["demos"]) == 4
    spent = [r["compile"]["lm_requests"] for r in (labeled, random_)]
    assert all(0 < n <= 12 for n in spent) and spent[1] == 12  # random stops at the budget
    # Without a cache, every request the table counts reached the backend, and no others.
    assert backend.calls == sum(r["test"]["lm_requests"] for r in records) + sum(spent)
    table = compile_tasks.format_table(records).splitlines()
    assert table[0] == compile_tasks.HEADER and len(table) == 2 + 3
    assert table[2].startswith("| instruction_induction/fake_antonyms | exact_match | uncompiled |")
    assert "| 0.000 [0.000, 0.000] | 6 | 0 | 0.000 | — | 6 |" in table[2]
    assert f"| labeled | 1.000 [1.000, 1.000] | 6 | 0 | 1.000 | {spent[0]} | 6 |" in table[3]


def test_budget_failures_are_reported_not_raised(data_root: Path) -> None:
    args = compile_tasks.parse_args(["--tasks", "x", "--quick", "--budget", "2"])
    runner = compile_tasks.Runner(
        promptc.LM("fake/t", backend=FakeBackend(_demo_reader), cache=False), args
    )
    task = _load(data_root, "instruction_induction/fake_antonyms", n_train=8, n_val=4, n_test=6)
    records = compile_tasks.run_task(runner, task)
    assert records[1]["error"].startswith("BudgetExhaustedError")
    row = compile_tasks.format_table(records).splitlines()[3]
    assert "| labeled | failed: BudgetExhaustedError" in row


def test_parse_args_refuses_bad_values(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        compile_tasks.parse_args(["--tasks", "x", "--n-test", "0"])
    assert "--n-test must be at least 1" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        compile_tasks.parse_args(["--tasks", "x", "--optimizer", "nope"])
    args = compile_tasks.parse_args(["--tasks", "x", "--quick", "--n-test", "9"])
    assert isinstance(args, argparse.Namespace) and (args.n_test, args.n_val) == (9, 4)


# -- the script, for real ------------------------------------------------------------------------


@pytest.mark.local_model
@pytest.mark.requires_model("smollm2-135m")
def test_script_quick_run_on_smollm2(data_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "results"
    command = [
        sys.executable,
        str(BENCHMARKS / "compile_tasks.py"),
        "--tasks",
        "instruction_induction/fake_antonyms",
        "bbh/fake_bool",
        "--data-dir",
        str(data_root),
        "--model",
        "local/smollm2-135m",
        "--optimizer",
        "labeled",
        "--quick",
        "--out",
        str(out),
    ]
    done = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, timeout=900)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert compile_tasks.HEADER in lines
    rows = [line for line in lines if line.startswith("| ") and line != compile_tasks.HEADER]
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
    assert [t["sizes"] for t in payload["tasks"]] == [{"train": 8, "val": 4, "test": 6}] * 2
    for record, row in zip(payload["results"], rows, strict=True):
        test = record["test"]
        assert len(test["examples"]) == test["n"] == 6
        assert test["mean"] == sum(e["score"] for e in test["examples"]) / 6
        assert f"| {test['mean']:.3f} [{test['ci95'][0]:.3f}, {test['ci95'][1]:.3f}] |" in row
        if record["system"] == "labeled":
            assert 0 < record["compile"]["lm_requests"] <= 40
            assert record["compile"]["spent"]["budget"] == 40


# -- DSPy baselines, with a fake LM behind DSPy's litellm path -----------------------------------


@pytest.fixture
def dspy() -> ModuleType:
    """DSPy (the [dspy] extra); the tests that need it skip without it."""
    return pytest.importorskip("dspy")


def _both_formats(request: LMRequest) -> str:
    """Answers promptc's XML prompts like _demo_reader, and DSPy's ``[[ ## field ## ]]`` prompts:
    right only with demos, and some text for any other field DSPy asks for (proposals)."""
    messages = request.message_list
    last = messages[-1]["content"]
    if "<input>" in last:
        return _demo_reader(request)
    found = re.search(r"\[\[ ## input ## \]\]\n(.*?)\n", last)
    if found:
        word = found.group(1)
        answer = f"un{word}" if len(messages) > 2 else word
        return f"[[ ## target ## ]]\n{answer}\n\n[[ ## completed ## ]]"
    fields = [f for f in re.findall(r"`\[\[ ## (\w+) ## \]\]`", last) if f != "completed"]
    return "".join(f"[[ ## {f} ## ]]\nSome text.\n\n" for f in fields) + "[[ ## completed ## ]]"


def test_dspy_twin_keeps_fields_types_instruction_and_demos(dspy: ModuleType) -> None:
    program = promptc.Predict("text -> label: Literal['a', 'b']").with_params(
        {"self": promptc.Params("Pick a or b.", ({"text": "x", "label": "a"},))}
    )
    twin = dspy_baseline.dspy_program(program)
    assert isinstance(twin, dspy.Predict)
    assert list(twin.signature.input_fields) == ["text"]
    assert list(twin.signature.output_fields) == ["label"]
    assert twin.signature.instructions == "Pick a or b."
    assert twin.signature.output_fields["label"].annotation == typing.Literal["a", "b"]
    assert [d.toDict() for d in twin.demos] == [{"text": "x", "label": "a"}]
    cot = dspy_baseline.dspy_program(promptc.ChainOfThought("question -> answer: float"))
    assert isinstance(cot, dspy.ChainOfThought)
    assert list(cot.predict.signature.output_fields) == ["reasoning", "answer"]  # one reasoning
    with pytest.raises(NotImplementedError, match="one-prompt programs and the multi-hop"):
        dspy_baseline.dspy_program(KthLetterConcat())


def test_dspy_calls_reach_the_same_lm_through_litellm(dspy: ModuleType) -> None:
    backend = FakeBackend(_both_formats)
    lm = promptc.LM("fake/t", backend=backend, cache=False, max_tokens=77)
    twin = dspy_baseline.dspy_lm(lm)
    with dspy.context(lm=twin):
        out = dspy.Predict("input -> target")(input="kind")
    assert out.target == "kind"
    (request,) = backend.requests
    assert (request.max_tokens, request.temperature) == (77, 0.0)  # the LM's settings
    assert "[[ ## input ## ]]\nkind" in request.message_list[-1]["content"]
    assert lm.usage.by_tag()["dspy"].calls == 1


def test_dspy_metric_and_budget_sizing(dspy: ModuleType) -> None:
    metric = dspy_baseline.dspy_metric(promptc.metrics.exact_match)
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
    backend = FakeBackend(_both_formats)
    runner = compile_tasks.Runner(promptc.LM("fake/t", backend=backend, cache=False), args)
    task = _load(data_root, "instruction_induction/fake_antonyms", n_train=8, n_val=4, n_test=6)
    records = compile_tasks.run_task(runner, task)
    assert [r["system"] for r in records] == ["uncompiled", "labeled", "dspy-bfrs", "dspy-mipro"]
    for record in records[2:]:
        assert "error" not in record, record.get("error")
        assert record["test"]["mean"] == 1.0 and record["test"]["n"] == 6  # demos were found
        assert record["compile"]["lm_requests"] > 0 and record["compile"]["demos"]["self"] > 0
        assert record["test"]["usage"]["prompt_tokens"] > 0
    spent = sum(r["compile"]["lm_requests"] for r in records[1:])
    assert backend.calls == spent + sum(r["test"]["lm_requests"] for r in records)
    table = compile_tasks.format_table(records).splitlines()
    assert len(table) == 2 + 4
    assert "| dspy-mipro | 1.000 [1.000, 1.000] | 6 | 0 |" in table[5]
    svg = plot.accuracy_vs_calls_svg(records)
    assert svg.startswith("<svg") and svg.count("<circle") == 4 + 4  # 4 legend dots, 4 points
    assert "dspy-bfrs: 1.000 [1.000, 1.000] after" in svg


def test_main_writes_json_table_and_plot(
    data_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dspy: ModuleType
) -> None:
    lm = promptc.LM("fake/t", backend=FakeBackend(_both_formats), cache=False)
    monkeypatch.setattr(compile_tasks, "make_lm", lambda args: lm)
    out = tmp_path / "results"
    argv = ["--tasks", "instruction_induction/fake_antonyms", "bbh/fake_bool", "--quick"]
    argv += ["--data-dir", str(data_root), "--out", str(out), "--system", "dspy-bfrs"]
    assert compile_tasks.main(argv) == 0
    (path,) = out.glob("compile_tasks-*.json")
    payload = json.loads(path.read_text(encoding="utf-8"))
    systems = [(r["task"], r["system"]) for r in payload["results"]]
    assert systems == [
        (task, system)
        for task in ("instruction_induction/fake_antonyms", "bbh/fake_bool")
        for system in ("uncompiled", "dspy-bfrs")
    ]
    table = path.with_suffix(".md").read_text(encoding="utf-8")
    assert payload["table"] in table and f"]({path.with_suffix('.svg').name})" in table
    assert path.with_suffix(".svg").read_text(encoding="utf-8").count("<g transform") == 2


# -- the multi-hop HotPotQA task ----------------------------------------------------------------


def _hotpot_rows(n: int) -> list[dict[str, Any]]:
    rows = []
    for i in range(n):
        founder, company = f"Zed Quux{i}", f"Acme{i}"
        context = [
            [company, [f"{company} is a firm.", f" It was founded by {founder}."]],
            [founder, [f"{founder} was born in {1900 + i}."]],
            [f"Other{i}", [f"Other{i} is a distractor about {company}s."]],
        ]
        rows.append(
            {
                "id": f"hp{i}",
                "input": f"In what year was the founder of {company} born?",
                "target": str(1900 + i),
                "context": context,
            }
        )
    return rows


def _hotpot_reader(request: LMRequest) -> str:
    """Plays all three multi-hop prompts, in promptc's XML or DSPy's ``[[ ## ]]`` format."""
    text = "\n".join(m["content"] for m in request.message_list[-1:])
    dspy_format = "[[ ## question ## ]]" in text
    asks_query = "short search query" in request.message_list[0]["content"]
    if asks_query:
        founder = re.findall(r"founded by (Zed Quux\d+)", text)
        value = founder[-1] if founder else re.findall(r"founder of (Acme\d+)", text)[-1]
        field = "query"
    else:
        founder = re.findall(r"founded by (Zed Quux\d+)", text)
        born = re.findall(rf"{founder[0]} was born in (\d+)", text) if founder else []
        value, field = (born[0] if born else "unknown"), "answer"
    if dspy_format:
        return f"[[ ## {field} ## ]]\n{value}\n\n[[ ## completed ## ]]"
    return f"<{field}>{value}</{field}>"


def test_hotpotqa_folder_gets_the_multihop_program_in_both_systems(tmp_path: Path) -> None:
    pytest.importorskip("dspy")
    _write(tmp_path / "hotpotqa" / "dev_distractor_first53.jsonl", _hotpot_rows(12))
    task = tasks.load_task(tmp_path / "hotpotqa", seed=0, n_train=4, n_val=3, n_test=5)
    assert (task.metric, task.sources["test"]) == ("exact_match", "dev_distractor_first53.jsonl")
    program = tasks.program_for(task)
    assert isinstance(program, tasks.HotpotMultiHop)
    assert len(program.retriever) == 12 * 3  # every loaded row's paragraphs, once each
    default = compile_tasks.parse_args(["--tasks", "hotpotqa", "--data-dir", str(tmp_path)])
    fitted = compile_tasks.load_fitted(tmp_path / "hotpotqa", default)
    assert fitted.sizes() == {"train": 3, "val": 2, "test": 5}  # 30/16/40 halved 3 times
    args = compile_tasks.parse_args(["--tasks", "x", "--quick", "--system", "dspy-bfrs"])
    backend = FakeBackend(_hotpot_reader)
    runner = compile_tasks.Runner(promptc.LM("fake/t", backend=backend, cache=False), args)
    records = compile_tasks.run_task(runner, task)
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


# -- benchmarks/overhead.py ----------------------------------------------------------------------


def test_overhead_script_tiny_run(tmp_path: Path, dspy: ModuleType) -> None:
    command = [sys.executable, str(BENCHMARKS / "overhead.py"), "--out", str(tmp_path)]
    command += ["--calls", "20", "--litellm-calls", "2", "--http-calls", "3", "--repeats", "1"]
    command += ["--waves", "1", "--latency", "0.01", "--no-install-size"]
    done = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, timeout=300)
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
