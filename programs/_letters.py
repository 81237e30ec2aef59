"""Decomposed Prompting on k-th letter concatenation (Khot et al. 2023, their first task).

"Take the 2nd letter of every word in 'Augusta Ada King' and concatenate them" is hard for a
small model in one prompt and easy once split: a controller splits the words, a sub-task prompt
takes one word's k-th letter, and code joins the letters. Two controllers are offered:

* :class:`KthLetterConcat`: the controller is code (DecomP: "sub-tasks are replaceable by
  code"), with recursion on long inputs; only the letter prompt is tuned.
* :func:`kth_letter_decompose`: the controller is a prompt too (:class:`promptc.Decompose`),
  which chooses ``split``, ``kth_letter`` and ``join`` calls step by step.
"""

from __future__ import annotations

import json
from typing import Any

import promptc
from promptc.exceptions import ConfigurationError

__all__ = ["KthLetterConcat", "kth_letter_decompose", "kth_letters"]

_ORDINALS = {1: "1st", 2: "2nd", 3: "3rd"}


def _ordinal(k: int) -> str:
    return _ORDINALS.get(k, f"{k}th")


def kth_letters(text: str, k: int) -> str:
    """The answer computed directly: the k-th letter of each word (words too short give none).

    Use it to label data and to check a program's answers.
    """
    return "".join(word[k - 1] for word in text.split() if len(word) >= k)


def _letter_signature(k: int) -> type[promptc.Signature]:
    return promptc.make_signature(
        "word -> letter",
        f"Give the {_ordinal(k)} letter of the word, counting from the left, exactly as written.",
        name="KthLetter",
        descriptions={"word": "one word", "letter": "a single character"},
    )


class KthLetterConcat(promptc.Module):
    """The k-th letter of every word of ``text``, concatenated (``text -> answer``).

    The controller is Python: it splits ``text`` on white space, asks the ``letter`` prompt
    for each word's k-th letter (words shorter than k are skipped, as :func:`kth_letters`
    does), and joins the letters. An input longer than ``chunk`` words is split in halves that
    are solved recursively, so every call sees a short input (DecomP's recursion); the prompt
    is the same at every depth.

    Args:
        k: which letter (1 = first).
        chunk: the most words handled without splitting.
    """

    def __init__(self, k: int = 1, *, chunk: int = 4) -> None:
        if k < 1 or chunk < 1:
            raise ConfigurationError(f"k and chunk must be at least 1, got k={k}, chunk={chunk}")
        self.k = k
        self.chunk = chunk
        self.letter = promptc.Predict(_letter_signature(k))

    def forward(self, text: str) -> promptc.Prediction:
        return promptc.Prediction({"answer": self._solve(text.split())})

    def _solve(self, words: list[str]) -> str:
        if len(words) > self.chunk:
            half = len(words) // 2
            return self._solve(words[:half]) + self._solve(words[half:])
        letters = []
        for word in words:
            if len(word) < self.k:
                continue
            letters.append(str(self.letter(word=word).letter).strip()[:1])
        return "".join(letters)


class ConcatLetters(promptc.Signature):
    """Concatenate the k-th letters of the words."""

    text: str = promptc.InputField(desc="words separated by spaces")
    answer: str = promptc.OutputField(desc="the letters joined, no spaces")


def _split(text: str) -> list[str]:
    """split a text into its words (returns a JSON list)"""
    return text.split()


def _join(text: str) -> str:
    """join letters given as a JSON list, or separated by spaces, into one string"""
    try:
        items = json.loads(text)
    except json.JSONDecodeError:
        items = text.split()
    return "".join(str(x) for x in items) if isinstance(items, list) else str(items)


def kth_letter_decompose(k: int = 1, **kwargs: Any) -> promptc.Decompose:
    """A :class:`promptc.Decompose` program whose controller prompt solves the task step by step.

    Sub-tasks: ``split`` and ``join`` (code) and ``kth_letter`` (a prompt). Its predictors are
    ``controller`` and ``subtasks[kth_letter]``; both can be compiled.

    Args:
        k: which letter (1 = first).
        kwargs: as for :class:`promptc.Decompose` (``max_steps``, ``recursive``, ``lm``, ...).
    """
    if k < 1:
        raise ConfigurationError(f"k must be at least 1, got {k}")
    task = ConcatLetters.with_instruction(
        f"Concatenate the {_ordinal(k)} letter of every word of the text."
    )
    subtasks: dict[str, Any] = {
        "split": promptc.Subtask(_split, "split the text into words"),
        "kth_letter": promptc.Subtask(
            promptc.Predict(_letter_signature(k)), f"the {_ordinal(k)} letter of one word"
        ),
        "join": promptc.Subtask(_join, "join a JSON list of letters into one string"),
    }
    kwargs.setdefault("max_steps", 12)
    return promptc.Decompose(task, subtasks, **kwargs)
