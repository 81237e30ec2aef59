"""A two-predictor pipeline and a metric for the CLI tests, loaded by file path (FILE.py:NAME).

``draft`` writes a rough answer, ``polish`` rewrites it. The tests copy this file into the
directory the ``promptc`` subprocess runs in, so an artifact's recorded entry can name it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import promptc


class DraftThenPolish(promptc.Module):
    """Draft an answer to the question, then polish the draft."""

    def __init__(self) -> None:
        self.draft = promptc.Predict("question -> draft")
        self.polish = promptc.Predict("question, draft -> answer")

    def forward(self, question: str) -> promptc.Prediction:
        draft = self.draft(question=question).draft
        return self.polish(question=question, draft=draft)


program = DraftThenPolish()


def polished(example: Mapping[str, Any], prediction: Any) -> float:
    """1.0 when the answer is the example's ``answer``."""
    return float(prediction["answer"] == example["answer"])


def not_a_program() -> None:
    """A callable that is not a Module: naming it as a program must never call it."""
    raise AssertionError("promptc called a callable named as a program")
