from __future__ import annotations

import random
import re
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from conftest import last_field, reply

import promptc
from promptc import LM, LMRequest, Module, Predict
from promptc._compile.evaluate import program_inputs
from promptc.compiler import ExampleResult, bootstrap_ci, evaluate
from promptc.exceptions import ConfigurationError, ModelNotAvailableError
from promptc.metrics import exact_match
from promptc.testing import WordTask

MakeLM = Callable[..., LM]
SIGNATURE = "word -> label: Literal['a', 'b']"


def labeler(request: LMRequest) -> str:
    return reply(label=WordTask.label(WordTask.word(request)))


WORDS = ["apple", "banana", "cherry", "egg", "fig", "grape", "ice", "kiwi"]
ROWS = WordTask.rows(WORDS)


def test_mean_and_per_example_scores(fake_lm: MakeLM) -> None:
    rows = [dict(r) for r in ROWS]
    rows[1]["label"] = "a"  # the model answers 'b' for banana: two gold labels flipped
    rows[6]["label"] = "b"
    result = evaluate(Predict(SIGNATURE), rows, exact_match, lm=fake_lm(labeler))
    assert result.scores == [1.0, 0.0, 1.0, 1.0, 1.0, 1.0, 0.0, 1.0]
    assert result.mean == pytest.approx(0.75)
    assert result.errors == 0
    assert result.results[1].prediction == {"label": "b"}
    assert result.results[1].inputs == {"word": "banana"}
    assert result.ci[0] <= 0.75 <= result.ci[1]
    assert "0.750" in result.summary() and "n=8" in result.summary()


def test_results_keep_dataset_order_under_random_latency(fake_lm: MakeLM) -> None:
    words = [f"{'a' if i % 3 else 'b'}w{i:02d}" for i in range(24)]
    rows = WordTask.rows(words)
    rng = random.Random(7)
    lock = threading.Lock()
    finished: list[str] = []

    def handler(request: LMRequest) -> str:
        word = last_field(request, "word")
        with lock:
            delay = rng.uniform(0.0, 0.02) + 0.02 * (1 - int(word[2:]) / 24)
        time.sleep(delay)  # early rows tend to finish last
        with lock:
            finished.append(word)
        return reply(label=WordTask.label(word))

    seen: list[int] = []
    result = evaluate(
        Predict(SIGNATURE),
        rows,
        exact_match,
        lm=fake_lm(handler),
        num_threads=8,
        on_result=lambda r: seen.append(r.index),
    )
    assert finished != words  # the calls did finish out of order
    assert [r.index for r in result.results] == list(range(24))
    assert [r.inputs["word"] for r in result.results] == words
    assert [r.prediction["label"] for r in result.results] == [WordTask.label(w) for w in words]
    assert result.mean == 1.0
    assert sorted(seen) == list(range(24))


class Flaky(Module):
    """Raises on words starting with 'x'; otherwise asks the predictor."""

    def __init__(self) -> None:
        self.classify = Predict(SIGNATURE)

    def forward(self, word: str) -> Any:
        if word.startswith("x"):
            raise RuntimeError(f"cannot handle {word}")
        return self.classify(word=word)


def test_failing_examples_score_zero_keep_the_error_and_the_run_goes_on(fake_lm: MakeLM) -> None:
    def handler(request: LMRequest) -> str:
        word = WordTask.word(request)
        return "no idea" if word == "fig" else reply(label=WordTask.label(word))

    rows = [*ROWS[:5], {"word": "xylo", "label": "b"}, *ROWS[5:]]
    lm = fake_lm(handler)
    result = evaluate(Flaky(), rows, exact_match, lm=lm, num_threads=3)
    by_word = {r.inputs["word"]: r for r in result.results}
    assert by_word["xylo"].error == "RuntimeError: cannot handle xylo"
    assert by_word["xylo"].score == 0.0 and by_word["xylo"].prediction is None
    assert by_word["fig"].error is not None
    assert by_word["fig"].error.startswith("OutputParseError: ")
    assert by_word["fig"].score == 0.0
    assert result.errors == 2
    assert [r.error is None for r in result.results].count(True) == 7
    assert result.mean == pytest.approx(7 / 9)
    assert by_word["kiwi"].score == 1.0  # rows after the failures were still run


