"""The one place the benchmarks read a compile result's run records (spend and trials).

``promptc.compile`` records what a compile spent in the artifact's provenance and in its
report; everything the benchmarks report about spend goes through :func:`spend_of`, and the
trial records through :func:`trials_of`, so a change of those records is adapted here only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from promptc.compiler import CompileResult, PreferenceResult

__all__ = ["Spend", "spend_of", "trials_of"]


@dataclass(frozen=True)
class Spend:
    """What one compile spent.

    Attributes:
        lm_requests: requests charged to the budget (fresh calls and cache hits).
        prompt_tokens: prompt tokens of every response served (cached or not).
        completion_tokens: completion tokens of the same.
        lm_errors: LM errors the compile report counted (each failed try).
        record: the artifact's whole spend record, for the results file.
    """

    lm_requests: int
    prompt_tokens: int
    completion_tokens: int
    lm_errors: int
    record: Mapping[str, Any]


def spend_of(result: CompileResult | PreferenceResult) -> Spend:
    """The spend figures of ``result`` (a compile with a metric or from preferences)."""
    spent = result.spent
    return Spend(
        lm_requests=spent.lm_requests,
        prompt_tokens=spent.prompt_tokens,
        completion_tokens=spent.completion_tokens,
        lm_errors=result.report.spent.total.errors,
        record=spent.model_dump(mode="json"),
    )


def trials_of(result: CompileResult) -> tuple[dict[str, Any], ...]:
    """``result``'s trial records as JSON objects (``id``, ``score``, ``errors``, ...)."""
    return tuple(t.model_dump(mode="json") for t in result.trials)
