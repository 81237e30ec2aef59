"""Pipelines from the CLI: multi-predictor artifacts run and evaluated through their program,
hostile recorded entries refused, ``run --jsonl`` streaming, file modes, unusable models.

Every test runs the real ``promptc`` command in a subprocess; LM calls go over HTTP to an
OpenAI-compatible stub server on 127.0.0.1 (``OPENAI_BASE_URL``), as a self-hosted endpoint would.
"""

from __future__ import annotations

import importlib.util
import json
import os
import queue
import re
import shutil
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import run_cli

from promptc import Predict
from promptc.artifact import artifact_from_program, save_artifact
from promptc.testing import OpenAIStubServer

HERE = Path(__file__).resolve().parent
PROGRAM_FILE = HERE / "pipeline_program.py"
SETTINGS = {"model": "openai/stub", "temperature": 0.0, "max_tokens": 32}
WAIT = 120  # seconds: a generous bound on one answer, never a guess at how long it takes
MARKER_CODE = 'import pathlib\npathlib.Path(__file__).with_name("IMPORTED").write_text("x")\n'


def answer(body: dict[str, Any]) -> str:
    """The stub LM: a rough draft of the question, or the polished answer once a draft is in."""
    user = body["messages"][-1]["content"]
    found = re.search(r"<question>\n(.*?)\n</question>", user, re.S)
    question = found.group(1) if found else "?"
    if "<draft>" in user:
        return f"<answer>polished {question}</answer>"
    return f"<draft>rough {question}</draft>"


@pytest.fixture
def server() -> Iterator[OpenAIStubServer]:
    with OpenAIStubServer(answer) as stub:
        yield stub


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project directory holding the pipeline's source and its compiled artifact."""
    root = tmp_path / "project"
    root.mkdir()
    shutil.copy(PROGRAM_FILE, root / "pipeline_program.py")
    save_pipeline(root / "pipe.yaml", "pipeline_program.py:program")
    return root


def pipeline() -> Any:
    spec = importlib.util.spec_from_file_location("_pipeline_fixture", PROGRAM_FILE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.program


def save_pipeline(path: Path, entry: str | None) -> Path:
    art = artifact_from_program(pipeline(), name="pipe", entry=entry, lm_settings=SETTINGS)
    return save_artifact(art, path)


def env_for(server: OpenAIStubServer | None) -> dict[str, str]:
    env = dict(os.environ)
    if server is not None:
        env.update(OPENAI_BASE_URL=server.base_url, OPENAI_API_KEY="test")
    return env


def promptc_cli(
    *args: str | Path,
    cwd: Path,
    server: OpenAIStubServer | None = None,
    umask: int = -1,
) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, cwd=cwd, env=env_for(server), umask=umask)


def assert_one_line_error(result: subprocess.CompletedProcess[str], code: int, text: str) -> None:
    assert result.returncode == code, result.stderr
    notes = "promptc: program "  # which program ran, said before the run
    lines = [x for x in result.stderr.strip().splitlines() if not x.startswith(notes)]
    assert lines[0].startswith("promptc: error: ") and text in lines[0], result.stderr
    assert len(lines) <= 2 and "Traceback" not in result.stderr
    if len(lines) == 2:
        assert lines[1].startswith("hint: ")


