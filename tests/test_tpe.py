"""TPE over stored trials: search, resume after kill -9, and several workers on one study."""

from __future__ import annotations

import functools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import optuna
import pytest
from conftest import reply
from test_racing import SIGNATURE, TRAIN, VAL, world

import promptc
from promptc import LM, Predict
from promptc._artifact.artifact import dump_artifact
from promptc.compiler import CompileResult
from promptc.exceptions import ConfigurationError
from promptc.metrics import contains, exact_match
from promptc.optimizers import TPE
from promptc.optimizers._tpe import open_storage
from promptc.testing import FakeBackend

MakeLM = Callable[..., LM]
WORKER = Path(__file__).with_name("tpe_worker.py")
STATE = optuna.trial.TrialState


def run(lm: LM, **kwargs: Any) -> tuple[CompileResult, TPE]:
    options = {"n_trials": 12, "minibatch": 4, "bootstrap": 4, **kwargs.pop("tpe", {})}
    tpe = TPE(**options)
    result = promptc.compile(
        Predict(SIGNATURE), TRAIN, exact_match, valset=VAL, optimizer=tpe, lm=lm, **kwargs
    )
    return result, tpe


def study_trials(storage: str) -> list[optuna.trial.FrozenTrial]:
    opened = open_storage(storage)
    assert opened is not None
    try:
        (summary,) = optuna.get_all_study_summaries(opened)
        return optuna.load_study(study_name=summary.study_name, storage=opened).trials
    finally:
        if isinstance(opened, optuna.storages.RDBStorage):
            opened.engine.dispose()  # close the pooled connections


def calls(lm: LM) -> int:
    backend = lm.backend
    assert isinstance(backend, FakeBackend)
    return backend.calls


def test_finds_the_good_instruction_within_budget(fake_lm: MakeLM) -> None:
    lm = fake_lm(world)
    result, tpe = run(lm, seed=1, budget=200, tpe={"n_trials": 16})
    assert "vowel" in result.program.get_params()["self"].instruction
    assert result.best.mean == 1.0 > result.baseline.mean
    assert calls(lm) <= 200
    assert tpe.evaluated >= 5


def test_objective_is_the_paired_gain_on_the_trial_rows(fake_lm: MakeLM) -> None:
    _, tpe = run(fake_lm(world), seed=2)
    board = tpe._space.board if tpe._space else None
    assert board is not None
    base = board.scores({})
    for t in tpe._study.trials:
        if t.state != STATE.COMPLETE or "duplicate_of" in t.user_attrs:
            continue
        rows, scores = t.user_attrs["rows"], t.user_attrs["scores"]
        assert len(rows) == 4
        assert t.value == pytest.approx(
            sum(s - base[r] for r, s in zip(rows, scores, strict=True)) / 4
        )


@pytest.mark.parametrize("budget", [50, 80, 120])
def test_budget_is_never_exceeded(fake_lm: MakeLM, budget: int) -> None:
    lm = fake_lm(world)
    result, _ = run(lm, seed=3, budget=budget)
    assert calls(lm) <= budget
    assert result.spent.lm_requests <= budget


def test_same_seed_same_artifact(fake_lm: MakeLM) -> None:
    first, _ = run(fake_lm(world), seed=5)
    second, _ = run(fake_lm(world), seed=5)
    assert dump_artifact(first.artifact) == dump_artifact(second.artifact)


@pytest.mark.parametrize("kind", ["journal", "sqlite"])
def test_rerun_restores_finished_trials_and_repeats_none(
    fake_lm: MakeLM, tmp_path: Path, kind: str
) -> None:
    storage = str(tmp_path / "trials.log") if kind == "journal" else f"sqlite:///{tmp_path}/t.db"
    first, tpe1 = run(fake_lm(world), seed=4, tpe={"n_trials": 6, "storage": storage})
    scored = [t for t in study_trials(storage) if "duplicate_of" not in t.user_attrs]
    assert tpe1.evaluated == len(scored) >= 3 and tpe1.restored == 0
    again, tpe2 = run(fake_lm(world), seed=4, tpe={"n_trials": 6, "storage": storage})
    assert tpe2.evaluated == 0 and tpe2.restored == len(scored)
    assert again.program.get_params() == first.program.get_params()
    _, tpe3 = run(fake_lm(world), seed=4, tpe={"n_trials": 9, "storage": storage})
    finished = [t for t in study_trials(storage) if t.state == STATE.COMPLETE]
    assert len(finished) == 9  # extending the study adds trials only
    reused = sum("duplicate_of" in t.user_attrs for t in finished[6:])
    assert tpe3.restored == len(scored) and tpe3.evaluated + reused == 3


