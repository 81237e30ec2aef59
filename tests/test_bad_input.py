"""Bad input gives one clear error (what, where, how to fix), never a traceback from deep inside.

Each case is checked through the API (the right ``PromptcError`` subclass and its message) and
through the ``promptc`` command (exit code, one line on stderr, no traceback).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import reply
from test_cli import assert_one_line_error, promptc_cli

from promptc import LM, DataError, Module, Predict, compile, evaluate, load_dataset, make_signature
from promptc.exceptions import (
    ConfigurationError,
    LMConfigurationError,
    LMRequestError,
    SignatureError,
)
from promptc.metrics import exact_match
from promptc.testing import WordTask

MakeLM = Callable[..., LM]
SIGNATURE = "word -> label: Literal['a', 'b']"
ROWS = WordTask.rows(["egg", "fig", "ice", "kiwi"])


def labeler(request: Any) -> str:
    return reply(label="a")


# -- the API ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("question -> answer: frobnicate", r"field 'answer': unknown type 'frobnicate'.*Supported"),
        ("question => answer", "exactly one '->'"),
        ("", "exactly one '->'"),
    ],
)
def test_malformed_signatures_and_unknown_types_name_the_field(spec: str, message: str) -> None:
    with pytest.raises(SignatureError, match=message):
        make_signature(spec)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "has no rows"),
        (b"\n\n", "has no rows"),
        (b'{"word": "a"}\n{"word": "b", label}\n', ":2: not valid JSON"),
        (b'{"word": "a"}\n\xff\xfe{"word": "b"}\n', r":2: not UTF-8 \(byte 0xff at column 1\)"),
        (b'{"word": "a"}\n[1, 2]\n', ":2: expected a JSON object, got list"),
    ],
)
def test_broken_or_empty_jsonl_names_the_file_and_line(
    tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "data.jsonl"
    path.write_bytes(content)
    with pytest.raises(DataError, match=message):
        load_dataset(path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"word,label\nfig,b\n\xe9t\xe9,a\n", ":3: not UTF-8"),
        (b'word,label\n"fig,b\n', "not valid CSV|fewer values"),
    ],
)
def test_broken_csv_names_the_file_and_line(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "data.csv"
    path.write_bytes(content)
    with pytest.raises(DataError, match=message):
        load_dataset(path)


def test_metric_that_raises_names_the_metric_the_example_and_the_fix(fake_lm: MakeLM) -> None:
    def strict(row: Any, prediction: Any) -> float:
        return float(row["gold"] == prediction.label)

    with pytest.raises(ConfigurationError, match=r"metric strict raised on example 0 \(KeyError"):
        evaluate(Predict(SIGNATURE), ROWS, strict, lm=fake_lm(labeler))


def test_metric_returning_a_non_number_names_the_example(fake_lm: MakeLM) -> None:
    with pytest.raises(ConfigurationError, match="returned 'yes' on example 0"):
        evaluate(Predict(SIGNATURE), ROWS, lambda r, p: "yes", lm=fake_lm(labeler))


def test_mislabelled_dataset_says_which_column_is_missing(fake_lm: MakeLM) -> None:
    rows = [{"word": r["word"], "gold": r["label"]} for r in ROWS]
    with pytest.raises(ConfigurationError, match="share none with the example's") as info:
        compile(Predict(SIGNATURE), rows, "exact_match", lm=fake_lm(labeler), valset=rows)
    assert "example 0" in str(info.value) and "label column" in str(info.value)


class Broken(Module):
    def __init__(self) -> None:
        self.classify = Predict(SIGNATURE)

    def forward(self, word: str) -> Any:
        raise TypeError(f"cannot handle {word!r}")


def test_compiling_a_program_that_always_raises_fails_with_its_error(fake_lm: MakeLM) -> None:
    with pytest.raises(ConfigurationError, match="failed on all 4 validation rows") as info:
        compile(Broken(), ROWS, exact_match, lm=fake_lm(labeler), valset=ROWS)
    assert "TypeError: cannot handle 'egg'" in str(info.value)


def test_a_program_that_raises_on_some_rows_scores_them_zero(fake_lm: MakeLM) -> None:
    class Picky(Broken):
        def forward(self, word: str) -> Any:
            return super().forward(word) if word == "fig" else self.classify(word=word)

    result = evaluate(Picky(), ROWS, exact_match, lm=fake_lm(labeler))
    assert result.errors == 1 and "TypeError" in (result.results[1].error or "")


def test_unknown_model_string_fails_fast_and_stops_the_evaluation() -> None:
    lm = LM("frobnicate-9000", cache=False)
    started = time.monotonic()
    with pytest.raises(LMConfigurationError, match="unknown model 'frobnicate-9000'"):
        evaluate(Predict(SIGNATURE), ROWS * 5, exact_match, lm=lm, num_threads=1)
    assert time.monotonic() - started < 30  # never retried with backoff
    assert lm.usage.total().calls == 1  # stopped at once, not 20 failures
    assert issubclass(LMConfigurationError, LMRequestError)
    assert issubclass(LMConfigurationError, ConfigurationError)


def test_missing_api_key_names_the_variable_before_any_call(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    lm = LM("openai/gpt-4o-mini", cache=False)
    started = time.monotonic()
    with pytest.raises(LMConfigurationError, match="OPENAI_API_KEY is not set"):
        lm([{"role": "user", "content": "hi"}])
    assert time.monotonic() - started < 30
    assert lm.usage.total().calls == 1 and lm.usage.total().errors == 1  # one try, no retries


def test_an_api_key_passed_to_the_backend_is_not_asked_for(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    from promptc import LiteLLMBackend

    lm = LM(
        "openai/gpt-4o-mini",
        cache=False,
        backend=LiteLLMBackend(api_key="sk-test", mock_response=reply(label="a")),
    )
    assert lm([{"role": "user", "content": "hi"}]).text == reply(label="a")


# -- the command -----------------------------------------------------------------------------

PROGRAM = """
from promptc import LM, Module, Predict
from promptc.testing import FakeBackend

