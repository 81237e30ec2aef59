"""The records of a compile from preferences: the artifact's provenance (with its
:class:`~promptc._artifact.provenance.Preferences`), the report and the result, built in one
place from the run, the strategy's ranking and the duel tally."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from promptc._artifact.artifact import artifact_from_program
from promptc._artifact.provenance import (
    Preferences,
    Provenance,
    RankedCandidate,
)
from promptc._compile.board import Candidate
from promptc._compile.duel import DuelingOptimizer, Utility
from promptc._compile.records import data_record, optimizer_record, report_spent, spent_record
from promptc._compile.result import PreferenceResult
from promptc._compile.run import Run
from promptc._lm.usage import Usage
from promptc._report.models import PreferenceReport

if TYPE_CHECKING:
    from promptc._compile.prefer import _Tally

__all__ = ["finish_preferences"]


def _ranking(strategy: DuelingOptimizer, candidates: list[Candidate]) -> list[Utility]:
    if len(candidates) < 2:  # setup ran out of budget: only the uncompiled program
        return [Utility(index=0, mean=0.0, low=0.0, high=0.0, duels=0)]
    return strategy.ranking()


def _outcome(kept: int, ranking: list[Utility], tally: _Tally) -> str:
    asked = f"{tally.questions} preference(s) ({tally.automatic} settled without asking)"
    if not tally.duels:
        return "no comparison was made (no budget, or no second candidate): kept the uncompiled"
    top = next(u for u in ranking if u.index == kept)
    if kept == 0:
        return f"from {asked}, no candidate was estimated better than the uncompiled program"
    return (
        f"from {asked}, candidate {kept} has the highest estimated utility: {top.mean:+.2f} "
        f"over the uncompiled program [95% interval {top.low:+.2f}, {top.high:+.2f}]"
    )


def finish_preferences(
    run: Run,
    strategy: DuelingOptimizer,
    candidates: list[Candidate],
    tally: _Tally,
    usage: Usage,
    *,
    judge: tuple[str, str | None, int],
    train: list[dict[str, Any]],
    budget: int | None,
    seed: int,
    name: str,
    entry: str | None,
) -> PreferenceResult:
    """The artifact of the strategy's pick, its provenance, the report and the result."""
    ranking = _ranking(strategy, candidates)
    kept = strategy.best() if len(candidates) > 1 and tally.duels else 0
    described = [run.describer.describe(c) for c in candidates]
    kind, model, feedback_budget = judge
    preferences = Preferences(
        judge=kind,
        **({"model": model} if model else {}),
        feedback_budget=feedback_budget,
        questions=tally.questions,
        preferred_a=tally.verdicts.get("A", 0),
        preferred_b=tally.verdicts.get("B", 0),
        ties=tally.verdicts.get("tie", 0),
        skips=tally.verdicts.get("skip", 0),
        from_log=tally.from_log,
        automatic=tally.automatic,
        ranking=[
            RankedCandidate(
                index=u.index,
                candidate=described[u.index],
                utility=round(u.mean, 6),
                ci95=(round(u.low, 6), round(u.high, 6)),
                duels=u.duels,
            )
            for u in ranking
        ],
    )
    optimizer = optimizer_record(strategy)
    spent = spent_record(run, usage, budget)
    provenance = Provenance(
        optimizer=optimizer,
        seed=seed,
        data=data_record(train, run.val),
        spent=spent,
        preferences=preferences,
    )
    compiled = run.program.with_params(candidates[kept])
    artifact = artifact_from_program(
        compiled, name=name, entry=entry, lm_settings=run.lm.settings(), provenance=provenance
    )
    report = PreferenceReport(
        program=name,
        optimizer=optimizer,
        seed=seed,
        budget=budget,
        spent=report_spent(run, usage),
        preferences=preferences,
        candidates=described,
        duels=tally.duels,
        kept=kept,
        outcome=_outcome(kept, ranking, tally),
    )
    run_usage = {"lm_calls": usage.calls, "cache_hits": usage.cache_hits, "errors": usage.errors}
    return PreferenceResult(compiled, artifact, report, run_usage)
