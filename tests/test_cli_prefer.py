"""``promptc compile --feedback``: a compile from preferences from the command line, in a real
subprocess, its LM an OpenAI-compatible stub server on 127.0.0.1 playing the word task (right
only when the prompt shows demos), its judge a Python function given as FILE.py:FUNCTION."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import run_cli

from promptc import LMRequest
from promptc.testing import OpenAIStubServer, WordTask

pytest.importorskip("numpy")

JUDGE = '''
import json, os, pathlib

def prefer(question):
    """Prefers the right label; logs every question it is asked (one JSON line each)."""
    with open(os.environ["ASKED_LOG"], "a") as f:
        f.write(json.dumps(question.inputs) + "\\n")
    if os.environ.get("JUDGE_MUST_NOT_BE_ASKED"):
        raise AssertionError("asked again although the feedback log had the answer")
    word = question.inputs["word"]
    right = "a" if word[0] in "aeiou" else "b"
    a, b = question.a["label"] == right, question.b["label"] == right
    return "tie" if a == b else ("A" if a else "B")
'''
PROGRAM = "import promptc\nprogram = promptc.Predict(\"word -> label: Literal['a', 'b']\")\n"


def answer(body: dict[str, Any]) -> str:
    """The word task; as the judge, prefers the response with the right label."""
    request = LMRequest.build("stub", body["messages"])
    if "Compare two responses" not in request.message_list[0]["content"]:
        return WordTask("demos")(request)
    user = request.message_list[1]["content"]
    word, a, b = (re.search(rf"<{n}>\n(.*?)\n</{n}>", user, re.S).group(1) for n in FIELDS)  # type: ignore[union-attr]
    right = WordTask.label(word)
    return (
        f"<better>{'tie' if (a == right) == (b == right) else 'A' if a == right else 'B'}</better>"
    )


FIELDS = ("request", "response_a", "response_b")


@pytest.fixture
def server() -> Iterator[OpenAIStubServer]:
    with OpenAIStubServer(answer) as stub:
        yield stub


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "judge.py").write_text(JUDGE)
    (tmp_path / "words.py").write_text(PROGRAM)
    rows = [{"word": w} for w in WordTask.words(24)]  # inputs only: no labels
    (tmp_path / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return tmp_path


def compile_cli(project: Path, server: OpenAIStubServer, **env: str) -> Any:
    environ = {**os.environ, "OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": "test"}
    environ.update(ASKED_LOG=str(project / "asked.jsonl"), **env)
    return run_cli(
        "compile", "words.py:program", "--train", "rows.jsonl", "--model", "openai/stub",
        "--feedback", "judge.py:prefer", "--feedback-budget", "6", "--feedback-log",
        "prefs.jsonl", "--optimizer", "random_pairs", "--budget", "400", "--no-cache",
        "--progress", "log", "-o", "out/words.yaml",
        cwd=project, env=environ,
    )  # fmt: skip


def asked(project: Path) -> int:
    path = project / "asked.jsonl"
    return len(path.read_text().splitlines()) if path.exists() else 0


def test_compile_from_preferences_and_resume_from_the_feedback_log(
    project: Path, server: OpenAIStubServer
) -> None:
    done = compile_cli(project, server)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "from preferences with 'random_pairs'" in done.stdout
    assert "candidates by estimated utility" in done.stdout
    artifact = yaml.safe_load((project / "out/words.yaml").read_text())
    prefs = artifact["provenance"]["preferences"]
    assert prefs["judge"] == "function" and prefs["feedback_budget"] == 6
    assert prefs["questions"] == asked(project) <= 6
    assert len((project / "prefs.jsonl").read_text().splitlines()) == prefs["questions"]
    assert (project / "out/words.report.html").is_file()
    report = json.loads((project / "out/words.report.json").read_text())
    kept = report["kept"]
    assert kept != 0 and artifact["predictors"][0]["demos"]  # a candidate with demos won
    # A rerun with the same log asks nothing and compiles the same artifact.
    first = (project / "out/words.yaml").read_text()
    again = compile_cli(project, server, JUDGE_MUST_NOT_BE_ASKED="1")
    assert again.returncode == 0, again.stderr[-3000:]
    assert asked(project) == prefs["questions"]
    rerun = yaml.safe_load((project / "out/words.yaml").read_text())
    assert rerun["content_hash"] == artifact["content_hash"]
    assert rerun["provenance"]["preferences"]["from_log"] == prefs["questions"]
    assert first != (project / "out/words.yaml").read_text()  # provenance says "from the log"


def test_feedback_with_a_metric_is_refused_with_a_hint(project: Path) -> None:
    done = run_cli(
        "compile", "words.py:program", "--train", "rows.jsonl", "--feedback", "judge.py:prefer",
        "--metric", "exact_match", "-o", "out.yaml", cwd=project,
    )  # fmt: skip
    assert done.returncode != 0
    assert "--feedback replaces --metric" in done.stderr
    assert not (project / "out.yaml").exists()


def test_an_lm_judge_from_the_command_line(project: Path, server: OpenAIStubServer) -> None:
    environ = {**os.environ, "OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": "test"}
    done = run_cli(
        "compile", "words.py:program", "--train", "rows.jsonl", "--model", "openai/stub",
        "--feedback", "judge", "--rubric", "Prefer the right label.", "--feedback-budget", "4",
        "--optimizer", "random_pairs", "--budget", "400", "--no-cache", "--progress", "log",
        "-o", "out/judged.yaml",
        cwd=project, env=environ,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    artifact = yaml.safe_load((project / "out/judged.yaml").read_text())
    prefs = artifact["provenance"]["preferences"]
    assert prefs["judge"] == "lm" and prefs["model"] == "openai/stub"
    assert 0 < prefs["questions"] <= 4
    # Two judge requests per question, counted in the compile's spend.
    assert artifact["provenance"]["spent"]["lm_requests"] >= 2 * prefs["questions"]
    assert artifact["predictors"][0]["demos"]
