"""A fake LM that answers promptc's prompts (XML tags) and DSPy's (``[[ ## field ## ]]``) alike.

It plays the two predictors of ``examples/from_dspy.py``: ``gist`` (the review's first three
words) and ``classify`` (reasoning + label). It knows every review's gold label, but gives it only
when the prompt shows at least one demo; without demos it says "negative". So a compile that finds
demos beats the uncompiled program, and a DSPy program that lost the demos answers differently.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from promptc import LM, LMRequest
from promptc.testing import FakeBackend

DATA = Path(__file__).resolve().parents[1] / "examples" / "data"
GOLD = {
    row["review"]: row["label"]
    for name in ("reviews_train.jsonl", "reviews_dev.jsonl")
    for row in map(json.loads, (DATA / name).read_text("utf-8").splitlines())
}
_XML = re.compile(r"<(\w+)>\n(.*?)\n</\1>", re.DOTALL)
_MARKER = re.compile(r"\[\[ ## (\w+) ## \]\]\n(.*?)(?:\n\n|\Z)", re.DOTALL)


def _reply(values: dict[str, str], dspy_format: bool) -> str:
    if dspy_format:
        body = "".join(f"[[ ## {k} ## ]]\n{v}\n\n" for k, v in values.items())
        return body + "[[ ## completed ## ]]"
    return "\n".join(f"<{k}>{v}</{k}>" for k, v in values.items())


def answer(request: LMRequest) -> str:
    """The fake's reply to one request, in the format the prompt asks for."""
    messages = [dict(m) for m in request.messages]
    system, last = messages[0]["content"], messages[-1]["content"]
    dspy_format = "[[ ## " in system
    asked = dict((_MARKER if dspy_format else _XML).findall(last))
    review = asked.get("review", "").strip().split(" (gist:")[0]
    if "gist" in system:
        return _reply({"gist": " ".join(review.lower().split()[:3])}, dspy_format)
    demos = sum(m["role"] == "assistant" for m in messages)
    label = GOLD.get(review, "negative") if demos else "negative"
    return _reply({"reasoning": f"{demos} demos shown", "label": label}, dspy_format)


def fake_lm() -> LM:
    """A promptc LM on the fake (no cache, no retries to wait for)."""
    return LM("fake/reviewer", backend=FakeBackend(answer), cache=False)
