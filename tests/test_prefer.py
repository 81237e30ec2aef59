"""Compile from preferences: the driver's duel loop, its two budgets, its records, and the LM
judge's position swap. The strategy here is a small round-robin one, so the driver is tested
apart from APOHF (tests/test_apohf.py)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from conftest import last_field, reply

import promptc
from promptc import LM, LMRequest, Params, Predict
from promptc.compiler import Candidate, Duel, DuelingOptimizer, SearchSpace, Utility
from promptc.exceptions import ConfigurationError
from promptc.judges import Pairwise, Question
from promptc.testing import FakeBackend, WordTask

GOOD = "Label a if the word starts with a vowel, else b."
WRONG = "WRONG: invert everything."


class RoundRobin(DuelingOptimizer):
    """Every pair in turn; utility = wins minus losses (ties count half)."""

    name = "round_robin"

    def __init__(self, instructions: tuple[str, ...] = (GOOD, WRONG)) -> None:
        self.instructions = instructions

    def setup(self, space: SearchSpace) -> list[Candidate]:
        self.candidates: list[Candidate] = [{}]
        self.candidates += [{"self": Params(i)} for i in self.instructions]
        n = len(self.candidates)
        self.pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
        self.asked = 0
        self.score = [0.0] * n
        self.duels = [0] * n
        self.told: list[tuple[Duel, float]] = []
        return self.candidates

    def ask(self) -> Duel | None:
        i, j = self.pairs[self.asked % len(self.pairs)]
        self.asked += 1
        return Duel(i, j)

    def tell(self, duel: Duel, outcome: float) -> None:
        self.told.append((duel, outcome))
        self.score[duel.first] += outcome - 0.5
        self.score[duel.second] += 0.5 - outcome
        self.duels[duel.first] += 1
        self.duels[duel.second] += 1

    def ranking(self) -> list[Utility]:
        base = self.score[0]
        out = [
            Utility(i, s - base, s - base - 1, s - base + 1, self.duels[i])
            for i, s in enumerate(self.score)
        ]
        return sorted(out, key=lambda u: (-u.mean, u.index))


def word_lm(needs: str = "instruction") -> LM:
    return LM("fake/words", backend=FakeBackend(WordTask(needs)), cache=False)  # type: ignore[arg-type]


def inputs(n: int) -> list[dict[str, str]]:
    return [{"word": w} for w in WordTask.words(n)]


def oracle(calls: list[Question]) -> Callable[[Question], str]:
    """Prefers the output with the right label (what a person who knows the task says)."""

    def feedback(q: Question) -> str:
        calls.append(q)
        right = WordTask.label(q.inputs["word"])
        a, b = q.a["label"] == right, q.b["label"] == right
        return "tie" if a == b else "A" if a else "B"

    return feedback


def test_the_preferred_instruction_is_kept_and_the_provenance_says_from_how_many() -> None:
    calls: list[Question] = []
    strategy = RoundRobin()
    result = promptc.compile(
        Predict(WordTask.SIGNATURE),
        inputs(16),
        feedback=oracle(calls),
        feedback_budget=6,
        optimizer=strategy,
        lm=word_lm(),
    )
    assert isinstance(result, promptc.PreferenceResult)
    assert result.artifact.predictors[0].instruction == GOOD
    prefs = result.artifact.provenance.preferences
    assert prefs is not None
    assert prefs.judge == "function" and prefs.feedback_budget == 6
    assert prefs.questions == len(calls) <= 6
    assert prefs.preferred_a + prefs.preferred_b + prefs.ties + prefs.skips == prefs.questions
    assert prefs.ranking[0].index == 1
    assert prefs.ranking[0].candidate != "baseline"
    # The report lists every comparison; outputs asked about always differed.
    assert len(result.report.duels) == prefs.questions + prefs.automatic
    assert all(q.a != q.b for q in calls)
    assert "from preferences" in str(result)


def test_identical_outputs_tie_without_asking_the_judge() -> None:
    calls: list[Question] = []
    # Two instructions that both mention vowels answer alike on every word: never asked.
    strategy = RoundRobin((GOOD, "Think of a vowel, then label."))
    result = promptc.compile(
        Predict(WordTask.SIGNATURE),
        inputs(12),
        feedback=oracle(calls),
        feedback_budget=3,
        optimizer=strategy,
        lm=word_lm(),
    )
    alike = [d for d in result.report.duels if {d.first, d.second} == {1, 2}]
    assert alike and all(d.source == "auto" and d.verdict == "tie" for d in alike)
    assert len(calls) == result.report.preferences.questions <= 3


def test_a_failing_output_loses_without_asking(fake_lm: Callable[..., LM]) -> None:
    def handler(request: LMRequest) -> str:
        system = request.message_list[0]["content"]
        return "no tags at all" if system.startswith("WRONG") else reply(label="a")

    calls: list[Question] = []
    strategy = RoundRobin((WRONG,))
    result = promptc.compile(
        Predict(WordTask.SIGNATURE),
        inputs(8),
        feedback=oracle(calls),
        feedback_budget=2,
        optimizer=strategy,
        lm=fake_lm(handler),
    )
    assert calls == []  # only pair: {} vs WRONG, and WRONG never parses
    assert {d.verdict for d in result.report.duels} == {"A"}
    assert strategy.told and all(outcome == 1.0 for _, outcome in strategy.told)
    assert result.report.kept == 0


def test_both_budgets_are_hard_caps() -> None:
    calls: list[Question] = []
    result = promptc.compile(
        Predict(WordTask.SIGNATURE),
        inputs(16),
        feedback=oracle(calls),
        feedback_budget=100,
        budget=9,
        optimizer=RoundRobin(),
        lm=word_lm(),
    )
    assert result.spent.lm_requests <= 9
    assert len(calls) < 100
    small = promptc.compile(
        Predict(WordTask.SIGNATURE),
        inputs(16),
        feedback=oracle(calls := []),
        feedback_budget=2,
        optimizer=RoundRobin(),
        lm=word_lm(),
    )
    assert small.report.preferences.questions == len(calls) == 2


def test_skips_count_as_questions_but_teach_nothing() -> None:
    strategy = RoundRobin()
    result = promptc.compile(
        Predict(WordTask.SIGNATURE),
        inputs(16),
        feedback=lambda q: "skip",
        feedback_budget=4,
        optimizer=strategy,
        lm=word_lm(),
    )
    assert result.report.preferences.skips == 4
    assert [o for _, o in strategy.told if o != 1.0 and o != 0.0] == []  # no skip told
    assert result.report.kept == 0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"feedback": lambda q: "A", "feedback_budget": 0}, "at least 1 question"),
        ({"feedback": lambda q: "A", "feedback_budget": 2.5}, "number of questions"),
        ({"feedback": "A"}, "feedback must be callable"),
        ({"feedback": lambda q: "A", "holdout": [{"word": "ox"}]}, "no metric, holdout"),
        ({"feedback": lambda q: "A", "optimizer": "labeled"}, "preference strategy"),
        ({"optimizer": RoundRobin()}, "needs feedback="),
        ({}, "compile needs a metric"),
    ],
)
def test_settings_that_cannot_work_are_refused_before_any_lm_call(
    kwargs: dict[str, Any], match: str, fake_lm: Callable[..., LM]
) -> None:
    def never(request: LMRequest) -> str:
        raise AssertionError("no LM call expected")

    with pytest.raises(ConfigurationError, match=match):
        promptc.compile(Predict(WordTask.SIGNATURE), inputs(8), lm=fake_lm(never), **kwargs)


def test_an_answer_that_is_not_a_verdict_names_what_was_expected() -> None:
    with pytest.raises(ConfigurationError, match=r"answered 'better'.*'A', 'B', 'tie', 'skip'"):
        promptc.compile(
            Predict(WordTask.SIGNATURE),
            inputs(16),
            feedback=lambda q: "better",
            optimizer=RoundRobin(),
            lm=word_lm(),
        )


def test_rows_without_the_inputs_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="lack the program's inputs"):
        promptc.compile(
            Predict(WordTask.SIGNATURE),
            [{"text": "x"}] * 8,
            feedback=lambda q: "A",
            optimizer=RoundRobin(),
            lm=word_lm(),
        )


def test_the_result_saves_an_artifact_that_loads_and_a_report(tmp_path: Any) -> None:
    result = promptc.compile(
        Predict(WordTask.SIGNATURE),
        inputs(16),
        feedback=oracle([]),
        feedback_budget=4,
        optimizer=RoundRobin(("<script>alert(1)</script> vowel",)),
        lm=word_lm(),
    )
    out = result.save(tmp_path / "words.yaml")
    loaded = promptc.load(out)
    assert loaded.artifact.provenance.preferences == result.artifact.provenance.preferences
    report = json.loads((tmp_path / "words.report.json").read_text())
    assert report["preferences"]["questions"] == result.report.preferences.questions
    page = (tmp_path / "words.report.html").read_text()
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)" in page
    assert "Candidates by estimated utility" in page


# -- the LM judge ---------------------------------------------------------------------------


def judge_lm(fake_lm: Callable[..., LM], answer: Callable[[str, str], str]) -> LM:
    """A judge LM answering ``answer(response_a, response_b)``; every request is kept."""

    def handler(request: LMRequest) -> str:
        return reply(better=answer(asked(request, "response_a"), asked(request, "response_b")))

    return fake_lm(handler)


def asked(request: LMRequest, name: str) -> str:
    """Input field ``name`` of the request (a parse retry's last turn is the feedback)."""
    first = LMRequest.build(request.model, request.message_list[:2])
    return last_field(first, name)


QUESTION = Question({"word": "ox"}, {"label": "a"}, {"label": "b"})


def test_the_judge_asks_both_orders_and_keeps_a_consistent_verdict(
    fake_lm: Callable[..., LM],
) -> None:
    lm = judge_lm(fake_lm, lambda a, b: "A" if a == "a" else "B")
    with promptc.trace() as seen:
        assert Pairwise(lm)(QUESTION) == "A"
        assert Pairwise(lm)(QUESTION.swapped()) == "B"
    assert len(seen) == 4  # two orders per question


def test_a_judge_that_always_picks_the_first_output_says_tie(fake_lm: Callable[..., LM]) -> None:
    judge = Pairwise(judge_lm(fake_lm, lambda a, b: "A"), rubric="Prefer the right label.")
    assert judge(QUESTION) == "tie"
    assert judge.contradictions == 1


def test_a_judge_reply_that_does_not_parse_is_a_skip(fake_lm: Callable[..., LM]) -> None:
    assert Pairwise(judge_lm(fake_lm, lambda a, b: "maybe"))(QUESTION) == "skip"


def test_the_judge_shows_the_rubric_and_both_outputs(fake_lm: Callable[..., LM]) -> None:
    seen: list[LMRequest] = []

    def handler(request: LMRequest) -> str:
        seen.append(request)
        return reply(better="tie")

    Pairwise(fake_lm(handler), rubric="Prefer the shorter label.")(QUESTION)
    system = seen[0].message_list[0]["content"]
    assert "Prefer the shorter label." in system
    assert last_field(seen[0], "response_a") == "a" and last_field(seen[1], "response_a") == "b"
    with pytest.raises(ConfigurationError, match="rubric"):
        Pairwise(rubric="  ")


def test_the_judges_requests_count_against_the_compile_budget() -> None:
    task = WordTask("instruction")

    def handler(request: LMRequest) -> str:
        if "Compare two responses" in request.message_list[0]["content"]:
            word = last_field(request, "request")
            return reply(
                better="A" if last_field(request, "response_a") == WordTask.label(word) else "B"
            )
        return task(request)

    lm = LM("fake/words", backend=FakeBackend(handler), cache=False)  # type: ignore[arg-type]
    result = promptc.compile(
        Predict(WordTask.SIGNATURE),
        inputs(16),
        feedback=Pairwise(),
        feedback_budget=5,
        budget=30,
        optimizer=RoundRobin(),
        lm=lm,
    )
    prefs = result.report.preferences
    assert prefs.judge == "lm"
    search = result.report.spent.by_phase["search"].requests
    assert result.spent.lm_requests <= 30
    # Each question cost the judge two requests, on top of the program's runs.
    assert result.spent.lm_requests >= 2 * prefs.questions
    assert search <= result.spent.lm_requests
    assert result.artifact.predictors[0].instruction == GOOD
