"""Answer short factoid questions with promptc.programs.QA, closed-book or from given context.

python examples/qa.py
"""

from __future__ import annotations

import sys

import promptc
from promptc.programs import QA

program = QA()
with_context = QA(with_context=True)

DEV = [
    {"question": "What is the capital of Italy?", "answer": "Rome"},
    {"question": "Which planet is known as the Red Planet?", "answer": "Mars"},
    {"question": "What is the chemical symbol for gold?", "answer": "Au"},
    {"question": "In which year did the Berlin Wall fall?", "answer": "1989"},
]
READING = [
    {
        "question": "Where was the author of the letter born?",
        "context": "The letter was written by Ada Byron. Ada Byron was born in London.",
        "answer": "London",
    },
    {
        "question": "How old was the bridge when it was repaired?",
        "context": "The bridge opened in 1900 and was repaired in 1950.",
        "answer": "50",
    },
]


def main() -> int:
    lm = promptc.default_lm()
    closed = promptc.evaluate(program, DEV, "token_f1", lm=lm, num_threads=1)
    print(f"closed-book  {closed.summary()}")
    reading = promptc.evaluate(with_context, READING, "token_f1", lm=lm, num_threads=1)
    print(f"with context {reading.summary()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
