"""The run's records: the artifact's provenance, the compile report, the compile result."""

from __future__ import annotations

from typing import Any

from promptc._artifact.artifact import artifact_from_program
from promptc._compile.board import Candidate
from promptc._compile.data import data_hash
from promptc._compile.evaluate import EvalResult
from promptc._compile.result import CompileResult
from promptc._compile.run import Run, optional_caps
from promptc._compile.strategy import Optimizer
from promptc._lm.usage import Usage
from promptc._program.module import Module
from promptc._report.explain import explain

__all__ = ["finish", "score_record"]


def score_record(result: EvalResult) -> dict[str, Any]:
    return {
        "mean": round(result.mean, 6),
        "ci95": [round(result.ci[0], 6), round(result.ci[1], 6)],
        "n": len(result.results),
        "errors": result.errors,
    }


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
) -> CompileResult:
    scores: dict[str, Any] = {
        "metric": getattr(run.metric, "__name__", "metric"),
        "baseline": score_record(baseline),
        "compiled": score_record(best),
    }
    if holdout:
        scores["holdout"] = {k: score_record(v) for k, v in holdout.items()}
        scores["gap"] = round(best.mean - holdout["compiled"].mean, 6)
    spent = {
        "budget": budget,
        **optional_caps(run.budget),
        "lm_requests": run.budget.used,
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "cost_usd": round(usage.cost, 6),
        "by_phase": {p: {"requests": t.total().requests} for p, t in sorted(run.phases.items())},
    }
    provenance = {
        "optimizer": {"name": optimizer.name, "config": optimizer.config()},
        "seed": seed,
        "data": {
            "train": {"rows": len(train), "hash": data_hash(train)},
            "val": {"rows": len(run.val), "hash": data_hash(run.val)},
        },
        "scores": scores,
        "spent": spent,
        "trials": run.trials,
    }
    artifact = artifact_from_program(
        compiled, name=name, entry=entry, lm_settings=run.lm.settings(), provenance=provenance
    )
    run_usage = {
        "lm_calls": usage.calls,
        "cache_hits": usage.cache_hits,
        "errors": usage.errors,
        "cache_errors": usage.cache_errors,
        "parse_errors": usage.parse_errors,
    }
    report = _report(run, optimizer, name, seed, budget, usage, scores)
    if credit:
        report["credit"] = credit
    report.update(
        explain(
            program=run.program,
            compiled=compiled,
            winner=winner,
            baseline=baseline,
            best=best,
            train=train,
            val=run.val,
            inputs=run.inputs,
            trials=run.trials,
            partial=partial,
            budget=budget,
            used=run.budget.used,
        )
    )
    return CompileResult(compiled, artifact, baseline, best, run.trials, report, run_usage, holdout)


def _usage_dict(usage: Usage) -> dict[str, Any]:
    return {"requests": usage.requests, **usage.to_dict()}


def _report(
    run: Run,
    optimizer: Optimizer,
    name: str,
    seed: int,
    budget: int | None,
    usage: Usage,
    scores: dict[str, Any],
) -> dict[str, Any]:
    result: dict[str, Any] = {
        "search": {"baseline": scores["baseline"], "compiled": scores["compiled"]}
    }
    if "holdout" in scores:
        result["holdout"] = scores["holdout"]
        result["gap"] = scores["gap"]
    return {
        "program": name,
        "optimizer": {"name": optimizer.name, "config": optimizer.config()},
        "seed": seed,
        "metric": scores["metric"],
        "budget": budget,
        "spent": {
            "total": _usage_dict(usage),
            "by_phase": {p: _usage_dict(t.total()) for p, t in sorted(run.phases.items())},
        },
        "trials": run.trials,
        "result": result,
    }
