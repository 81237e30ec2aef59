"""``--api-base``: the promptc command against an OpenAI-compatible stub server on 127.0.0.1."""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import run_cli

from promptc.testing import OpenAIStubServer

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "sentiment.py"
TRAIN = ROOT / "examples" / "data" / "reviews_train.jsonl"
DEV = ROOT / "examples" / "data" / "reviews_dev.jsonl"
KEY = "sk-cli-secret-42"


GOLD = {
    row["review"]: row["label"]
    for path in (TRAIN, DEV)
    for row in map(json.loads, path.read_text("utf-8").splitlines())
}


def label(body: dict[str, Any]) -> str:
    """The gold label of the review asked about (negative for one never seen)."""
    review = body["messages"][-1]["content"].split("<review>\n")[-1].split("\n</review>")[0]
    return f"<label>{GOLD.get(review, 'negative')}</label>"


@pytest.fixture
def server() -> Iterator[OpenAIStubServer]:
    with OpenAIStubServer(label) as stub:
        yield stub


def cli(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_BASE_URL", "PROMPTC_MODEL")}
    env["OPENAI_API_KEY"] = KEY
    return run_cli(*args, cwd=cwd, env=env, timeout=300)


def test_compile_eval_and_run_reach_the_given_endpoint(
    server: OpenAIStubServer, tmp_path: Path
) -> None:
    out = tmp_path / "sentiment.yaml"
    base = ["--model", "openai/stub-model", "--api-base", server.base_url]
    done = cli(
        "compile", f"{EXAMPLE}:program", "--train", TRAIN, "--val", DEV, "--k", "2",
        "--optimizer", "random", "--candidates", "2", "--budget", "60", "-o", out, *base,
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert re.search(
        r"^gain      [+-]\d\.\d{3} \[95% paired CI .*\] on the validation rows$", done.stdout, re.M
    )
    compiled_requests = len(server.requests)
    assert compiled_requests > 0
    text = out.read_text("utf-8")
    assert "openai/stub-model" in text and "127.0.0.1" not in text and KEY not in text

    done = cli("eval", out, "--data", DEV, *base, "--no-cache", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert ": 1.000 (" in done.stdout  # every dev row answered by the stub, from its gold label

    # run: no --model, so the artifact's own model, served where --api-base says
    review = '{"review": "a dull slog"}'
    done = cli("run", out, "--api-base", server.base_url, "--input", review, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == {"label": "negative"}
    assert len(server.requests) > compiled_requests
    assert all(r.headers["authorization"] == f"Bearer {KEY}" for r in server.requests)
    assert {r.body["model"] for r in server.requests} == {"stub-model"}


def test_a_bad_api_base_is_one_clear_line(tmp_path: Path) -> None:
    done = cli(
        "eval", f"{EXAMPLE}:program", "--data", DEV, "--model", "openai/m",
        "--api-base", "localhost:8000", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    first = done.stderr.strip().splitlines()[0]
    assert first.startswith("promptc: error: api_base must be an http(s) URL")
    assert "Traceback" not in done.stderr


def test_an_artifact_cannot_pick_the_provider_and_so_the_key(
    server: OpenAIStubServer, tmp_path: Path
) -> None:
    """A litellm prefix in a downloaded artifact would pick the host and the key sent
    ($ANTHROPIC_API_KEY to Anthropic, or to --api-base): only the user may name such a model."""
    from promptc import Predict
    from promptc.artifact import artifact_from_program, save_artifact

    program = Predict("review -> label")
    settings = {"model": "anthropic/claude-3-5-haiku", "temperature": 0.0, "max_tokens": 16}
    path = save_artifact(
        artifact_from_program(program, name="evil", lm_settings=settings), tmp_path / "evil.yaml"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_BASE_URL", "PROMPTC_MODEL")}
    env |= {"OPENAI_API_KEY": KEY, "ANTHROPIC_API_KEY": "sk-ant-canary"}
    review = '{"review": "my private review"}'
    for extra in ((), ("--api-base", server.base_url)):
        done = run_cli("run", path, *extra, "--input", review, cwd=tmp_path, env=env, timeout=120)
        assert done.returncode != 0
        assert "'anthropic/claude-3-5-haiku', which litellm serves" in done.stderr
        assert "--model anthropic/claude-3-5-haiku" in done.stderr
        assert "Traceback" not in done.stderr
    assert server.requests == []

    # the user names the model: the artifact's prompts, served where the user says
    mine = ("--model", "openai/stub-model", "--api-base", server.base_url)
    done = run_cli("run", path, *mine, "--input", review, cwd=tmp_path, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert [r.headers["authorization"] for r in server.requests] == [f"Bearer {KEY}"]
    assert "sk-ant-canary" not in json.dumps([r.body for r in server.requests])
