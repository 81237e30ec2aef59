"""Reliability: faults injected into the LM, heavy concurrency, and kill -9 mid-run.

Every LM here is a fake (``promptc.testing``); the crash tests run the real ``promptc`` command
in a subprocess on a program file whose predictor carries a fake LM of its own.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from conftest import reply

from promptc import LM, Cache, LMRequest, LMResponse, Predict
from promptc.artifact import dump_artifact, load_artifact, save_artifact
from promptc.compiler import Optimizer, SearchSpace, Trial, compile_program, evaluate
from promptc.exceptions import ConfigurationError, LMTimeoutError, RateLimitError, ServerError
from promptc.metrics import exact_match
from promptc.optimizers import RandomSearch
from promptc.testing import FAULT_KINDS, FakeBackend, FaultyBackend, WordTask

ROOT = Path(__file__).resolve().parents[1]
SIGNATURE = WordTask.SIGNATURE


needs_demos = WordTask(needs="demos")  # right only with 2 demos: compiling has something to win


def rows(n: int, start: int = 0) -> list[dict[str, Any]]:
    return WordTask.rows(WordTask.words(n, start))


class Counting(Optimizer):
    """Random search that counts the trials it asked for (to show none is lost)."""

    name = "counting"

    def __init__(self) -> None:
        self.inner = RandomSearch(k=3, num_candidates=6)
        self.asked: list[Trial] = []
        self.told = 0

    def setup(self, space: SearchSpace) -> None:
        self.inner.setup(space)

    def ask(self) -> Trial | None:
        trial = self.inner.ask()
        if trial is not None:
            self.asked.append(trial)
        return trial

    def tell(self, trial: Trial, scores: list[float]) -> None:
        self.told += 1


def faulty_lm(rate: float, seed: int, **kwargs: Any) -> tuple[LM, FaultyBackend]:
    backend = FaultyBackend(FakeBackend(needs_demos), rate=rate, seed=seed)
    kwargs.setdefault("cache", False)
    return LM("fake/faulty", backend=backend, backoff=0.0, **kwargs), backend


# -- fault injection -------------------------------------------------------------------------


def test_faulty_backend_injects_every_kind_at_the_rate_and_counts_them() -> None:
    backend = FaultyBackend(lambda r: reply(label="a"), rate=0.2, seed=1)
    outcomes: Counter[str] = Counter()
    for i in range(3000):
        request = LMRequest.build("fake/x", [{"role": "user", "content": str(i)}])
        try:
            text = backend.complete(request).text
        except (LMTimeoutError, RateLimitError, ServerError) as exc:
            outcomes[type(exc).__name__] += 1
        else:
            outcomes["ok" if text == reply(label="a") else "spoiled"] += 1
    assert backend.calls == 3000 and set(backend.injected) == set(FAULT_KINDS)
    assert 0.17 < backend.total / 3000 < 0.23
    assert outcomes["LMTimeoutError"] == backend.injected["timeout"]
    assert outcomes["RateLimitError"] == backend.injected["rate_limit"]
    assert outcomes["ServerError"] == backend.injected["server_error"]
    spoiled = (
        backend.injected["empty"] + backend.injected["garbage"] + backend.injected["truncated"]
    )
    assert outcomes["spoiled"] == spoiled
    assert (
        backend.transient
        == outcomes["LMTimeoutError"] + outcomes["RateLimitError"] + outcomes["ServerError"]
    )


def test_faults_depend_on_the_seed_and_request_not_on_thread_timing() -> None:
    def run(seed: int) -> Counter[str]:
        backend = FaultyBackend(lambda r: "x", rate=0.3, seed=seed)
        requests = [LMRequest.build("m", [{"role": "user", "content": str(i)}]) for i in range(200)]

        def call(request: LMRequest) -> None:
            for _ in range(2):  # the same request twice: the nth try draws its own fate
                try:
                    backend.complete(request)
                except Exception:
                    pass

        threads = [threading.Thread(target=call, args=(r,)) for r in requests]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return backend.injected

    assert run(3) == run(3)
    assert run(3) != run(4)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"rate": 1.5}, "rate must be within"), ({"kinds": ["meteor"]}, "unknown fault kinds")],
)
def test_faulty_backend_refuses_bad_settings(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        FaultyBackend(lambda r: "x", **kwargs)


def compile_under_faults(seed: int, budget: int = 600) -> tuple[Any, FaultyBackend, Counting]:
    lm, backend = faulty_lm(0.2, seed)
    optimizer = Counting()
    result = compile_program(
        Predict(SIGNATURE),
        rows(16),
        exact_match,
        optimizer=optimizer,
        lm=lm,
        valset=rows(12, start=100),
        budget=budget,
        seed=seed,
    )
    return result, backend, optimizer


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_compile_at_20_percent_faults_completes_counts_every_fault_and_loses_no_trial(
    seed: int,
) -> None:
    result, backend, optimizer = compile_under_faults(seed)
    spent, usage = result.spent, result.run_usage
    total = result.report.spent.total
    # Faults were injected, of several kinds.
    assert backend.total >= 10 and len(backend.injected) >= 4
    # Every transient fault is one failed call, counted in the run and in the report.
    assert usage["errors"] == total.errors == backend.transient
    # Budget accounting is exact: every request the backend saw, and nothing else, was charged.
    assert usage["lm_calls"] == total.calls == spent.lm_requests == backend.calls <= 600
    assert total.requests == backend.calls
    assert sum(p.requests for p in (spent.by_phase or {}).values()) == backend.calls
    # Empty and garbage replies never parse; truncated ones may, if the cut spared the label.
    unparsable = backend.injected["empty"] + backend.injected["garbage"]
    assert unparsable <= usage["parse_errors"] <= unparsable + backend.injected["truncated"]
    assert usage["parse_errors"] == total.parse_errors
    # No trial is lost: every trial asked for was scored, told back and recorded with a score.
    assert len(optimizer.asked) == optimizer.told == 6
    searched = [t for t in result.trials if t.candidate != "baseline"]
    assert len(searched) >= 6 and all(t.score is not None for t in result.trials)
    assert not any(t.stopped for t in result.trials)
    assert result.report.trials == result.trials
    # Examples that failed past every retry are counted once each, in trials and in scores.
    assert result.trials[0].errors == result.baseline.errors
    assert all((t.errors or 0) <= (t.rows or 0) for t in result.trials)
    assert result.best.mean >= result.baseline.mean


def test_compile_under_faults_is_reproducible() -> None:
    first, backend_a, _ = compile_under_faults(5)
    second, backend_b, _ = compile_under_faults(5)
    assert backend_a.injected == backend_b.injected
    assert dump_artifact(first.artifact) == dump_artifact(second.artifact)


def test_budget_is_never_exceeded_under_faults() -> None:
    for budget in (20, 45, 80):
        result, backend, _ = compile_under_faults(7, budget=budget)
        assert backend.calls == result.spent.lm_requests <= budget
        assert result.trials[-1].stopped == "budget"


def test_every_fault_kind_alone_is_survived() -> None:
    for kind in FAULT_KINDS:
        backend = FaultyBackend(FakeBackend(needs_demos), rate=0.3, kinds=[kind], seed=0)
        lm = LM("fake/faulty", backend=backend, backoff=0.0, cache=False)
        result = compile_program(
            Predict(SIGNATURE), rows(8), exact_match, lm=lm, valset=rows(8, 50), optimizer="random"
        )
        assert backend.injected[kind] > 0 and set(backend.injected) == {kind}
        assert result.run_usage["lm_calls"] == backend.calls


# -- concurrency ----------------------------------------------------------------------------


def echo(request: LMRequest) -> str:
    return reply(label=WordTask.label(WordTask.word(request)))


def jittered(seed: int) -> Any:
    rng, lock = random.Random(seed), threading.Lock()

    def latency() -> float:
        with lock:
            return rng.uniform(0.0, 0.005)

    return latency


@pytest.mark.parametrize("rate", [0.0, 0.2])
def test_1000_evaluations_at_64_way_concurrency_arrive_once_each_in_order(rate: float) -> None:
    data = rows(1000)
    fake = FakeBackend(echo, latency=jittered(0))
    backend = FaultyBackend(fake, rate=rate, kinds=("timeout", "rate_limit", "server_error"))
    lm = LM("fake/c", backend=backend, cache=False, backoff=0.0, max_concurrency=64, num_retries=8)
    seen: list[int] = []
    result = evaluate(
        Predict(SIGNATURE),
        data,
        exact_match,
        lm=lm,
        num_threads=64,
        on_result=lambda r: seen.append(r.index),
    )
    assert seen == list(range(1000))  # each once, in dataset order, as promised
    assert [r.index for r in result.results] == list(range(1000))
    assert [r.inputs["word"] for r in result.results] == [d["word"] for d in data]
    assert [r.prediction["label"] for r in result.results] == [d["label"] for d in data]
    assert result.errors == 0 and result.mean == 1.0
    words = Counter(WordTask.word(r) for r in fake.requests)
    assert len(words) == 1000 and set(words.values()) == {1}  # each answered exactly once
    assert backend.calls == 1000 + backend.transient
    assert result.usage["calls"] == backend.calls and result.usage["errors"] == backend.transient


def test_1000_async_calls_at_64_way_concurrency_arrive_once_each_in_order() -> None:
    data = rows(1000)
    fake = FakeBackend(echo, latency=jittered(1))
    lm = LM("fake/c", backend=fake, cache=False, max_concurrency=64)
    program = Predict(SIGNATURE, lm=lm)

    async def main() -> list[Any]:
        return await asyncio.gather(*(program.acall(word=d["word"]) for d in data))

    out = asyncio.run(main())
    assert [p.label for p in out] == [d["label"] for d in data]
    assert sorted(Counter(WordTask.word(r) for r in fake.requests).values()) == [1] * 1000
    assert lm.usage.total().calls == 1000


def test_cache_under_64_threads_serves_each_request_once() -> None:
    cache_lm = LM("fake/c", backend=FakeBackend(echo), cache=True, max_concurrency=64)
    data = rows(300)
    first = evaluate(Predict(SIGNATURE), data, exact_match, lm=cache_lm, num_threads=64)
    second = evaluate(Predict(SIGNATURE), data, exact_match, lm=cache_lm, num_threads=64)
    assert first.mean == second.mean == 1.0
    assert first.usage["calls"] == 300 and second.usage["cache_hits"] == 300
    assert second.usage["calls"] == 0


# -- kill -9 ---------------------------------------------------------------------------------

PROGRAM = """
import os
from promptc import LM, Predict
from promptc.testing import FakeBackend, WordTask

