"""Answering JSON inputs line by line (``promptc run --jsonl``), in-process with a fake LM."""

from __future__ import annotations

import io
import json
from collections.abc import Callable

import pytest
from conftest import last_field, reply

from promptc import LM, CompiledProgram, LMRequest, Predict
from promptc.artifact import artifact_from_program
from promptc.cli.stream import LineAnswerer
from promptc.exceptions import LMConfigurationError, ModelNotAvailableError

MakeLM = Callable[..., LM]


def answerer(lm: LM) -> tuple[LineAnswerer, io.StringIO]:
    art = artifact_from_program(Predict("word -> count: int"), name="count")
    out = io.StringIO()
    return LineAnswerer(CompiledProgram(art, lm=lm), out), out


def counter(request: LMRequest) -> str:
    if "could not be used" in request.message_list[-1]["content"]:
        return "still no tags"  # a parse retry: the reply stays unusable
    word = last_field(request, "word")
    return "no tags at all" if word == "garbage" else reply(count=len(word))


def test_every_bad_line_gets_an_error_object_and_the_stream_goes_on(fake_lm: MakeLM) -> None:
    lines = [
        b'{"word": "abc"}\n',
        b"\n",
        b"\xff\xfe\n",
        b'{"word": \n',
        b'"abc"\n',
        b'{"word": "abc", "extra": 1}\n',
        b'{"word": "garbage"}\n',
        b'{"word": ' + b"[" * 100_000 + b"]" * 100_000 + b"}\n",
        b'{"word": ' + b"9" * 5000 + b"}\n",
        b'{"word": "hello"}\n',
    ]
    stream, out = answerer(fake_lm(counter))
    failed = stream.answer_lines(enumerate(lines, 1))
    got = [json.loads(x) for x in out.getvalue().splitlines()]
    assert failed == 7
    assert got[0] == {"count": 3} and got[-1] == {"count": 5}
    assert [g.get("line") for g in got[1:-1]] == [3, 4, 5, 6, 7, 8, 9]
    assert got[6]["error"] == "JSON nested too deeply to be a row of input fields"
    assert got[7]["error"].startswith("JSON Python cannot read (Exceeds the limit")
    assert got[1]["error"] == "not UTF-8 text"
    assert got[2]["error"].startswith("not valid JSON")
    assert got[3]["error"] == "expected a JSON object of input fields, got str"
    assert got[4]["error"] == "wrong input fields: unknown ['extra']; expected ['word']"
    assert got[5]["error"].startswith("OutputParseError")


@pytest.mark.parametrize(
    "error",
    [
        LMConfigurationError("missing key", model="m"),
        ModelNotAvailableError("not installed; pip install x"),
    ],
)
def test_an_error_every_line_would_meet_stops_the_stream(fake_lm: MakeLM, error: Exception) -> None:
    calls: list[str] = []

    def broken(request: LMRequest) -> str:
        calls.append(last_field(request, "word"))
        raise error

    stream, out = answerer(fake_lm(broken))
    with pytest.raises(type(error)):
        stream.answer_lines(enumerate([b'{"word": "a"}\n', b'{"word": "b"}\n'], 1))
    assert calls == ["a"] and out.getvalue() == ""
