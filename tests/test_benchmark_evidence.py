"""Runs over several seeds, their evidence tables, and runs that resume from their folder."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from benchmark_support import demo_reader, make_data_root

import promptc
from benchmarks import cells, compile_tasks, evidence, evidence_tables
from benchmarks.records import (
    DSPyCompile,
    ExampleOutcome,
    PromptcCompile,
    ResultRow,
    Scores,
    SystemResult,
    TestRecord,
)
from benchmarks.systems import RunOptions, System, Uncompiled
from benchmarks.tasks import Task
from promptc.testing import FakeBackend

ANTONYMS = "instruction_induction/fake_antonyms"


@pytest.fixture
def data_root(tmp_path: Path) -> Path:
    return make_data_root(tmp_path)


# -- arguments and splits ------------------------------------------------------------------------


def test_seeds_and_seed(capsys: pytest.CaptureFixture[str]) -> None:
    args = compile_tasks.parse_args(["--tasks", "x", "--seeds", "0", "1", "2"])
    assert (args.seeds, args.seed) == ([0, 1, 2], 0)
    assert compile_tasks.parse_args(["--tasks", "x", "--seed", "3"]).seeds == [3]
    assert compile_tasks.parse_args(["--tasks", "x"]).seeds == [0]
    with pytest.raises(SystemExit):
        compile_tasks.parse_args(["--tasks", "x", "--seed", "1", "--seeds", "2"])
    assert "not allowed with argument" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        compile_tasks.parse_args(["--tasks", "x", "--seeds", "1", "1"])
    assert "--seeds must differ, got [1, 1]" in capsys.readouterr().err


def test_test_rows_give_way_so_val_and_train_keep_theirs(data_root: Path) -> None:
    """bbh/fake_bool: 50 rows in test.jsonl, 3 CoT exemplars; 200 test rows asked."""
    argv = ["--tasks", "x", "--data-dir", str(data_root), "--n-test", "200"]
    args = compile_tasks.parse_args([*argv, "--n-train", "10", "--n-val", "5"])
    task = compile_tasks.load_fitted(data_root / "bbh" / "fake_bool", args, seed=1)
    assert task.sizes() == {"train": 10, "val": 5, "test": 50 - 5 - 7}
    assert task.seed == 1
    other = compile_tasks.load_fitted(data_root / ANTONYMS, args)
    assert other.sizes() == {"train": 10, "val": 5, "test": 20}  # all of its own test file


# -- the evidence of rows ------------------------------------------------------------------------


def _row(
    system: str, seed: int, scores: list[float], *, ids: str = "r", task: str = "t"
) -> ResultRow:
    examples = tuple(ExampleOutcome(f"{ids}{i}", s, None, None) for i, s in enumerate(scores))
    mean = sum(scores) / len(scores)
    test = TestRecord(Scores(mean, (0.0, 1.0), len(scores), 0), 0, {}, 0.0, examples)
    compiled: PromptcCompile | DSPyCompile | None = None
    if system.startswith("dspy"):
        compiled = DSPyCompile(100, {}, 1.0, 0.5, {}, {}, "chat", None, ((50, 0.25), (90, 0.5)))
    elif system != "uncompiled":
        val = Scores(0.5, (0.0, 1.0), 4, 0)
        trials = ({"requests": 40, "best": 0.5}, {"requests": 80, "best": 0.75})
        compiled = PromptcCompile(80, {}, {}, 1.0, val, val, trials, {})
    return ResultRow(task, "g", "exact_match", system, SystemResult(compiled, test), seed)


def test_scores_over_seeds_keep_a_tasks_systems_together_when_a_seed_lacks_one() -> None:
    """Rows come seed by seed; a system missing from a task's first seed still sits with it."""
    rows = [
        _row("uncompiled", 0, [0.0], task="a"),
        _row("random", 0, [1.0], task="a"),
        _row("uncompiled", 0, [0.0], task="b"),
        _row("random", 0, [1.0], task="b"),
        _row("dspy-mipro", 0, [0.0], task="b"),
        _row("dspy-mipro", 1, [1.0], task="a"),
    ]
    order = [(s.task, s.system, s.seeds) for s in evidence.over_seeds(rows)]
    assert order == [
        ("a", "uncompiled", (0,)),
        ("a", "random", (0,)),
        ("a", "dspy-mipro", (1,)),
        ("b", "uncompiled", (0,)),
        ("b", "random", (0,)),
        ("b", "dspy-mipro", (0,)),
    ]