def test_a_study_for_another_program_is_refused(fake_lm: MakeLM, tmp_path: Path) -> None:
    storage = str(tmp_path / "trials.log")
    run(fake_lm(world), seed=4, tpe={"n_trials": 2, "storage": storage, "study_name": "s"})
    tpe = TPE(n_trials=2, storage=storage, study_name="s", bootstrap=0)
    with pytest.raises(ConfigurationError, match="another compile, which differ in program"):
        promptc.compile(
            _Two(),
            TRAIN,
            exact_match,
            valset=VAL,
            optimizer=tpe,
            lm=fake_lm(world),
        )


def texts(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"text": r["word"], "label": r["label"]} for r in rows]


def test_two_programs_sharing_a_study_are_refused_naming_what_differs(
    fake_lm: MakeLM, tmp_path: Path
) -> None:
    storage = str(tmp_path / "shared.log")
    shared = {"n_trials": 3, "storage": storage, "study_name": "shared"}
    run(fake_lm(world), seed=4, tpe=shared)
    before = study_trials(storage)
    other = Predict("text -> label: Literal['a', 'b']")  # also named "self", another input
    tpe = TPE(n_trials=3, minibatch=4, bootstrap=4, storage=storage, study_name="shared")
    lm = fake_lm(lambda request: reply(label="a"))
    with pytest.raises(ConfigurationError) as info:
        promptc.compile(other, texts(TRAIN), exact_match, valset=texts(VAL), optimizer=tpe, lm=lm)
    message = str(info.value)
    assert f"the study 'shared' in {storage} holds the trials of another compile" in message
    assert "which differ in program, prompts, train, val (" in message
    assert (
        "program: study \"self(word: str -> label: Literal['a', 'b'])\", this compile " in message
    )
    assert "\"self(text: str -> label: Literal['a', 'b'])\"" in message
    assert message.endswith(
        "another study name (--study, or TPE(study_name=...)), or a fresh storage (--storage, "
        "or TPE(storage=...))"
    )
    assert study_trials(storage) == before  # nothing adopted, nothing added


@pytest.mark.parametrize(
    ("change", "differs"),
    [
        ({"metric": contains}, "metric (metric: study 'exact_match', this compile 'contains')"),
        ({"temperature": 0.7}, 'lm (lm: study \'{"max_tokens": 512, "model": "fake/test", '),
        ({"tpe": {"minibatch": 2}}, "search (search: study 'bootstrap=4, full_eval_every=5"),
    ],
)
def test_a_study_refuses_another_metric_lm_or_search_space(
    fake_lm: MakeLM, tmp_path: Path, change: dict[str, Any], differs: str
) -> None:
    shared = {"n_trials": 2, "storage": str(tmp_path / "s.log"), "study_name": "s"}
    run(fake_lm(world), seed=4, tpe=shared)
    metric = change.get("metric", exact_match)
    lm = fake_lm(world, temperature=change.get("temperature", 0.0))
    tpe = TPE(**{"minibatch": 4, "bootstrap": 4, **shared, **change.get("tpe", {})})
    with pytest.raises(ConfigurationError, match="which differ in ") as info:
        promptc.compile(Predict(SIGNATURE), TRAIN, metric, valset=VAL, optimizer=tpe, lm=lm, seed=4)
    assert f"which differ in {differs}" in str(info.value)


class _Two(promptc.Module):
    def __init__(self) -> None:
        self.first = Predict(SIGNATURE)
        self.second = Predict(SIGNATURE)

    def forward(self, word: str) -> promptc.Prediction:
        self.first(word=word)
        return self.second(word=word)


def worker(
    storage: Path | str, n_trials: int, latency: float, out: Path
) -> subprocess.Popen[bytes]:
    """Start a worker; its stderr goes to ``out`` with the suffix ``.err``."""
    with out.with_suffix(".err").open("w") as err:
        return subprocess.Popen(
            [sys.executable, str(WORKER), str(storage), str(n_trials), str(latency), str(out)],
            cwd=WORKER.parent,
            stderr=err,
        )


def errors(out: Path) -> str:
    return out.with_suffix(".err").read_text()


def complete(storage: Path) -> list[optuna.trial.FrozenTrial]:
    if not storage.exists() or not optuna.get_all_study_summaries(open_storage(str(storage))):
        return []
    return [t for t in study_trials(str(storage)) if t.state == STATE.COMPLETE]


