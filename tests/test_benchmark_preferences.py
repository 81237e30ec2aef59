"""benchmarks.preferences: the simulated Bradley-Terry judge, the preference systems, and the
harness end to end on a fake data root and a fake LM, with stub preference strategies (APOHF
itself is tested in tests/test_apohf.py)."""

from __future__ import annotations

import json
import math
import random
import re
from pathlib import Path

import pytest
from benchmark_support import demo_reader, load, make_data_root

import promptc
from benchmarks import preferences
from benchmarks.bt_judge import BTJudge
from benchmarks.metrics import metric_for
from benchmarks.preference_systems import PreferenceStrategy, inputs_only
from benchmarks.preference_table import format_table
from benchmarks.records import PreferenceCompile, ResultRow, row_from_json
from benchmarks.systems import RunOptions
from promptc import Params
from promptc.compiler import Candidate, Duel, DuelingOptimizer, SearchSpace, Utility
from promptc.judges import Question
from promptc.testing import FakeBackend

RIGHT, WRONG = {"target": "yes"}, {"target": "no"}


def _judge(noise: float, seed: int = 0, n: int = 50) -> BTJudge:
    rows = [{"input": f"q{i}", "target": "yes", "label": 1} for i in range(n)]
    return BTJudge(rows, metric_for("exact_match"), noise, seed)


def _ask(judge: BTJudge, times: int) -> list[str]:
    return [judge(Question({"input": f"q{i % 50}"}, RIGHT, WRONG)) for i in range(times)]


def test_the_judge_flips_a_right_vs_wrong_comparison_at_the_noise_rate() -> None:
    judge = _judge(0.2, seed=7)
    verdicts = _ask(judge, 4000)
    assert judge.calls == 4000 and judge.ties == 0
    assert judge.flips == verdicts.count("B")  # B is the wrong output here
    # Binomial(4000, 0.2): sd 0.0063, so 0.2 +- 0.025 is about 4 sd.
    assert abs(judge.flips / 4000 - 0.2) < 0.025
    assert judge.beta == pytest.approx(math.log(4))
    assert _ask(_judge(0.2, seed=7), 4000) == verdicts  # seeded: the same answers again
    assert _ask(_judge(0.2, seed=8), 4000) != verdicts
    perfect = _judge(0.0)
    assert set(_ask(perfect, 500)) == {"A"} and perfect.flips == 0


def test_equal_scores_tie_without_drawing_and_partial_scores_follow_bradley_terry() -> None:
    judge, again = _judge(0.1, seed=3), _judge(0.1, seed=3)
    assert judge(Question({"input": "q1"}, RIGHT, {"target": "Yes."})) == "tie"  # both right
    assert judge(Question({"input": "q2"}, WRONG, {"target": "maybe"})) == "tie"  # both wrong
    assert judge.ties == 2 and judge.flips == 0
    # Ties draw nothing from the rng: the next answers are those of a judge never asked to tie.
    assert _ask(judge, 200) == _ask(again, 200)
    beta = math.log(0.9 / 0.1)
    assert judge.prefer_a(1.0, 0.0) == pytest.approx(0.9)
    assert judge.prefer_a(0.5, 0.0) == pytest.approx(1 / (1 + math.exp(-beta / 2)))
    assert judge.prefer_a(0.0, 1.0) == pytest.approx(0.1)


def test_the_judge_finds_rows_by_their_inputs_and_refuses_unknown_ones() -> None:
    judge = _judge(0.1)
    assert judge.row_for({"input": "q3"})["label"] == 1
    with pytest.raises(LookupError, match="no labelled row"):
        judge(Question({"input": "not a row"}, RIGHT, WRONG))
    with pytest.raises(ValueError, match=r"noise must be a probability in \[0, 0.5\]"):
        _judge(0.6)


def test_the_compile_from_preferences_sees_inputs_only() -> None:
    rows = [{"id": "a", "input": "x", "target": "y", "targets": ["y"], "label": 0}]
    assert inputs_only(rows) == [{"input": "x"}]


# -- stub strategies, a fake data root and LM -----------------------------------------------------


