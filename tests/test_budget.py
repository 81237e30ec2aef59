"""The compile's budgets: LM requests (a hard cap, cache hits included), tokens and dollars.

What every strategy keeps (never over budget, no partially scored winner) is checked in
test_strategy_contract.py; these are the driver's own rules, on random search.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import promptc
from promptc import LM, Predict
from promptc.compiler import CompileResult
from promptc.exceptions import BudgetExhaustedError, ConfigurationError
from promptc.metrics import exact_match
from promptc.optimizers import RandomSearch
from promptc.testing import FakeBackend, WordTask

MakeLM = Callable[..., LM]
SIGNATURE = WordTask.SIGNATURE
ROWS = WordTask.rows(WordTask.words(12))
TRAIN, VAL = ROWS[:8], ROWS[8:]
needs_demos = WordTask(needs="demos")


def calls(lm: LM) -> int:
    backend = lm.backend
    assert isinstance(backend, FakeBackend)
    return backend.calls


def compile_random(lm: LM, budget: int | None, **kwargs: Any) -> CompileResult:
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


@pytest.mark.parametrize("budget", [5, 16, 17, 40, FULL_RUN - 1])
def test_budget_is_a_hard_cap_and_an_interrupted_candidate_never_wins(
    fake_lm: MakeLM, budget: int
) -> None:
    lm = fake_lm(needs_demos)
    result = compile_random(lm, budget)
    assert calls(lm) == budget  # never more; and the whole budget was used
    spent = result.spent
    assert (spent.budget, spent.lm_requests) == (budget, budget)
    completed = (budget - len(VAL)) // len(VAL)
    assert len(result.trials) == 1 + completed + 1
    assert all("stopped" not in t for t in result.trials[:-1])
    assert result.trials[-1].stopped == "budget"
    assert result.trials[-1].score is None
    # Every candidate here scores 1.0 when complete; a partial one must not be picked.
    if completed == 0:
        assert result.best == result.baseline
        assert result.program.get_params()["self"].demos == ()
    else:
        assert result.best.mean == 1.0
        assert len(result.best.results) == len(VAL)


@pytest.mark.parametrize("budget", [FULL_RUN, 100, None])
def test_a_sufficient_budget_runs_every_candidate(fake_lm: MakeLM, budget: int | None) -> None:
    lm = fake_lm(needs_demos)
    result = compile_random(lm, budget)
    assert calls(lm) == FULL_RUN
    assert len(result.trials) == 11
    assert all("stopped" not in t for t in result.trials)
    assert result.spent.budget == budget


@pytest.mark.parametrize("budget", [1, len(VAL) - 1])
def test_budget_too_small_for_the_baseline_raises_within_the_cap(
    fake_lm: MakeLM, budget: int
) -> None:
    lm = fake_lm(needs_demos)
    with pytest.raises(BudgetExhaustedError):
        compile_random(lm, budget, num_threads=2)
    assert calls(lm) <= budget


@pytest.mark.parametrize("budget", [0, -5])
def test_budget_below_one_is_rejected(fake_lm: MakeLM, budget: int) -> None:
    lm = fake_lm(needs_demos)
    with pytest.raises(ConfigurationError, match=f"positive number of LM requests, got {budget}"):
        compile_random(lm, budget)
    assert calls(lm) == 0


def test_budget_also_caps_predictors_that_carry_their_own_lm(fake_lm: MakeLM) -> None:
    lm = fake_lm(needs_demos)
    program = Predict(SIGNATURE, lm=lm)
    promptc.compile(
        program,
        TRAIN,
        exact_match,
        optimizer=RandomSearch(k=2, num_candidates=10),
        lm=lm,
        valset=VAL,
        budget=6,
    )
    assert calls(lm) <= 6


def test_cache_hits_count_against_the_budget(tmp_path: Path) -> None:
    budget = len(VAL) * 4  # the baseline and 3 candidates; the 4th is stopped
    cache = tmp_path / "c.db"
    cold_lm = LM("fake/test", backend=FakeBackend(needs_demos), cache=cache)
    warm_lm = LM("fake/test", backend=FakeBackend(needs_demos), cache=cache)
    cold = compile_random(cold_lm, budget)
    warm = compile_random(warm_lm, budget)
    assert calls(cold_lm) == budget
    assert calls(warm_lm) == 0  # free hits would have let it go on to new candidates
    assert warm.trials == cold.trials
    assert warm.trials[-1].stopped == "budget"
    assert warm.spent.lm_requests == budget
    cold_file, warm_file = cold.save(tmp_path / "cold.yaml"), warm.save(tmp_path / "warm.yaml")
    assert warm_file.read_bytes() == cold_file.read_bytes()


def test_token_budget_stops_requests_once_reached(fake_lm: MakeLM) -> None:
    lm = fake_lm(needs_demos)
    first = promptc.compile(
        Predict(SIGNATURE), TRAIN, exact_match, lm=fake_lm(needs_demos), valset=VAL
    )
    per_row = first.report.spent.total.prompt_tokens + first.report.spent.total.completion_tokens
    per_row //= first.report.spent.total.requests
    cap = per_row * (len(VAL) + 1)  # the baseline, then about one more request
    result = promptc.compile(
        Predict(SIGNATURE), TRAIN, exact_match, lm=lm, valset=VAL, token_budget=cap
    )
    assert len(VAL) <= calls(lm) <= len(VAL) + 2
    spent = result.spent
    assert spent.token_budget == cap
    assert spent.prompt_tokens + spent.completion_tokens < cap + 2 * per_row
    assert result.trials[-1].stopped == "budget"


def test_token_budget_too_small_for_the_baseline_says_so(fake_lm: MakeLM) -> None:
    with pytest.raises(BudgetExhaustedError, match="token budget 5 cannot even score"):
        promptc.compile(
            Predict(SIGNATURE),
            TRAIN,
            exact_match,
            lm=fake_lm(needs_demos),
            valset=VAL,
            token_budget=5,
        )


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"token_budget": 0}, "token budget"), ({"cost_budget": 0.0}, "cost budget")],
)
def test_bad_token_or_cost_budget_is_rejected(
    fake_lm: MakeLM, kwargs: dict[str, Any], match: str
) -> None:
    with pytest.raises(ConfigurationError, match=match):
        promptc.compile(Predict(SIGNATURE), TRAIN, exact_match, lm=fake_lm(needs_demos), **kwargs)
