"""Thompson sampling on the fake word task where instructions matter."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from conftest import Watch

import promptc
from promptc import LM, Predict
from promptc.compiler import CompileResult
from promptc.metrics import exact_match
from promptc.optimizers import ThompsonSampling
from promptc.testing import WordTask

MakeLM = Callable[..., LM]
ROWS = WordTask.rows(WordTask.words(48))
TRAIN, VAL = ROWS[:16], ROWS[16:]
world = WordTask(needs="instruction")


class Watching(Watch, ThompsonSampling):
    """ThompsonSampling that records its search space and every trial it asks for."""


def run(lm: LM, **kwargs: Any) -> tuple[CompileResult, Watching]:
    options = {"num_candidates": 8, "bootstrap": 6, **kwargs.pop("thompson", {})}
    optimizer = Watching(**options)
    result = promptc.compile(
        Predict(WordTask.SIGNATURE),
        TRAIN,
        exact_match,
        valset=VAL,
        optimizer=optimizer,
        lm=lm,
        **kwargs,
    )
    return result, optimizer


def test_finds_the_good_instruction_and_spends_most_rows_on_it(fake_lm: MakeLM) -> None:
    result, ts = run(fake_lm(world), seed=1, budget=200)
    assert result.best.mean == 1.0 > result.baseline.mean
    assert "vowel" in result.program.get_params()["self"].instruction
    wrong = [t for t in ts.asked if t.candidate["self"].instruction.startswith("WRONG")]
    right = [t for t in ts.asked if "vowel" in t.candidate["self"].instruction]
    assert len(right) > len(wrong)  # evidence moves the evaluations to the good candidate


def test_candidates_walk_one_row_order_so_any_two_are_paired(fake_lm: MakeLM) -> None:
    _, ts = run(fake_lm(world), seed=2, budget=150)
    board = ts.space.board
    order = ts._order
    for cand in ts._candidates:
        scored = set(board.scores(cand))
        assert scored == set(order[: len(scored)])  # a prefix of the shared order


@pytest.mark.parametrize("budget", [40, 90])
def test_the_search_stops_before_the_budget_cuts_a_trial(fake_lm: MakeLM, budget: int) -> None:
    result, _ = run(fake_lm(world), budget=budget, seed=3)
    searched = [t for t in result.trials if t.candidate != "setup"]  # setup may run out
    assert not any(t.stopped == "budget" for t in searched)


def test_without_a_budget_it_stops_when_every_candidate_is_scored(fake_lm: MakeLM) -> None:
    _, ts = run(fake_lm(world), seed=4, thompson={"num_candidates": 3, "minibatch": 8})
    board = ts.space.board
    assert all(len(board.scores(c)) == len(VAL) for c in ts._candidates)


def test_num_trials_stops_the_search(fake_lm: MakeLM) -> None:
    _, ts = run(fake_lm(world), seed=4, thompson={"num_trials": 3})
    assert len(ts.asked) == 3