class DemoDuel(DuelingOptimizer):
    """Two candidates: the uncompiled program and one with demos bootstrapped from the program's
    own outputs; asks about that pair only; keeps the winner (``stubborn``: always the first)."""

    name = "demo_duel"

    def __init__(self, stubborn: bool = False) -> None:
        self.stubborn = stubborn

    def setup(self, space: SearchSpace) -> list[Candidate]:
        demos = space.bootstrap(4, random.Random(0))["self"]
        instruction = space.base["self"].instruction
        self.wins = [0.0, 0.0]
        return [{}, {"self": Params(instruction, tuple(demos))}]

    def ask(self) -> Duel | None:
        return Duel(0, 1)

    def tell(self, duel: Duel, outcome: float) -> None:
        self.wins[0] += outcome
        self.wins[1] += 1 - outcome

    def ranking(self) -> list[Utility]:
        order = [0, 1] if self.stubborn else sorted((0, 1), key=lambda i: -self.wins[i])
        return [Utility(i, self.wins[i], self.wins[i] - 1, self.wins[i] + 1, 1) for i in order]


@pytest.fixture
def stubs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        preferences,
        "STRATEGIES",
        {"apohf": DemoDuel, "random_pairs": lambda: DemoDuel(stubborn=True)},
    )


@pytest.fixture
def data_root(tmp_path: Path) -> Path:
    return make_data_root(tmp_path)


def test_a_preference_system_compiles_from_the_judge_and_scores_on_test(data_root: Path) -> None:
    task = load(data_root, "instruction_induction/fake_antonyms", n_train=8, n_val=4, n_test=6)
    backend = FakeBackend(demo_reader)
    lm = promptc.LM("fake/t", backend=backend, cache=False)
    system = PreferenceStrategy("apohf", 3, 0.0, RunOptions(threads=2), DemoDuel)
    assert system.name == "apohf@3"
    result = system.compile(task, lm, 40, seed=0)
    record, test = result.compile, result.test
    assert isinstance(record, PreferenceCompile) and test is not None, result.error
    # demo_reader answers right only with demos: the judge prefers the bootstrapped candidate.
    assert record.questions == record.judge["calls"] == 3 and record.verdicts["B"] == 3
    assert record.kept == 1 and record.candidates == 2 and test.scores.mean == 1.0
    assert len(record.params["self"]["demos"]) == 4
    assert 0 < record.lm_requests <= 40 and record.spent["budget"] == 40
    assert backend.calls == record.lm_requests + test.lm_requests
    data = json.loads(json.dumps(ResultRow("t", "g", "em", system.name, result).to_json()))
    assert row_from_json(data).to_json() == data


def test_run_task_runs_every_system_and_pairs_apohf_with_the_others(
    data_root: Path, stubs: None
) -> None:
    args = preferences.parse_args(["--tasks", "x", "--quick", "--labelled-optimizer", "labeled"])
    assert (args.n_train, args.n_val, args.n_test, args.feedback_budgets) == (8, 4, 6, [4, 8])
    task = load(data_root, "instruction_induction/fake_antonyms", n_train=8, n_val=4, n_test=6)
    lm = promptc.LM("fake/t", backend=FakeBackend(demo_reader), cache=False)
    run = preferences.run_task(task, lm, args)
    names = ["uncompiled", "apohf@4", "apohf@8", "random_pairs@4", "random_pairs@8", "labelled"]
    assert [r.system for r in run.rows] == names
    scores = {r.system: r.result.test.scores.mean for r in run.rows if r.result.test}
    assert scores == dict.fromkeys(names, 1.0) | {"uncompiled": 0.0} | {
        "random_pairs@4": 0.0,
        "random_pairs@8": 0.0,
    }
    apohf = run.row("apohf@8")
    labelled = run.row("labelled")
    assert apohf is not None and labelled is not None and labelled.result.compile is not None
    assert isinstance(apohf.result.compile, PreferenceCompile)
    # The labelled compile gets the LM budget APOHF spent at the largest feedback budget.
    assert labelled.result.compile.to_json()["spent"]["budget"] == apohf.result.compile.lm_requests
    assert [(d.a, d.b, d.mean, d.n) for d in run.differences] == [
        ("apohf@4", "random_pairs@4", 1.0, 6),
        ("apohf@4", "labelled", 0.0, 6),
        ("apohf@8", "random_pairs@8", 1.0, 6),
        ("apohf@8", "labelled", 0.0, 6),
    ]


def test_a_smaller_feedback_budget_replays_the_larger_ones_requests_from_the_cache(
    data_root: Path, tmp_path: Path
) -> None:
    task = load(data_root, "instruction_induction/fake_antonyms", n_train=8, n_val=4, n_test=6)
    backend = FakeBackend(demo_reader)
    lm = promptc.LM("fake/t", backend=backend, cache=tmp_path / "cache.db")
    options = RunOptions(threads=1)
    large = PreferenceStrategy("apohf", 8, 0.3, options, DemoDuel).compile(task, lm, 60, 0)
    calls = backend.calls
    small = PreferenceStrategy("apohf", 4, 0.3, options, DemoDuel).compile(task, lm, 60, 0)
    assert backend.calls == calls  # every request of the smaller compile was a cache hit
    assert isinstance(small.compile, PreferenceCompile)
    assert isinstance(large.compile, PreferenceCompile)
    assert small.compile.questions == 4 and large.compile.questions == 8
    assert small.compile.run_usage["cache_hits"] == small.compile.lm_requests > 0


