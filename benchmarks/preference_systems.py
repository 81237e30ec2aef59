"""The preference benchmark's system: a compile from simulated preferences, scored on test.

:class:`PreferenceStrategy` is a :class:`benchmarks.systems.System`: it reduces the task's train
and val rows to their inputs (no labels), compiles the task's program from the preferences of a
:class:`~benchmarks.bt_judge.BTJudge` (which alone sees the labels) with one preference
strategy under a feedback budget and an LM budget, and scores the kept program on the test
rows like every other system. The program starts from the task's description
(``program_for(task, described=True)``): without labels, "Answer the input." says nothing a
judge's preferences could turn into the task.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import promptc
from benchmarks.bt_judge import BTJudge
from benchmarks.metrics import metric_for
from benchmarks.records import PreferenceCompile, SystemResult
from benchmarks.spend import spend_of
from benchmarks.systems import RunOptions, announce, announce_test, evaluate_on_test
from benchmarks.tasks import Task, program_for
from promptc.compiler import DuelingOptimizer
from promptc.exceptions import BudgetExhaustedError

__all__ = ["INPUTS", "OptimizerSpec", "PreferenceStrategy", "inputs_only", "preference_record"]

#: The columns of a task row the compile from preferences sees: the program's input. Everything
#: else (``target``, ``targets``, sst2's ``label``, BBH's ``rationale``, ids) stays with the judge.
INPUTS = ("input",)

#: A preference strategy as ``promptc.compile`` takes it by name (``"apohf"``), or a factory of
#: fresh instances (tests pass stubs).
OptimizerSpec = str | Callable[[], DuelingOptimizer]


def inputs_only(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The rows reduced to the program's input (:data:`INPUTS`): no labels."""
    return [{k: row[k] for k in INPUTS if k in row} for row in rows]


def preference_record(
    result: promptc.PreferenceResult,
    strategy: str,
    judge: BTJudge,
    wall_s: float,
) -> PreferenceCompile:
    """The benchmark's record of one compile from preferences."""
    spend = spend_of(result)
    prefs = result.report.preferences
    tokens = {"prompt_tokens": spend.prompt_tokens, "completion_tokens": spend.completion_tokens}
    return PreferenceCompile(
        strategy=strategy,
        feedback_budget=prefs.feedback_budget,
        lm_requests=spend.lm_requests,
        spent=spend.record,
        run_usage={**result.run_usage, **tokens},
        wall_s=round(wall_s, 2),
        questions=prefs.questions,
        automatic=prefs.automatic,
        verdicts={
            "A": prefs.preferred_a,
            "B": prefs.preferred_b,
            "tie": prefs.ties,
            "skip": prefs.skips,
        },
        judge=judge.stats(),
        candidates=len(result.report.candidates),
        kept=result.report.kept,
        ranking=tuple(r.model_dump(mode="json") for r in prefs.ranking),
        params={
            name: {"instruction": p.instruction, "demos": list(p.demos)}
            for name, p in result.program.get_params().items()
        },
    )


@dataclass(frozen=True)
class PreferenceStrategy:
    """``promptc.compile(..., feedback=BTJudge(...))`` with one preference strategy.

    Attributes:
        strategy: the strategy's table name (``apohf``, ``random_pairs``).
        feedback_budget: questions the judge may be asked.
        noise: the judge's noise (:class:`~benchmarks.bt_judge.BTJudge`).
        options: threads and progress bars.
        optimizer: what ``promptc.compile`` gets as ``optimizer=`` (default: ``strategy``).
    """

    strategy: str
    feedback_budget: int
    noise: float
    options: RunOptions
    optimizer: OptimizerSpec | None = None

    @property
    def name(self) -> str:
        """``strategy@feedback_budget`` (``apohf@50``)."""
        return f"{self.strategy}@{self.feedback_budget}"

    def compile(self, task: Task, lm: promptc.LM, budget: int, seed: int) -> SystemResult:
        """Compile from the judge's preferences under ``budget`` LM requests, score on test.

        The judge is seeded with ``seed`` too, so a smaller feedback budget asks the same first
        questions as a larger one and gets the same answers (its LM requests replay from the
        cache).
        """
        announce(task, self.name, budget)
        spec = self.optimizer if self.optimizer is not None else self.strategy
        judge = BTJudge([*task.train, *task.val], metric_for(task.metric), self.noise, seed)
        started = time.perf_counter()
        try:
            result = promptc.compile(
                program_for(task, described=True),
                inputs_only(task.train),
                feedback=judge,
                feedback_budget=self.feedback_budget,
                optimizer=spec if isinstance(spec, str) else spec(),
                valset=inputs_only(task.val),
                budget=budget,
                seed=seed,
                lm=lm,
                num_threads=self.options.threads,
                progress=self.options.progress,
            )
        except BudgetExhaustedError as exc:
            return SystemResult(error=f"{type(exc).__name__}: {exc}")
        record = preference_record(result, self.strategy, judge, time.perf_counter() - started)
        announce_test(task, f"{self.name}-compiled")
        return SystemResult(
            compile=record, test=evaluate_on_test(result.program, task, lm, self.options)
        )
