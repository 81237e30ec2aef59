"""Decomposed Prompting: concatenate the k-th letter of every word.

    python examples/letters.py

``program`` splits the words in code and asks one small prompt per word; ``controlled`` lets a
controller prompt choose the steps (promptc.Decompose). Labels come from ``kth_letters``.
"""

from __future__ import annotations

import sys

import promptc
from promptc.programs import KthLetterConcat, kth_letter_decompose, kth_letters

K = 2
program = KthLetterConcat(K, chunk=3)
controlled = kth_letter_decompose(K)

TEXTS = ["Augusta Ada King", "Grace Brewster Murray Hopper", "Alan Mathison Turing"]
DEV = [{"text": t, "answer": kth_letters(t, K)} for t in TEXTS]


def main() -> int:
    lm = promptc.default_lm()
    for name, candidate in (("code controller", program), ("prompt controller", controlled)):
        result = promptc.evaluate(candidate, DEV, "exact_match", lm=lm, num_threads=1)
        print(f"{name:<18} {result.summary()}")
        for row in result.results:
            print(f"  {row.inputs['text']!r} -> {row.prediction or row.error}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
