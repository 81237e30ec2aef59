"""What a judge is asked and what it answers."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

__all__ = ["VERDICTS", "Feedback", "Question", "Verdict", "check_verdict", "swap"]

#: A judge's answer: output ``"A"`` is better, ``"B"`` is, they are as good (``"tie"``), or
#: the judge cannot tell (``"skip"``: the compile learns nothing from it).
Verdict: TypeAlias = Literal["A", "B", "tie", "skip"]
VERDICTS: tuple[Verdict, ...] = ("A", "B", "tie", "skip")


@dataclass(frozen=True)
class Question:
    """Which of two outputs is better for this input?

    Attributes:
        inputs: the program's inputs (field name -> value).
        a: output A: the first program's output fields (name -> value).
        b: output B: the second program's output fields.
    """

    inputs: dict[str, Any]
    a: dict[str, Any]
    b: dict[str, Any]

    def key(self) -> str:
        """A sha256 of the question's canonical JSON: the same input and outputs, the same key."""
        text = json.dumps([self.inputs, self.a, self.b], sort_keys=True, default=str)
        return "sha256:" + hashlib.sha256(text.encode()).hexdigest()

    def swapped(self) -> Question:
        """The same question with A and B exchanged."""
        return Question(self.inputs, self.b, self.a)


#: A feedback provider: a function of a :class:`Question` returning a :data:`Verdict`. An LM
#: judge (:class:`~promptc.judges.Pairwise`) and a person (:class:`~promptc.judges.Person`) are
#: providers too.
Feedback: TypeAlias = Callable[[Question], str]


def swap(verdict: Verdict) -> Verdict:
    """The verdict on the swapped question."""
    return {"A": "B", "B": "A"}.get(verdict, verdict)  # type: ignore[return-value]


def check_verdict(value: object, source: str) -> Verdict:
    """``value`` as a :data:`Verdict` (case and surrounding space ignored).

    Raises:
        ConfigurationError: ``value`` is not one of A, B, tie, skip.
    """
    from promptc.exceptions import ConfigurationError

    text = value.strip().lower() if isinstance(value, str) else None
    for verdict in VERDICTS:
        if text == verdict.lower():
            return verdict
    raise ConfigurationError(
        f"{source} answered {value!r}; expected one of 'A', 'B', 'tie', 'skip' (output A "
        "better, output B better, equally good, cannot tell)"
    )
