"""The feedback log: answers survive a restart, are found through a swap, and a hostile or torn
file is read safely (a torn last line ignored, anything else malformed refused by line)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from promptc.exceptions import ConfigurationError, DataError
from promptc.judges import FeedbackLog, Question, Verdict
from promptc.judges._log import MAX_LINE_BYTES


def question(i: int) -> Question:
    return Question({"text": f"input {i}"}, {"answer": f"first {i}"}, {"answer": f"second {i}"})


class Asked:
    """A feedback provider that answers from a list and remembers what it was asked."""

    def __init__(self, *answers: str) -> None:
        self.answers = list(answers)
        self.asked: list[Question] = []

    def __call__(self, q: Question) -> str:
        self.asked.append(q)
        return self.answers.pop(0)


def test_answers_round_trip_through_the_file(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "answers.jsonl"
    log = FeedbackLog(path)
    assert len(log) == 0 and not path.exists()
    odd = Question({"n": 3, "nested": {"x": [1, 2.5, None]}}, {"y": True}, {"y": "ünïcode\n"})
    log.record(question(1), "A")
    log.record(odd, "tie")
    again = FeedbackLog(path)
    assert len(again) == 2
    assert list(again.items()) == [(question(1), "A"), (odd, "tie")]
    assert again.lookup(question(1)) == "A" and again.lookup(odd) == "tie"
    assert again.lookup(question(2)) is None
    line = json.loads(path.read_text("utf-8").splitlines()[0])
    assert line["key"] == question(1).key() and line["verdict"] == "A"
    assert (line["inputs"], line["a"], line["b"]) == ({"text": "input 1"}, *_outputs(1))
    assert line["time"].endswith("Z")


def _outputs(i: int) -> tuple[dict[str, str], dict[str, str]]:
    return {"answer": f"first {i}"}, {"answer": f"second {i}"}


def test_a_swapped_question_is_answered_with_the_swapped_verdict(tmp_path: Path) -> None:
    log = FeedbackLog(tmp_path / "answers.jsonl")
    log.record(question(1), "A")
    log.record(question(2), "tie")
    reread = FeedbackLog(tmp_path / "answers.jsonl")
    assert reread.lookup(question(1).swapped()) == "B"
    assert reread.lookup(question(2).swapped()) == "tie"
    feedback = Asked()
    assert reread.ask(question(1).swapped(), feedback) == "B"
    assert feedback.asked == []


def test_ask_asks_once_validates_and_records_skips_too(tmp_path: Path) -> None:
    path = tmp_path / "answers.jsonl"
    feedback = Asked(" b ", "skip")
    log = FeedbackLog(path)
    assert log.ask(question(1), feedback) == "B"  # normalised by check_verdict
    assert log.ask(question(2), feedback) == "skip"
    assert log.ask(question(1), feedback) == "B" and log.ask(question(2), feedback) == "skip"
    assert feedback.asked == [question(1), question(2)]
    rerun = Asked()
    reopened = FeedbackLog(path)
    assert reopened.ask(question(2), rerun) == "skip" and rerun.asked == []
    assert len(path.read_text("utf-8").splitlines()) == 2


def test_a_wrong_answer_is_refused_and_not_recorded(tmp_path: Path) -> None:
    log = FeedbackLog(tmp_path / "answers.jsonl")
    with pytest.raises(ConfigurationError, match=r"feedback Asked answered 'maybe'.*'A', 'B'"):
        log.ask(question(1), Asked("maybe"))
    with pytest.raises(ConfigurationError, match="cannot record verdict 'a'"):
        log.record(question(1), "a")  # type: ignore[arg-type]
    assert len(log) == 0 and not log.path.exists()


def test_a_torn_last_line_is_ignored_and_replaced(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "answers.jsonl"
    FeedbackLog(path).record(question(1), "A")
    whole = path.read_bytes()
    torn = json.dumps({"key": question(2).key(), "verdict": "B"}).encode()[:-7]
    path.write_bytes(whole + torn)  # the writer was killed in the middle of line 2
    with caplog.at_level(logging.WARNING, logger="promptc.judges._log"):
        log = FeedbackLog(path)
    assert f"{path}:2: ignoring a torn last line" in caplog.text
    assert list(log.items()) == [(question(1), "A")]
    assert path.read_bytes() == whole + torn  # reading never writes
    log.record(question(3), "tie")
    lines = path.read_bytes().splitlines(keepends=True)
    assert lines[0] == whole and len(lines) == 2 and lines[1].endswith(b"\n")
    assert list(FeedbackLog(path).items()) == [(question(1), "A"), (question(3), "tie")]


def test_a_whole_last_line_without_its_newline_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "answers.jsonl"
    FeedbackLog(path).record(question(1), "A")
    path.write_bytes(path.read_bytes().rstrip(b"\n"))  # e.g. edited in an editor
    log = FeedbackLog(path)
    assert log.lookup(question(1)) == "A"
    log.record(question(2), "B")
    assert [json.loads(line)["verdict"] for line in path.read_text().splitlines()] == ["A", "B"]


def _line(q: Question, verdict: str, **changes: object) -> str:
    record = {"key": q.key(), "verdict": verdict, "inputs": q.inputs, "a": q.a, "b": q.b}
    record["time"] = "2025-01-01T00:00:00Z"
    record.update(changes)
    return json.dumps(record)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("{not json", "not a JSON line"),
        ("[1, 2]", "expected an object with keys"),
        (_line(question(2), "maybe"), "verdict 'maybe' is not one of A, B, tie, skip"),
        (_line(question(2), "a"), "verdict 'a' is not one of"),
        (_line(question(2), "A", extra=1), r"got \['a', 'b', 'extra'"),
        (_line(question(2), "A", inputs="text"), "inputs, a and b must be JSON objects"),
        (_line(question(2), "A", key=question(3).key()), "does not match the question"),
        ('{"key": 1, "key": 2}', "duplicate key 'key'"),
        ("[" * 100_000 + "]" * 100_000, "not a JSON line"),
        ('{"n": ' + "9" * 5000 + "}", "not a JSON line"),
        (b"\xff\xfe".decode("latin-1"), "not a JSON line"),
    ],
    ids=[
        "not-json", "array", "wrong-verdict", "lowercase-verdict", "unknown-key",
        "inputs-not-object", "key-mismatch", "duplicate-key", "deep-nesting", "huge-int",
        "not-utf8",
    ],
)  # fmt: skip
def test_a_malformed_line_is_an_error_naming_file_and_line(
    tmp_path: Path, bad: str, message: str
) -> None:
    path = tmp_path / "answers.jsonl"
    good = _line(question(1), "A")
    raw = bad.encode("latin-1") if bad.startswith("\xff") else bad.encode()
    path.write_bytes(good.encode() + b"\n" + raw + b"\n" + good.encode() + b"\n")
    with pytest.raises(DataError, match=message) as caught:
        FeedbackLog(path)
    assert str(caught.value).startswith(f"{path}:2: ")


def test_a_complete_but_wrong_last_line_is_an_error_not_a_torn_line(tmp_path: Path) -> None:
    path = tmp_path / "answers.jsonl"
    path.write_text(_line(question(1), "A") + "\n" + _line(question(2), "best"))
    with pytest.raises(DataError, match=f"{path}:2: verdict 'best'"):
        FeedbackLog(path)


def test_a_huge_line_is_refused_without_reading_it_whole(tmp_path: Path) -> None:
    path = tmp_path / "answers.jsonl"
    huge = _line(question(1), "A", inputs={"text": "x" * MAX_LINE_BYTES})
    path.write_text(_line(question(2), "B") + "\n" + huge + "\n")
    with pytest.raises(DataError, match=f"{path}:2: line longer than {MAX_LINE_BYTES} bytes"):
        FeedbackLog(path)


def test_a_question_too_large_to_record_is_refused_before_asking(tmp_path: Path) -> None:
    log = FeedbackLog(tmp_path / "answers.jsonl")
    feedback = Asked("A")
    big = Question({"text": "x" * MAX_LINE_BYTES}, {"y": "1"}, {"y": "2"})
    with pytest.raises(ConfigurationError, match="too large for the feedback log"):
        log.ask(big, feedback)
    assert feedback.asked == [] and len(log) == 0


def test_recording_again_keeps_the_latest_verdict(tmp_path: Path) -> None:
    path = tmp_path / "answers.jsonl"
    log = FeedbackLog(path)
    verdicts: list[Verdict] = ["A", "skip"]
    for verdict in verdicts:
        log.record(question(1), verdict)
    assert len(log) == 1 and log.lookup(question(1)) == "skip"
    assert list(FeedbackLog(path).items()) == [(question(1), "skip")]
