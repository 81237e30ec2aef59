"""The contract every registered strategy keeps, each checked by a real compile on a fake LM.

Parametrized over ``promptc.optimizers.OPTIMIZERS`` (as optuna's sampler tests are over its
samplers), so a newly registered strategy is checked without a line here: the LM budget is never
exceeded, the same seed gives the same artifact, a partially scored candidate never wins, and a
strategy that keeps its trials in a storage resumes from it.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any, Literal

import pytest

import promptc
from promptc import LM, Predict
from promptc.compiler import CompileResult, Optimizer
from promptc.metrics import exact_match
from promptc.optimizers import OPTIMIZERS
from promptc.testing import FakeBackend, WordTask

ROWS = WordTask.rows(WordTask.words(24))
TRAIN, VAL = ROWS[:16], ROWS[16:]

#: What the fake model needs to answer right, per strategy: instruction searchers get a task
#: whose winning move is an instruction, the others one whose winning move is demos.
NEEDS: dict[str, Literal["demos", "instruction"]] = {
    "ape": "instruction",
    "racing": "instruction",
    "thompson": "instruction",
    "tpe": "instruction",
}
#: Settings that keep a strategy's own (non-LM) work small; the defaults everywhere else.
SMALL: dict[str, dict[str, Any]] = {
    "ease": {"num_sets": 24, "keep_sets": 4, "num_orders": 2, "epochs": 30},
}
#: The local model a strategy needs the weights of (skipped, with the pull command, without).
WEIGHTS = {"ease": "all-minilm-l6-v2"}

STRATEGIES = [
    pytest.param(name, marks=[pytest.mark.requires_model(WEIGHTS[name])] if name in WEIGHTS else [])
    for name in sorted(OPTIMIZERS)
]
#: LM requests: exactly the baseline, one more, a candidate and a part, and a few candidates.
BUDGETS = [len(VAL), len(VAL) + 1, 2 * len(VAL) + 5, 45, 90]


def strategy(name: str, **options: Any) -> Optimizer:
    return OPTIMIZERS[name](**SMALL.get(name, {}), **options)


def fake_lm(name: str) -> tuple[LM, FakeBackend]:
    backend = FakeBackend(WordTask(needs=NEEDS.get(name, "demos")))
    return LM("fake/contract", backend=backend, cache=False), backend


def run(
    name: str, *, budget: int | None, seed: int = 0, **options: Any
) -> tuple[CompileResult, int]:
    """Compile the word task with strategy ``name``; the result and the LM requests made."""
    lm, backend = fake_lm(name)
    result = promptc.compile(
        Predict(WordTask.SIGNATURE),
        TRAIN,
        exact_match,
        valset=VAL,
        optimizer=strategy(name, **options),
        lm=lm,
        budget=budget,
        seed=seed,
    )
    return result, backend.calls


def recorded_compiled_mean(result: CompileResult) -> float:
    """The compiled program's validation mean as the artifact records it."""
    scores = result.artifact.provenance.scores
    assert scores is not None and scores.compiled is not None
    return scores.compiled.mean


@pytest.mark.parametrize("budget", BUDGETS)
@pytest.mark.parametrize("name", STRATEGIES)
def test_the_budget_is_never_exceeded(name: str, budget: int) -> None:
    _, calls = run(name, budget=budget)
    assert calls <= budget  # counted by the fake LM: every request, whatever the driver thinks


@pytest.mark.parametrize("name", STRATEGIES)
def test_the_same_seed_gives_the_same_artifact(name: str, tmp_path: Path) -> None:
    first, _ = run(name, budget=60, seed=3)
    again, _ = run(name, budget=60, seed=3)
    assert again.artifact.content_hash == first.artifact.content_hash  # another seed may differ
    saved = [r.save(tmp_path / f"{i}.yaml", report=False) for i, r in enumerate((first, again))]
    assert saved[0].read_bytes() == saved[1].read_bytes()  # the provenance too, byte for byte


@pytest.mark.parametrize("budget", BUDGETS[2:])
@pytest.mark.parametrize("name", STRATEGIES)
def test_a_partially_scored_candidate_never_wins(name: str, budget: int) -> None:
    result, _ = run(name, budget=budget)
    assert [r.index for r in result.best.results] == list(range(len(VAL)))
    lm, _ = fake_lm(name)
    again = promptc.evaluate(result.program, VAL, exact_match, lm=lm)
    assert [r.score for r in again.results] == [r.score for r in result.best.results]
    assert again.mean == pytest.approx(recorded_compiled_mean(result), abs=1e-6)


def takes_storage(name: str) -> bool:
    return "storage" in inspect.signature(type(strategy(name))).parameters


@pytest.mark.parametrize("name", STRATEGIES)
def test_a_rerun_on_the_same_storage_resumes(name: str, tmp_path: Path) -> None:
    if not takes_storage(name):
        pytest.skip(f"{name} takes no storage argument: it keeps no trials to resume from")
    storage = str(tmp_path / "trials.log")
    first, first_calls = run(name, budget=None, seed=5, storage=storage)
    again, again_calls = run(name, budget=None, seed=5, storage=storage)
    assert again_calls < first_calls  # the finished trials came from the storage, not the LM
    assert again.program.get_params() == first.program.get_params()
    assert again.artifact.content_hash == first.artifact.content_hash
