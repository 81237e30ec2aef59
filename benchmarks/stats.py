"""Paired comparisons: the difference of two systems scored on the same test rows.

Two systems scored on the same rows are compared row by row: a percentile bootstrap that
resamples row indices and uses the same indices for both systems, so the rows' difficulty,
shared by both, does not widen the interval of the difference.
"""

from __future__ import annotations

from collections.abc import Sequence

from promptc.compiler import bootstrap_ci

__all__ = ["paired_bootstrap_ci"]


def paired_bootstrap_ci(
    a: Sequence[float],
    b: Sequence[float],
    *,
    confidence: float = 0.95,
    resamples: int = 1000,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap interval of ``mean(a - b)``, resampling row indices in pairs.

    A local stand-in for ``promptc.compiler.paired_bootstrap_ci`` (same signature and result:
    the bootstrap of the per-row differences); seeded, so a report is reproducible.

    Args:
        a: one system's scores, in row order.
        b: the other system's scores on the same rows, in the same order.
        confidence: the interval's coverage.
        resamples: bootstrap resamples.
        seed: seeds the resampling.

    Raises:
        ValueError: ``a`` and ``b`` differ in length (they must score the same rows).
    """
    if len(a) != len(b):
        raise ValueError(
            f"paired scores must cover the same rows, got {len(a)} and {len(b)} scores; "
            "pass both candidates' scores on the same rows, in the same order"
        )
    return bootstrap_ci(
        [x - y for x, y in zip(a, b, strict=True)],
        confidence=confidence,
        resamples=resamples,
        seed=seed,
    )
