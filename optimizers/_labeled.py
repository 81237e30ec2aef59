"""Labeled few-shot: k training rows as demos for every predictor that the data covers."""

from __future__ import annotations

import random

from promptc import Params
from promptc.compiler import Optimizer, PlanShape, SearchSpace, Trial

from ._flags import DEMOS

__all__ = ["LabeledFewShot"]


class LabeledFewShot(Optimizer):
    """Proposes one candidate: ``k`` random labeled demos per predictor (seeded).

    Args:
        k: demos per predictor.
    """

    name = "labeled"
    cli_options = (DEMOS,)
    plan_exact = True

    def __init__(self, k: int = 4) -> None:
        self.k = k
        self._trial: Trial | None = None

    def setup(self, space: SearchSpace) -> None:
        rng = random.Random(space.seed)
        candidate = {
            name: Params(space.base[name].instruction, space.sample_demos(name, self.k, rng))
            for name in space.predictors
            if space.demo_pool(name)
        }
        # No predictor has training rows to draw from: there is nothing to propose.
        self._trial = Trial(candidate) if candidate else None

    def ask(self) -> Trial | None:
        trial, self._trial = self._trial, None
        return trial

    def plan(self, shape: PlanShape) -> dict[str, int | None]:
        """One candidate on every validation row (none when no training row can be a demo)."""
        return {"search": shape.n_val if any(shape.demo_pools.values()) else 0}
