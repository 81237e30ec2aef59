"""Classify movie-review sentiment with a typed promptc program.

Run it on the embedded local model (no API key, offline):

    python examples/sentiment.py

or on a hosted model: ``PROMPTC_MODEL=openai/gpt-4o-mini OPENAI_API_KEY=... python ...``.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Literal

import promptc

DATA = Path(__file__).parent / "data"


class Sentiment(promptc.Signature):
    """Classify the sentiment of a movie review."""

    review: str = promptc.InputField(desc="one sentence from a movie review")
    label: Literal["positive", "negative"] = promptc.OutputField(desc="the review's sentiment")


program = promptc.Predict(Sentiment)


def load(name: str) -> list[dict[str, str]]:
    """Read one of the example's JSONL files."""
    with (DATA / name).open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def main() -> int:
    rows = load("reviews_dev.jsonl")
    lm = promptc.default_lm()
    print(f"model: {lm.model}  examples: {len(rows)}")
    correct, start = 0, time.perf_counter()
    with promptc.context(lm=lm):
        for row in rows:
            label = program(review=row["review"]).label
            correct += label == row["label"]
            mark = "ok " if label == row["label"] else "ERR"
            print(f"{mark} {label:<8} | {row['review']}")
    usage = lm.usage.total()
    print(
        f"accuracy {correct}/{len(rows)} = {correct / len(rows):.2f}  |  LM calls {usage.calls}, "
        f"cache hits {usage.cache_hits}, tokens {usage.prompt_tokens}+{usage.completion_tokens}, "
        f"{time.perf_counter() - start:.1f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
