"""The run's records, built in one place: the artifact's provenance, the compile report and the
compile result. Both records share their parts (the trials, the optimizer, the score
comparisons with their paired gains); their types live in :mod:`promptc._artifact.provenance`
and :mod:`promptc._report.models`."""

from __future__ import annotations

import json
from typing import Any

from promptc._artifact.artifact import artifact_from_program
from promptc._artifact.provenance import (
    Comparison,
    DataRecord,
    DataSplit,
    OptimizerRecord,
    PairedGain,
    PhaseSpend,
    Provenance,
    ScoreRecord,
    Scores,
    Selection,
    Spent,
)
from promptc._compile.board import Candidate
from promptc._compile.data import data_hash
from promptc._compile.duel import DuelingOptimizer
from promptc._compile.evaluate import EvalResult, paired_bootstrap_ci
from promptc._compile.explain import explain
from promptc._compile.result import CompileResult
from promptc._compile.run import Run
from promptc._compile.strategy import Optimizer
from promptc._lm.usage import Usage
from promptc._program.module import Module
from promptc._report.models import (
    CompileReport,
    Explanation,
    ReportSpent,
    Results,
    UsageRecord,
)

__all__ = [
    "comparison",
    "data_record",
    "finish",
    "optimizer_record",
    "paired_gain",
    "report_spent",
    "score_record",
    "spent_record",
]


def score_record(result: EvalResult) -> ScoreRecord:
    """A program's mean score with its (unpaired) bootstrap 95% interval."""
    return ScoreRecord(
        mean=round(result.mean, 6),
        ci95=(round(result.ci[0], 6), round(result.ci[1], 6)),
        n=len(result.results),
        errors=result.errors,
    )


def paired_gain(compiled: EvalResult, baseline: EvalResult) -> PairedGain:
    """``compiled`` minus ``baseline``, scored on the same rows, with its paired 95% interval.

    Raises:
        ValueError: the two results cover different numbers of rows.
    """
    a = [r.score for r in compiled.results]
    b = [r.score for r in baseline.results]
    lo, hi = paired_bootstrap_ci(a, b)
    mean = sum(x - y for x, y in zip(a, b, strict=True)) / len(a) if a else 0.0
    return PairedGain(mean=round(mean, 6), ci95=(round(lo, 6), round(hi, 6)), n=len(a))


def comparison(baseline: EvalResult, compiled: EvalResult, gain: PairedGain) -> Comparison:
    """Both programs' scores on the same rows, and the paired gain between them."""
    return Comparison(baseline=score_record(baseline), compiled=score_record(compiled), gain=gain)


def _held_out(holdout: dict[str, EvalResult], best: EvalResult) -> dict[str, Any]:
    """The held-out comparison and the gap, as record fields; none without held-out rows."""
    if not holdout:
        return {}
    base, compiled = holdout["baseline"], holdout["compiled"]
    return {
        "holdout": comparison(base, compiled, paired_gain(compiled, base)),
        "gap": round(best.mean - compiled.mean, 6),
    }


def spent_record(run: Run, usage: Usage, budget: int | None) -> Spent:
    """What the run spent, with its caps (the provenance's ``spent``)."""
    return Spent(
        budget=budget,
        **run.budget.caps(),
        lm_requests=run.budget.used,
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens,
        cost_usd=round(usage.cost, 6),
        by_phase={
            p: PhaseSpend(requests=t.total().requests) for p, t in sorted(run.phases.items())
        },
    )


def _usage(usage: Usage) -> UsageRecord:
    return UsageRecord(requests=usage.requests, **usage.to_dict())


def optimizer_record(
    optimizer: Optimizer | DuelingOptimizer, chosen_by: str | None = None
) -> OptimizerRecord:
    """The strategy's name and settings, and why ``optimizer="auto"`` chose it."""
    # A strategy's settings may hold anything; the record keeps their JSON (text otherwise).
    config = json.loads(json.dumps(optimizer.config(), sort_keys=True, default=str))
    chosen = {} if chosen_by is None else {"chosen_by": chosen_by}
    return OptimizerRecord(name=optimizer.name, config=config, **chosen)


