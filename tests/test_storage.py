"""TrialStore: the storage layer any strategy can keep its trials in (TPE does)."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import optuna
import pytest

from promptc import Params
from promptc.compiler import Candidate, TrialStore
from promptc.exceptions import ConfigurationError

STATE = optuna.trial.TrialState
DIST = {"x": optuna.distributions.CategoricalDistribution([0, 1, 2])}
FINGERPRINT = {"program": "self(word: str -> label: str)", "metric": "exact_match"}


class Space:
    """Stands in for a SearchSpace: records what the store puts on the board."""

    def __init__(self) -> None:
        self.restored: list[tuple[Candidate, dict[int, float]]] = []

    def _restore(self, candidate: Candidate, scores: dict[int, float]) -> None:
        self.restored.append((candidate, dict(scores)))


def open_store(location: Path, fingerprint: dict[str, str] = FINGERPRINT) -> TrialStore:
    sampler = optuna.samplers.RandomSampler(seed=0)
    return TrialStore.open(str(location), "s", fingerprint, sampler, owner="Mine")


def decode(params: dict[str, Any]) -> Candidate | None:
    return {"self": Params(f"option {params['x']}")} if "x" in params else None


def dead_worker() -> str:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return f"{socket.gethostname()}:{child.pid}"


def test_a_study_keeps_its_fingerprint_and_refuses_another(tmp_path: Path) -> None:
    open_store(tmp_path / "t.log")
    open_store(tmp_path / "t.log")  # the same compile again: adopted
    with pytest.raises(ConfigurationError) as info:
        open_store(tmp_path / "t.log", {**FINGERPRINT, "metric": "contains"})
    message = str(info.value)
    assert (
        "which differ in metric (metric: study 'exact_match', this compile 'contains')" in message
    )
    assert message.endswith("(--storage, or Mine(storage=...))")


def test_shared_values_are_written_once_and_read_by_every_later_opener(tmp_path: Path) -> None:
    assert open_store(tmp_path / "t.log").shared("choices", lambda: [1, 2]) == [1, 2]
    assert open_store(tmp_path / "t.log").shared("choices", lambda: [3]) == [1, 2]


def test_finished_trials_come_back_with_their_per_row_scores(tmp_path: Path) -> None:
    store = open_store(tmp_path / "t.log")
    trial = store.study.ask(DIST)
    store.tag(trial)
    store.finish(trial, [3, 1], [1.0, 0.0], 0.5)
    space = Space()
    assert open_store(tmp_path / "t.log").restore(space, decode) == 1  # type: ignore[arg-type]
    x = trial.params["x"]
    assert space.restored == [({"self": Params(f"option {x}")}, {3: 1.0, 1: 0.0})]


def test_a_dead_workers_running_trial_is_handed_out_again_with_its_params(tmp_path: Path) -> None:
    store = open_store(tmp_path / "t.log")
    trial = store.study.ask(DIST)
    trial.set_user_attr("worker", dead_worker())
    alive = store.study.ask(DIST)
    store.tag(alive)  # this process: alive, left running
    again = open_store(tmp_path / "t.log")
    again.requeue_stale(lambda params: "x" in params, stale_after=3600.0)
    states = {t.number: t.state for t in again.study.get_trials(deepcopy=False)}
    assert states[trial.number] == STATE.FAIL and states[alive.number] == STATE.RUNNING
    assert again.study.ask(DIST).params == trial.params  # the requeued one comes first


def test_a_released_trial_is_failed_and_queued_again(tmp_path: Path) -> None:
    store = open_store(tmp_path / "t.log")
    trial = store.study.ask(DIST)
    store.release(trial)
    assert store.study.trials[trial.number].state == STATE.FAIL
    assert store.study.ask(DIST).params == trial.params
