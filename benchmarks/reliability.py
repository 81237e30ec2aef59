"""Reliability figures, measured: compiles under injected LM faults, 64-way concurrency, fuzzing.

Run from the repository root (fakes only: no model, no network; under a minute on 2 cores)::

    python -m benchmarks.reliability [--seeds 5] [--rate 0.2] [--fuzz-examples 500]

It prints the faults injected (per kind) and how promptc counted them, the faults survived, the
trials lost, whether every compile completed within an exactly accounted budget, the result of
1,000 evaluations at 64-way concurrency, and the inputs fuzzed per target with the exceptions
that escaped (anything but promptc's documented errors). Exit status 1 if any check fails.
"""

from __future__ import annotations

import argparse
import logging
import random
import sys
import threading
import time
from collections import Counter
from typing import Any

from hypothesis import HealthCheck, given, settings

from benchmarks.fuzz import TARGETS, FuzzTarget
from benchmarks.spend import spend_of, trials_of
from promptc import LM, Predict
from promptc.compiler import Optimizer, SearchSpace, Trial, compile_program, evaluate
from promptc.metrics import exact_match
from promptc.optimizers import RandomSearch  # type: ignore[import-not-found,unused-ignore]
from promptc.testing import FAULT_KINDS, FakeBackend, FaultyBackend, WordTask

SIGNATURE = "word -> label: Literal['a', 'b']"
BUDGET = 600


needs_demos = WordTask(needs="demos")  # right only with 2 demos: the search has something to win
rule, word_of = WordTask.label, WordTask.word


def rows(n: int, start: int = 0) -> list[dict[str, str]]:
    return WordTask.rows(WordTask.words(n, start))


class Counting(Optimizer):
    """Random search that counts the trials it asked for and was told about."""

    name = "counting"

    def __init__(self) -> None:
        self.inner: Optimizer = RandomSearch(k=3, num_candidates=8)
        self.asked = 0
        self.told = 0

    def setup(self, space: SearchSpace) -> None:
        self.inner.setup(space)

    def ask(self) -> Trial | None:
        trial = self.inner.ask()
        self.asked += trial is not None
        return trial

    def tell(self, trial: Trial, scores: list[float]) -> None:
        self.told += 1


def fault_compiles(seeds: int, rate: float) -> dict[str, Any]:
    """Compile under faults once per seed; reconcile what was injected with what was reported."""
    out: dict[str, Any] = {"injected": Counter(), "completed": 0, "runs": seeds}
    totals: Counter[str] = Counter()
    for seed in range(seeds):
        backend = FaultyBackend(FakeBackend(needs_demos), rate=rate, seed=seed)
        lm = LM("fake/faulty", backend=backend, cache=False, backoff=0.0)
        optimizer = Counting()
        try:
            result = compile_program(
                Predict(SIGNATURE),
                rows(16),
                exact_match,
                optimizer=optimizer,
                lm=lm,
                valset=rows(24, start=100),
                budget=BUDGET,
                seed=seed,
            )
        except Exception as exc:
            print(f"  seed {seed}: compile FAILED: {type(exc).__name__}: {exc}")
            out["injected"].update(backend.injected)
            continue
        out["completed"] += 1
        out["injected"].update(backend.injected)
        spend, usage, trials = spend_of(result), result.run_usage, trials_of(result)
        totals["transient"] += backend.transient
        totals["survived"] += backend.total
        totals["errors_counted"] += usage["errors"]
        totals["errors_in_report"] += spend.lm_errors
        totals["parse_errors"] += usage["parse_errors"]
        totals["unparsable"] += backend.injected["empty"] + backend.injected["garbage"]
        totals["truncated"] += backend.injected["truncated"]
        totals["example_failures"] += sum(t.get("errors", 0) for t in trials)
        totals["trials_asked"] += optimizer.asked
        totals["trials_lost"] += optimizer.asked - optimizer.told
        totals["trials_unscored"] += sum(t.get("score") is None for t in trials)
        totals["backend_calls"] += backend.calls
        totals["budget_charged"] += spend.lm_requests
        totals["budget_inexact"] += spend.lm_requests != backend.calls != usage["lm_calls"]
        totals["over_cap"] += spend.lm_requests > BUDGET
    out.update(totals)
    return out


def concurrency_check(n: int = 1000, threads: int = 64) -> dict[str, Any]:
    """``n`` evaluations at ``threads``-way concurrency, random 0-5 ms latency, 20% transient."""
    rng, lock = random.Random(0), threading.Lock()

    def latency() -> float:
        with lock:
            return rng.uniform(0.0, 0.005)

    fake = FakeBackend(lambda r: f"<label>{rule(word_of(r))}</label>", latency=latency)
    backend = FaultyBackend(fake, rate=0.2, kinds=("timeout", "rate_limit", "server_error"))
    lm = LM("fake/c", backend=backend, cache=False, backoff=0.0, max_concurrency=threads)
    lm.num_retries = 8
    data = rows(n)
    seen: list[int] = []
    started = time.perf_counter()
    result = evaluate(
        Predict(SIGNATURE),
        data,
        exact_match,
        lm=lm,
        num_threads=threads,
        on_result=lambda r: seen.append(r.index),
    )
    answered = Counter(word_of(r) for r in fake.requests)
    return {
        "n": n,
        "threads": threads,
        "seconds": time.perf_counter() - started,
        "in_order": seen == list(range(n)) and [r.index for r in result.results] == seen,
        "exactly_once": len(answered) == n and set(answered.values()) == {1},
        "right_rows": [r.prediction["label"] for r in result.results] == [d["label"] for d in data],
        "transient": backend.transient,
        "errors": result.errors,
    }


