"""``promptc compile FILE.py:PROGRAM`` with a DSPy program: converted, compiled, run, evaluated."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import run_cli
from dspy_fake import GOLD

import promptc
from promptc.testing import OpenAIStubServer

pytest.importorskip("dspy")

ROOT = Path(__file__).resolve().parents[1]
TRAIN = ROOT / "examples" / "data" / "reviews_train.jsonl"
DEV = ROOT / "examples" / "data" / "reviews_dev.jsonl"
PROGRAM = '''
from typing import Literal

import dspy


class Sentiment(dspy.Signature):
    """Classify the sentiment of a movie review."""

    review: str = dspy.InputField(desc="one sentence from a movie review")
    label: Literal["positive", "negative"] = dspy.OutputField()


class Reviewer(dspy.Module):
    def __init__(self):
        super().__init__()
        self.gist = dspy.Predict("review -> gist")
        self.classify = dspy.Predict(Sentiment)

    def forward(self, review: str):
        self.gist(review=review)
        return self.classify(review=review)


program = Reviewer()


def label_match(example, pred, trace=None):
    return example.label == pred.label
'''


def label(body: dict[str, Any]) -> str:
    """The gold label when the prompt shows demos, else "negative" (promptc's XML format)."""
    messages = body["messages"]
    if "gist" in messages[0]["content"]:
        return "<gist>a film</gist>"
    review = messages[-1]["content"].split("<review>\n")[-1].split("\n</review>")[0]
    shown = any(m["role"] == "assistant" for m in messages)
    return f"<label>{GOLD.get(review, 'negative') if shown else 'negative'}</label>"


@pytest.fixture
def server() -> Iterator[OpenAIStubServer]:
    with OpenAIStubServer(label) as stub:
        yield stub


def cli(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_BASE_URL", "PROMPTC_MODEL")}
    return run_cli(*args, cwd=cwd, env=env, timeout=300)


def test_compile_converts_a_dspy_program_and_run_and_eval_use_it(
    server: OpenAIStubServer, tmp_path: Path
) -> None:
    (tmp_path / "prog.py").write_text(PROGRAM, "utf-8")
    base = ["--model", "openai/stub", "--api-base", server.base_url]
    done = cli(
        "compile", "prog.py:program", "--train", TRAIN, "--val", DEV, "--metric",
        "prog.py:label_match", "--optimizer", "labeled", "--k", "2", "--budget", "100",
        "-o", "out.yaml", *base, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    artifact = promptc.load(tmp_path / "out.yaml").artifact
    assert artifact.program.name == "Reviewer" and artifact.program.entry == "prog.py:program"
    assert [p.name for p in artifact.predictors] == ["gist", "classify"]
    assert len(artifact.predictors[1].demos) == 2

    positive = next(r for r, lab in GOLD.items() if lab == "positive")
    done = cli("run", "out.yaml", "--api-base", server.base_url, "--input",
               json.dumps({"review": positive}), cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == {"label": "positive"}
    assert "prog.py:program" in done.stderr  # the recorded entry ran, converted again

    done = cli("eval", "out.yaml", "--data", DEV, "--program", "prog.py:Reviewer",
               "--metric", "prog.py:label_match", *base, "--no-cache", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert ": 1.000 (" in done.stdout


def test_an_unconvertible_dspy_program_is_one_line(tmp_path: Path) -> None:
    source = PROGRAM.replace(
        "dspy.Predict(Sentiment)", "dspy.ReAct(Sentiment, tools=[lambda review: review])"
    )
    (tmp_path / "prog.py").write_text(source, "utf-8")
    done = cli(
        "compile", "prog.py:program", "--train", TRAIN, "-o", "out.yaml",
        "--model", "openai/stub", "--api-base", "http://127.0.0.1:9", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode != 0
    error, *rest = done.stderr.strip().splitlines()
    assert error == (
        "promptc: error: cannot convert DSPy module 'classify': dspy.ReAct (it calls tools in a "
        "loop, and promptc has no tools)"
    )
    assert all(line.startswith("hint:") for line in rest), done.stderr
    assert not (tmp_path / "out.yaml").exists()