@pytest.mark.parametrize("bad", [None, "yes", float("nan"), float("inf"), -float("inf"), [1.0]])
def test_metric_returning_a_non_number_stops_the_run_naming_the_metric(
    fake_lm: MakeLM, bad: object
) -> None:
    def sloppy_metric(example: Any, prediction: Any) -> Any:
        return bad

    with pytest.raises(ConfigurationError, match="metric sloppy_metric returned"):
        evaluate(Predict(SIGNATURE), ROWS, sloppy_metric, lm=fake_lm(labeler))


def test_metric_may_return_bools_and_ints(fake_lm: MakeLM) -> None:
    rows = ROWS[:4]
    result = evaluate(
        Predict(SIGNATURE), rows, lambda ex, pred: pred.label == "a", lm=fake_lm(labeler)
    )
    assert result.scores == [1.0, 0.0, 0.0, 1.0]
    result = evaluate(Predict(SIGNATURE), rows, lambda ex, pred: 1, lm=fake_lm(labeler))
    assert result.scores == [1.0] * 4


def test_rows_missing_a_program_input_name_the_example(fake_lm: MakeLM) -> None:
    lm = fake_lm(labeler)
    rows = [ROWS[0], ROWS[1], {"text": "cherry", "label": "b"}]
    expected = re.escape("example 2 lacks the program's input(s) ['word']")
    with pytest.raises(ConfigurationError, match=expected):
        evaluate(Predict(SIGNATURE), rows, exact_match, lm=lm)
    assert lm.backend.calls == 0  # type: ignore[attr-defined]  # checked before any call


def test_on_result_is_called_once_per_example(fake_lm: MakeLM) -> None:
    seen: list[ExampleResult] = []
    result = evaluate(
        Flaky(),
        [*ROWS, {"word": "xerox", "label": "b"}],
        exact_match,
        lm=fake_lm(labeler),
        on_result=seen.append,
    )
    assert len(seen) == len(ROWS) + 1
    assert sorted(seen, key=lambda r: r.index) == result.results


def test_empty_dataset_scores_zero(fake_lm: MakeLM) -> None:
    result = evaluate(Predict(SIGNATURE), [], exact_match, lm=fake_lm(labeler))
    assert (result.results, result.mean, result.ci, result.errors) == ([], 0.0, (0.0, 0.0), 0)


def test_bootstrap_ci_is_seeded_and_contains_the_mean() -> None:
    rng = random.Random(5)
    scores = [rng.random() for _ in range(30)]
    mean = sum(scores) / len(scores)
    lo, hi = bootstrap_ci(scores, seed=1)
    assert bootstrap_ci(scores, seed=1) == (lo, hi)
    assert 0.0 <= lo < mean < hi <= 1.0
    assert bootstrap_ci(scores, seed=2) != (lo, hi)
    narrow = bootstrap_ci(scores, confidence=0.5, seed=1)
    assert lo <= narrow[0] <= narrow[1] <= hi


def test_bootstrap_ci_degenerate_and_empty_data() -> None:
    assert bootstrap_ci([0.7] * 12) == pytest.approx((0.7, 0.7))
    assert bootstrap_ci([1.0]) == (1.0, 1.0)
    assert bootstrap_ci([]) == (0.0, 0.0)


def test_program_inputs_of_predict_are_its_input_fields() -> None:
    assert program_inputs(Predict("question, context -> answer")) == (["question", "context"], [])


def test_program_inputs_of_a_module_are_forward_named_params() -> None:
    class QA(Module):
        def forward(self, question: str, *, context: str, **extra: Any) -> Any:
            return None

    assert program_inputs(QA()) == (["question", "context"], [])


