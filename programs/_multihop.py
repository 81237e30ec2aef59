"""Multi-hop question answering over a local corpus with a BM25 retriever.

After the multi-hop programs of Baleen and DSPy's HotPotQA examples: a prompt writes a search
query, BM25 fetches passages, a second prompt writes the next query from what was found, BM25
fetches more, and a last prompt answers from all the passages. Each of the three prompts is a
:class:`promptc.Predict` that a compiler can tune; the retriever is plain code.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import promptc
from promptc.exceptions import ConfigurationError

__all__ = ["BM25Retriever", "MultiHopQA", "hotpotqa_passages"]

_INSTALL_HINT = "BM25Retriever needs bm25s: pip install 'promptc[retrieve]' (or pip install bm25s)"


class BM25Retriever:
    """Ranks a fixed list of passages for a query with BM25 (the ``bm25s`` library).

    The index is built on the first search (English stop words removed, no stemming) and shared
    by copies of a program: a retriever is a resource, like an LM, not program state.

    Args:
        passages: the corpus, one string per passage.
        k: passages returned per search by default.
    """

    def __init__(self, passages: Iterable[str], *, k: int = 3) -> None:
        self.passages = [str(p) for p in passages]
        if not self.passages:
            raise ConfigurationError("BM25Retriever needs at least one passage")
        if k < 1:
            raise ConfigurationError(f"k must be at least 1, got {k}")
        self.k = k
        self._index: Any = None
        self._lock = threading.Lock()

    def __deepcopy__(self, memo: dict[int, Any]) -> BM25Retriever:
        return self

    def __len__(self) -> int:
        return len(self.passages)

    def _bm25(self) -> tuple[Any, Any]:
        try:
            import bm25s
        except ImportError as exc:
            raise ImportError(_INSTALL_HINT) from exc
        with self._lock:
            if self._index is None:
                tokens = bm25s.tokenize(self.passages, stopwords="en", show_progress=False)
                index = bm25s.BM25()
                index.index(tokens, show_progress=False)
                self._index = index
        return bm25s, self._index

    def search(self, query: str, k: int | None = None) -> list[tuple[str, float]]:
        """The best ``k`` passages for ``query`` with their BM25 scores, best first.

        Passages that share no term with the query (score 0) are left out.
        """
        bm25s, index = self._bm25()
        k = min(k or self.k, len(self.passages))
        tokens = bm25s.tokenize([str(query)], stopwords="en", show_progress=False)
        if not tokens.ids[0]:  # only stop words or punctuation: nothing to match
            return []
        ids, scores = index.retrieve(tokens, k=k, show_progress=False, n_threads=1)
        return [
            (self.passages[int(i)], float(s))
            for i, s in zip(ids[0], scores[0], strict=True)
            if float(s) > 0
        ]

    def __call__(self, query: str, k: int | None = None) -> list[str]:
        """The best ``k`` passages for ``query``, best first."""
        return [passage for passage, _ in self.search(query, k)]


class FirstQuery(promptc.Signature):
    """Write a short search query that finds a passage needed to answer the question."""

    question: str = promptc.InputField(desc="a question that may need two facts to answer")
    query: str = promptc.OutputField(desc="a few keywords, e.g. a name or a title")


class NextQuery(promptc.Signature):
    """Write a short search query for the missing fact needed to answer the question, using
    what the passages found so far say."""

    question: str = promptc.InputField(desc="a question that may need two facts to answer")
    context: str = promptc.InputField(desc="passages found so far")
    query: str = promptc.OutputField(desc="a few keywords, e.g. a name or a title")


class AnswerFromPassages(promptc.Signature):
    """Answer the question from the passages with a short factoid answer: a few words."""

    question: str = promptc.InputField(desc="the question")
    context: str = promptc.InputField(desc="passages that may hold the answer")
    answer: str = promptc.OutputField(desc="often a name, a date, a number, or yes/no")


def _context(passages: Sequence[str]) -> str:
    return "\n".join(f"[{i}] {p}" for i, p in enumerate(passages, start=1)) or "(nothing found)"


class MultiHopQA(promptc.Module):
    """Query, retrieve, query again from what was found, retrieve, answer.

    Predictors (``named_predictors()``): ``generate_query[0]`` (``question -> query``),
    ``generate_query[1]`` ... (``question, context -> query``), and ``answer``
    (``question, context -> answer``). Passages found by every hop are kept, without repeats,
    in the order found.

    Args:
        retriever: any ``retriever(query) -> list[str]``, e.g. :class:`BM25Retriever`.
        hops: search rounds (at least 1).
        passages_per_hop: passages kept from each search.
    """

    def __init__(self, retriever: Any, *, hops: int = 2, passages_per_hop: int = 3) -> None:
        if hops < 1:
            raise ConfigurationError(f"hops must be at least 1, got {hops}")
        self.retriever = retriever
        self.passages_per_hop = passages_per_hop
        self.generate_query = [
            promptc.Predict(FirstQuery if hop == 0 else NextQuery) for hop in range(hops)
        ]
        self.answer = promptc.Predict(AnswerFromPassages)

    def forward(self, question: str) -> promptc.Prediction:
        found: list[str] = []
        queries: list[str] = []
        for hop, generate in enumerate(self.generate_query):
            context = {"context": _context(found)} if hop else {}
            query = generate(question=question, **context).query
            queries.append(query)
            for passage in self.retriever(query, self.passages_per_hop):
                if passage not in found:
                    found.append(passage)
        answer = self.answer(question=question, context=_context(found)).answer
        return promptc.Prediction({"answer": answer, "queries": queries, "passages": found})


def hotpotqa_passages(rows: Iterable[Mapping[str, Any]]) -> list[str]:
    """The distinct paragraphs of HotPotQA rows' ``context`` as ``"Title | text"`` passages.

    ``context`` is HotPotQA's ``[[title, [sentence, ...]], ...]`` (the distractor setting:
    the two gold paragraphs and eight distractors per question).
    """
    passages: dict[str, None] = {}
    for row in rows:
        for title, sentences in row.get("context") or []:
            text = "".join(sentences).strip()
            passages.setdefault(f"{title} | {text}", None)
    return list(passages)
