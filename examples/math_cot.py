"""Chain-of-thought math word problems (GSM8K style) with promptc.programs.MathCoT.

    python examples/math_cot.py

The answer is a number; ``numeric_match`` scores it as GSM8K does. Compile with demos that carry
a ``reasoning`` column (GSM8K's rationales) and the ``racing`` or ``random`` optimizer.
"""

from __future__ import annotations

import sys

import promptc
from promptc.programs import MathCoT

program = MathCoT()

TRAIN = [
    {
        "question": "Tom has 3 boxes of 4 apples. He eats 2 apples. How many are left?",
        "reasoning": "3 boxes of 4 apples is 3 * 4 = 12 apples. After eating 2: 12 - 2 = 10.",
        "answer": 10,
    },
    {
        "question": "A pen costs $2 and a book costs $5. How much do 2 pens and a book cost?",
        "reasoning": "2 pens cost 2 * 2 = 4 dollars. With the book: 4 + 5 = 9 dollars.",
        "answer": 9,
    },
]
DEV = [
    {"question": "Sara reads 5 pages a day for 6 days. How many pages?", "answer": 30},
    {"question": "A class of 24 is split into teams of 4. How many teams are there?", "answer": 6},
    {"question": "Ben had 50 cents and spent 15 cents. How many cents are left?", "answer": 35},
]


def main() -> int:
    lm = promptc.default_lm()
    few_shot = program.with_params({"self": promptc.Params(program.params.instruction, TRAIN)})
    result = promptc.evaluate(few_shot, DEV, "numeric_match", lm=lm, num_threads=1)
    print(f"2 demos: {result.summary()}")
    for row in result.results:
        print(row.prediction)
    return 0


if __name__ == "__main__":
    sys.exit(main())