def run_fuzz_target(target: FuzzTarget, examples: int) -> tuple[int, list[str]]:
    count, escapes = 0, []

    @settings(
        max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    @given(target.inputs)
    def run(value: Any) -> None:
        nonlocal count
        count += 1
        try:
            target.body(value)
        except Exception as exc:  # an escape: anything but the documented errors
            escapes.append(f"{type(exc).__name__}: {str(exc)[:120]}")

    run()
    return count, escapes


def fuzz(examples: int) -> list[tuple[str, int, list[str]]]:
    """Run each fuzz target of :mod:`benchmarks.fuzz` ``examples`` times, collecting escapes."""
    results = []
    for target in TARGETS:
        count, escapes = run_fuzz_target(target, examples)
        results.append((target.label, count, escapes))
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=5, help="compiles under faults")
    parser.add_argument("--rate", type=float, default=0.2, help="fault rate per LM call")
    parser.add_argument("--fuzz-examples", type=int, default=1000, help="inputs per fuzz target")
    args = parser.parse_args(argv)
    logger = logging.getLogger("promptc")
    level = logger.level
    logger.setLevel(logging.ERROR)  # the retried faults are expected here
    try:
        return _report(args)
    finally:
        logger.setLevel(level)


def _report(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    ok = True

    f = fault_compiles(args.seeds, args.rate)
    injected = f["injected"]
    print(
        f"Fault injection: {args.seeds} compiles (random search, 8 candidates x 24 val rows, "
        f"budget {BUDGET}) at a {args.rate:.0%} fault rate"
    )
    print(
        f"  faults injected      {sum(injected.values())} ("
        + ", ".join(f"{k} {injected[k]}" for k in FAULT_KINDS)
        + ")"
    )
    print(
        f"  transient, counted   {f['errors_counted']} of {f['transient']} as LM errors "
        f"(report: {f['errors_in_report']})"
    )
    print(
        f"  replies, counted     {f['parse_errors']} parse errors for {f['unparsable']} empty or "
        f"garbage + {f['truncated']} truncated replies (a truncated reply may still parse)"
    )
    print(f"  examples failed      {f['example_failures']} (every try faulty: scored 0, counted)")
    print(f"  faults survived      {f['survived']} of {sum(injected.values())}")
    print(
        f"  compiles completed   {f['completed']} of {f['runs']}: "
        f"{'yes' if f['completed'] == f['runs'] else 'NO'}"
    )
    print(
        f"  trials lost          {f['trials_lost']} of {f['trials_asked']} asked "
        f"({f['trials_unscored']} recorded without a score)"
    )
    exact = (
        not f["budget_inexact"] and f["budget_charged"] == f["backend_calls"] and not f["over_cap"]
    )
    print(
        f"  budget exact         {'yes' if exact else 'NO'}: {f['budget_charged']} requests "
        f"charged, {f['backend_calls']} seen by the backend, {f['over_cap']} runs over the cap"
    )
    ok &= f["completed"] == f["runs"] and f["trials_lost"] == 0 and exact
    ok &= f["errors_counted"] == f["transient"] == f["errors_in_report"]
    ok &= f["unparsable"] <= f["parse_errors"] <= f["unparsable"] + f["truncated"]

    c = concurrency_check()
    passed = c["in_order"] and c["exactly_once"] and c["right_rows"] and c["errors"] == 0
    print(
        f"Concurrency: {c['n']} evaluations at {c['threads']}-way, random 0-5 ms latency, "
        f"{c['transient']} transient faults retried: "
        f"{'PASS' if passed else 'FAIL'} (each exactly once: {c['exactly_once']}, "
        f"in order: {c['in_order']}, right rows: {c['right_rows']}; {c['seconds']:.1f} s)"
    )
    ok &= passed

    print(f"Fuzzing ({args.fuzz_examples} inputs per target requested):")
    escaped = 0
    for name, count, escapes in fuzz(args.fuzz_examples):
        escaped += len(escapes)
        print(f"  {name:<32} {count:>6} inputs  {len(escapes)} escapes")
        for e in escapes[:3]:
            print(f"      {e}")
    print(f"  escapes total        {escaped}")
    ok &= escaped == 0
    print(f"All checks {'passed' if ok else 'FAILED'} in {time.perf_counter() - started:.0f} s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