def test_run_streams_through_the_recorded_entry_and_reports_bad_lines(
    project: Path, server: OpenAIStubServer
) -> None:
    with subprocess.Popen(
        [sys.executable, "-m", "promptc.cli", "run", "pipe.yaml", "--jsonl", "-"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=project,
        env=env_for(server),
    ) as proc:
        assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
        replies: queue.Queue[str] = queue.Queue()
        reader = threading.Thread(target=lambda: [replies.put(x) for x in proc.stdout or []])
        reader.start()

        def send(line: str) -> Any:
            """Write one line, then wait for its answer before anything else is sent."""
            assert proc.stdin is not None
            proc.stdin.write(line + "\n")
            proc.stdin.flush()
            return json.loads(replies.get(timeout=WAIT))

        try:
            assert send('{"question": "first"}') == {"answer": "polished first"}
            assert send("{not json") == {
                "line": 2,
                "error": "not valid JSON (Expecting property name enclosed in double quotes); "
                'give an object: {"field": "value"}',
            }
            assert send("[1, 2]")["line"] == 3
            wrong = send('{"qestion": "typo"}')
            assert wrong["line"] == 4 and "missing ['question']" in wrong["error"]
            assert "unknown ['qestion']" in wrong["error"]
            assert send('{"question": "last"}') == {"answer": "polished last"}
            proc.stdin.close()
            assert proc.wait(timeout=WAIT) == 1  # some lines failed
        finally:
            proc.kill()
            reader.join(timeout=WAIT)
        stderr = proc.stderr.read()
    assert "program pipeline_program.py:program (the artifact's recorded entry" in stderr
    assert "--program" in stderr
    assert len(server.requests) == 4  # two predictors, two good lines; bad lines cost nothing


def test_run_and_eval_with_program_and_metric_files(
    project: Path, server: OpenAIStubServer, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"  # --program is the user's choice: any path works
    elsewhere.mkdir()
    inputs = elsewhere / "inputs.jsonl"
    inputs.write_text('{"question": "a"}\n{"question": "b"}\n')
    run = promptc_cli(
        "run",
        project / "pipe.yaml",
        "--program",
        f"{project / 'pipeline_program.py'}:DraftThenPolish",
        "--jsonl",
        inputs,
        cwd=elsewhere,
        server=server,
    )
    assert run.returncode == 0, run.stderr
    assert [json.loads(x) for x in run.stdout.splitlines()] == [
        {"answer": "polished a"},
        {"answer": "polished b"},
    ]
    assert "pipeline_program.py:DraftThenPolish (from --program)" in run.stderr

    data = project / "dev.jsonl"
    rows = [("a", "polished a"), ("b", "polished b"), ("c", "something else")]
    data.write_text("".join(json.dumps({"question": q, "answer": a}) + "\n" for q, a in rows))
    result = promptc_cli(
        "eval",
        "pipe.yaml",
        "--data",
        "dev.jsonl",
        "--metric",
        "pipeline_program.py:polished",
        "--threads",
        "1",
        cwd=project,
        server=server,
    )
    assert result.returncode == 0, result.stderr
    assert "pipe on dev.jsonl: 0.667" in result.stdout and "n=3, errors=0" in result.stdout
    assert "the artifact's recorded entry" in result.stderr


def test_single_predictor_artifact_runs_without_importing_its_entry(
    tmp_path: Path, server: OpenAIStubServer
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "evil.py").write_text(MARKER_CODE)
    project = tmp_path / "project"
    project.mkdir()
    program = Predict("question -> answer")
    art = artifact_from_program(
        program, name="one", entry="../outside/evil.py:program", lm_settings=SETTINGS
    )
    save_artifact(art, project / "one.yaml")
    server.handler = lambda body: "<answer>42</answer>"
    result = promptc_cli(
        "run", "one.yaml", "--input", '{"question": "q"}', cwd=project, server=server
    )
    assert (result.returncode, result.stdout.strip()) == (0, '{"answer": "42"}'), result.stderr
    assert not (outside / "IMPORTED").exists()


@pytest.mark.parametrize(
    ("entry", "reason"),
    [
        (None, "the artifact records no entry"),
        ("ABSOLUTE", "it is an absolute path"),
        ("../outside/evil.py:program", "no '..'"),
        ("link/evil.py:program", "resolves outside the current directory"),
        (".hidden/evil.py:program", "no '..', hidden or dotted directories"),
        ("venv/lib/python3.12/site-packages/evil.py:program", "hidden or dotted directories"),
        ("os:getcwd", "it names a module"),
        ("pipeline_program.py:not_a_program", "no class or top-level assignment named"),
        ("pipeline_program.py:__loader__", "no class or top-level assignment named"),
        # a project script: importing it would run its top-level code, so it is only read
        ("scripts/cleanup.py:program", "does not import promptc or dspy"),
        ("scripts/typed.py:program", "is a int, not a promptc Module"),
    ],
)
def test_hostile_recorded_entries_are_refused_with_one_line(
    tmp_path: Path, project: Path, entry: str | None, reason: str
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "evil.py").write_text(MARKER_CODE)
    (project / "link").symlink_to(outside)
    (project / ".hidden").mkdir()
    (project / ".hidden" / "evil.py").write_text(MARKER_CODE)
    (project / "scripts").mkdir()
    (project / "scripts" / "cleanup.py").write_text(MARKER_CODE + "program = 1\n")
    (project / "scripts" / "typed.py").write_text("import promptc\n\nprogram = 1\n")
    if entry == "ABSOLUTE":
        entry = f"{outside / 'evil.py'}:program"
    save_pipeline(project / "hostile.yaml", entry)
    for command in (
        ["run", "hostile.yaml", "--input", '{"question": "q"}'],
        ["eval", "hostile.yaml", "--data", "dev.jsonl"],
    ):
        result = promptc_cli(*command, cwd=project)
        assert_one_line_error(result, 2, reason)
        assert "--program" in result.stderr
        assert not list(tmp_path.rglob("IMPORTED")), "a refused entry's code ran"


def test_eval_stops_at_the_first_call_when_the_endpoint_refuses_the_key(
    project: Path, server: OpenAIStubServer
) -> None:
    server.handler = lambda body: (401, {"error": {"message": "bad key", "type": "auth"}})
    (project / "dev.jsonl").write_text('{"question": "a", "answer": "x"}\n' * 3)
    result = promptc_cli(
        "eval", "pipe.yaml", "--data", "dev.jsonl", "--threads", "1", cwd=project, server=server
    )
    assert_one_line_error(result, 4, "OPENAI_API_KEY")
    assert "0.000" not in result.stdout
    assert len(server.requests) == 1


def test_eval_stops_with_the_pull_hint_when_the_model_is_not_pulled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROMPTC_MODELS_DIR", str(tmp_path / "no-models"))  # nothing pulled
    (tmp_path / "dev.jsonl").write_text('{"review": "fine", "label": "positive"}\n' * 3)
    program = tmp_path / "prog.py"
    program.write_text("import promptc\nprogram = promptc.Predict('review -> label')\n")
    result = promptc_cli(
        "eval",
        "prog.py:program",
        "--data",
        "dev.jsonl",
        "--model",
        "local/smollm2-135m",
        cwd=tmp_path,
    )
    assert_one_line_error(result, 2, "is not pulled")
    assert "promptc models pull smollm2-135m" in result.stderr and "errors=" not in result.stdout


@pytest.mark.parametrize("limit", ["-1", "0", "two"])
def test_limit_must_be_a_positive_number(project: Path, limit: str) -> None:
    result = promptc_cli("eval", "pipe.yaml", "--data", "dev.jsonl", "--limit", limit, cwd=project)
    assert result.returncode == 2 and result.stdout == ""
    assert (
        result.stderr.strip().splitlines()[-1].startswith("promptc eval: error: argument --limit")
    )


def test_compile_writes_files_with_the_umask_and_records_a_relative_entry(
    project: Path, server: OpenAIStubServer
) -> None:
    rows = "".join(json.dumps({"question": q, "answer": f"polished {q}"}) + "\n" for q in "abcd")
    (project / "train.jsonl").write_text(rows)
    cache = project / "cache"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "promptc.cli",
            "compile",
            f"{project / 'pipeline_program.py'}:program",
            "--train",
            "train.jsonl",
            "--val",
            "train.jsonl",
            "--model",
            "openai/stub",
            "--budget",
            "40",
            "-o",
            "out/pipe.yaml",
        ],
        capture_output=True,
        text=True,
        cwd=project,
        timeout=600,
        umask=0o022,
        env={**env_for(server), "PROMPTC_CACHE_DIR": str(cache)},
    )
    assert result.returncode == 0, result.stderr
    out = project / "out"
    for name in ("pipe.yaml", "pipe.report.json", "pipe.report.html"):
        assert stat.S_IMODE((out / name).stat().st_mode) == 0o644, name
    assert stat.S_IMODE(cache.stat().st_mode) == 0o700  # prompts and replies stay private
    assert "entry: pipeline_program.py:program\n" in (out / "pipe.yaml").read_text()