task = WordTask(needs="demos")


def answer(request):
    with open(os.environ["ANSWERED_LOG"], "a") as log:  # lets a test wait for progress
        log.write("1\\n")
    return task(request)


program = Predict(
    WordTask.SIGNATURE,
    lm=LM("fake/slow", backend=FakeBackend(answer, latency=0.02), max_concurrency=4),
)
"""


def write_rows(path: Path, data: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in data), encoding="utf-8")
    return path


def compile_command(tmp_path: Path, out: Path) -> list[str]:
    (tmp_path / "prog.py").write_text(PROGRAM, encoding="utf-8")
    train = write_rows(tmp_path / "train.jsonl", rows(16))
    val = write_rows(tmp_path / "val.jsonl", rows(24, start=100))
    return [
        sys.executable,
        "-m",
        "promptc.cli",
        "compile",
        f"{tmp_path / 'prog.py'}:program",
        "--train",
        str(train),
        "--val",
        str(val),
        "--optimizer",
        "random",
        "--candidates",
        "8",
        "--budget",
        "400",
        "--model",
        "fake/slow",
        "-o",
        str(out),
    ]


def spent_line(stdout: str) -> tuple[int, int]:
    m = re.search(r"(\d+) calls, (\d+) cache hits", stdout)
    assert m, stdout
    return int(m.group(1)), int(m.group(2))


def test_kill_9_during_a_compile_then_the_rerun_resumes_from_the_cache(tmp_path: Path) -> None:
    out = tmp_path / "out.yaml"
    old = save_artifact(_small_artifact(), out).read_bytes()
    command = compile_command(tmp_path, out)
    answered = tmp_path / "answered.log"
    env = {**os.environ, "ANSWERED_LOG": str(answered)}
    killed = 0
    for wait_for in (10, 60):  # LM answers before the kill (the second run also replays hits)
        answered.write_text("", encoding="utf-8")
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        while proc.poll() is None and len(answered.read_bytes()) < 2 * wait_for:
            time.sleep(0.01)  # poll the event (answers logged), not a guessed duration
        if proc.poll() is None:
            proc.kill()  # SIGKILL: no cleanup runs
            killed += 1
        proc.communicate()
        assert out.read_bytes() == old or load_artifact(out).predictors  # old, or a whole new one
    assert killed, "the compile finished before it could be killed; slow the fake LM down"
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr
    calls, hits = spent_line(done.stdout)
    assert hits > 0  # work done before the kills was not lost: it came from the cache
    new = load_artifact(out)
    again = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert again.returncode == 0 and spent_line(again.stdout) == (0, calls + hits)
    assert load_artifact(out) == new and dump_artifact(new) == out.read_text(encoding="utf-8")


def _small_artifact() -> Any:
    from promptc.artifact import artifact_from_program

    return artifact_from_program(
        Predict(SIGNATURE),
        name="old",
        lm_settings={"model": "fake/slow", "temperature": 0.0, "max_tokens": 8},
    )


CACHE_WRITER = """
import sys
from promptc import Cache, LMRequest, LMResponse
cache = Cache(sys.argv[1])
i = int(sys.argv[2])
while True:
    request = LMRequest.build("m", [{"role": "user", "content": f"p{i}"}])
    cache.put(request, LMResponse(text=f"r{i}" * (1 + i % 3000), prompt_tokens=i))
    print(i, flush=True)
    i += 1
