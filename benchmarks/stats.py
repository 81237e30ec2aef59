"""Paired differences over seeds and rows: a two-level (cluster) bootstrap, and its verdicts.

A task run with several seeds gives, per seed, two systems' scores on the *same* test rows (the
seed's split). The difference of two systems on the task is the mean over seeds of the mean
per-row difference in each seed. Its interval comes from a two-level bootstrap: each resample
draws the seeds with replacement (a seed is a cluster: its split and its compile's luck are
shared by all its rows), then the rows with replacement within each drawn seed, and takes the
mean over the drawn seeds of their row means. Resampling rows alone would treat the seeds' luck
as if it were row noise and give intervals too narrow when the compile is what varies.

A difference *wins* at 95% when its interval lies above 0, *loses* when it lies below, and
*ties* when it straddles 0. Everything is seeded, so reports are reproducible.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "Estimate",
    "Verdict",
    "cluster_bootstrap",
    "mean_of_estimates",
    "paired_difference",
    "percentile_interval",
    "verdict",
]

RESAMPLES = 1000
Verdict = Literal["win", "tie", "loss"]


@dataclass(frozen=True)
class Estimate:
    """A mean with its bootstrap distribution.

    Attributes:
        mean: the point estimate (mean over seeds of the per-seed row means).
        ci95: the 95% percentile interval of ``draws``.
        draws: the resampled means, in resample order (so estimates of different tasks can
            be averaged resample by resample: :func:`mean_of_estimates`).
        seeds: clusters (seeds) behind the estimate.
        rows: rows behind it, over all seeds.
    """

    mean: float
    ci95: tuple[float, float]
    draws: tuple[float, ...]
    seeds: int
    rows: int


def percentile_interval(values: Sequence[float], confidence: float = 0.95) -> tuple[float, float]:
    """The percentile interval of ``values``, as :func:`promptc.compiler.bootstrap_ci` reads it.

    Raises:
        ValueError: ``values`` is empty.
    """
    if not values:
        raise ValueError("a percentile interval needs at least one value, got none")
    ordered = sorted(values)
    last = len(ordered) - 1
    lo = ordered[math.floor((1 - confidence) / 2 * last)]
    hi = ordered[math.ceil((1 + confidence) / 2 * last)]
    return (lo, hi)


def cluster_bootstrap(
    clusters: Sequence[Sequence[float]], *, resamples: int = RESAMPLES, seed: int | str = 0
) -> Estimate:
    """The mean over clusters of their means, with a two-level bootstrap interval.

    Each resample draws ``len(clusters)`` clusters with replacement, then, within each drawn
    cluster, its values with replacement; the resample's mean is the mean over the drawn
    clusters of their resampled means.

    Args:
        clusters: the values of each cluster (a seed's per-row differences).
        resamples: bootstrap resamples.
        seed: seeds the resampling (a string is hashed stably, as ``random.Random`` does).

    Raises:
        ValueError: no cluster, or an empty cluster.
    """
    if not clusters or any(not c for c in clusters):
        sizes = [len(c) for c in clusters]
        raise ValueError(f"every cluster needs at least one value, got cluster sizes {sizes}")
    rng = random.Random(seed)
    k = len(clusters)
    draws = []
    for _ in range(resamples):
        drawn = rng.choices(range(k), k=k)
        total = 0.0
        for index in drawn:
            values = clusters[index]
            total += sum(rng.choices(values, k=len(values))) / len(values)
        draws.append(total / k)
    mean = sum(sum(c) / len(c) for c in clusters) / k
    return Estimate(mean, percentile_interval(draws), tuple(draws), k, sum(map(len, clusters)))


def paired_difference(
    pairs: Sequence[tuple[Sequence[float], Sequence[float]]],
    *,
    resamples: int = RESAMPLES,
    seed: int | str = 0,
) -> Estimate:
    """``a - b`` over seeds: per seed, both systems' scores on the same rows, in row order.

    Raises:
        ValueError: a seed's two score lists differ in length (they must cover the same rows),
            or there is no seed.
    """
    clusters = []
    for number, (a, b) in enumerate(pairs):
        if len(a) != len(b):
            raise ValueError(
                f"seed #{number}: paired scores must cover the same rows, got {len(a)} and "
                f"{len(b)} scores; pass both systems' scores on that seed's test rows, in order"
            )
        clusters.append([x - y for x, y in zip(a, b, strict=True)])
    return cluster_bootstrap(clusters, resamples=resamples, seed=seed)


def mean_of_estimates(estimates: Sequence[Estimate]) -> Estimate:
    """The mean of several estimates (tasks), its interval from their draws averaged resample
    by resample (the tasks are fixed; their seeds and rows are what is resampled).

    Raises:
        ValueError: no estimate, or estimates with different numbers of draws.
    """
    if not estimates:
        raise ValueError("a mean of estimates needs at least one estimate, got none")
    lengths = {len(e.draws) for e in estimates}
    if len(lengths) != 1:
        raise ValueError(f"estimates must have as many draws each, got {sorted(lengths)}")
    n = len(estimates)
    draws = tuple(sum(column) / n for column in zip(*(e.draws for e in estimates), strict=True))
    mean = sum(e.mean for e in estimates) / n
    return Estimate(
        mean,
        percentile_interval(draws),
        draws,
        sum(e.seeds for e in estimates),
        sum(e.rows for e in estimates),
    )


def verdict(ci95: tuple[float, float]) -> Verdict:
    """``win`` when the interval lies above 0, ``loss`` below, ``tie`` when it holds 0."""
    lo, hi = ci95
    if lo > 0:
        return "win"
    if hi < 0:
        return "loss"
    return "tie"