def test_evidence_over_seeds_pairs_promptc_with_dspy_per_seed() -> None:
    rows = [
        _row("uncompiled", 0, [0.0] * 4),
        _row("random", 0, [1.0, 1.0, 0.0, 0.0]),
        _row("dspy-mipro", 0, [0.0] * 4),
        _row("uncompiled", 1, [0.0] * 4),
        _row("random", 1, [1.0, 1.0, 1.0, 1.0]),
        _row("dspy-mipro", 1, [0.0] * 4),
        _row("random", 2, [1.0] * 4),
        _row("dspy-mipro", 2, [0.0] * 4, ids="other"),  # not the same rows: not paired
    ]
    scores = {s.system: s for s in evidence.over_seeds(rows)}
    assert scores["random"].means == (0.5, 1.0, 1.0) and scores["random"].mean == pytest.approx(
        2.5 / 3
    )
    assert scores["dspy-mipro"].compile_requests == 100 and scores["uncompiled"].seeds == (0, 1)
    # validation 0.5 each time: the winner's curse, seed by seed (none without a compile)
    assert scores["random"].optimism == pytest.approx((0.0 - 0.5 - 0.5) / 3)
    assert scores["dspy-mipro"].optimism == 0.5 and scores["uncompiled"].optimism is None
    table = evidence_tables.format_over_seeds(list(scores.values()))
    assert "| t | random | 0.833 | 0.500, 1.000, 1.000 | 80 | -0.333 |" in table
    assert "| t | uncompiled | 0.000 | 0.000, 0.000 | 0 | — |" in table
    (diff,) = evidence.paired_differences(rows)  # uncompiled is no side of a promptc - DSPy pair
    assert (diff.a, diff.b, diff.estimate.seeds, diff.estimate.rows) == (
        "random",
        "dspy-mipro",
        2,
        8,
    )
    assert diff.estimate.mean == 0.75 and diff.verdict == "win"
    (summary,) = evidence.summarize([diff, diff])
    assert (summary.tasks, summary.wins, summary.ties, summary.losses) == (2, 2, 0, 0)
    text = evidence_tables.format_paired([diff], [summary])
    assert "| t | random - dspy-mipro | +0.750 [" in text
    assert "| **mean over 2 tasks** | random - dspy-mipro | +0.750 [" in text
    assert "win; tasks won / tied / lost: 2 / 0 / 0 |" in text


def test_matched_spend_reads_both_curves_at_the_smaller_spend() -> None:
    rows = [_row("random", 0, [1.0]), _row("dspy-mipro", 0, [0.0])]
    (found,) = evidence.matched_spend(rows)
    # promptc spent 80, DSPy 100: read both at 80 -> promptc 0.75, DSPy 0.25 (its pass at 50).
    assert (found.requests, found.a_val, found.b_val) == (80, 0.75, 0.25)
    assert (found.a_requests, found.b_requests) == (80, 100)
    assert evidence.best_at(((50, 0.25), (90, 0.5)), 49) is None
    curves = evidence.curves_json(rows)
    assert [(c["system"], c["curve"]) for c in curves] == [
        ("random", [[40, 0.5], [80, 0.75]]),
        ("dspy-mipro", [[50, 0.25], [90, 0.5]]),
    ]
    assert "| t | random - dspy-mipro | 80 | 0.750 | 0.250 | 80 | 100 | 1 |" in (
        evidence_tables.format_matched_spend([found])
    )


# -- a whole run over seeds, with a fake LM ------------------------------------------------------


@pytest.fixture
def fake_lm(monkeypatch: pytest.MonkeyPatch) -> None:
    """The run's LM: a fake that answers from the demos."""
    lm = promptc.LM("fake/t", backend=FakeBackend(demo_reader), cache=False)
    monkeypatch.setattr(compile_tasks, "make_lm", lambda args: lm)


def _main(data_root: Path, out: Path, *extra: str) -> int:
    argv = ["--tasks", ANTONYMS, "--quick", "--data-dir", str(data_root), "--out", str(out)]
    return compile_tasks.main([*argv, *extra])


