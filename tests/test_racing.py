"""Racing and APE proposals against a fake world where instructions matter."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from conftest import Watch, reply

import promptc
from promptc import LM, LMRequest, Predict
from promptc.compiler import Trial
from promptc.metrics import exact_match
from promptc.optimizers import Racing
from promptc.testing import FakeBackend, WordTask

MakeLM = Callable[..., LM]
SIGNATURE = WordTask.SIGNATURE
ROWS = WordTask.rows(WordTask.words(60))
TRAIN, VAL, HELD = ROWS[:16], ROWS[16:48], ROWS[48:]
PROPOSALS = WordTask.PROPOSALS
world = WordTask(needs="instruction")


class Watching(Watch, Racing):
    """Racing that records its search space and every trial it asks for."""


def run(lm: LM, **kwargs: Any) -> tuple[promptc.compiler.CompileResult, Watching]:
    options = {"num_candidates": 8, "minibatch": 8, "bootstrap": 6, **kwargs.pop("racing", {})}
    optimizer = Watching(**options)
    result = promptc.compile(
        Predict(SIGNATURE), TRAIN, exact_match, valset=VAL, optimizer=optimizer, lm=lm, **kwargs
    )
    return result, optimizer


def test_racing_finds_the_good_instruction_and_improves(fake_lm: MakeLM) -> None:
    result, _ = run(fake_lm(world), seed=1)
    assert result.best.mean == 1.0 > result.baseline.mean
    assert "vowel" in result.program.get_params()["self"].instruction
    assert result.report.result.search.compiled.mean == 1.0


def test_rounds_are_paired_and_clearly_worse_candidates_stop_early(fake_lm: MakeLM) -> None:
    _, racing = run(fake_lm(world), seed=1)
    rounds: dict[tuple[int, ...] | None, list[Trial]] = {}
    for trial in racing.asked:
        rounds.setdefault(trial.rows, []).append(trial)
    assert len(rounds) >= 2
    for i, rows in enumerate(rounds, 1):
        # Every candidate of a round gets the same rows: all rows seen so far plus 8 new ones.
        assert rows is not None and len(rows) == 8 * i and len(set(rows)) == len(rows)
    wrong = [t for t in racing.asked if t.candidate["self"].instruction.startswith("WRONG")]
    assert wrong, "the fake proposer should have offered the WRONG instruction"
    assert all(t.rows == racing.asked[0].rows for t in wrong)  # raced once, then eliminated
    assert any(reason == "cannot beat the incumbent" for _, reason in racing.eliminated)


def test_spending_is_reported_by_phase(fake_lm: MakeLM) -> None:
    lm = fake_lm(world)
    result, _ = run(lm, seed=3)
    phases = result.report.spent.by_phase
    assert set(phases) == {"baseline", "bootstrap", "propose", "search"}
    assert phases["bootstrap"].requests == 6
    assert sum(p.requests for p in phases.values()) == result.report.spent.total.requests
    backend = lm.backend
    assert isinstance(backend, FakeBackend)
    assert result.report.spent.total.requests == backend.calls


def test_holdout_rescore_and_gap(fake_lm: MakeLM) -> None:
    result, _ = run(fake_lm(world), seed=1, holdout=HELD, budget=400)
    assert set(result.holdout) == {"baseline", "compiled"}
    assert result.holdout["compiled"].mean == 1.0
    scores = result.artifact.provenance.scores
    assert scores is not None and scores.gap == pytest.approx(
        result.best.mean - result.holdout["compiled"].mean
    )
    held = result.report.result.holdout
    assert held is not None and held.compiled.n == len(HELD) and held == scores.holdout
    assert result.report.spent.by_phase["holdout"].requests == 2 * len(HELD)


def test_demos_come_from_training_rows_only(fake_lm: MakeLM) -> None:
    lm = fake_lm(world)
    result, _ = run(lm, seed=1)
    val_words = {r["word"] for r in VAL}
    for demo in result.program.get_params()["self"].demos:
        assert demo["word"] not in val_words


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("Write the antonym of the word.", True),
        ("self -> incommensurate", False),
        ("self: (input) -> (target) " * 20, False),
        ("go " * 30, False),
        ("?", False),
    ],
)
def test_degenerate_proposals_are_dropped(text: str, ok: bool) -> None:
    from promptc._compile.propose import _plausible

    assert _plausible(" ".join(text.split())) is ok


def test_holdout_that_outruns_its_reserve_is_skipped_not_fatal(fake_lm: MakeLM) -> None:
    held_words = {r["word"] for r in HELD}

    def unparsable_on_holdout(request: LMRequest) -> str:
        user = " ".join(m["content"] for m in request.message_list if m["role"] == "user")
        if any(f"<word>\n{w}\n</word>" in user for w in held_words):  # demos are train rows
            return "no tags here"  # every held-out row costs a parse retry: twice the reserve
        return world(request)

    reserve = 2 * len(HELD)
    lm = fake_lm(unparsable_on_holdout)
    result, _ = run(lm, holdout=HELD, budget=60 + reserve, seed=1)
    assert result.holdout == {} and result.report.result.holdout is None
    backend = lm.backend
    assert isinstance(backend, FakeBackend)
    assert backend.calls <= 60 + reserve


def test_ape_resampling_of_the_leader_finds_a_better_instruction(fake_lm: MakeLM) -> None:
    """Forward proposals are mediocre or wrong; only a variant of the leader is right."""

    def mc_world(request: LMRequest) -> str:
        system = request.message_list[0]["content"]
        if system.startswith("You write instructions"):
            return reply(
                proposed_instruction=["Label the word.", "WRONG: invert."][request.rollout % 2]
            )
        if system.startswith("Write a variation"):
            return reply(variation=PROPOSALS[0])  # the vowel rule
        return world(request)

    result, racing = run(
        fake_lm(mc_world), seed=1, racing={"num_variants": 0, "num_resample": 1, "minibatch": 4}
    )
    assert racing.resampled, "the leader's instructions should have been resampled"
    assert all("vowel" in c["self"].instruction for c in racing.resampled)
    first = racing.asked[0].rows
    assert first is not None
    for cand in racing.resampled:
        # A newcomer catches up on the rows every other candidate was already scored on.
        assert set(first) <= set(racing.space.board.scores(cand))
    assert "vowel" in result.program.get_params()["self"].instruction
    assert result.best.mean == 1.0


def test_resampling_can_be_turned_off(fake_lm: MakeLM) -> None:
    _, racing = run(fake_lm(world), seed=1, racing={"num_resample": 0})
    assert racing.resampled == []


def test_ape_searches_instructions_only(fake_lm: MakeLM) -> None:
    from promptc.optimizers import APE

    result = promptc.compile(
        Predict(SIGNATURE), TRAIN, exact_match, valset=VAL, optimizer=APE(), lm=fake_lm(world)
    )
    params = result.program.get_params()["self"]
    assert "vowel" in params.instruction and params.demos == ()
    assert "bootstrap" not in result.report.spent.by_phase


def test_ape_shows_each_proposal_its_own_examples(fake_lm: MakeLM) -> None:
    from promptc.optimizers import APE

    shown: list[str] = []

    def recording(request: LMRequest) -> str:
        if request.message_list[0]["content"].startswith("You write instructions"):
            shown.append(request.message_list[-1]["content"])
        return world(request)

    promptc.compile(
        Predict(SIGNATURE),
        TRAIN,
        exact_match,
        valset=VAL,
        optimizer=APE(num_instructions=4),
        lm=fake_lm(recording),
    )
    assert len(shown) == len(set(shown)) == 4  # four proposals, four different samples
    # A one-step program: the examples alone, no "Step 1 (self) reads word ..." to describe.
    assert all(t.startswith("<examples>") and "<program>" not in t for t in shown), shown[0]


def test_a_multi_step_program_shows_the_proposer_its_steps() -> None:
    from promptc._compile.propose import proposal_prompt

    steps = {"query": Predict("question -> query"), "answer": Predict("question, query -> answer")}
    demo = {"question": "Who?", "query": "who", "answer": "Ann"}
    _, inputs = proposal_prompt("answer", steps, [demo])
    assert set(inputs) == {"program", "step", "examples"} and inputs["step"] == "answer"
    assert "Step 2 (answer) reads question, query and writes answer." in inputs["program"]
    _, alone = proposal_prompt("query", {"query": steps["query"]}, [demo])
    assert alone == {"examples": "Example 1:\nquestion: Who?\nquery: who"}
