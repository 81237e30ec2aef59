"""benchmarks.stats against cases whose answer is known by hand."""

from __future__ import annotations

import pytest

from benchmarks import stats


def test_a_constant_difference_has_a_zero_width_interval_at_that_value() -> None:
    a = [[1.0, 0.75, 0.5, 1.0], [0.5, 0.25, 1.0], [1.0] * 5]
    b = [[x - 0.25 for x in seed] for seed in a]
    found = stats.paired_difference(list(zip(a, b, strict=True)))
    assert found.mean == pytest.approx(0.25)
    assert found.ci95 == pytest.approx((0.25, 0.25))
    assert (found.seeds, found.rows, len(found.draws)) == (3, 12, stats.RESAMPLES)
    assert stats.verdict(found.ci95) == "win"


def test_symmetric_noise_gives_an_interval_around_zero() -> None:
    # Per seed, a beats b on half the rows and loses on the other half.
    pairs = [([1.0, 0.0] * 20, [0.0, 1.0] * 20) for _ in range(3)]
    found = stats.paired_difference(pairs)
    lo, hi = found.ci95
    assert found.mean == 0.0 and lo < 0.0 < hi
    assert stats.verdict(found.ci95) == "tie"


def test_seeds_are_resampled_as_clusters() -> None:
    """Three seeds whose rows all differ by 0.1, 0.2 and 0.3: rows add no noise, the seeds do.

    A resample draws three seeds; the mean of three draws from {0.1, 0.2, 0.3} is 0.1 with
    probability 1/27 (3.7% > 2.5%) and 0.3 likewise, so the interval is [0.1, 0.3]. Pooling the
    150 rows as one sample would give an interval about 0.2 that is far too narrow.
    """
    clusters = [[0.1] * 50, [0.2] * 50, [0.3] * 50]
    found = stats.cluster_bootstrap(clusters)
    assert found.mean == pytest.approx(0.2)
    assert found.ci95 == pytest.approx((0.1, 0.3))
    pooled = stats.cluster_bootstrap([[x for c in clusters for x in c]])
    assert pooled.ci95[1] - pooled.ci95[0] < 0.05


def test_two_one_row_seeds_give_the_three_possible_means() -> None:
    # Draws of two seeds from {1, 3}: means 1, 2, 3 with probabilities 1/4, 1/2, 1/4.
    found = stats.cluster_bootstrap([[1.0], [3.0]])
    assert found.mean == 2.0 and found.ci95 == (1.0, 3.0)
    assert set(found.draws) == {1.0, 2.0, 3.0}
    assert 0.4 < found.draws.count(2.0) / len(found.draws) < 0.6


def test_the_bootstrap_is_seeded() -> None:
    clusters = [[0.0, 1.0, 1.0], [1.0, 0.0, 0.0, 1.0]]
    assert stats.cluster_bootstrap(clusters, seed="t") == stats.cluster_bootstrap(
        clusters, seed="t"
    )
    assert stats.cluster_bootstrap(clusters, seed="t") != stats.cluster_bootstrap(clusters, seed=1)


def test_the_mean_over_tasks_averages_the_draws_resample_by_resample() -> None:
    first = stats.cluster_bootstrap([[0.2] * 3, [0.2] * 4])
    second = stats.cluster_bootstrap([[0.4] * 5])
    both = stats.mean_of_estimates([first, second])
    assert both.mean == pytest.approx(0.3) and both.ci95 == pytest.approx((0.3, 0.3))
    assert (both.seeds, both.rows) == (3, 12)
    noisy = stats.cluster_bootstrap([[1.0], [3.0]])
    assert stats.mean_of_estimates([noisy, noisy]).ci95 == (
        1.0,
        3.0,
    )  # same draws: no averaging out


def test_verdicts_and_refusals() -> None:
    assert [stats.verdict(ci) for ci in [(0.01, 0.2), (-0.1, 0.0), (-0.3, -0.01)]] == [
        "win",
        "tie",
        "loss",
    ]
    with pytest.raises(ValueError, match="must cover the same rows, got 2 and 1"):
        stats.paired_difference([([1.0, 0.0], [1.0])])
    with pytest.raises(ValueError, match=r"cluster sizes \[1, 0\]"):
        stats.cluster_bootstrap([[1.0], []])
    with pytest.raises(ValueError, match="at least one estimate"):
        stats.mean_of_estimates([])
    with pytest.raises(ValueError, match="at least one value"):
        stats.percentile_interval([])
