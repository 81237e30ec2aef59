"""Who judges outputs when there are no labels: a Python function, an LM, or a person.

A judge answers a :class:`Question` (an input and two outputs, A and B) with a :data:`Verdict`:
``"A"``, ``"B"``, ``"tie"`` or ``"skip"``. ``compile(program, inputs, feedback=judge)`` learns
from these answers alone. :class:`FeedbackLog` keeps the answers in a file, so an interrupted
compile never asks a question twice; :class:`Person` asks a person through a local web page.
"""

from __future__ import annotations

from promptc.judges._log import FeedbackLog
from promptc.judges._pairwise import DEFAULT_RUBRIC, Pairwise
from promptc.judges._person import Person
from promptc.judges._types import VERDICTS, Feedback, Question, Verdict

__all__ = [
    "DEFAULT_RUBRIC",
    "VERDICTS",
    "Feedback",
    "FeedbackLog",
    "Pairwise",
    "Person",
    "Question",
    "Verdict",
]
