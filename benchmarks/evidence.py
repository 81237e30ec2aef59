"""What a run over several seeds says: scores over seeds, promptc - DSPy with intervals that
hold, the DSPy adapter choices, and both systems read at the same spend.

From the rows of a run (:class:`~benchmarks.records.ResultRow`, one per task, system and seed):

* :func:`over_seeds`: each system's mean test score over the seeds of a task.
* :func:`paired_differences`: each promptc strategy minus each DSPy system, per task: the
  mean over seeds of the per-row differences on the seed's test rows, with a two-level
  bootstrap interval (seeds, then rows: :mod:`benchmarks.stats`) and its verdict at 95%;
  :func:`summarize`: per pair of systems, the mean over tasks with its interval, and wins /
  ties / losses.
* :func:`matched_spend`: per task, pair and seed, both compiles' best validation score so far
  read at the same LM requests (the smaller of the two compiles' spend), from their curves.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from benchmarks.records import JSON, Curve, DSPyCompile, PromptcCompile, ResultRow
from benchmarks.stats import Estimate, Verdict, mean_of_estimates, paired_difference, verdict

__all__ = [
    "DifferenceSummary",
    "MatchedSpend",
    "SeedsDifference",
    "SeedsScore",
    "best_at",
    "curves_json",
    "matched_spend",
    "over_seeds",
    "paired_differences",
    "summarize",
]


@dataclass(frozen=True)
class SeedsScore:
    """A system's test score on a task over seeds.

    Attributes:
        task: the task.
        system: the system.
        seeds: the seeds it was scored with (a failed seed is left out).
        means: its test score with each seed.
        mean: the mean of ``means``.
        compile_requests: mean LM requests of its compiles (0 for the uncompiled program).
        optimism: the mean over seeds of its compile's best validation score minus its test
            score (how much the choice on the validation rows overstated it: the winner's
            curse); ``None`` when no compile reported a validation score.
    """

    task: str
    system: str
    seeds: tuple[int | None, ...]
    means: tuple[float, ...]
    mean: float
    compile_requests: float
    optimism: float | None = None

    def to_json(self) -> JSON:
        return {
            "task": self.task,
            "system": self.system,
            "seeds": list(self.seeds),
            "means": list(self.means),
            "mean": self.mean,
            "compile_requests": self.compile_requests,
            "optimism": self.optimism,
        }


@dataclass(frozen=True)
class SeedsDifference:
    """System ``a`` minus system ``b`` on a task, over the seeds both were tested with.

    Attributes:
        task: the task.
        a: a promptc strategy.
        b: a DSPy system.
        estimate: the mean difference, its two-level bootstrap interval and draws.
        verdict: ``win`` / ``tie`` / ``loss`` for ``a`` at 95%.
    """

    task: str
    a: str
    b: str
    estimate: Estimate
    verdict: Verdict

    def to_json(self) -> JSON:
        e = self.estimate
        return {"task": self.task, "a": self.a, "b": self.b, "mean": e.mean} | {
            "ci95": list(e.ci95),
            "seeds": e.seeds,
            "rows": e.rows,
            "verdict": self.verdict,
        }


@dataclass(frozen=True)
class DifferenceSummary:
    """``a`` minus ``b`` over tasks: the mean of the per-task differences, its interval (the
    tasks' draws averaged), and how many tasks ``a`` wins, ties and loses at 95%."""

    a: str
    b: str
    tasks: int
    mean: float
    ci95: tuple[float, float]
    verdict: Verdict
    wins: int
    ties: int
    losses: int

    def to_json(self) -> JSON:
        return {
            "a": self.a,
            "b": self.b,
            "tasks": self.tasks,
            "mean": self.mean,
            "ci95": list(self.ci95),
            "verdict": self.verdict,
            "wins": self.wins,
            "ties": self.ties,
            "losses": self.losses,
        }


@dataclass(frozen=True)
class MatchedSpend:
    """Two compiles of a task (one seed) read at the same spend.

    Attributes:
        task: the task.
        seed: the seed.
        a: a promptc strategy.
        b: a DSPy system.
        requests: the spend both are read at: the smaller of the two compiles' LM requests.
        a_val: ``a``'s best validation score after ``requests`` requests (``None``: no full
            validation pass by then).
        b_val: the same for ``b``.
        a_requests: what ``a``'s compile spent in all.
        b_requests: what ``b``'s compile spent in all.
    """

    task: str
    seed: int | None
    a: str
    b: str
    requests: int
    a_val: float | None
    b_val: float | None
    a_requests: int
    b_requests: int

    def to_json(self) -> JSON:
        return dict(vars(self))


def _kinds(rows: Sequence[ResultRow]) -> tuple[list[str], list[str]]:
    """The promptc strategies and the DSPy systems among ``rows``, in order of appearance."""
    promptc = [r.system for r in rows if isinstance(r.result.compile, PromptcCompile)]
    dspy = [r.system for r in rows if isinstance(r.result.compile, DSPyCompile)]
    return list(dict.fromkeys(promptc)), list(dict.fromkeys(dspy))


def over_seeds(rows: Sequence[ResultRow]) -> list[SeedsScore]:
    """Each (task, system)'s test score over seeds: tasks in the order they came, each with
    its systems in the order systems came (a system one seed lacks stays beside the others)."""
    out = []
    systems = list(dict.fromkeys(r.system for r in rows))
    for task, system in itertools.product(dict.fromkeys(r.task for r in rows), systems):
        tested = [r for r in rows if (r.task, r.system) == (task, system) and r.result.test]
        if not tested:
            continue
        means = tuple(r.result.test.scores.mean for r in tested if r.result.test)
        spent = [r.result.compile.lm_requests if r.result.compile else 0 for r in tested]
        gaps = [
            val - r.result.test.scores.mean
            for r in tested
            if r.result.compile and r.result.test
            if (val := r.result.compile.val_best_mean) is not None
        ]
        out.append(
            SeedsScore(
                task,
                system,
                tuple(r.seed for r in tested),
                means,
                sum(means) / len(means),
                sum(spent) / len(spent),
                sum(gaps) / len(gaps) if gaps else None,
            )
        )
    return out


def _seed_pairs(
    rows: Sequence[ResultRow], task: str, a: str, b: str
) -> list[tuple[list[float], list[float]]]:
    """Per seed, ``a``'s and ``b``'s per-row test scores on the same rows."""
    found: dict[tuple[int | None, str], Any] = {
        (r.seed, r.system): r.result.test for r in rows if r.task == task and r.result.test
    }
    pairs = []
    for seed in dict.fromkeys(r.seed for r in rows if r.task == task):
        ta, tb = found.get((seed, a)), found.get((seed, b))
        if ta is None or tb is None:
            continue
        if not ta.examples or [e.id for e in ta.examples] != [e.id for e in tb.examples]:
            continue
        pairs.append((ta.row_scores(), tb.row_scores()))
    return pairs


def paired_differences(rows: Sequence[ResultRow]) -> list[SeedsDifference]:
    """Each promptc strategy minus each DSPy system, per task, over the seeds both have."""
    promptc, dspy = _kinds(rows)
    out = []
    for task in dict.fromkeys(r.task for r in rows):
        for a in promptc:
            for b in dspy:
                pairs = _seed_pairs(rows, task, a, b)
                if pairs:
                    estimate = paired_difference(pairs, seed=f"{task}|{a}|{b}")
                    out.append(SeedsDifference(task, a, b, estimate, verdict(estimate.ci95)))
    return out


def summarize(diffs: Sequence[SeedsDifference]) -> list[DifferenceSummary]:
    """Per pair of systems, over the tasks both ran on."""
    out = []
    for a, b in dict.fromkeys((d.a, d.b) for d in diffs):
        mine = [d for d in diffs if (d.a, d.b) == (a, b)]
        overall = mean_of_estimates([d.estimate for d in mine])
        verdicts = [d.verdict for d in mine]
        out.append(
            DifferenceSummary(
                a,
                b,
                len(mine),
                overall.mean,
                overall.ci95,
                verdict(overall.ci95),
                verdicts.count("win"),
                verdicts.count("tie"),
                verdicts.count("loss"),
            )
        )
    return out


def best_at(curve: Curve, requests: int) -> float | None:
    """The best validation score after ``requests`` requests (``None``: no point by then)."""
    seen = [best for spent, best in curve if spent <= requests]
    return seen[-1] if seen else None


def _curve(row: ResultRow) -> Curve | None:
    compiled = row.result.compile
    if isinstance(compiled, PromptcCompile):
        return compiled.curve
    return compiled.curve if isinstance(compiled, DSPyCompile) else None


def matched_spend(rows: Sequence[ResultRow]) -> list[MatchedSpend]:
    """Per task, seed and (promptc, DSPy) pair with curves: both read at the same spend."""
    promptc, dspy = _kinds(rows)
    by_cell = {(r.task, r.seed, r.system): r for r in rows}
    out = []
    for task, seed in dict.fromkeys((r.task, r.seed) for r in rows):
        for a in promptc:
            for b in dspy:
                ra, rb = by_cell.get((task, seed, a)), by_cell.get((task, seed, b))
                if ra is None or rb is None or ra.result.compile is None:
                    continue
                ca, cb = _curve(ra), _curve(rb)
                if not ca or not cb or rb.result.compile is None:
                    continue
                spent_a, spent_b = ra.result.compile.lm_requests, rb.result.compile.lm_requests
                at = min(spent_a, spent_b)
                out.append(
                    MatchedSpend(
                        task, seed, a, b, at, best_at(ca, at), best_at(cb, at), spent_a, spent_b
                    )
                )
    return out


def curves_json(rows: Sequence[ResultRow]) -> list[JSON]:
    """Every compile's best validation score vs. LM requests, for a plot at equal spend."""
    out = []
    for r in rows:
        curve = _curve(r)
        if curve and r.result.compile is not None:
            out.append(
                {
                    "task": r.task,
                    "seed": r.seed,
                    "system": r.system,
                    "lm_requests": r.result.compile.lm_requests,
                    "curve": [list(p) for p in curve],
                }
            )
    return out
