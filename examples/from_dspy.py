"""A DSPy program, compiled by promptc under a budget, handed back to DSPy.

1. ``promptc.from_dspy``: the DSPy program (two predictors, one ``ChainOfThought``) becomes a
   promptc program; its ``forward`` runs as written.
2. ``promptc.compile`` with a DSPy-style metric (``metric(example, pred, trace=None)``) under a
   budget of LM requests; the artifact and its report are written to ``examples/out/``.
3. ``promptc.to_dspy``: the compiled instructions and demos go into a fresh DSPy program, which
   DSPy saves and loads in its own JSON format and runs (through ``dspy_lm``, on the same LM).

Run it from the repository root on the embedded model (offline; ``pip install -e '.[dspy,local]'``
and ``promptc models pull qwen2.5-coder-0.5b``):

    python examples/from_dspy.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Literal

import dspy

import promptc
from promptc.interop.dspy import dspy_lm
from promptc.optimizers import Racing

DATA = Path(__file__).parent / "data"


class Sentiment(dspy.Signature):
    """Classify the sentiment of a movie review."""

    review: str = dspy.InputField(desc="one sentence from a movie review")
    label: Literal["positive", "negative"] = dspy.OutputField()


class Reviewer(dspy.Module):
    """Says what a review is about in a few words, then classifies it with its gist."""

    def __init__(self) -> None:
        super().__init__()
        self.gist = dspy.Predict("review -> gist")
        self.classify = dspy.ChainOfThought(Sentiment)

    def forward(self, review: str) -> Any:
        gist = self.gist(review=review).gist
        return self.classify(review=f"{review} (gist: {gist})")


def label_match(example: Any, pred: Any, trace: Any = None) -> bool:
    """A metric as DSPy users write them: attribute access, an optional trace."""
    return bool(example.label == pred.label)


def rows(name: str, limit: int) -> list[dspy.Example]:
    """The example's reviews as DSPy examples (promptc reads them as dataset rows)."""
    with (DATA / name).open(encoding="utf-8") as fh:
        data = [json.loads(line) for line in fh if line.strip()][:limit]
    return [dspy.Example(**row).with_inputs("review") for row in data]


def dspy_label(program: Reviewer, review: str) -> str:
    """DSPy's answer; a small model may not follow DSPy's ``[[ ## field ## ]]`` reply format."""
    try:
        return str(program(review=review).label)
    except dspy.AdapterParseError:
        return "(unparsable)"


def main(
    lm: promptc.LM | None = None, out: Path = Path("examples/out"), budget: int = 80
) -> dict[str, Any]:
    """Convert, compile, export and run the program; return what both systems answered."""
    lm = lm or promptc.default_lm()
    train, dev = rows("reviews_train.jsonl", 8), rows("reviews_dev.jsonl", 8)
    program = promptc.from_dspy(Reviewer())
    print("promptc predictors:", [name for name, _ in program.named_predictors()])
    search = Racing(num_instructions=0, num_variants=0, num_resample=0, num_candidates=4)
    with promptc.context(lm=lm):
        result = promptc.compile(
            program, train, label_match, valset=dev, optimizer=search, budget=budget
        )
        ours = [result.program(review=row.review).label for row in dev]
    print(result)
    artifact = result.save(out / "from_dspy.yaml")

    exported = promptc.to_dspy(artifact, Reviewer())
    exported.save(str(out / "from_dspy.json"))
    reloaded = Reviewer()
    reloaded.load(str(out / "from_dspy.json"))
    with dspy.context(lm=dspy_lm(lm)):
        theirs = [dspy_label(reloaded, row.review) for row in dev]
    same = sum(a == b for a, b in zip(ours, theirs, strict=True))
    print(f"promptc and DSPy agree on {same} of {len(dev)} dev rows")
    for row, a, b in zip(dev, ours, theirs, strict=True):
        print(f"gold {row.label:<8} promptc {a:<8} dspy {b:<8} | {row.review}")
    return {"result": result, "promptc": ours, "dspy": theirs, "dspy_program": reloaded}


if __name__ == "__main__":
    main()
    sys.exit(0)
