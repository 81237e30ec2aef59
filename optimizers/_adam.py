"""The Adam step both surrogates (EASE's NeuralUCB, APOHF's dueling net) train with, pulled
towards their seeded initial weights (NeuralUCB's regularizer)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["Adam"]

Array = npt.NDArray[np.float64]


class Adam:
    """Full-batch Adam (beta1 0.9, beta2 0.999) on ``params`` in place, with an L2 pull of
    weight ``pull`` towards ``init``."""

    def __init__(self, params: list[Array], init: list[Array], lr: float, pull: float) -> None:
        self.params, self.init, self.lr, self.pull = params, init, lr, pull
        self.moments = [np.zeros_like(p) for p in params]
        self.squares = [np.zeros_like(p) for p in params]
        self.steps = 0

    def step(self, grads: list[Array]) -> None:
        """One update of every parameter from its loss gradient."""
        self.steps += 1
        t = self.steps
        for i, (p, p0, grad) in enumerate(zip(self.params, self.init, grads, strict=True)):
            grad = grad + self.pull * (p - p0)
            self.moments[i] = 0.9 * self.moments[i] + 0.1 * grad
            self.squares[i] = 0.999 * self.squares[i] + 0.001 * grad**2
            m_hat = self.moments[i] / (1 - 0.9**t)
            v_hat = self.squares[i] / (1 - 0.999**t)
            p -= self.lr * m_hat / (np.sqrt(v_hat) + 1e-8)
