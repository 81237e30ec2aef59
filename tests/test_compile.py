from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import last_field, reply

import promptc
from promptc import LM, LMRequest, Predict
from promptc._compile.data import data_hash, split_dataset
from promptc.artifact import dump_artifact
from promptc.compiler import Candidate, Optimizer, SearchSpace, Trial
from promptc.exceptions import ConfigurationError
from promptc.metrics import exact_match
from promptc.optimizers import LabeledFewShot, RandomSearch
from promptc.testing import FakeBackend, WordTask

MakeLM = Callable[..., LM]
SIGNATURE = WordTask.SIGNATURE

TRAIN_WORDS = ["apple", "bread", "cloud", "eagle", "flute", "igloo", "jelly", "otter"]
VAL_WORDS = ["acorn", "basil", "onion", "tulip"]


TRAIN, VAL = WordTask.rows(TRAIN_WORDS), WordTask.rows(VAL_WORDS)
needs_demos = WordTask(needs="demos")


def demo_words(request: LMRequest) -> list[str]:
    """The words of the demos shown in a request (every user turn but the last)."""
    users = [m["content"] for m in request.message_list if m["role"] == "user"][:-1]
    found = [re.search(r"<word>\n(.*?)\n</word>", u) for u in users]
    assert all(found), users
    return [m.group(1) for m in found if m]


def calls(lm: LM) -> int:
    backend = lm.backend
    assert isinstance(backend, FakeBackend)
    return backend.calls


def requests(lm: LM) -> list[LMRequest]:
    backend = lm.backend
    assert isinstance(backend, FakeBackend)
    return backend.requests


@pytest.mark.parametrize(
    ("make_optimizer", "k"), [(lambda: "labeled", 4), (lambda: LabeledFewShot(k=3), 3)]
)
def test_labeled_few_shot_beats_the_baseline_and_leaves_the_input_alone(
    fake_lm: MakeLM, make_optimizer: Callable[[], Any], k: int
) -> None:
    program = Predict(SIGNATURE)
    before = program.get_params()
    result = promptc.compile(
        program, TRAIN, exact_match, optimizer=make_optimizer(), lm=fake_lm(needs_demos), valset=VAL
    )
    assert result.baseline.mean == 0.0
    assert result.best.mean == 1.0
    demos = result.program.get_params()["self"].demos
    assert len(demos) == k
    assert all(d in TRAIN for d in demos)
    assert [s.demos for s in result.artifact.predictors] == [list(demos)]
    assert program.get_params() == before
    assert program.demos == []
    assert result.program is not program


@pytest.mark.parametrize("bad", [float("inf"), -float("inf"), float("nan")])
def test_a_metric_scoring_a_non_finite_number_stops_the_compile(
    fake_lm: MakeLM, bad: float
) -> None:
    def unbounded(example: Any, prediction: Any) -> float:
        return bad if prediction.label == example["label"] else 0.0

    lm = fake_lm(needs_demos)  # the uncompiled program is always wrong: candidates hit `bad`
    with pytest.raises(ConfigurationError, match=f"metric unbounded returned {bad!r} on example"):
        promptc.compile(
            Predict(SIGNATURE), TRAIN, unbounded, optimizer="labeled", lm=lm, valset=VAL
        )


def test_a_training_row_not_valid_for_its_output_type_stops_the_compile_before_any_call(
    fake_lm: MakeLM,
) -> None:
    lm = fake_lm(lambda request: '<keywords>["a"]</keywords>')
    train = [{"text": f"t{i}", "keywords": ["a"]} for i in range(6)]
    train[4]["keywords"] = "a, b"  # a demo would teach the model to answer this, then be refused
    program = Predict("text -> keywords: list[str]")
    with pytest.raises(ConfigurationError, match=r"trainset\[4\] field 'keywords' is not a valid"):
        promptc.compile(program, train, exact_match, optimizer="labeled", lm=lm)
    assert calls(lm) == 0


def test_no_candidate_that_scores_worse_replaces_the_baseline(fake_lm: MakeLM) -> None:
    # With demos the fake LM answers wrong: the uncompiled program stays the winner.
    def hates_demos(request: LMRequest) -> str:
        right = WordTask.label(last_field(request, "word"))
        return reply(label=right if WordTask.demos(request) == 0 else "b" if right == "a" else "a")

    program = Predict(SIGNATURE)
    result = promptc.compile(
        program,
        TRAIN,
        exact_match,
        optimizer=RandomSearch(k=2, num_candidates=3),
        lm=fake_lm(hates_demos),
        valset=VAL,
    )
    assert [t.score for t in result.trials] == [1.0, 0.0, 0.0, 0.0]
    assert result.best == result.baseline
    assert result.program.get_params() == program.get_params()


