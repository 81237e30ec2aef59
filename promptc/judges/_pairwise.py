"""An LM as the judge of two outputs, asked twice with the outputs swapped (SPO's judge)."""

from __future__ import annotations

import logging
from typing import Literal

from promptc._lm.lm import LM
from promptc._program.module import Predict
from promptc._program.signature import InputField, OutputField, Signature
from promptc._program.types import format_value
from promptc.exceptions import ConfigurationError, OutputParseError
from promptc.judges._types import Question, Verdict, swap

__all__ = ["DEFAULT_RUBRIC", "Pairwise"]

logger = logging.getLogger(__name__)

DEFAULT_RUBRIC = (
    "Prefer the response that answers the request correctly, completely and concisely, in the "
    "form the request asks for."
)


class PairwiseComparison(Signature):
    """Compare two responses to the same request."""

    request: str = InputField(desc="the input both responses answer")
    response_a: str = InputField(desc="response A")
    response_b: str = InputField(desc="response B")
    better: Literal["A", "B", "tie"] = OutputField(
        desc="A if response A is better, B if response B is better, tie if they are equally good"
    )


def _text(values: dict[str, object]) -> str:
    if len(values) == 1:
        return format_value(next(iter(values.values())))
    return "\n".join(f"{name}: {format_value(value)}" for name, value in values.items())


class Pairwise:
    """An LM judge: which of two outputs is better for this input, by a rubric.

    Each question is asked twice, with output A first and then with the outputs swapped: an LM
    that prefers whichever output comes first (position bias, common in small models) then
    contradicts itself, and a contradiction counts as a tie. Both requests go through the LM
    in use, so a compile counts them against its LM-request budget.

    Args:
        lm: the judge LM (default: the LM in context, i.e. the compile's).
        rubric: what makes an output better, in a sentence or two.

    Raises:
        ConfigurationError: an empty rubric.
    """

    def __init__(self, lm: LM | None = None, rubric: str = DEFAULT_RUBRIC) -> None:
        if not isinstance(rubric, str) or not rubric.strip():
            raise ConfigurationError(
                f"expected a rubric saying what makes an output better, got {rubric!r}"
            )
        self.lm = lm
        self.rubric = rubric.strip()
        instruction = f"{PairwiseComparison.instruction} {self.rubric}"
        self._predict = Predict(PairwiseComparison.with_instruction(instruction), lm=lm)
        self.contradictions = 0  # questions whose two orders disagreed (counted as ties)

    def __call__(self, question: Question) -> Verdict:
        """The verdict on ``question``: consistent across both orders, else ``"tie"``;
        ``"skip"`` when a reply does not parse."""
        first = self._ask(question)
        second = self._ask(question.swapped())
        if first is None or second is None:
            return "skip"
        if first == swap(second):
            return first
        self.contradictions += 1
        return "tie"

    def _ask(self, question: Question) -> Verdict | None:
        try:
            reply = self._predict(
                request=_text(question.inputs),
                response_a=_text(question.a),
                response_b=_text(question.b),
            )
        except OutputParseError as exc:  # this judgement is missing; transport errors propagate
            logger.warning("the judge's reply was not a verdict: %s", exc)
            return None
        verdict: Verdict = reply.better
        return verdict

    def __repr__(self) -> str:
        model = self.lm.model if self.lm is not None else "the compile's LM"
        return f"Pairwise({model}, rubric={self.rubric!r})"
