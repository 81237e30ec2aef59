"""EASE's pre-filter: keep the exemplar sets whose inputs are closest, in optimal transport, to
the validation inputs.

A demo set is a uniform distribution over its demos' input embeddings; the validation set is a
uniform distribution over its rows' input embeddings. Their distance is the exact earth mover's
(Wasserstein-1) distance with the cosine distance ``1 - cos`` as ground cost, solved by POT's
network-simplex solver (``ot.emd2``): a set that covers the kinds of inputs the program will see
is close; a set that piles up on one corner, or sits away from the task, is far. The distance
ignores the demos' order; order is left to the surrogate.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

__all__ = ["ot_distance", "ot_filter"]

Array = npt.NDArray[np.floating]


def _emd2() -> object:
    try:
        import ot  # type: ignore[import-untyped,unused-ignore]
    except ImportError as exc:  # pragma: no cover - the compile extra brings POT
        raise ImportError(
            "EASE's optimal-transport filter needs POT: pip install 'promptc[compile]'"
        ) from exc
    return ot.emd2


def ot_distance(sources: Array, targets: Array) -> float:
    """Earth mover's distance between two point clouds of unit vectors (uniform weights).

    Args:
        sources: ``(n, dim)`` unit vectors (e.g. a demo set's input embeddings).
        targets: ``(m, dim)`` unit vectors (e.g. the validation inputs' embeddings).

    Returns:
        The least mean cosine distance at which ``sources``' mass can be moved onto
        ``targets``' (0 for identical clouds, at most 2).
    """
    return _distances([np.asarray(sources, np.float64)], np.asarray(targets, np.float64))[0]


def _distances(
    clouds: Sequence[npt.NDArray[np.float64]], targets: npt.NDArray[np.float64]
) -> list[float]:
    emd2 = _emd2()
    b = np.full(len(targets), 1.0 / len(targets))
    out = []
    for cloud in clouds:
        a = np.full(len(cloud), 1.0 / len(cloud))
        cost = np.clip(1.0 - cloud @ targets.T, 0.0, 2.0)
        out.append(float(emd2(a, b, cost)))  # type: ignore[operator]
    return out


def ot_filter(sets: Sequence[Sequence[int]], items: Array, targets: Array, keep: int) -> list[int]:
    """Indices of the ``keep`` sets closest to ``targets`` (closest first; ties by index).

    Args:
        sets: each set as indices into ``items``.
        items: ``(n_items, dim)`` unit vectors, one per pool item.
        targets: ``(m, dim)`` unit vectors of the validation inputs.
        keep: how many sets to keep.
    """
    vectors = np.asarray(items, np.float64)
    clouds = [vectors[list(s)] for s in sets]
    distances = _distances(clouds, np.asarray(targets, np.float64))
    order = sorted(range(len(sets)), key=lambda i: (distances[i], i))
    return order[:keep]
