"""benchmarks.tasks and benchmarks.metrics on a fake data root built per test."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from benchmark_support import ids, load, make_data_root, write_rows

import promptc
from benchmarks import metrics, tasks
from promptc import LMRequest
from promptc.programs import MathCoT
from promptc.testing import FakeBackend

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def data_root(tmp_path: Path) -> Path:
    return make_data_root(tmp_path)


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
    task = load(data_root, "instruction_induction/fake_antonyms")
    assert (task.name, task.group, task.metric) == (
        "instruction_induction/fake_antonyms",
        "instruction_induction",
        "exact_match",
    )
    assert task.sizes() == {"train": 10, "val": 5, "test": 8}
    assert task.sources == {"test": "test.jsonl", "val": "train.jsonl", "train": "train.jsonl"}
    assert all(i.startswith("ant-train-") for i in ids(task.train) + ids(task.val))
    assert all(i.startswith("ant-test-") for i in ids(task.test))
    assert len(set(ids(task.train) + ids(task.val))) == 15
    assert ids(task.test) != [f"ant-test-{i}" for i in range(8)]  # shuffled, not the head


def test_splits_are_seeded_and_test_is_disjoint(data_root: Path) -> None:
    for name in ("instruction_induction/fake_antonyms", "bbh/fake_bool", "gsm8k"):
        first, again = load(data_root, name, seed=3), load(data_root, name, seed=3)
        assert first == again
        other = load(data_root, name, seed=4)
        assert (ids(other.train), ids(other.test)) != (ids(first.train), ids(first.test))
        for task in (first, other):
            assert not set(ids(task.test)) & set(ids(task.train) + ids(task.val))
            assert not set(ids(task.train)) & set(ids(task.val))
        # The test rows depend only on the seed and n_test.
        bigger = load(data_root, name, seed=3, n_train=4, n_val=2)
        assert ids(bigger.test) == ids(first.test)


def test_bbh_is_carved_from_test_with_the_cot_exemplars_in_train(data_root: Path) -> None:
    task = load(data_root, "bbh/fake_bool", n_train=10, n_val=5, n_test=30)
    assert task.metric == "exact_match"
    assert task.sizes() == {"train": 10, "val": 5, "test": 30}
    assert task.sources == {
        "test": "test.jsonl",
        "val": "test.jsonl",
        "train": "fewshot_cot.jsonl + test.jsonl",
    }
    cot = [i for i in ids(task.train) if i.startswith("bool-cot-")]
    assert sorted(cot) == ["bool-cot-0", "bool-cot-1", "bool-cot-2"]
    carved = set(ids(task.test) + ids(task.val)) | (set(ids(task.train)) - set(cot))
    assert len(carved) == 30 + 5 + 7  # every carved row is a distinct test.jsonl row
    # All inputs of the CoT exemplars equal "not True is", which no test row has.
    assert task.input_overlap == 0


def test_small_tasks_give_fewer_rows_but_never_an_empty_split(data_root: Path) -> None:
    task = load(data_root, "gsm8k", n_train=30, n_val=4, n_test=30)
    assert task.sizes() == {"train": 5, "val": 4, "test": 5}
    assert ids(task.train)[0].startswith("train.jsonl:")  # ids made up for rows without one
    with pytest.raises(ValueError, match=r"no rows left for \['val', 'train'\]"):
        load(data_root, "bbh/fake_mc", n_test=20)
    with pytest.raises(ValueError, match="positive integers"):
        load(data_root, "bbh/fake_mc", n_val=0)


def test_repeated_inputs_under_other_ids_are_counted(data_root: Path) -> None:
    rows = [{"input": f"q{i}", "target": "a"} for i in range(6)]
    write_rows(data_root / "dup" / "train.jsonl", rows)
    write_rows(data_root / "dup" / "test.jsonl", rows)
    task = load(data_root, "dup", n_train=2, n_val=2, n_test=6)
    assert task.input_overlap == 4  # same inputs, but ids train.jsonl:N vs test.jsonl:N
    assert not set(ids(task.test)) & set(ids(task.train) + ids(task.val))


def test_rows_without_target_are_refused(data_root: Path) -> None:
    write_rows(data_root / "broken" / "test.jsonl", [{"input": "x"}])
    with pytest.raises(ValueError, match=r"row 1 lacks \['target'\]"):
        load(data_root, "broken")


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
    task = load(data_root, name, n_train=2, n_val=2, n_test=2)
    assert task.metric == metric
    assert callable(metrics.metric_for(task.metric))


def test_metric_selection_without_a_manifest_and_with_an_unknown_code(tmp_path: Path) -> None:
    rows = [{"input": "a", "target": "b"}]
    assert metrics.task_metric("instruction_induction/taxonomy_animal", rows) == "exact_set"
    assert metrics.task_metric("instruction_induction/antonyms", rows) == "exact_match"
    assert metrics.task_metric("bbh/x", [{**rows[0], "options": ["(A)"]}]) == "choice_letter_match"
    assert metrics.task_metric("sst2", rows) == "exact_match"
    (tmp_path / "manifest.json").write_text('{"g": {"t": {"metric": "bleu"}}}', encoding="utf-8")
    with pytest.raises(ValueError, match="unknown metric 'bleu'"):
        metrics.task_metric("g/t", rows, tmp_path)


def test_exact_set_compares_token_sets_after_normalising() -> None:
    row = {"input": "...", "target": "cat, dog", "targets": ["cat, dog", "lion"]}
    assert metrics.exact_set(row, {"target": "Dog and cat."}) == 1.0
    assert metrics.exact_set(row, {"target": "dog, cat, dog\nand a bird"}) == 1.0
    assert metrics.exact_set(row, {"target": "Lion"}) == 1.0  # any accepted answer
    assert metrics.exact_set(row, {"target": "cat"}) == 0.0
    assert metrics.exact_set(row, {"target": "cat, dog, bird"}) == 0.0
    assert metrics.exact_set({"target": "well-known"}, "well known") == 1.0
    with pytest.raises(ValueError, match="'target' output field"):
        metrics.exact_set(row, {"answer": "cat, dog"})
    assert metrics.metric_for("exact_set") is metrics.exact_set
    assert metrics.metric_for("exact_match") is promptc.metrics.exact_match


@pytest.mark.parametrize("name", ["instruction_induction/fake_antonyms", "bbh/fake_mc"])
def test_program_for_is_the_generic_uncompiled_program(data_root: Path, name: str) -> None:
    program = tasks.program_for(load(data_root, name, n_train=2, n_val=2, n_test=2))
    assert isinstance(program, promptc.Predict)
    assert program.params.instruction == "Answer the input." and program.params.demos == ()
    assert list(program.signature.input_fields) == ["input"]
    assert list(program.signature.output_fields) == ["target"]


def test_a_numeric_task_gets_math_cot_and_its_metric_reads_the_number(data_root: Path) -> None:
    task = load(data_root, "gsm8k", n_train=2, n_val=2, n_test=3)
    program = tasks.program_for(task)
    assert isinstance(program, tasks.InputTarget)
    assert isinstance(program.solve, MathCoT)
    assert [name for name, _ in program.named_predictors()] == ["solve"]
    assert program.solve.params.instruction.startswith("Solve the math word problem.")

    def solver(request: LMRequest) -> str:
        question = re.search(r"<question>\n(\d+)\+(\d+)\?", request.message_list[-1]["content"])
        assert question is not None, request.message_list[-1]["content"]
        total = int(question.group(1)) + int(question.group(2))
        return f"<reasoning>Add them.</reasoning>\n<answer>{total}.0</answer>"

    lm = promptc.LM("fake/t", backend=FakeBackend(solver), cache=False)
    result = promptc.evaluate(program, task.test, metrics.metric_for(task.metric), lm=lm)
    assert result.mean == 1.0 and result.errors == 0
    first = result.results[0].prediction
    assert first["reasoning"] == "Add them." and first["target"] == float(task.test[0]["target"])
    described = tasks.program_for(task, described=True)  # gsm8k has no description: MathCoT's
    assert described.get_params() == program.get_params()


def test_a_described_program_starts_from_the_tasks_own_description(data_root: Path) -> None:
    import json

    folder = data_root / "instruction_induction" / "fake_antonyms"
    notes = {"annotations": ["opposite", "Write a word that means the opposite of the input."]}
    (folder / "reference_instructions.json").write_text(json.dumps(notes))
    task = load(data_root, "instruction_induction/fake_antonyms", n_train=2, n_val=2, n_test=2)
    assert task.description == "Write a word that means the opposite of the input."
    described = tasks.program_for(task, described=True)
    assert isinstance(described, promptc.Predict)
    assert described.params.instruction == task.description
    assert tasks.program_for(task).params.instruction == "Answer the input."  # type: ignore[attr-defined]
    bbh = data_root / "bbh" / "fake_bool"
    (bbh / "cot_prompt.txt").write_text(
        "CANARY line\n-----\nEvaluate a Boolean expression.\n\nQ: x"
    )
    assert tasks.task_description(bbh) == "Evaluate a Boolean expression."
    assert tasks.task_description(data_root / "gsm8k") is None


# -- compile_tasks, with a fake LM ---------------------------------------------------------------