def test_main_writes_results_with_every_system_row(
    data_root: Path,
    tmp_path: Path,
    stubs: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    lm = promptc.LM("fake/t", backend=FakeBackend(demo_reader), cache=False)
    monkeypatch.setattr(preferences, "make_lm", lambda args: lm)
    out = tmp_path / "results"
    argv = ["--tasks", "instruction_induction/fake_antonyms", "bbh/fake_bool", "--quick"]
    argv += ["--data-dir", str(data_root), "--out", str(out), "--labelled-optimizer", "labeled"]
    assert preferences.main(argv) == 0
    stdout, stderr = capsys.readouterr()
    assert "instruction_induction/fake_antonyms: compiling with 'apohf@8' (budget 60)" in stderr
    (path,) = out.glob("preferences-*.json")
    assert re.fullmatch(r"preferences-\d{4}-\d\d-\d\dT\d{6}Z\.json", path.name)
    payload = json.loads(path.read_text(encoding="utf-8"))
    assert payload["settings"]["noise"] == 0.1 and payload["wall_s"] >= 0
    assert payload["environment"]["lm"]["model"] == "fake/t"
    systems = ["uncompiled", "apohf@4", "apohf@8", "random_pairs@4", "random_pairs@8", "labelled"]
    assert [[r["system"] for r in run["results"]] for run in payload["runs"]] == [systems] * 2
    assert {r["seed"] for run in payload["runs"] for r in run["results"]} == {0}
    assert {d["seed"] for run in payload["runs"] for d in run["differences"]} == {0}
    assert [run["task"]["name"] for run in payload["runs"]] == [
        "instruction_induction/fake_antonyms",
        "bbh/fake_bool",
    ]
    assert payload["report"] in stdout
    table = [line for line in stdout.splitlines() if line.startswith("| ")]
    assert table[0] == "| system | instruction_induction/fake_antonyms | bbh/fake_bool |"
    assert [line.split(" | ")[0] for line in table[1:7]] == [f"| {s}" for s in systems]
    assert re.search(r"\| apohf@8 \| 1\.000 \[1\.00, 1\.00\] \(\d+/\d\) \|", table[3])
    assert "| instruction_induction/fake_antonyms | apohf@8 - random_pairs@8 | +1.000" in stdout
    assert "@8: above on 1 of 2 tasks (1 tied)" in stdout
    assert "@8: mean +0.000, within 5 points on 2 of 2 tasks" in stdout
    assert path.with_suffix(".md").read_text(encoding="utf-8").startswith(payload["report"])
    svg = path.with_suffix(".svg").read_text(encoding="utf-8")
    assert svg.startswith("<svg") and "preference queries" in svg
    assert "apohf: 1.000 [1.000, 1.000] after 8 queries" in svg


def test_parse_args_refuses_bad_values(capsys: pytest.CaptureFixture[str]) -> None:
    for bad, message in [
        (["--noise", "0.7"], "--noise must be in [0, 0.5]"),
        (["--feedback-budgets", "0", "5"], "--feedback-budgets must be at least 1"),
        (["--budget", "0"], "--budget must be at least 1"),
    ]:
        with pytest.raises(SystemExit):
            preferences.parse_args(["--tasks", "x", *bad])
        assert message in capsys.readouterr().err
    args = preferences.parse_args(["--tasks", "x", "--feedback-budgets", "50", "25", "50"])
    assert (args.feedback_budgets, args.budget, args.n_test) == ([25, 50], 300, 40)


RESULTS = sorted(
    (Path(__file__).resolve().parents[1] / "benchmarks" / "results").glob("pref*.json")
)


@pytest.mark.parametrize("path", RESULTS, ids=[p.name for p in RESULTS])
def test_committed_results_read_back_and_tabulate_as_written(path: Path) -> None:
    payload = json.loads(path.read_text(encoding="utf-8"))
    columns = []
    for run in payload["runs"]:
        rows = [row_from_json(r) for r in run["results"]]
        assert [r.to_json() for r in rows] == run["results"]
        columns.append((run["task"]["name"], rows))
    assert format_table(columns) in payload["report"]