def test_kill_9_mid_compile_then_the_same_command_resumes(tmp_path: Path) -> None:
    storage, out = tmp_path / "trials.log", tmp_path / "out.json"
    proc = worker(storage, 10, 0.01, out)
    deadline = time.monotonic() + 120
    while len(complete(storage)) < 3 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not out.exists(), "the worker finished before it could be killed"
    before = {t.number: (t.params, t.value) for t in complete(storage)}
    assert len(before) >= 3

    again = worker(storage, 10, 0.0, out)
    assert again.wait(timeout=300) == 0, errors(out)
    record = json.loads(out.read_text())
    finished = complete(storage)
    assert len(finished) == 10
    # Nothing finished was lost or repeated: the old trials are there unchanged, and the rerun
    # evaluated exactly the missing ones (a trial the killed process was running included).
    assert {t.number: (t.params, t.value) for t in finished if t.number in before} == before
    scored_before = [
        t for t in finished if t.number in before and "duplicate_of" not in t.user_attrs
    ]
    assert record["restored"] == len(scored_before)
    assert record["evaluated"] == 10 - len(before) - sum(
        "duplicate_of" in t.user_attrs for t in finished if t.number not in before
    )
    # A trial the killed worker had tagged was handed out again; one it had only just asked
    # for (untagged) is left for a later run to clear, and never counted.
    running = [t for t in study_trials(str(storage)) if t.state == STATE.RUNNING]
    assert all("worker" not in t.user_attrs for t in running)


def test_two_workers_share_one_study_without_duplicate_work(tmp_path: Path) -> None:
    storage = tmp_path / "trials.log"
    outs = [tmp_path / "w1.json", tmp_path / "w2.json"]
    # Create the study (and its stored choices) first, as `promptc compile` run once would.
    procs = [worker(storage, 12, 0.005, out) for out in outs]
    for p, out in zip(procs, outs, strict=True):
        assert p.wait(timeout=300) == 0, errors(out)
    records = [json.loads(o.read_text()) for o in outs]
    trials = study_trials(str(storage))
    evaluated = [
        t for t in trials if t.state == STATE.COMPLETE and "duplicate_of" not in t.user_attrs
    ]
    assert 12 <= len([t for t in trials if t.state == STATE.COMPLETE]) <= 13
    assert sum(r["evaluated"] for r in records) == len(evaluated)  # each trial scored once
    assert all(r["evaluated"] > 0 for r in records), records  # both workers did work
    workers = {t.user_attrs["worker"].rsplit(":", 1)[1] for t in evaluated}
    assert workers == {str(r["pid"]) for r in records}
    keys = [json.dumps(t.params, sort_keys=True) for t in evaluated]
    assert len(keys) == len(set(keys))  # no configuration evaluated twice


def _pg_bin() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    return found[-1].parent if found else None


@pytest.fixture
def postgres() -> Iterator[str]:
    """A throwaway PostgreSQL server on loopback; yields its SQLAlchemy URL."""
    pytest.importorskip("psycopg", reason="install psycopg[binary] for the PostgreSQL test")
    bindir = _pg_bin()
    if bindir is None:
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql)")
    # Not under pytest's tmp_path: its parents are private to root, and the server runs as
    # the postgres user.
    root = Path(tempfile.mkdtemp(prefix="promptc-pg-"))
    data = root / "data"
    as_user: list[str] = []
    if os.geteuid() == 0:  # the server refuses to run as root
        shutil.chown(root, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    run = functools.partial(subprocess.run, check=True, capture_output=True, timeout=120)
    run([*as_user, str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"])
    opts = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
    log = str(root / "server.log")  # without a log file the server would hold our pipes open
    run([*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-l", log, "-o", opts, "-w", "start"])
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        run([*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"])
        shutil.rmtree(root, ignore_errors=True)


def test_two_workers_share_a_study_in_postgresql(postgres: str, tmp_path: Path) -> None:
    outs = [tmp_path / "w1.json", tmp_path / "w2.json"]
    procs = [worker(postgres, 10, 0.005, out) for out in outs]
    for p, out in zip(procs, outs, strict=True):
        assert p.wait(timeout=300) == 0, errors(out)
    records = [json.loads(o.read_text()) for o in outs]
    trials = study_trials(postgres)
    evaluated = [
        t for t in trials if t.state == STATE.COMPLETE and "duplicate_of" not in t.user_attrs
    ]
    assert 10 <= len([t for t in trials if t.state == STATE.COMPLETE]) <= 11
    assert sum(r["evaluated"] for r in records) == len(evaluated)
    keys = [json.dumps(t.params, sort_keys=True) for t in evaluated]
    assert len(keys) == len(set(keys))