"""


def test_kill_9_during_cache_writes_leaves_a_consistent_cache(tmp_path: Path) -> None:
    path = tmp_path / "lm_cache.db"
    start = 0
    for wait_for in (1, 20, 200):  # acknowledged writes before the kill: early, mid, late
        proc = subprocess.Popen(
            [sys.executable, "-c", CACHE_WRITER, str(path), str(start)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None
        acknowledged = []
        while len(acknowledged) < wait_for:  # wait for the writer's acknowledgements, no sleep
            line = proc.stdout.readline()
            assert line, "the writer stopped before acknowledging a write"
            acknowledged.append(int(line))
        proc.kill()
        stdout, _ = proc.communicate()
        acknowledged += [int(x) for x in stdout.split()]
        with Cache(path, on_corrupt="raise") as cache:  # never moved aside as corrupt
            for i in range(acknowledged[-1] + 1):  # every acknowledged write survived, intact
                request = LMRequest.build("m", [{"role": "user", "content": f"p{i}"}])
                hit = cache.get(request)
                assert hit == LMResponse(
                    text=f"r{i}" * (1 + i % 3000), prompt_tokens=i, cached=True
                ), i
            assert cache.stats.dropped == 0
            assert len(cache) in (acknowledged[-1] + 1, acknowledged[-1] + 2)
        start = acknowledged[-1] + 1
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