def compile_random(lm: LM, budget: int | None, **kwargs: Any) -> Any:
    return promptc.compile(
        Predict(SIGNATURE),
        TRAIN,
        exact_match,
        optimizer=RandomSearch(k=2, num_candidates=10),
        lm=lm,
        valset=VAL,
        budget=budget,
        **kwargs,
    )


FULL_RUN = len(VAL) * 11  # the baseline and 10 candidates


def cached_lm(path: Path) -> LM:
    return LM("fake/test", backend=FakeBackend(needs_demos), cache=path)


def test_warm_cache_makes_no_calls_and_the_same_artifact(tmp_path: Path) -> None:
    cold_lm, warm_lm = cached_lm(tmp_path / "c.db"), cached_lm(tmp_path / "c.db")
    cold = compile_random(cold_lm, None, seed=3)
    warm = compile_random(warm_lm, None, seed=3)
    assert calls(cold_lm) == FULL_RUN
    assert calls(warm_lm) == 0
    assert dump_artifact(warm.artifact) == dump_artifact(cold.artifact)
    assert cold.run_usage == {
        "lm_calls": FULL_RUN,
        "cache_hits": 0,
        "errors": 0,
        "cache_errors": 0,
        "parse_errors": 0,
    }
    assert warm.run_usage == {
        "lm_calls": 0,
        "cache_hits": FULL_RUN,
        "errors": 0,
        "cache_errors": 0,
        "parse_errors": 0,
    }


def test_random_search_draws_other_demos_under_another_seed(fake_lm: MakeLM) -> None:
    def shown(seed: int) -> list[tuple[str, ...]]:
        lm = fake_lm(needs_demos)
        compile_random(lm, None, seed=seed)
        return sorted(tuple(demo_words(r)) for r in requests(lm) if WordTask.demos(r))

    assert shown(11) != shown(12)  # the same seed giving the same artifact: the contract suite


def test_too_few_rows_without_valset_is_rejected(fake_lm: MakeLM) -> None:
    lm = fake_lm(needs_demos)
    with pytest.raises(ConfigurationError, match="trainset has 3 rows; give at least 4"):
        promptc.compile(Predict(SIGNATURE), TRAIN[:3], exact_match, lm=lm)
    with pytest.raises(ConfigurationError, match="must both be non-empty"):
        promptc.compile(Predict(SIGNATURE), TRAIN, exact_match, lm=lm, valset=[])
    assert calls(lm) == 0


def test_unknown_optimizer_lists_the_names(fake_lm: MakeLM) -> None:
    with pytest.raises(ConfigurationError, match="unknown optimizer 'genetic'") as info:
        promptc.compile(
            Predict(SIGNATURE), TRAIN, exact_match, optimizer="genetic", lm=fake_lm(needs_demos)
        )
    assert "['auto', 'ape', 'ease', 'labeled', 'racing', 'random', 'thompson', 'tpe']" in str(
        info.value
    )


def test_provenance_records_the_run(tmp_path: Path) -> None:
    data = WordTask.rows([*TRAIN_WORDS, *VAL_WORDS])
    train, val = split_dataset(data, [0.5, 0.5], seed=5)

    def run() -> tuple[Any, LM]:
        lm = cached_lm(tmp_path / "c.db")
        optimizer = RandomSearch(k=2, num_candidates=3)
        result = promptc.compile(
            Predict(SIGNATURE), data, exact_match, optimizer=optimizer, lm=lm, seed=5
        )
        return result, lm

    result, lm = run()
    prov = result.artifact.provenance.model_dump(mode="json")
    assert prov["optimizer"] == {"name": "random", "config": {"k": 2, "num_candidates": 3}}
    assert prov["seed"] == 5
    assert prov["data"] == {
        "train": {"rows": 6, "hash": data_hash(train)},
        "val": {"rows": 6, "hash": data_hash(val)},
    }
    scores = prov["scores"]
    assert scores["metric"] == "exact_match"
    assert scores["baseline"] == {"mean": 0.0, "ci95": [0.0, 0.0], "n": 6, "errors": 0}
    assert scores["compiled"] == {"mean": 1.0, "ci95": [1.0, 1.0], "n": 6, "errors": 0}
    assert [t["score"] for t in prov["trials"]] == [0.0, 1.0, 1.0, 1.0]
    assert prov["spent"]["budget"] is None
    assert prov["spent"]["lm_requests"] == calls(lm) == 6 * 4
    assert prov["spent"]["prompt_tokens"] > 0 and prov["spent"]["completion_tokens"] > 0

    warm, warm_lm = run()
    spent = warm.artifact.provenance.model_dump(mode="json")["spent"]
    assert calls(warm_lm) == 0
    assert spent["lm_requests"] == warm.run_usage["cache_hits"] == 6 * 4
    assert spent == prov["spent"]