lm = LM("fake/m", backend=FakeBackend(lambda r: "<label>a</label>"), cache=False)
program = Predict("word -> label: Literal['a', 'b']", lm=lm)


class Broken(Module):
    def __init__(self):
        self.classify = Predict("word -> label", lm=lm)

    def forward(self, word):
        raise TypeError("cannot handle " + word)


broken = Broken()
"""

METRICS = """
def raising(row, prediction):
    return row["gold"] == prediction.label


def stringy(row, prediction):
    return "yes"


def unbounded(row, prediction):
    return float("inf")
"""


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "prog.py").write_text(PROGRAM, encoding="utf-8")
    (tmp_path / "bad_sig.py").write_text(
        "from promptc import Predict\nprogram = Predict('word -> label: frobnicate')\n"
    )
    (tmp_path / "my_metrics.py").write_text(METRICS, encoding="utf-8")
    (tmp_path / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    (tmp_path / "mislabelled.jsonl").write_text(
        "".join(json.dumps({"word": r["word"], "gold": r["label"]}) + "\n" for r in ROWS)
    )
    (tmp_path / "wrong_labels.jsonl").write_text(
        "".join(
            json.dumps({**r, "label": "c" if i == 2 else r["label"]}) + "\n"
            for i, r in enumerate(ROWS)
        )
    )
    (tmp_path / "empty.jsonl").write_text("\n")
    (tmp_path / "latin1.jsonl").write_bytes(b'{"word": "caf\xe9", "label": "b"}\n')
    return tmp_path


@pytest.mark.parametrize(
    ("args", "code", "text"),
    [
        (["eval", "bad_sig.py:program", "--data", "data.jsonl"], 2, "unknown type 'frobnicate'"),
        (["eval", "prog.py:program", "--data", "empty.jsonl"], 2, "has no rows"),
        (["eval", "prog.py:program", "--data", "latin1.jsonl"], 2, "latin1.jsonl:1: not UTF-8"),
        (
            ["eval", "prog.py:program", "--data", "mislabelled.jsonl"],
            2,
            "metric exact_match raised on example 0",
        ),
        (
            ["eval", "prog.py:program", "--data", "data.jsonl", "--metric", "my_metrics:raising"],
            2,
            "metric raising raised on example 0 (KeyError: 'gold')",
        ),
        (
            ["eval", "prog.py:program", "--data", "data.jsonl", "--metric", "my_metrics:stringy"],
            2,
            "returned 'yes' on example 0",
        ),
        (
            ["eval", "prog.py:program", "--data", "data.jsonl", "--metric", "my_metrics:unbounded"],
            2,
            "metric unbounded returned inf on example 0; a metric must return a finite number",
        ),
        (
            ["compile", "prog.py:program", "--train", "wrong_labels.jsonl", "--val", "data.jsonl"],
            2,
            "trainset[2] field 'label' is not a valid Literal['a', 'b']: expected one of 'a', "
            "'b', got 'c'",
        ),
        (
            ["compile", "prog.py:broken", "--train", "data.jsonl", "--val", "data.jsonl"],
            2,
            "failed on all 4 validation rows, e.g. TypeError: cannot handle egg",
        ),
    ],
)
def test_command_gives_one_line_per_bad_input(
    workdir: Path, args: list[str], code: int, text: str
) -> None:
    if args[0] == "compile":
        args = [*args, "-o", "out.yaml"]
    result = promptc_cli(*args, "--model", "fake/m", cwd=workdir)
    assert_one_line_error(result, code, text)


PLAIN = "from promptc import Predict\nprogram = Predict('word -> label')\n"


def test_command_names_the_missing_api_key(workdir: Path) -> None:
    (workdir / "plain.py").write_text(PLAIN, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    command = ["eval", "plain.py:program", "--data", "data.jsonl", "--no-cache"]
    result = subprocess.run(
        [sys.executable, "-m", "promptc.cli", *command, "--model", "openai/gpt-4o-mini"],
        capture_output=True,
        text=True,
        cwd=workdir,
        env=env,
        timeout=120,
    )
    assert_one_line_error(result, 4, "OPENAI_API_KEY is not set")


def test_command_names_an_unknown_model(workdir: Path) -> None:
    (workdir / "plain.py").write_text(PLAIN, encoding="utf-8")
    command = ["eval", "plain.py:program", "--data", "data.jsonl", "--no-cache"]
    result = promptc_cli(*command, "--model", "frobnicate-9000", cwd=workdir)
    assert_one_line_error(result, 4, "unknown model 'frobnicate-9000'")
