"""Random search over demo sets: the reference strategy every other one must beat."""

from __future__ import annotations

import random

from promptc import Params
from promptc.compiler import Optimizer, PlanShape, SearchSpace, Trial

from ._flags import CANDIDATES, DEMOS

__all__ = ["RandomSearch"]


class RandomSearch(Optimizer):
    """Proposes ``num_candidates`` random ordered demo sets of size ``k`` per predictor.

    Every candidate is scored on all validation rows; the best one is kept if it beats the
    uncompiled program.

    Args:
        k: demos per predictor.
        num_candidates: how many candidates to propose.
    """

    name = "random"
    cli_options = (DEMOS, CANDIDATES)
    plan_exact = True

    def __init__(self, k: int = 4, num_candidates: int = 8) -> None:
        self.k = k
        self.num_candidates = num_candidates
        self._space: SearchSpace | None = None
        self._rng = random.Random(0)
        self._asked = 0

    def setup(self, space: SearchSpace) -> None:
        self._space = space
        self._rng = random.Random(space.seed)
        self._asked = 0

    def ask(self) -> Trial | None:
        space = self._space
        if space is None or self._asked >= self.num_candidates:
            return None
        self._asked += 1
        candidate = {
            name: Params(space.base[name].instruction, space.sample_demos(name, self.k, self._rng))
            for name in space.predictors
            if space.demo_pool(name)
        }
        return Trial(candidate) if candidate else None

    def plan(self, shape: PlanShape) -> dict[str, int | None]:
        """Every candidate on every validation row (a repeated candidate is not scored again)."""
        if not any(shape.demo_pools.values()):
            return {"search": 0}
        return {"search": self.num_candidates * shape.n_val}
