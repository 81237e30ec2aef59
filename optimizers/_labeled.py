"""Labeled few-shot: k training rows as demos for every predictor that the data covers."""

from __future__ import annotations

import random
from typing import Any

from promptc import Params
from promptc.compiler import Candidate, Optimizer, SearchSpace

__all__ = ["LabeledFewShot"]


class LabeledFewShot(Optimizer):
    """Proposes one candidate: ``k`` random labeled demos per predictor (seeded).

    Args:
        k: demos per predictor.
    """

    name = "labeled"

    def __init__(self, k: int = 4) -> None:
        self.k = k
        self._candidate: Candidate | None = None

    def setup(self, space: SearchSpace) -> None:
        rng = random.Random(space.seed)
        self._candidate = {
            name: Params(space.base[name].instruction, space.sample_demos(name, self.k, rng))
            for name in space.predictors
            if space.demo_pool(name)
        }

    def ask(self) -> Candidate | None:
        candidate, self._candidate = self._candidate, None
        return candidate or None  # no predictor has training rows: nothing to propose

    def config(self) -> dict[str, Any]:
        return {"k": self.k}
