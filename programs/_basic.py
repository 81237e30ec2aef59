"""Single-prompt programs: classification with fixed labels, and question answering."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import promptc
from promptc.exceptions import ConfigurationError

__all__ = ["QA", "Classify"]


def _label_signature(
    labels: Sequence[str], instruction: str, text: str, label: str, desc: str
) -> type[promptc.Signature]:
    """A signature ``text -> label: Literal[*labels]`` built with the public class syntax."""
    namespace: dict[str, Any] = {
        "__doc__": instruction,
        "__module__": __name__,
        "__annotations__": {text: str, label: Literal[tuple(labels)]},
        text: promptc.InputField(desc=desc),
        label: promptc.OutputField(desc=f"one of: {', '.join(labels)}"),
    }
    return type("Classification", (promptc.Signature,), namespace)


class Classify(promptc.Predict):
    """One prompt that puts a text into one of a fixed set of labels.

    The output field is typed ``Literal[*labels]``, so a reply outside the labels is a parse
    error (shown back to the model once), never a silent wrong label::

        program = Classify(["positive", "negative"], "Classify the sentiment of a review.")
        program(text="A joyless slog.").label  # "negative"

    Args:
        labels: the allowed labels, in the order they are listed to the model.
        instruction: the task instruction (compilers may replace it).
        input_name: the name of the input field (a dataset column).
        output_name: the name of the output field (the gold label's column).
        input_desc: a description of the input shown to the model.
        kwargs: as for :class:`promptc.Predict` (``demos``, ``lm``, ...).

    Raises:
        ConfigurationError: fewer than two labels, a repeated or empty label.
    """

    def __init__(
        self,
        labels: Sequence[str],
        instruction: str = "Classify the text.",
        *,
        input_name: str = "text",
        output_name: str = "label",
        input_desc: str = "the text to classify",
        **kwargs: Any,
    ) -> None:
        if isinstance(labels, str):
            raise ConfigurationError(f"labels must be a list of strings, got the string {labels!r}")
        labels = list(labels)
        if len(labels) < 2 or len(set(labels)) != len(labels):
            raise ConfigurationError(
                f"Classify needs at least two distinct labels, got {labels!r}; "
                "pass e.g. labels=['positive', 'negative']"
            )
        if not all(isinstance(x, str) and x.strip() for x in labels):
            raise ConfigurationError(f"every label must be a non-empty string, got {labels!r}")
        self.labels = tuple(labels)
        signature = _label_signature(labels, instruction, input_name, output_name, input_desc)
        super().__init__(signature, **kwargs)


class Question(promptc.Signature):
    """Answer the question with a short factoid answer: a few words, no full sentence."""

    question: str = promptc.InputField(desc="the question")
    answer: str = promptc.OutputField(desc="often a name, a date, a number, or yes/no")


class QuestionWithContext(Question):
    """Answer the question from the context with a short factoid answer: a few words."""

    context: str = promptc.InputField(desc="passages that may hold the answer")


class QA(promptc.Predict):
    """One prompt that answers a question briefly (``question -> answer``).

    Score it with ``exact_match`` or ``token_f1`` on rows with ``question`` and ``answer``.

    Args:
        with_context: add a ``context`` input (passages given by the caller) after the question.
        instruction: replaces the default instruction.
        kwargs: as for :class:`promptc.Predict`.
    """

    def __init__(
        self, *, with_context: bool = False, instruction: str | None = None, **kwargs: Any
    ) -> None:
        signature: type[promptc.Signature] = QuestionWithContext if with_context else Question
        if instruction is not None:
            signature = signature.with_instruction(instruction)
        self.with_context = with_context
        super().__init__(signature, **kwargs)
