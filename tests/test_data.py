from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Literal

import pydantic
import pytest

from promptc import DataError, load_dataset
from promptc._compile.data import check_labels, data_hash, split_dataset
from promptc._program.types import type_name
from promptc.exceptions import ConfigurationError

ROWS = [{"question": f"q{i}", "answer": str(i)} for i in range(10)]


def write_jsonl(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_load_jsonl_reads_objects_in_order_and_skips_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "data.jsonl"
    path.write_text(
        '{"question": "2+2?", "answer": 4}\n\n   \n{"question": "é?", "answer": [1, 2]}\n',
        encoding="utf-8",
    )
    assert load_dataset(path) == [
        {"question": "2+2?", "answer": 4},
        {"question": "é?", "answer": [1, 2]},
    ]
    assert load_dataset(str(path)) == load_dataset(path)


def test_load_ndjson_suffix_is_jsonl(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "data.NDJSON", ROWS[:2])
    assert load_dataset(path) == ROWS[:2]


def test_load_csv_reads_header_and_string_values(tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    path.write_text('question,answer\n"Hi, there",1\nplain,"two\nlines"\n', encoding="utf-8")
    assert load_dataset(path) == [
        {"question": "Hi, there", "answer": "1"},
        {"question": "plain", "answer": "two\nlines"},
    ]


def test_limit_keeps_the_first_rows(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "data.jsonl", ROWS)
    assert load_dataset(path, limit=3) == ROWS[:3]
    assert load_dataset(path, limit=100) == ROWS
    assert load_dataset(path, limit=None) == ROWS


def test_broken_jsonl_line_names_path_and_line_counting_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "data.jsonl"
    path.write_text('{"a": 1}\n\n{"a": 2}\n{"a": oops}\n{"a": 3}\n', encoding="utf-8")
    with pytest.raises(DataError, match="not valid JSON") as info:
        load_dataset(path)
    assert str(info.value).startswith(f"{path}:4: ")


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"a": ' + "[" * 100_000 + "]" * 100_000 + "}", "JSON nested too deeply to be a row"),
        ('{"a": ' + "9" * 5000 + "}", "JSON Python cannot read (Exceeds the limit"),
    ],
)
def test_jsonl_python_cannot_read_is_a_data_error(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "data.jsonl"
    path.write_text('{"a": 1}\n' + line + "\n", encoding="utf-8")
    with pytest.raises(DataError, match=re.escape(f"{path}:2: {message}")):
        load_dataset(path)


def test_non_object_jsonl_line_is_rejected_with_its_type(tmp_path: Path) -> None:
    path = tmp_path / "data.jsonl"
    path.write_text('{"a": 1}\n[1, 2]\n', encoding="utf-8")
    with pytest.raises(DataError, match="expected a JSON object, got list") as info:
        load_dataset(path)
    assert str(info.value).startswith(f"{path}:2: ")


def test_csv_row_with_too_many_values_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    path.write_text("question,answer\na,1\nb,2,surplus\n", encoding="utf-8")
    with pytest.raises(DataError, match="more values than header columns") as info:
        load_dataset(path)
    assert str(info.value).startswith(f"{path}:3: ")


@pytest.mark.parametrize(
    ("name", "text"),
    [("empty.jsonl", ""), ("blank.jsonl", "\n\n  \n"), ("empty.csv", ""), ("header.csv", "a,b\n")],
)
def test_file_without_rows_is_an_error(tmp_path: Path, name: str, text: str) -> None:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DataError, match="has no rows"):
        load_dataset(path)


def test_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        load_dataset(tmp_path / "nope.jsonl")


@pytest.mark.parametrize(("name", "shown"), [("data.txt", ".txt"), ("data", "no suffix")])
def test_unknown_suffix_is_an_error(tmp_path: Path, name: str, shown: str) -> None:
    path = tmp_path / name
    path.write_text('{"a": 1}\n', encoding="utf-8")
    with pytest.raises(DataError, match=re.escape(f"expected a .jsonl or .csv file, got {shown}")):
        load_dataset(path)


def test_data_error_is_a_configuration_error() -> None:
    assert issubclass(DataError, ConfigurationError)
    assert issubclass(DataError, ValueError)


def test_data_hash_is_stable_and_canonical() -> None:
    rows = [{"b": 2, "a": "é"}, {"x": None}]
    expected = hashlib.sha256('{"a": "é", "b": 2}\n{"x": null}\n'.encode()).hexdigest()
    assert data_hash(rows) == "sha256:" + expected
    assert data_hash([{"a": "é", "b": 2}, {"x": None}]) == data_hash(rows)  # key order ignored


