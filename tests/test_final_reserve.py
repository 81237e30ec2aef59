"""The driver keeps back the pick's full evaluation (``Optimizer.final_reserve``) and the
held-out re-score, and never lets either push a compile past its budget."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import pytest
from conftest import last_field, reply

import promptc
from promptc import LM, Params, Predict
from promptc._lm.backend import LMRequest
from promptc.compiler import Board, Candidate, Optimizer, SearchSpace, Trial
from promptc.metrics import exact_match
from promptc.optimizers import LabeledFewShot
from promptc.testing import FakeBackend, WordTask

rule = WordTask.label
SIGNATURE = "word -> label: Literal['a', 'b']"
ROWS = [{"word": f"{c}{i}x", "label": rule(f"{c}{i}x")} for i in range(4) for c in "aebc"]
TRAIN, VAL, HELD = ROWS[:4], ROWS[4:10], ROWS[10:14]


def world(request: LMRequest) -> str:
    """Right on every word once an instruction says ``Try``; else always 'b'."""
    system = request.message_list[0]["content"]
    word = last_field(request, "word")
    return reply(label=rule(word) if "Try" in system else "b")


class Minibatches(Optimizer):
    """Asks a new candidate on two rows, forever; its pick is the last one scored."""

    name = "minibatches"
    final_reserve: ClassVar[Literal["none", "pick", "all_rows"]] = "none"

    def __init__(self) -> None:
        self.asked: list[Candidate] = []

    def setup(self, space: SearchSpace) -> None:
        self.asked = []

    def ask(self) -> Trial | None:
        self.asked.append({"self": Params(f"Try {len(self.asked)}.")})
        return Trial(self.asked[-1], rows=(0, 1))

    def best(self, board: Board) -> Candidate:
        return next((c for c in reversed(self.asked) if board.scores(c)), {})


class AllRows(Minibatches):
    final_reserve = "all_rows"


class Pick(Minibatches):
    final_reserve = "pick"


def compile_with(optimizer: Optimizer, budget: int, **kwargs: Any) -> tuple[Any, FakeBackend]:
    backend = FakeBackend(world)
    lm = LM("fake/test", backend=backend, cache=False)
    result = promptc.compile(
        Predict(SIGNATURE), TRAIN, exact_match, valset=VAL, optimizer=optimizer, lm=lm,
        budget=budget, **kwargs,
    )  # fmt: skip
    return result, backend


def test_without_a_reserve_the_search_spends_the_budget_and_the_pick_is_not_confirmed() -> None:
    result, backend = compile_with(Minibatches(), budget=20)
    assert len(backend.requests) == 20
    assert result.program.get_params()["self"].instruction != "Try 6."  # never scored in full
    assert result.best.mean == result.baseline.mean


def test_all_rows_reserve_stops_while_a_full_evaluation_still_fits() -> None:
    # 6 baseline requests; each trial 2 rows; a trial goes ahead only if 2 + 6 rows are left:
    # 14, 12, 10 and 8 left admit four trials, 6 left does not; the pick then takes 4 rows.
    optimizer = AllRows()
    result, backend = compile_with(optimizer, budget=20)
    assert len(optimizer.asked) == 5  # the fifth was asked, and refused before it ran
    assert len(backend.requests) == 6 + 4 * 2 + 4 <= 20
    assert result.best.mean == 1.0 > result.baseline.mean


def test_pick_reserve_keeps_only_what_the_pick_still_lacks() -> None:
    # The pick is this trial's candidate (4 rows lacking after it) or the last one (4): a trial
    # goes ahead while 2 + 4 rows are left, one more than with the all-rows reserve.
    optimizer = Pick()
    result, backend = compile_with(optimizer, budget=20)
    assert len(backend.requests) == 6 + 5 * 2 + 4 <= 20
    assert result.best.mean == 1.0


@pytest.mark.parametrize("budget", [7, 9, 11, 13])
def test_the_holdout_reserve_never_lets_the_compile_exceed_its_budget(budget: int) -> None:
    # The holdout reserve (2 x 4 rows) is more than the baseline leaves: what could not be
    # held back is not handed back either.
    _, backend = compile_with(LabeledFewShot(k=2), budget=budget, holdout=HELD)
    assert len(backend.requests) <= budget
