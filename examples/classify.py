"""Classify questions by the kind of answer they expect, with promptc.programs.Classify.

    python examples/classify.py            # the embedded local model, offline
    PROMPTC_MODEL=openai/gpt-4o-mini OPENAI_API_KEY=... python examples/classify.py

Compile it: ``promptc compile examples/classify.py:program --train ... --val ...`` with rows
that have ``text`` and ``label`` columns (like ``TRAIN`` below).
"""

from __future__ import annotations

import sys

import promptc
from promptc.programs import Classify

LABELS = ["person", "place", "number", "other"]

program = Classify(
    LABELS,
    "Classify the question by the kind of answer it expects.",
    input_desc="a question",
)

TRAIN = [
    {"text": "Who wrote the novel Dracula?", "label": "person"},
    {"text": "In which country is Kyoto?", "label": "place"},
    {"text": "How many legs does a spider have?", "label": "number"},
    {"text": "What colour is a ripe banana?", "label": "other"},
]
DEV = [
    {"text": "Who painted the Mona Lisa?", "label": "person"},
    {"text": "Where is the Eiffel Tower?", "label": "place"},
    {"text": "How many days are in a leap year?", "label": "number"},
    {"text": "What language is spoken in Brazil?", "label": "other"},
    {"text": "Which city hosted the 2012 Olympics?", "label": "place"},
    {"text": "Who discovered penicillin?", "label": "person"},
]


def main() -> int:
    lm = promptc.default_lm()
    few_shot = program.with_params({"self": promptc.Params(program.params.instruction, TRAIN)})
    for name, candidate in (("zero-shot", program), ("4 demos", few_shot)):
        result = promptc.evaluate(candidate, DEV, "exact_match", lm=lm, num_threads=1)
        print(f"{name:<10} {result.summary()}")
    print(few_shot(text="How tall is Mount Everest in metres?").label)
    return 0


if __name__ == "__main__":
    sys.exit(main())
