"""EASE vs. random exemplar search at equal budget, on a task where demo ORDER matters.

The task model is a fake with recency bias (no LM is run, so this takes seconds): right after
one of a few "gold" demos it labels the word correctly; after any other demo it copies that
demo's label; with no demos it answers "b". So a demo sequence is only good if it *ends* on a
gold demo: the choice of demos and their order both matter. For each seed, both strategies
compile the same program on the same rows under the same LM-request budget, and the compiled
program is scored on held-out test rows. Run from the repository root::

    python -m benchmarks.ease_order --seeds 10 --budget 120

The comparison with the real local model uses :mod:`benchmarks.compile_tasks` with
``--optimizer ease --optimizer random`` (see that script). Each seed's test rows are the same for
both strategies, so the difference is also reported paired: EASE minus random over every
(seed, test row), with a paired bootstrap interval.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable
from typing import Any

import promptc
from benchmarks.spend import spend_of
from promptc import LM, LMRequest, Predict
from promptc.compiler import Optimizer, paired_bootstrap_ci
from promptc.metrics import exact_match
from promptc.optimizers import EASE, RandomSearch  # type: ignore[import-not-found,unused-ignore]
from promptc.testing import FakeBackend, WordTask

WORDS = (
    "apple river stone cloud tiger bread chair lemon piano sugar wheel grass honey knife ocean "
    "mouse eagle table olive plant igloo brick snake onion glass uncle flame house earth radio "
    "arrow candle water field smile green amber music north light ivory queen"
).split()
GOLD = {"honey", "ocean"}


rule = WordTask.label


def field(text: str, name: str) -> str | None:
    start, end = text.rfind(f"<{name}>\n"), text.rfind(f"\n</{name}>")
    return text[start + len(name) + 3 : end] if start >= 0 and end > start else None


def world(request: LMRequest) -> str:
    messages = request.message_list
    word = field(messages[-1]["content"], "word") or ""
    last = field(messages[-3]["content"], "word") if len(messages) >= 4 else None
    label = rule(word) if last in GOLD else (rule(last) if last else "b")
    return f"<label>{label}</label>"


def splits(seed: int) -> tuple[list[dict[str, Any]], ...]:
    rows = [{"word": w, "label": rule(w)} for w in WORDS]
    random.Random(seed).shuffle(rows)
    train = [r for r in rows if r["word"] in GOLD] + [r for r in rows if r["word"] not in GOLD]
    train = train[:22]  # both gold demos are in every pool, among 20 others
    rest = [r for r in rows if r not in train]
    return train, rest[:12], rest[12:]


def compile_once(optimizer: Any, seed: int, budget: int) -> dict[str, Any]:
    train, val, test = splits(seed)
    lm = LM("fake/recency", backend=FakeBackend(world), cache=False)
    started = time.perf_counter()
    result = promptc.compile(
        Predict("word -> label: Literal['a', 'b']"),
        train,
        exact_match,
        valset=val,
        optimizer=optimizer,
        lm=lm,
        budget=budget,
        seed=seed,
    )
    seconds = time.perf_counter() - started
    tested = promptc.evaluate(result.program, test, exact_match, lm=lm)
    demos = result.program.get_params()["self"].demos
    return {
        "val": result.best.mean,
        "test": tested.mean,
        "test_scores": tested.scores,
        "ends_on_gold": bool(demos) and demos[-1]["word"] in GOLD,
        "requests": spend_of(result).lm_requests,
        "seconds": seconds,
    }


def paired_line(ease: list[dict[str, Any]], rand: list[dict[str, Any]]) -> str:
    """EASE minus random over every (seed, test row), with its paired bootstrap interval."""
    a = [s for run in ease for s in run["test_scores"]]
    b = [s for run in rand for s in run["test_scores"]]
    lo, hi = paired_bootstrap_ci(a, b)
    mean = statistics.mean(x - y for x, y in zip(a, b, strict=True))
    return f"ease - random, test rows paired: {mean:+.3f} [{lo:+.3f}, {hi:+.3f}] (n={len(a)})"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--budget", type=int, default=120)
    parser.add_argument("--keep-sets", type=int, default=16, help="EASE: sets kept by the filter")
    parser.add_argument("--num-orders", type=int, default=6, help="EASE: orders per kept set")
    args = parser.parse_args(argv)
    systems: dict[str, Callable[[], Optimizer]] = {
        "random": lambda: RandomSearch(k=4, num_candidates=100),
        "ease": lambda: EASE(
            k=4,
            bootstrap=0,
            keep_sets=args.keep_sets,
            num_orders=args.num_orders,
        ),
    }
    rows = {
        name: [compile_once(make(), s, args.budget) for s in range(args.seeds)]
        for name, make in systems.items()
    }
    print(
        f"| system | test acc. ({args.seeds} seeds) | val acc. | ends on a gold demo "
        "| LM requests | s per compile |"
    )
    print("|---|---|---|---|---|---|")
    for name, runs in rows.items():
        print(
            f"| {name} | {statistics.mean(r['test'] for r in runs):.3f} "
            f"| {statistics.mean(r['val'] for r in runs):.3f} "
            f"| {sum(r['ends_on_gold'] for r in runs)}/{len(runs)} "
            f"| {statistics.mean(r['requests'] for r in runs):.0f} "
            f"| {statistics.mean(r['seconds'] for r in runs):.1f} |"
        )
    print(f"\n{paired_line(rows['ease'], rows['random'])}")


if __name__ == "__main__":
    main()
