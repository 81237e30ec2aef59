"""A compile's progress: one INFO line per trial through logging, one bar for the whole run."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import reply

import promptc
from promptc import LM, LMRequest, Predict
from promptc.metrics import exact_match
from promptc.testing import FakeBackend, WordTask

SIGNATURE = "word -> label: Literal['a', 'b']"
ROWS = WordTask.rows(f"{c}{i}x" for i in range(4) for c in "aebc")
TRAIN, VAL = ROWS[:8], ROWS[8:]


def labels(request: LMRequest) -> str:
    return reply(label=WordTask.label(WordTask.word(request)))


def compile_with(caplog: pytest.LogCaptureFixture, **kwargs: object) -> promptc.CompileResult:
    lm = LM("fake/progress", backend=FakeBackend(labels), cache=False)
    with caplog.at_level(logging.INFO, logger="promptc"):
        return promptc.compile(
            Predict(SIGNATURE), TRAIN, exact_match, optimizer="random", lm=lm, valset=VAL,
            budget=100, **kwargs,
        )  # fmt: skip


def progress_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "promptc.progress"]


def test_one_info_line_per_trial(caplog: pytest.LogCaptureFixture) -> None:
    result = compile_with(caplog)
    lines = progress_lines(caplog)
    assert len(lines) == len(result.trials) == 9
    assert all(r.levelno == logging.INFO for r in caplog.records if r.name == "promptc.progress")
    assert lines[0].startswith("StringSignature (random): trial 0 (baseline)")
    assert "/100 LM requests" in lines[-1] and "best 1.000" in lines[-1]
    assert "elapsed" in lines[-1] and "left" in lines[-1]


def test_without_tqdm_the_log_lines_still_appear(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "tqdm", None)  # `import tqdm` raises ImportError
    result = compile_with(caplog, progress=True)
    lines = progress_lines(caplog)
    assert lines[0] == "tqdm is not installed: compile progress goes to the log only"
    assert len(lines[1:]) == len(result.trials) and all(": trial " in x for x in lines[1:])


PROGRAM = """
from promptc import LM, Predict
from promptc.testing import FakeBackend, WordTask

def answer(request):
    return "<label>" + WordTask.label(WordTask.word(request)) + "</label>"

lm = LM("fake/cli", backend=FakeBackend(answer))
program = Predict(WordTask.SIGNATURE, lm=lm)
"""


def cli_compile(tmp_path: Path, mode: str) -> tuple[int, str]:
    """Run the CLI compile; its exit code and its stderr, carriage returns kept."""
    (tmp_path / "prog.py").write_text(PROGRAM, encoding="utf-8")
    for name, rows in (("train", TRAIN), ("val", VAL)):
        lines = "".join(json.dumps(r) + "\n" for r in rows)
        (tmp_path / f"{name}.jsonl").write_text(lines, encoding="utf-8")
    command = [sys.executable, "-m", "promptc.cli", "compile", f"{tmp_path / 'prog.py'}:program"]
    command += ["--train", str(tmp_path / "train.jsonl"), "--val", str(tmp_path / "val.jsonl")]
    command += ["--optimizer", "random", "--budget", "100", "--model", "fake/cli"]
    command += ["--no-cache", "--progress", mode, "-o", str(tmp_path / "out.yaml")]
    done = subprocess.run(command, capture_output=True, timeout=120, cwd=tmp_path)
    return done.returncode, done.stderr.decode("utf-8")


def test_cli_shows_one_bar_for_the_whole_compile(tmp_path: Path) -> None:
    code, err = cli_compile(tmp_path, "bar")
    assert code == 0, err
    assert "\x1b[A" not in err  # no cursor-up: no nested bars
    assert err.count("\n") == 1 and err.endswith("\n")  # one bar, left on screen at the end
    frames = [f for f in err.strip("\n").split("\r") if f.strip()]
    assert frames and all(f.startswith("compile StringSignature (random)") for f in frames)
    assert "100/100 LM requests" not in frames[-1]  # the budget is not what it spent
    assert "/100 LM requests" in frames[-1] and "best 1.000" in frames[-1]


def test_cli_under_nohup_logs_one_line_per_trial(tmp_path: Path) -> None:
    code, err = cli_compile(tmp_path, "auto")  # stderr is a pipe, not a terminal: log lines
    assert code == 0, err
    trials = [line for line in err.splitlines() if ": trial " in line]
    assert len(trials) == 9 and all(line.startswith("promptc INFO: ") for line in trials)
    assert "\r" not in err
