"""Random search over demo sets: the reference strategy every other one must beat."""

from __future__ import annotations

import random
from typing import Any

from promptc import Params
from promptc.compiler import Candidate, EvalResult, Optimizer, SearchSpace

__all__ = ["RandomSearch"]


class RandomSearch(Optimizer):
    """Proposes ``num_candidates`` random ordered demo sets of size ``k`` per predictor.

    Args:
        k: demos per predictor.
        num_candidates: how many candidates to propose.
    """

    name = "random"

    def __init__(self, k: int = 4, num_candidates: int = 8) -> None:
        self.k = k
        self.num_candidates = num_candidates
        self._space: SearchSpace | None = None
        self._rng = random.Random(0)
        self._asked = 0
        self.history: list[tuple[Candidate, float]] = []

    def setup(self, space: SearchSpace) -> None:
        self._space = space
        self._rng = random.Random(space.seed)
        self._asked = 0
        self.history = []

    def ask(self) -> Candidate | None:
        space = self._space
        if space is None or self._asked >= self.num_candidates:
            return None
        self._asked += 1
        return {
            name: Params(space.base[name].instruction, space.sample_demos(name, self.k, self._rng))
            for name in space.predictors
            if space.demo_pool(name)
        } or None

    def tell(self, candidate: Candidate, result: EvalResult) -> None:
        self.history.append((candidate, result.mean))

    def config(self) -> dict[str, Any]:
        return {"k": self.k, "num_candidates": self.num_candidates}