def test_program_inputs_rejects_a_forward_with_only_kwargs() -> None:
    class Loose(Module):
        def forward(self, **inputs: Any) -> Any:
            return None

    with pytest.raises(ConfigurationError, match=r"Loose\.forward declares no named inputs"):
        program_inputs(Loose())
    with pytest.raises(ConfigurationError, match="declares no named inputs"):
        evaluate(Loose(), ROWS, exact_match)


def test_forward_params_with_defaults_are_optional_columns(fake_lm: MakeLM) -> None:
    class WithHint(Module):
        def __init__(self) -> None:
            self.classify = Predict(SIGNATURE)

        def forward(self, word: str, hint: str = "") -> Any:
            return self.classify(word=word)

    result = evaluate(WithHint(), ROWS, exact_match, lm=fake_lm(labeler))
    assert result.mean == 1.0


def test_worker_threads_use_the_context_lm(fake_lm: MakeLM) -> None:
    lm = fake_lm(labeler)
    with promptc.context(lm=lm):
        result = evaluate(Flaky(), ROWS, exact_match, num_threads=4)
    assert result.errors == 0 and result.mean == 1.0
    assert lm.backend.calls == len(ROWS)  # type: ignore[attr-defined]


def test_without_any_lm_every_example_errors(fake_lm: MakeLM) -> None:
    result = evaluate(Predict(SIGNATURE), ROWS[:3], exact_match, num_threads=2)
    assert result.errors == 3 and result.mean == 0.0
    assert all("no LM for predictor" in (r.error or "") for r in result.results)


def test_explicit_lm_wins_over_the_context_lm(fake_lm: MakeLM) -> None:
    outer, given = fake_lm(labeler), fake_lm(labeler)
    with promptc.context(lm=outer):
        evaluate(Predict(SIGNATURE), ROWS, exact_match, lm=given)
    assert given.backend.calls == len(ROWS)  # type: ignore[attr-defined]
    assert outer.backend.calls == 0  # type: ignore[attr-defined]


def test_a_model_that_is_not_installed_stops_the_run_at_the_first_example(
    fake_lm: MakeLM,
) -> None:
    calls: list[str] = []

    def missing(request: LMRequest) -> str:
        calls.append(WordTask.word(request))
        raise ModelNotAvailableError("Local model 'x' is not installed. Install it with: pip ...")

    with pytest.raises(ModelNotAvailableError, match="Install it with"):
        evaluate(Predict(SIGNATURE), ROWS, exact_match, lm=fake_lm(missing), num_threads=1)
    assert len(calls) == 1  # not one failing call per example, scored 0.000


def test_progress_bar_is_skipped_without_tqdm(
    fake_lm: MakeLM, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "tqdm", None)  # as in a core install: no [compile] extra
    result = evaluate(Predict(SIGNATURE), ROWS, exact_match, lm=fake_lm(labeler), progress=True)
    assert result.mean == 1.0 and capsys.readouterr().err == ""


def test_paired_interval_of_a_difference_is_narrower_than_unpaired_intervals_suggest() -> None:
    from promptc.compiler import bootstrap_ci, paired_bootstrap_ci

    # Rows vary a lot in difficulty; B beats A by 0.1 on every row.
    a = [0.0, 0.1, 0.5, 0.8, 0.2, 0.9, 0.3, 0.6] * 4
    b = [x + 0.1 for x in a]
    lo, hi = paired_bootstrap_ci(b, a)
    assert abs(lo - 0.1) < 1e-9 and abs(hi - 0.1) < 1e-9  # the pairing cancels row difficulty
    _, a_hi = bootstrap_ci(a)
    b_lo, _ = bootstrap_ci(b)
    assert b_lo < a_hi  # unpaired, the two intervals overlap
    with pytest.raises(ValueError, match="same rows"):
        paired_bootstrap_ci(a, b[:-1])
