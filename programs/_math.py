"""Chain-of-thought math word problems with a numeric answer (GSM8K style)."""

from __future__ import annotations

from typing import Any

import promptc

__all__ = ["MathCoT"]


class WordProblem(promptc.Signature):
    """Solve the math word problem. Reason step by step, then give the final number."""

    question: str = promptc.InputField(desc="a grade-school math word problem")
    answer: float = promptc.OutputField(desc="the final answer: a number only, no units")


class MathCoT(promptc.ChainOfThought):
    """Writes its reasoning, then a numeric ``answer`` (``question -> reasoning, answer: float``).

    The answer is parsed as a number (``$1,200`` reads as 1200.0; a reply that is not a number
    is shown back to the model once). Score it with ``promptc.metrics.numeric_match``, which
    compares the number with the gold answer as GSM8K does (commas and ``$`` dropped)::

        program = MathCoT()
        promptc.evaluate(program, rows, "numeric_match")  # rows: {"question", "answer"}

    Args:
        instruction: replaces the default instruction.
        kwargs: as for :class:`promptc.ChainOfThought`.
    """

    def __init__(self, *, instruction: str | None = None, **kwargs: Any) -> None:
        signature: type[promptc.Signature] = WordProblem
        if instruction is not None:
            signature = signature.with_instruction(instruction)
        super().__init__(signature, **kwargs)
