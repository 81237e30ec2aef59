"""Multi-hop question answering over a local corpus: query, BM25 retrieval, query, answer.

    pip install 'promptc[retrieve]'   # bm25s
    python examples/multihop.py

The corpus here is a handful of hand-written passages; ``benchmarks/`` builds one from the
HotPotQA distractor paragraphs (``promptc.programs.hotpotqa_passages``).
"""

from __future__ import annotations

import sys

import promptc
from promptc.programs import BM25Retriever, MultiHopQA

PASSAGES = [
    "Lake Vostok | Lake Vostok is the largest subglacial lake in Antarctica, under the ice "
    "near the Russian Vostok Station.",
    "Vostok Station | Vostok Station is a Russian research station founded in 1957 by the "
    "Soviet Antarctic Expedition.",
    "Mount Erebus | Mount Erebus is the southernmost active volcano on Earth, on Ross Island.",
    "Ross Island | Ross Island was discovered by James Clark Ross in 1841.",
    "James Clark Ross | James Clark Ross was a British Royal Navy officer and explorer, born "
    "in London in 1800.",
    "Antarctica | Antarctica is Earth's southernmost continent and contains the South Pole.",
]

program = MultiHopQA(BM25Retriever(PASSAGES, k=2), hops=2, passages_per_hop=2)

DEV = [
    {"question": "In which year was the station near Lake Vostok founded?", "answer": "1957"},
    {"question": "Where was the discoverer of Mount Erebus's island born?", "answer": "London"},
]


def main() -> int:
    lm = promptc.default_lm()
    with promptc.context(lm=lm):
        for row in DEV:
            out = program(question=row["question"])
            print(f"{row['question']}\n  queries {out.queries}\n  answer {out.answer!r}")
    result = promptc.evaluate(program, DEV, "token_f1", lm=lm, num_threads=1)
    print(result.summary())
    return 0


if __name__ == "__main__":
    sys.exit(main())