def data_record(train: list[dict[str, Any]], val: list[dict[str, Any]]) -> DataRecord:
    """Sizes and hashes of the training and validation rows."""
    return DataRecord(
        train=DataSplit(rows=len(train), hash=data_hash(train)),
        val=DataSplit(rows=len(val), hash=data_hash(val)),
    )


def _provenance(
    run: Run,
    optimizer: OptimizerRecord,
    seed: int,
    train: list[dict[str, Any]],
    scores: Scores,
    spent: Spent,
) -> Provenance:
    return Provenance(
        optimizer=optimizer,
        seed=seed,
        data=data_record(train, run.val),
        scores=scores,
        spent=spent,
        trials=run.trials,
    )


def report_spent(run: Run, usage: Usage) -> ReportSpent:
    """LM usage in total and per phase, for a report."""
    return ReportSpent(
        total=_usage(usage),
        by_phase={p: _usage(t.total()) for p, t in sorted(run.phases.items())},
    )


def _report(
    run: Run,
    optimizer: OptimizerRecord,
    usage: Usage,
    result: Results,
    credit: dict[str, float],
    why: Explanation,
    *,
    program: str,
    seed: int,
    metric: str,
    budget: int | None,
) -> CompileReport:
    return CompileReport(
        program=program,
        optimizer=optimizer,
        seed=seed,
        metric=metric,
        budget=budget,
        spent=report_spent(run, usage),
        trials=run.trials,
        result=result,
        credit=credit,
        outcome=why.outcome,
        uncompiled=why.uncompiled,
        failures=why.failures,
        prompt=why.prompt,
        coverage=why.coverage,
        overlap=why.overlap,
    )


def finish(
    run: Run,
    optimizer: Optimizer,
    compiled: Module,
    baseline: EvalResult,
    best: EvalResult,
    holdout: dict[str, EvalResult],
    usage: Usage,
    *,
    train: list[dict[str, Any]],
    budget: int | None,
    seed: int,
    name: str,
    entry: str | None,
    credit: dict[str, float],
    winner: Candidate,
    partial: list[tuple[int, float]],
    selection: Selection | None = None,
    chosen_by: str | None = None,
) -> CompileResult:
    """The compile's artifact (with its provenance), its report, and the result holding both.

    Both records are built here from the same parts: the optimizer record, the trial records
    and the score comparisons with their paired gains.
    """
    metric, opt = getattr(run.metric, "__name__", "metric"), optimizer_record(optimizer, chosen_by)
    gain = paired_gain(best, baseline)
    search, held = comparison(baseline, best, gain), _held_out(holdout, best)
    scores = Scores(
        metric=metric,
        baseline=search.baseline,
        compiled=search.compiled,
        gain=gain,
        selection=selection,
        **held,
    )
    provenance = _provenance(run, opt, seed, train, scores, spent_record(run, usage, budget))
    artifact = artifact_from_program(
        compiled, name=name, entry=entry, lm_settings=run.lm.settings(), provenance=provenance
    )
    why = explain(
        program=run.program,
        compiled=compiled,
        winner=winner,
        baseline=baseline,
        best=best,
        gain=gain,
        train=train,
        val=run.val,
        inputs=run.inputs,
        trials=run.trials,
        partial=partial,
        budget=budget,
        used=run.budget.used,
    )
    result = Results(search=search, **held)
    report = _report(
        run, opt, usage, result, credit, why, program=name, seed=seed, metric=metric, budget=budget
    )
    run_usage = {
        "lm_calls": usage.calls,
        "cache_hits": usage.cache_hits,
        "errors": usage.errors,
        "cache_errors": usage.cache_errors,
        "parse_errors": usage.parse_errors,
    }
    return CompileResult(compiled, artifact, baseline, best, run.trials, report, run_usage, holdout)
