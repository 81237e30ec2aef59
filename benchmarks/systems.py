"""What the task table compares: one :class:`System` protocol, and promptc's systems.

A system takes a task's train and val rows, compiles the task's program under a budget of LM
requests, and scores the compiled program on the task's test rows: :meth:`System.compile`
returns both as a :class:`~benchmarks.records.SystemResult`. The uncompiled program
(:class:`Uncompiled`), each promptc strategy (:class:`PromptcStrategy`) and each DSPy optimizer
(:class:`benchmarks.dspy_baseline.DSPySystem`) implement it, so a run is a loop over systems.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import promptc
from benchmarks.metrics import metric_for
from benchmarks.records import ExampleOutcome, PromptcCompile, Scores, SystemResult, TestRecord
from benchmarks.spend import spend_of, trials_of
from benchmarks.tasks import Task, program_for
from promptc.compiler import AUTO, EvalResult
from promptc.exceptions import BudgetExhaustedError

__all__ = [
    "UNCOMPILED",
    "PromptcStrategy",
    "RunOptions",
    "System",
    "Uncompiled",
    "evaluate_on_test",
    "requests",
]

logger = logging.getLogger(__name__)

UNCOMPILED = "uncompiled"


class System(Protocol):
    """Something the task table compares.

    ``compile`` compiles the program of ``task`` (:func:`benchmarks.tasks.program_for`) on its
    train and val rows with ``lm``, spending at most about ``budget`` LM requests, seeded by
    ``seed``; then scores the compiled program on the task's test rows with the same ``lm``. A
    failure the comparison should show (a budget too small, a baseline that breaks) is
    returned as :attr:`SystemResult.error`, not raised.
    """

    @property
    def name(self) -> str:
        """The system's name in the table (``random``, ``dspy-bfrs``, ``uncompiled``)."""
        ...

    def compile(self, task: Task, lm: promptc.LM, budget: int, seed: int) -> SystemResult:
        """Compile on train/val, score on test."""
        ...


@dataclass(frozen=True)
class RunOptions:
    """How a system runs (not what it computes).

    Attributes:
        threads: examples evaluated at once.
        progress: progress bars on stderr.
    """

    threads: int = 4
    progress: bool = False


def requests(usage: Mapping[str, Any]) -> int:
    """Requests an evaluation served: fresh calls (each retry counts) plus cache hits."""
    return int(usage.get("calls", 0)) + int(usage.get("cache_hits", 0))


def scores(result: EvalResult) -> Scores:
    """Mean, CI, rows and errors of a promptc evaluation."""
    return Scores(result.mean, result.ci, len(result.results), result.errors)


def evaluate_on_test(
    program: promptc.Module, task: Task, lm: promptc.LM, options: RunOptions
) -> TestRecord:
    """``program`` scored on ``task``'s test rows."""
    started = time.perf_counter()
    result = promptc.evaluate(
        program,
        task.test,
        metric_for(task.metric),
        lm=lm,
        num_threads=options.threads,
        progress=options.progress,
    )
    wall = time.perf_counter() - started
    examples = tuple(
        ExampleOutcome(task.test[r.index]["id"], r.score, r.prediction, r.error)
        for r in result.results
    )
    return TestRecord(
        scores(result), requests(result.usage), result.usage, round(wall, 2), examples
    )


def announce(task: Task, system: str, budget: int) -> None:
    """Log the start of a compile."""
    logger.info("%s: compiling with %r (budget %d)", task.name, system, budget)


def announce_test(task: Task, system: str) -> None:
    """Log the start of a test-split evaluation."""
    logger.info("%s: %s program on %d test rows", task.name, system, len(task.test))


@dataclass(frozen=True)
class Uncompiled:
    """The task's program as it is: no compile, scored on test."""

    options: RunOptions
    name: str = UNCOMPILED
    #: Start from the task's description, not the generic instruction (``program_for``).
    described: bool = False

    def compile(self, task: Task, lm: promptc.LM, budget: int, seed: int) -> SystemResult:
        """Score the uncompiled program on test (``budget`` and ``seed`` are not used)."""
        announce_test(task, UNCOMPILED)
        program = program_for(task, described=self.described)
        return SystemResult(test=evaluate_on_test(program, task, lm, self.options))


@dataclass(frozen=True)
class PromptcStrategy:
    """``promptc.compile`` with one registered strategy (``random``, ``ease``, ...) on the
    task's train rows, scored on its val rows; or with ``auto`` (the default) on both, which
    the compile splits itself (:func:`promptc._compile.data.validation_size`)."""

    name: str
    options: RunOptions
    #: Compile the program that starts from the task's description (``program_for``).
    described: bool = False
    #: The LM that proposes instructions (``promptc.compile``'s ``proposer``); its requests
    #: count in the budget. ``None``: the task LM proposes.
    proposer: promptc.LM | None = None

    def compile(self, task: Task, lm: promptc.LM, budget: int, seed: int) -> SystemResult:
        """Compile with the strategy under ``budget``; a budget too small is an error row."""
        announce(task, self.name, budget)
        started = time.perf_counter()
        # auto, the default, is run as a user runs it: the labelled rows, split by compile.
        auto = self.name == AUTO
        rows = [*task.train, *task.val] if auto else list(task.train)
        try:
            compiled = promptc.compile(
                program_for(task, described=self.described),
                rows,
                metric_for(task.metric),
                valset=None if auto else list(task.val),
                optimizer=self.name,
                budget=budget,
                seed=seed,
                lm=lm,
                proposer=self.proposer,
                num_threads=self.options.threads,
                progress=self.options.progress,
            )
        except BudgetExhaustedError as exc:
            return SystemResult(error=f"{type(exc).__name__}: {exc}")
        wall = time.perf_counter() - started
        spend = spend_of(compiled)
        tokens = {
            "prompt_tokens": spend.prompt_tokens,
            "completion_tokens": spend.completion_tokens,
        }
        record = PromptcCompile(
            lm_requests=spend.lm_requests,
            spent=spend.record,
            # Calls and cache hits of this run, tokens of every response served (cached or not).
            run_usage={**compiled.run_usage, **tokens},
            wall_s=round(wall, 2),
            val_uncompiled=scores(compiled.baseline),
            val_best=scores(compiled.best),
            trials=trials_of(compiled),
            params={
                name: {"instruction": p.instruction, "demos": list(p.demos)}
                for name, p in compiled.program.get_params().items()
            },
        )
        announce_test(task, f"{self.name}-compiled")
        test = evaluate_on_test(compiled.program, task, lm, self.options)
        return SystemResult(compile=record, test=test)
