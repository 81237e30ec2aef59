"""A simulated judge for the preference benchmark: Bradley-Terry preferences from a hidden metric.

:class:`BTJudge` answers a compile from preferences (``compile(program, inputs, feedback=...)``)
the way a noisy annotator who knows the task would: it looks the question's input up among the
labelled rows it was given, scores both outputs with the task's metric, and prefers the
higher-scoring one with the Bradley-Terry probability ``1 / (1 + exp(-beta * (s_a - s_b)))``,
``beta = ln((1 - noise) / noise)``. For a metric that scores 0 or 1 that is: equal scores tie,
otherwise the better output wins except for a seeded flip with probability ``noise``. The
compile never sees the labels; only the judge does.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Iterable, Mapping
from typing import Any

from promptc.judges import Question
from promptc.metrics import Metric

__all__ = ["BTJudge"]


def _key(row: Mapping[str, Any], names: Iterable[str]) -> str:
    return json.dumps({n: row.get(n) for n in names}, sort_keys=True, default=str)


class BTJudge:
    """Preferences simulated from the hidden task metric (see the module docstring).

    Args:
        rows: the labelled rows the questions' inputs come from (inputs and labels).
        metric: the hidden task metric, ``metric(row, outputs) -> float`` in [0, 1].
        noise: the chance that a 0-vs-1 comparison goes to the worse output, in [0, 0.5]
            (0: a perfect judge; 0.5: a coin).
        seed: seeds the flips, so the same questions in the same order get the same answers.

    Attributes:
        calls: questions answered.
        ties: of those, answered ``"tie"`` (equal scores).
        flips: of those, answered for the lower-scoring output.
    """

    def __init__(
        self, rows: Iterable[Mapping[str, Any]], metric: Metric, noise: float, seed: int
    ) -> None:
        if not 0.0 <= noise <= 0.5:
            raise ValueError(
                f"noise must be a probability in [0, 0.5] (0.5: preferences are coin flips), "
                f"got {noise}"
            )
        self.rows = list(rows)
        self.metric, self.noise, self.seed = metric, noise, seed
        self.beta = math.inf if noise == 0 else math.log((1 - noise) / noise)
        self.calls = self.ties = self.flips = 0
        self._rng = random.Random(seed)
        self._index: dict[tuple[str, ...], dict[str, Mapping[str, Any]]] = {}

    def row_for(self, inputs: Mapping[str, Any]) -> Mapping[str, Any]:
        """The labelled row whose input fields equal ``inputs`` (the first one, if repeated).

        Raises:
            LookupError: no row has these inputs.
        """
        names = tuple(sorted(inputs))
        if names not in self._index:
            index: dict[str, Mapping[str, Any]] = {}
            for row in self.rows:
                index.setdefault(_key(row, names), row)
            self._index[names] = index
        found = self._index[names].get(_key(inputs, names))
        if found is None:
            raise LookupError(
                f"the judge was asked about inputs it has no labelled row for: "
                f"{dict(inputs)!r:.200}; give it the rows the compile's inputs come from"
            )
        return found

    def score(self, row: Mapping[str, Any], outputs: Mapping[str, Any]) -> float:
        """The hidden metric's score of ``outputs`` on ``row`` (an output it cannot read: 0)."""
        try:
            return float(self.metric(row, dict(outputs)))
        except (ValueError, TypeError, KeyError):
            return 0.0

    def prefer_a(self, s_a: float, s_b: float) -> float:
        """The Bradley-Terry probability that output A (scored ``s_a``) is preferred."""
        if math.isinf(self.beta):
            return 1.0 if s_a > s_b else 0.0 if s_a < s_b else 0.5
        return 1.0 / (1.0 + math.exp(-self.beta * (s_a - s_b)))

    def __call__(self, question: Question) -> str:
        """``"A"``, ``"B"`` or ``"tie"`` for ``question`` (never ``"skip"``)."""
        self.calls += 1
        row = self.row_for(question.inputs)
        s_a, s_b = self.score(row, question.a), self.score(row, question.b)
        if s_a == s_b:
            self.ties += 1
            return "tie"
        verdict = "A" if self._rng.random() < self.prefer_a(s_a, s_b) else "B"
        self.flips += (verdict == "A") != (s_a > s_b)
        return verdict

    def stats(self) -> dict[str, int | float]:
        """Calls, ties, flips and the noise, for a results file."""
        return {"calls": self.calls, "ties": self.ties, "flips": self.flips, "noise": self.noise}
