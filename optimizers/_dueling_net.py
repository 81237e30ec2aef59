"""APOHF's utility model: a small MLP trained on duels (Bradley-Terry), with a dueling UCB.

The network ``f(x) = g(x; theta) - g(x; theta_0)``, ``g(x) = w3 . relu(W2 relu(W1 x + b1) + b2)
+ b3``, maps a candidate's embedding to its latent utility. Subtracting the network at its
(seeded) initial weights makes every utility 0 before any duel, so an unexplored candidate is
never ranked by the noise of the initialization. It is trained by full-batch Adam on the
Bradley-Terry logistic loss of the duels so far: for a duel ``(a, b)`` with outcome ``y`` (1: a
preferred, 0.5: a tie, 0: b preferred),

    loss = -[y log s + (1 - y) log(1 - s)],   s = sigmoid(f(x_a) - f(x_b)),

averaged over duels, plus NeuralUCB's L2 pull towards the initial weights (weight ``lam`` divided
by the number of duels), from the same initial weights every time it is fitted: a fit depends
only on the duels, never on the history of fits.

The embeddings are centered on the candidates' mean and scaled back to unit norm, and the first
layer is initialized for unit-norm inputs (variance 2, whatever the dimension; He initialization
assumes unit-variance entries, which would leave a 384-dim unit vector's pre-activations almost
0). Prompts for one task embed close together (all-MiniLM-L6-v2: mean cosine 0.82 between
word-task prompts with different demos). Measured on 20 candidates in 384 dims at cosine 0.8,
20 seeds of 100 Bradley-Terry comparisons: the best found in 19 searches (best() settled after
33 comparisons on average) as done here; 17 uncentered; 10 with the unit-variance
initialization, 7 with neither (settled after 63 and 70).

The ranking's intervals use :meth:`DuelingNet.std_errors`: the same quadratic form with each
duel weighted by its Bradley-Terry variance (the Laplace approximation of the output layer). On
the synthetic benchmark of ``tests/test_apohf.py`` (20 candidates, 100 comparisons, 20 seeds)
their 95% intervals held the true utility gap over the uncompiled program for 92% of the
candidates (linear utility; 86% non-linear; 98% when the feedback is coin flips); the
unweighted widths, for 73 to 79% (linear).

Exploration is APOHF's (Lin et al., 2024, "Prompt Optimization with Human Feedback") on the
last-layer features ``phi(x) = h2(x)`` (the gradient of ``f`` with respect to the output weights;
the output bias cancels in a difference), at the current weights, as in
:mod:`promptc.optimizers._neural_ucb` (which explains why not the full gradient):

    V = lam * I + sum over duels of d d^T,   d = phi(x_a) - phi(x_b)
    width(i, j) = sqrt( (phi_i - phi_j)^T V^-1 (phi_i - phi_j) )

The first arm of the next duel is the utility's argmax; the second maximizes
``f(x_j) + nu * width(j, first)`` over the others: a candidate that is good, or whose difference
from the first is still unexplored.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from ._adam import Adam

__all__ = ["DuelingNet"]

Array = npt.NDArray[np.float64]


class DuelingNet:
    """Bradley-Terry MLP utilities of a fixed set of candidates, with dueling-UCB widths.

    Args:
        width: units in each of the two hidden layers.
        lam: the prior precision in ``V``, and the weight of the pull towards the initial
            weights (divided by the number of duels).
        nu: the exploration scale of the second arm.
        epochs: Adam steps per fit.
        lr: Adam's step size.
        seed: seeds the initial weights.
    """

    def __init__(
        self,
        width: int = 32,
        lam: float = 30.0,
        nu: float = 10.0,
        epochs: int = 100,
        lr: float = 0.01,
        seed: int = 0,
    ) -> None:
        self.width = width
        self.lam = lam
        self.nu = nu
        self.epochs = epochs
        self.lr = lr
        self.seed = seed
        self._x: Array = np.zeros((0, 0))
        self._params: list[Array] = []
        self._utility: Array = np.zeros(0)
        self._phi: Array = np.zeros((0, 0))
        self._v_inv: Array = np.zeros((0, 0))
        self._h_inv: Array = np.zeros((0, 0))

    def _initial(self, dim: int) -> list[Array]:
        rng = np.random.default_rng(self.seed)
        m = self.width
        return [
            rng.normal(0.0, math.sqrt(2.0), (m, dim)),  # He initialization for unit inputs
            np.zeros(m),
            rng.normal(0.0, math.sqrt(2.0 / m), (m, m)),
            np.zeros(m),
            rng.normal(0.0, math.sqrt(1.0 / m), m),
            np.zeros(1),
        ]

    def _forward(self, params: list[Array]) -> tuple[Array, list[Array]]:
        """``g`` on every candidate, and each layer's gradient pieces, per candidate."""
        w1, b1, w2, b2, w3, b3 = params
        a1 = self._x @ w1.T + b1
        h1 = np.maximum(a1, 0.0)
        a2 = h1 @ w2.T + b2
        h2 = np.maximum(a2, 0.0)
        d2 = (a2 > 0) * w3  # d g / d a2, per candidate
        d1 = (a1 > 0) * (d2 @ w2)  # d g / d a1
        return h2 @ w3 + b3[0], [h1, h2, d1, d2]

    def fit(self, x: npt.ArrayLike, duels: Sequence[tuple[int, int, float]]) -> DuelingNet:
        """Train on ``duels`` (``(a, b, outcome for a)``, indices into the rows of ``x``).

        Args:
            x: every candidate's embedding, shape ``(n, dim)``.
            duels: the comparisons so far; repeats and contradictions are fine.
        """
        self._x = _spread(np.asarray(x, np.float64))
        init = self._initial(self._x.shape[1])
        self._params = [p.copy() for p in init]
        g0, _ = self._forward(init)
        table = np.array(duels, np.float64).reshape(-1, 3)
        a, b, y = table[:, 0].astype(np.intp), table[:, 1].astype(np.intp), table[:, 2]
        if len(y):
            self._train(init, g0, a, b, y)
        g, (_, h2, _, _) = self._forward(self._params)
        self._utility, self._phi = g - g0, h2
        diffs = h2[a] - h2[b]
        s = _sigmoid(self._utility[a] - self._utility[b])
        prior = self.lam * np.eye(h2.shape[1])
        self._v_inv = _inverse(prior + diffs.T @ diffs)
        self._h_inv = _inverse(prior + (diffs * (s * (1 - s))[:, None]).T @ diffs)
        return self

    def _train(
        self,
        init: list[Array],
        g0: Array,
        a: npt.NDArray[np.intp],
        b: npt.NDArray[np.intp],
        y: Array,
    ) -> None:
        params, n = self._params, len(self._x)
        adam = Adam(params, init, self.lr, self.lam / len(y))
        for _ in range(self.epochs):
            g, (h1, h2, d1, d2) = self._forward(params)
            f = g - g0
            err = (_sigmoid(f[a] - f[b]) - y) / len(y)
            # d loss / d f per candidate: a duel pushes its two candidates apart or together.
            c = np.bincount(a, err, n) - np.bincount(b, err, n)
            grads = [
                (c[:, None] * d1).T @ self._x,
                c @ d1,
                (c[:, None] * d2).T @ h1,
                c @ d2,
                c @ h2,
                np.array([c.sum()]),
            ]
            adam.step(grads)

    def utility(self) -> Array:
        """``f`` of every candidate (0 for all of them before any duel)."""
        return self._utility.copy()

    def widths(self, j: int) -> Array:
        """``width(i, j)`` for every candidate ``i`` (0 for ``j`` itself)."""
        return _norms(self._phi - self._phi[j], self._v_inv)

    def std_errors(self, j: int) -> Array:
        """The standard error of ``f(x_i) - f(x_j)`` for every ``i``, from the Laplace
        approximation of the output layer's posterior: ``width`` with each duel's ``d d^T``
        weighted by its Bradley-Terry variance ``s (1 - s)`` (at most 1/4, so these are at
        least twice the widths once the duels dominate the prior)."""
        return _norms(self._phi - self._phi[j], self._h_inv)

    def pick(self) -> tuple[int, int]:
        """APOHF's next duel: the utility's argmax, then the best optimistic challenger.

        Ties go to the lower index. Needs at least two candidates.
        """
        first = int(np.argmax(self._utility))
        ucb = self._utility + self.nu * self.widths(first)
        ucb[first] = -np.inf
        return first, int(np.argmax(ucb))


def _norms(rows: Array, inverse: Array) -> Array:
    """``sqrt(r^T inverse r)`` for every row ``r``."""
    out: Array = np.sqrt(np.maximum(((rows @ inverse) * rows).sum(1), 0.0))
    return out


def _sigmoid(z: Array) -> Array:
    """The logistic function, without overflow for large ``|z|``."""
    out: Array = 0.5 * (1.0 + np.tanh(0.5 * z))
    return out


def _inverse(matrix: Array) -> Array:
    out: Array = np.linalg.inv(matrix).astype(np.float64)
    return out


def _spread(x: Array) -> Array:
    """``x`` centered on the candidates' mean, each row scaled to unit norm."""
    centered = x - x.mean(0)
    out: Array = centered / np.maximum(np.linalg.norm(centered, axis=1, keepdims=True), 1e-12)
    return out