@pytest.mark.usefixtures("fake_lm")
def test_a_run_over_seeds_writes_cells_and_the_evidence(
    data_root: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "results"
    assert (
        _main(data_root, out, "--optimizer", "labeled", "--seeds", "0", "1", "--run-id", "a") == 0
    )
    path = out / "compile_tasks-a.json"
    payload = json.loads(path.read_text(encoding="utf-8"))
    assert payload["seeds"] == [0, 1] and payload["run_folder"] == "compile_tasks-a"
    assert [(r["system"], r["seed"]) for r in payload["results"]] == [
        ("uncompiled", 0),
        ("labeled", 0),
        ("uncompiled", 1),
        ("labeled", 1),
    ]
    assert [t["seed"] for t in payload["tasks"]] == [0, 1]
    assert payload["tasks"][0]["ids"]["test"] != payload["tasks"][1]["ids"]["test"]
    over = payload["evidence"]["over_seeds"]
    assert [(s["system"], s["means"]) for s in over] == [
        ("uncompiled", [0.0, 0.0]),
        ("labeled", [1.0, 1.0]),
    ]
    assert [c["system"] for c in payload["curves"]] == ["labeled", "labeled"]
    assert len(list((out / "compile_tasks-a" / "cells").glob("*.json"))) == 4
    printed, err = capsys.readouterr()
    assert "seeds 0 1;" in printed and evidence_tables.SEEDS_HEADER in printed
    assert f"| {ANTONYMS} · seed 1 | exact_match | labeled |" in printed
    assert "[4/4 cells, ETA 0 s]: finished" in err
    assert path.with_suffix(".curves.svg").read_text(encoding="utf-8").count("<polyline") == 2


@dataclass
class Compiles:
    """What the fake systems compiled, in order; the compile numbered ``fail_at`` raises."""

    log: list[str] = field(default_factory=list)
    fail_at: int | None = None


@dataclass
class Counting:
    """A fake system that logs its compiles and scores the uncompiled program."""

    name: str
    compiles: Compiles

    def compile(self, task: Task, lm: promptc.LM, budget: int, seed: int) -> SystemResult:
        self.compiles.log.append(f"{self.name}/{seed}")
        if len(self.compiles.log) == self.compiles.fail_at:
            raise KeyboardInterrupt  # as a person stopping the run
        return Uncompiled(RunOptions(threads=2)).compile(task, lm, budget, seed)


def _count_compiles(
    monkeypatch: pytest.MonkeyPatch, compiles: Compiles, names: Sequence[str] = ()
) -> None:
    """The run's systems: :class:`Counting` ones, named ``names`` (default: as asked)."""

    def systems(
        asked: list[str], options: RunOptions, *, dspy_adapter: str, proposer: object
    ) -> list[System]:
        return [Counting(name, compiles) for name in names or asked]

    monkeypatch.setattr(compile_tasks, "make_systems", systems)


@pytest.mark.usefixtures("fake_lm")
def test_a_killed_run_resumes_with_only_the_missing_cells(
    data_root: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    compiles = Compiles(fail_at=5)
    _count_compiles(monkeypatch, compiles, ("a", "b", "c"))
    out = tmp_path / "results"
    run = ["--seeds", "0", "1", "--run-id", "r"]
    with pytest.raises(KeyboardInterrupt):
        _main(data_root, out, *run)
    folder = out / "compile_tasks-r"
    assert compiles.log == ["a/0", "b/0", "c/0", "a/1", "b/1"]  # b/1 was interrupted
    assert len(list((folder / "cells").glob("*.json"))) == 4
    assert not (out / "compile_tasks-r.json").exists()
    compiles.log, compiles.fail_at = [], None
    assert _main(data_root, out, *run) == 0
    assert compiles.log == ["b/1", "c/1"]  # only the missing cells, b/1 from its start
    err = capsys.readouterr().err
    assert "[4/6 cells, ETA" in err and "[6/6 cells, ETA 0 s]: finished" in err
    payload = json.loads((out / "compile_tasks-r.json").read_text(encoding="utf-8"))
    assert [(r["system"], r["seed"]) for r in payload["results"]] == [
        (s, seed) for seed in (0, 1) for s in ("a", "b", "c")
    ]
    assert _main(data_root, out, "--resume", str(folder), "--seeds", "0", "1") == 0
    assert compiles.log == ["b/1", "c/1"]  # all finished: nothing ran again


@pytest.mark.usefixtures("fake_lm")
def test_a_folder_refuses_other_settings(
    data_root: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "results"
    assert _main(data_root, out, "--run-id", "s", "--budget", "40") == 0
    with pytest.raises(SystemExit, match=r"budget: 40 in the folder, 41 now"):
        _main(data_root, out, "--run-id", "s", "--budget", "41", "--seeds", "0", "1")
    with pytest.raises(SystemExit, match=r"no run\.json there"):
        _main(data_root, out, "--resume", str(out / "compile_tasks-missing"))
    with pytest.raises(SystemExit):
        _main(data_root, out, "--resume", str(out / "compile_tasks-s"), "--run-id", "s")
    assert "give --resume DIR or --run-id, not both" in capsys.readouterr().err


@pytest.mark.usefixtures("fake_lm")
def test_a_run_gains_seeds_and_systems_and_reports_its_finished_cells(
    data_root: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    compiles = Compiles()
    _count_compiles(monkeypatch, compiles)
    out = tmp_path / "results"
    assert _main(data_root, out, "--run-id", "g", "--optimizer", "labeled") == 0
    assert compiles.log == ["labeled/0"]
    run = ["--run-id", "g", "--optimizer", "labeled", "--optimizer", "random"]
    with pytest.raises(SystemExit, match=r"holds none of the asked cells"):
        _main(data_root, out, *run, "--seeds", "1", "--finished-only")
    assert compiles.log == ["labeled/0"]  # --finished-only runs nothing
    capsys.readouterr()
    assert _main(data_root, out, *run, "--seeds", "0", "1", "--finished-only") == 0
    assert compiles.log == ["labeled/0"]
    payload = json.loads((out / "compile_tasks-g.json").read_text(encoding="utf-8"))
    assert [(r["system"], r["seed"]) for r in payload["results"]] == [("labeled", 0)]
    assert "[1/4 cells, ETA" in capsys.readouterr().err
    assert _main(data_root, out, *run, "--seeds", "0", "1") == 0  # a system and a seed more
    assert compiles.log == ["labeled/0", "random/0", "labeled/1", "random/1"]


def test_a_cell_another_process_finished_is_not_run_again(tmp_path: Path) -> None:
    folder = cells.RunFolder(tmp_path / "run", {"budget": 40})
    first, second = cells.Cell("t", "a", 0), cells.Cell("t", "b", 0)
    row = ResultRow("t", "g", "exact_match", "b", SystemResult(), 0)
    ran: list[str] = []

    def work_a() -> tuple[ResultRow, dict[str, object]]:
        ran.append("a")  # meanwhile another process finishes cell b
        folder.write(second, cells.CellResult(row, {"name": "t"}, 1.0))
        return ResultRow("t", "g", "exact_match", "a", SystemResult(), 0), {"name": "t"}

    def work_b() -> tuple[ResultRow, dict[str, object]]:
        ran.append("b")
        return row, {"name": "t"}

    source = {"git_commit": "0123456789abcdef", "git_dirty": True}
    results = cells.run_cells(folder, [(first, work_a), (second, work_b)], source=source)
    assert ran == ["a"] and [r.row.system for r in results] == ["a", "b"]
    # the cell this process ran records the code it ran with; the other process's cell does not
    assert folder.finished(first) == results[0] and results[0].source == source
    assert cells.ran_at(results) == {"0123456+dirty": 1, "unrecorded": 1}


def test_progress_estimates_each_system_from_its_own_finished_cells() -> None:
    plan = [cells.Cell("t", s, seed) for seed in (0, 1) for s in ("uncompiled", "random")]
    progress = cells.Progress(plan, {plan[0]: 10.0})
    assert progress.eta() == 30.0  # no random cell yet: every cell left at the mean, 10 s
    line = progress.finished(plan[1], 290.0)
    assert line == "[2/4 cells, ETA 5 min]: finished t · random · seed 0 in 5 min"
    assert progress.eta() == 10.0 + 290.0
    assert cells.Progress(plan, {}).status() == "[0/4 cells, ETA unknown]"
    assert cells.format_seconds(3 * 3600 + 5 * 60) == "3 h 05 min"
    assert (
        cells.Cell("bbh/x y", "dspy-mipro+best", 2).file_name
        == "bbh__x_y--dspy-mipro+best--seed2.json"
    )


def test_a_small_single_file_task_is_halved_then_its_test_takes_the_rest(
    data_root: Path, tmp_path: Path
) -> None:
    from benchmark_support import hotpot_rows, write_rows

    write_rows(tmp_path / "hotpotqa" / "dev_distractor_first53.jsonl", hotpot_rows(53))
    argv = ["--tasks", "x", "--data-dir", str(tmp_path), "--n-test", "200"]
    task = compile_tasks.load_fitted(tmp_path / "hotpotqa", compile_tasks.parse_args(argv))
    # 30/16 leave 7 test rows (< 16): halved to 15/8, which leave 30 of the 53 for test.
    assert task.sizes() == {"train": 15, "val": 8, "test": 30}
    small = data_root / "instruction_induction" / "fake_set"  # 10 train rows: val 16 empties train
    fitted = compile_tasks.load_fitted(
        small, compile_tasks.parse_args([*argv[:2], "--data-dir", str(data_root)])
    )
    assert fitted.sizes() == {"train": 2, "val": 8, "test": 10}
