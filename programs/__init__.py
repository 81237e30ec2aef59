"""Ready-made promptc programs (installed as ``promptc.programs``).

Each is an ordinary promptc module: run it inside ``promptc.context(lm=...)``, compile it with
``promptc.compile``, save and load it like any program. ``examples/`` has one script per program.

* :class:`Classify`: a text into one of fixed labels (a ``Literal`` output).
* :class:`QA`: short factoid answers, with or without given context.
* :class:`MathCoT`: chain-of-thought math word problems with a numeric answer (GSM8K style).
* :class:`MultiHopQA` with :class:`BM25Retriever`: query, retrieve, query again, answer.
* :class:`KthLetterConcat` and :func:`kth_letter_decompose`: Decomposed Prompting.
"""

from ._basic import QA, Classify
from ._letters import KthLetterConcat, kth_letter_decompose, kth_letters
from ._math import MathCoT
from ._multihop import BM25Retriever, MultiHopQA, hotpotqa_passages

__all__ = [
    "QA",
    "BM25Retriever",
    "Classify",
    "KthLetterConcat",
    "MathCoT",
    "MultiHopQA",
    "hotpotqa_passages",
    "kth_letter_decompose",
    "kth_letters",
]
