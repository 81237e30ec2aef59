from typing import Literal

import promptc


class Sentiment(promptc.Signature):
    """Classify the sentiment of a movie review."""

    review: str = promptc.InputField(desc="one sentence from a movie review")
    label: Literal["positive", "negative"] = promptc.OutputField()


program = promptc.Predict(Sentiment)
train = promptc.load_dataset("examples/data/reviews_train.jsonl")
dev = promptc.load_dataset("examples/data/reviews_dev.jsonl")

with promptc.context(lm=promptc.LM("local/qwen2.5-coder-0.5b")):
    print(program(review="A joyless slog.").label)
    result = promptc.compile(program, train, "exact_match", valset=dev, budget=100)
print(result.baseline.summary(), "->", result.best.summary())
result.save("examples/out/readme.yaml")
compiled = promptc.load("examples/out/readme.yaml")  # production: no optimizer dependencies
print(compiled(review="I grinned from start to finish.").label)
