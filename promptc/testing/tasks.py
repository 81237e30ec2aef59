"""A fake task for compile tests and benchmarks: label a word by its first letter."""

from __future__ import annotations

import itertools
import re
import zlib
from collections.abc import Iterable
from typing import ClassVar, Literal

from promptc._lm.backend import LMRequest

__all__ = ["WordTask"]

_WORD = re.compile(r"<word>\n(.*?)\n</word>", re.DOTALL)
_RETRY = "could not be used"  # the start of the adapter's parse-retry feedback


class WordTask:
    """A fake LM for the task "label a word ``a`` if it starts with a vowel, else ``b``".

    Pass an instance to :class:`~promptc.testing.FakeBackend` as its handler. How well the
    fake model labels depends on the prompt, so a compile has something to find:

    - ``needs="demos"``: right only when the prompt shows at least two demos, wrong otherwise
      (a demo-searching strategy wins; the uncompiled program scores 0).
    - ``needs="instruction"``: right when the instruction mentions a vowel, always wrong when
      it starts with ``WRONG``, and right on a fixed ~60% of words under any other instruction
      (an instruction-searching strategy wins).

    Either way it answers promptc's instruction proposer with :attr:`PROPOSALS` in turn (by
    rollout) and its variation prompt with a plain rewording, so every strategy can run on it.
    Replies are well-formed XML field tags, as promptc's adapter asks for::

        task = WordTask(needs="demos")
        lm = LM("fake/words", backend=FakeBackend(task), cache=False)
        rows = WordTask.rows(WordTask.words(24))
        promptc.compile(Predict(WordTask.SIGNATURE), rows[:16], "exact_match",
                        valset=rows[16:], lm=lm)

    Args:
        needs: what the fake model needs to answer right (see above).
    """

    SIGNATURE: ClassVar[str] = "word -> label: Literal['a', 'b']"
    #: What the fake proposer suggests, in turn: the instruction that works, and one that fails.
    PROPOSALS: ClassVar[tuple[str, str]] = (
        "Label a if the word starts with a vowel, else b.",
        "WRONG: invert everything.",
    )

    def __init__(self, needs: Literal["demos", "instruction"] = "demos") -> None:
        self.needs = needs

    def __repr__(self) -> str:
        return f"WordTask(needs={self.needs!r})"

    def __call__(self, request: LMRequest) -> str:
        """The fake model's completion for ``request``."""
        system = request.message_list[0]["content"]
        if system.startswith("You write instructions"):
            return _tag("proposed_instruction", self.PROPOSALS[request.rollout % 2])
        if system.startswith("Write a variation"):
            return _tag("variation", "Give the label of the word.")
        word = self.word(request)
        right = self.label(word)
        return _tag("label", right if self.knows(request, system, word) else _other(right))

    def knows(self, request: LMRequest, system: str, word: str) -> bool:
        """Whether the fake model answers ``word`` right under this prompt."""
        if self.needs == "demos":
            return self.demos(request) >= 2
        if "vowel" in system:
            return True
        return not system.startswith("WRONG") and zlib.crc32(word.encode()) % 10 < 6

    @staticmethod
    def label(word: str) -> str:
        """The gold label of ``word``: ``a`` when it starts with a vowel, else ``b``."""
        return "a" if word[0] in "aeiou" else "b"

    @staticmethod
    def words(n: int, start: int = 0) -> list[str]:
        """``n`` distinct words, vowel-initial and consonant-initial in turn (``bw0000``, ...)."""
        return [f"{_initial(i)}w{i:04d}" for i in range(start, start + n)]

    @classmethod
    def rows(cls, words: Iterable[str]) -> list[dict[str, str]]:
        """Labeled rows (``{"word": ..., "label": ...}``) for ``words``."""
        return [{"word": w, "label": cls.label(w)} for w in words]

    @staticmethod
    def word(request: LMRequest) -> str:
        """The word asked about, also in a parse retry (where the feedback is the last turn).

        Raises:
            ValueError: the request asks about no word.
        """
        users = [m["content"] for m in request.message_list if m["role"] == "user"]
        found = [m.group(1) for text in users if (m := _WORD.search(text))]
        if not found:
            raise ValueError(f"no <word> field in any user turn of {request.message_list!r}")
        return found[-1]

    @staticmethod
    def demos(request: LMRequest) -> int:
        """How many demos the prompt shows (a parse retry's rejected reply is not one)."""
        messages = request.message_list
        return sum(
            m["role"] == "assistant" and _RETRY not in after["content"]
            for m, after in itertools.pairwise(messages)
        )


def _initial(i: int) -> str:
    return "aeiou"[i % 5] if i % 2 else "bcdfg"[i % 5]


def _tag(name: str, value: str) -> str:
    return f"<{name}>{value}</{name}>"


def _other(label: str) -> str:
    return "b" if label == "a" else "a"
