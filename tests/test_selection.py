"""The winner's-curse estimate: choosing the best of many candidates on few rows overstates the
winner; the out-of-bag estimate says what to expect on new rows, from the board alone."""

from __future__ import annotations

import random

import pytest
from conftest import reply

import promptc
from promptc import LM, Predict
from promptc._compile.board import Board
from promptc._compile.selection import winners_curse
from promptc._program.module import Params
from promptc.cli.show import show_artifact
from promptc.metrics import exact_match
from promptc.testing import FakeBackend, WordTask


def board_of(rates: list[float], n_rows: int, rng: random.Random) -> Board:
    """A board whose candidate ``i`` is right on each row with probability ``rates[i]``
    (candidate 0 is the uncompiled program)."""
    board = Board({"p": Params(instruction="base")}, n_rows)
    for i, rate in enumerate(rates):
        candidate = {} if i == 0 else {"p": Params(instruction=f"candidate {i}")}
        board.restore(candidate, {r: float(rng.random() < rate) for r in range(n_rows)})
    return board


def test_equal_candidates_the_winner_is_luck_and_the_estimate_removes_it() -> None:
    """20 candidates all right half the time, 16 rows: the best validation mean is about
    0.5 + 0.2 by luck alone; the estimate is near the true 0.5."""
    rng = random.Random(0)
    won, expected = [], []
    for seed in range(40):
        board = board_of([0.5] * 20, 16, rng)
        selection = winners_curse(board, seed, resamples=200)
        assert selection is not None and (selection.candidates, selection.rows) == (20, 16)
        won.append(board.mean(board.incumbent()))
        expected.append(selection.expected)
        assert selection.optimism == pytest.approx(won[-1] - selection.expected, abs=1e-6)
    mean_won, mean_expected = sum(won) / len(won), sum(expected) / len(expected)
    assert mean_won > 0.65  # the winner's curse itself
    assert abs(mean_expected - 0.5) < 0.05  # what the winner really does on new rows
    assert abs(mean_expected - 0.5) < (mean_won - 0.5) / 4


def test_one_truly_better_candidate_keeps_most_of_its_score() -> None:
    rng = random.Random(1)
    board = board_of([0.3, 0.4, 0.4, 0.9, 0.4], 40, rng)
    selection = winners_curse(board, 0)
    assert selection is not None
    assert board.incumbent() == {"p": Params(instruction="candidate 3")}
    assert abs(selection.expected - 0.9) < 0.08 and abs(selection.optimism) < 0.06


def test_no_choice_no_estimate_and_partial_candidates_do_not_count() -> None:
    board = Board({"p": Params(instruction="base")}, 8)
    board.restore({}, dict.fromkeys(range(8), 1.0))
    assert winners_curse(board, 0) is None  # only the uncompiled program was scored
    board.restore({"p": Params(instruction="screened")}, {0: 1.0, 1: 1.0})
    assert winners_curse(board, 0) is None  # scored on 2 of 8 rows only
    board.restore({"p": Params(instruction="full")}, dict.fromkeys(range(8), 0.0))
    selection = winners_curse(board, 0)
    assert selection is not None and selection.candidates == 2
    assert (selection.expected, selection.optimism) == (1.0, 0.0)  # the baseline stays best


def test_the_estimate_is_reproducible_from_the_seed() -> None:
    board = board_of([0.5] * 6, 12, random.Random(2))
    assert winners_curse(board, 7) == winners_curse(board, 7)


def test_a_compile_records_and_prints_what_to_expect_on_new_rows() -> None:
    words = [f"{c}{i}x" for i in range(6) for c in "aeiobcdfg"][:40]
    rows = [{"word": w, "label": WordTask.label(w)} for w in words]

    def coin(request: object) -> str:  # right on a fixed half of the words, whatever the prompt
        word = WordTask.word(request)  # type: ignore[arg-type]
        right = sum(map(ord, word)) % 2 == 0
        return reply(label=WordTask.label(word) if right else "z")

    lm = LM("fake/coin", backend=FakeBackend(coin), cache=False)
    result = promptc.compile(
        Predict("word -> label: Literal['a', 'b', 'z']"),
        rows[:24],
        exact_match,
        optimizer="random",
        lm=lm,
        valset=rows[24:],
    )
    scores = result.artifact.provenance.scores
    assert scores is not None and scores.selection is not None
    selection = scores.selection
    assert selection.rows == 16 and selection.candidates >= 2
    # every candidate scores the same on every row: nothing to be lucky about
    assert selection.optimism == 0.0 and selection.expected == pytest.approx(result.best.mean)
    assert f"  new rows    {selection.text()}" in str(result).splitlines()
    assert f"  new rows  {selection.text()}" in show_artifact(result.artifact).splitlines()