def test_provenance_ci_matches_the_evaluation(fake_lm: MakeLM) -> None:
    def half_right(request: LMRequest) -> str:
        word = last_field(request, "word")
        return reply(label=WordTask.label(word) if word in ("acorn", "onion") else "a")

    result = promptc.compile(
        Predict(SIGNATURE), TRAIN, exact_match, lm=fake_lm(half_right), valset=VAL
    )
    baseline = result.artifact.provenance.model_dump(mode="json")["scores"]["baseline"]
    assert baseline["mean"] == 0.5
    assert baseline["ci95"] == [round(x, 6) for x in result.baseline.ci]
    assert baseline["ci95"][0] < 0.5 < baseline["ci95"][1]


def test_validation_rows_never_become_demos_with_a_valset(fake_lm: MakeLM) -> None:
    lm = fake_lm(needs_demos)
    result = compile_random(lm, None)
    shown = {w for r in requests(lm) for w in demo_words(r)}
    asked = {last_field(r, "word") for r in requests(lm)}
    assert shown and shown <= set(TRAIN_WORDS)
    assert asked == set(VAL_WORDS)
    assert all(d in TRAIN for d in result.program.get_params()["self"].demos)


def test_validation_split_never_becomes_demos_without_a_valset(fake_lm: MakeLM) -> None:
    data = WordTask.rows([*TRAIN_WORDS, *VAL_WORDS])
    train, val = split_dataset(data, [0.5, 0.5], seed=2)
    lm = fake_lm(needs_demos)
    promptc.compile(
        Predict(SIGNATURE),
        data,
        exact_match,
        optimizer=RandomSearch(k=3, num_candidates=6),
        lm=lm,
        seed=2,
    )
    shown = {w for r in requests(lm) for w in demo_words(r)}
    asked = {last_field(r, "word") for r in requests(lm)}
    assert asked == {r["word"] for r in val}
    assert shown and shown <= {r["word"] for r in train}


class Recording(Optimizer):
    """Proposes the given candidates in turn and records what the driver tells it."""

    name = "recording"

    def __init__(self, candidates: list[Candidate]) -> None:
        self.candidates = list(candidates)
        self.spaces: list[SearchSpace] = []
        self.told: list[tuple[Trial, list[float]]] = []

    def setup(self, space: SearchSpace) -> None:
        self.spaces.append(space)

    def ask(self) -> Trial | None:
        return Trial(self.candidates.pop(0), rows=(0, 1, 2)) if self.candidates else None

    def tell(self, trial: Trial, scores: list[float]) -> None:
        self.told.append((trial, scores))


def test_driver_calls_setup_ask_tell_and_hands_over_the_trainset_only(fake_lm: MakeLM) -> None:
    program = Predict(SIGNATURE)
    one = {"self": promptc.Params(program.signature.instruction, tuple(TRAIN[:2]))}
    none: Candidate = {"self": promptc.Params("Label the word.")}
    optimizer = Recording([one, none])
    result = promptc.compile(
        program,
        TRAIN,
        exact_match,
        optimizer=optimizer,
        lm=fake_lm(needs_demos),
        valset=VAL,
        seed=9,
    )
    (space,) = optimizer.spaces
    assert space.trainset == TRAIN and space.seed == 9
    assert space.base == program.get_params()
    assert [t.candidate for t, _ in optimizer.told] == [one, none]
    assert [s for _, s in optimizer.told] == [[1.0] * 3, [0.0] * 3]  # only the rows it asked for
    assert space.board.scores({}) == dict.fromkeys(range(len(VAL)), 0.0)  # baseline came first
    # The pick was scored on 3 rows only; the driver completes it on every row before keeping it.
    assert len(space.board.scores(one)) == len(VAL)
    kept = one["self"]  # get_params names the format the candidate kept (XML tags)
    assert result.program.get_params() == {
        "self": promptc.Params(kept.instruction, kept.demos, "xml")
    }
    # config() reads the constructor's parameters back; a non-scalar is recorded by its type.
    optimizer_record = result.artifact.provenance.optimizer
    assert optimizer_record is not None
    assert optimizer_record.model_dump() == {"name": "recording", "config": {"candidates": "list"}}