def test_data_hash_is_order_and_content_sensitive() -> None:
    assert data_hash(ROWS) == data_hash([dict(r) for r in ROWS])
    assert data_hash(ROWS) != data_hash(ROWS[::-1])
    assert data_hash(ROWS) != data_hash(ROWS[:-1])
    assert data_hash(ROWS) != data_hash([*ROWS[:-1], {**ROWS[-1], "answer": "x"}])
    assert data_hash([{"a": 1}]) != data_hash([{"a": "1"}])


def test_split_is_seeded() -> None:
    first = split_dataset(ROWS, [0.5, 0.5], seed=3)
    assert split_dataset(ROWS, [0.5, 0.5], seed=3) == first
    other = split_dataset(ROWS, [0.5, 0.5], seed=4)
    assert [r for part in other for r in part] != [r for part in first for r in part]


def test_split_covers_every_row_exactly_once_in_the_given_proportions() -> None:
    rows = [{"i": i} for i in range(101)]
    for seed in range(5):
        parts = split_dataset(rows, [0.6, 0.3, 0.1], seed=seed)
        assert [len(p) for p in parts] == [61, 30, 10]
        seen = sorted(r["i"] for part in parts for r in part)
        assert seen == list(range(101))


def test_split_does_not_change_its_input() -> None:
    rows = [dict(r) for r in ROWS]
    split_dataset(rows, [0.5, 0.5], seed=0)
    assert rows == ROWS


@pytest.mark.parametrize(
    "fractions", [[0.5, 0.4], [0.7, 0.7], [1.2, -0.2], [1.0, 0.0], [], [0.5, 0.5, 0.0]]
)
def test_split_rejects_bad_fractions(fractions: list[float]) -> None:
    with pytest.raises(ConfigurationError, match="positive and sum to 1"):
        split_dataset(ROWS, fractions, seed=0)


def test_split_rejects_nan_fractions() -> None:
    with pytest.raises(ConfigurationError):
        split_dataset(ROWS, [float("nan")], seed=0)


class Point(pydantic.BaseModel):
    x: int


@pytest.mark.parametrize(
    ("value", "tp"),
    [
        (["a", "b"], list[str]),
        ('["a", "b"]', list[str]),  # a CSV cell holding the JSON array
        ("- a\n- b", list[str]),
        ("42", int),
        (42, str),  # shown as 42, read back as the text "42"
        ("Positive", Literal["positive", "negative"]),
        (None, int | None),
        ({"x": 1}, Point),
        ({"k": [1, 2]}, dict[str, list[int]]),
        (True, bool),
    ],
)
def test_check_labels_accepts_values_a_reply_may_carry(value: object, tp: object) -> None:
    check_labels([{"q": "x", "out": value}], {"out": tp})


@pytest.mark.parametrize(
    ("value", "tp", "problem"),
    [
        ("a, b", list[str], "expected a JSON array"),
        ("some free text", list[str], "expected a JSON array"),
        ("maybe", Literal["yes", "no"], "expected one of 'yes', 'no', got 'maybe'"),
        ("4.5", int, "expected int"),
        (float("nan"), float, "expected float"),
        ("yes-ish", bool, "expected true or false"),
        ({"y": 1}, Point, "expected Point"),
        ("[1, 2]", dict[str, int], "expected dict"),
        (None, int, "expected int"),
    ],
)
def test_check_labels_names_the_row_the_field_and_the_problem(
    value: object, tp: object, problem: str
) -> None:
    rows = [{"q": "a row without the field"}, {"q": "bad", "out": value}]
    with pytest.raises(ConfigurationError) as info:
        check_labels(rows, {"out": tp})
    message = str(info.value)
    assert message.startswith(f"trainset[1] field 'out' is not a valid {type_name(tp)}: ")
    assert problem in message and "fix the row's value, or drop the row" in message


def test_check_labels_counts_the_other_bad_values_and_ignores_absent_fields() -> None:
    rows = [{"q": "a"}, {"out": "x"}, {"out": "y", "n": "z"}, {"n": "1"}]
    with pytest.raises(ConfigurationError, match=r"trainset\[1\] field 'out'.*\(2 more bad"):
        check_labels(rows, {"out": list[str], "n": int})


@pytest.mark.parametrize("limit", [0, -1])
def test_a_limit_below_one_is_refused_not_a_slice_from_the_end(tmp_path: Path, limit: int) -> None:
    path = write_jsonl(tmp_path / "data.jsonl", ROWS)
    with pytest.raises(ConfigurationError, match=f"positive number of rows, got {limit}"):
        load_dataset(path, limit=limit)