def test_compile_uses_the_context_lm(fake_lm: MakeLM) -> None:
    lm = fake_lm(needs_demos)
    with promptc.context(lm=lm):
        result = promptc.compile(
            Predict(SIGNATURE), TRAIN, exact_match, valset=VAL, optimizer="labeled"
        )
    assert calls(lm) == 2 * len(VAL)
    assert result.best.mean == 1.0


class TwoSteps(promptc.Module):
    """Copies the word, then labels the copy: only the labeler's instruction matters."""

    def __init__(self) -> None:
        self.copy = Predict("word -> copy")
        self.label = Predict("copy -> label: Literal['a', 'b']")

    def forward(self, word: str) -> promptc.Prediction:
        return self.label(copy=self.copy(word=word).copy)


def two_steps_world(request: LMRequest) -> str:
    system = request.message_list[0]["content"]
    if "<word>" in request.message_list[-1]["content"]:
        return reply(copy=last_field(request, "word"))
    right = WordTask.label(last_field(request, "copy"))
    return reply(label=right if "vowel" in system else "b")


def test_credit_goes_to_the_predictor_whose_change_moved_the_score(fake_lm: MakeLM) -> None:
    changed = {
        "copy": promptc.Params("Copy the word exactly."),
        "label": promptc.Params("Answer a if the copy starts with a vowel, else b."),
    }
    lm = fake_lm(two_steps_world)
    result = promptc.compile(
        TwoSteps(), TRAIN, exact_match, optimizer=Recording([changed]), lm=lm, valset=VAL
    )
    assert result.program.get_params()["label"].instruction == changed["label"].instruction
    gain = result.best.mean - result.baseline.mean
    assert gain > 0
    # Undoing the labeler's change loses the whole gain; undoing the copier's loses nothing.
    assert result.report.credit == {"copy": 0.0, "label": pytest.approx(gain)}
    ablations = [t for t in result.trials if t.phase == "credit"]
    assert len(ablations) == 2 and all(t.rows == len(VAL) for t in ablations)
    phases = result.report.spent.by_phase
    assert phases["credit"].requests == 2 * 2 * len(VAL)  # two ablations, two steps a row
    assert result.report.spent.total.requests == calls(lm)


def test_credit_that_the_budget_cannot_pay_for_is_left_out(fake_lm: MakeLM) -> None:
    changed = {
        "copy": promptc.Params("Copy the word exactly."),
        "label": promptc.Params("Answer a if the copy starts with a vowel, else b."),
    }
    lm = fake_lm(two_steps_world)
    budget = 2 * 2 * len(VAL) + 3  # the baseline and the candidate, then almost nothing
    result = promptc.compile(
        TwoSteps(),
        TRAIN,
        exact_match,
        optimizer=Recording([changed]),
        lm=lm,
        valset=VAL,
        budget=budget,
    )
    assert result.program.get_params()["label"].instruction == changed["label"].instruction
    assert "credit" not in result.report
    assert calls(lm) <= budget


def test_strategies_see_validation_inputs_but_never_labels(fake_lm: MakeLM) -> None:
    optimizer = Recording([])
    promptc.compile(
        Predict(SIGNATURE),
        TRAIN,
        exact_match,
        optimizer=optimizer,
        lm=fake_lm(needs_demos),
        valset=VAL,
    )
    (space,) = optimizer.spaces
    assert space.val_inputs() == [{"word": r["word"]} for r in VAL]


def test_a_program_whose_zero_shot_replies_never_parse_can_still_be_compiled(
    fake_lm: MakeLM,
) -> None:
    def parses_only_with_demos(request: LMRequest) -> str:
        if WordTask.demos(request) < 2:
            return "I think the answer is probably a"  # no tags: OutputParseError on every row
        return reply(label=WordTask.label(last_field(request, "word")))

    result = promptc.compile(
        Predict(SIGNATURE), TRAIN, exact_match, lm=fake_lm(parses_only_with_demos), valset=VAL
    )
    assert result.baseline.errors == len(VAL) and result.baseline.mean == 0.0
    assert result.best.mean == 1.0
