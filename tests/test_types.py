from __future__ import annotations

from typing import Any, Literal

import pydantic
import pytest
from hypothesis import given
from hypothesis import strategies as st

from promptc._program.types import format_value, parse_type, parse_value


class Point(pydantic.BaseModel):
    x: int
    y: int


@pytest.mark.parametrize(
    ("text", "tp", "expected"),
    [
        ("  hello \n", str, "hello"),
        ("42", int, 42),
        ("1,234.", int, 1234),
        ("$3.50", float, 3.5),
        ("'7'", int, 7),
        ("Yes", bool, True),
        ("false.", bool, False),
        ("Positive", Literal["positive", "negative"], "positive"),
        ('"negative".', Literal["positive", "negative"], "negative"),
        ("[1, 2]", list[int], [1, 2]),
        ("- a\n- b", list[str], ["a", "b"]),
        ("-42", int, -42),
        ("+$1,234,567", int, 1234567),
        ("3.0", int, 3),
        ("1e3", int, 1000),
        ("123456789012345678901234567890", int, 123456789012345678901234567890),
        ("`-1.5e-3`", float, -0.0015),
        ("7", float, 7.0),
        ("N", bool, False),
        ("'1'", bool, True),
        ("2", Literal[1, 2], 2),
        ("", str | None, None),
        ("NULL", list[str] | None, None),
        ('["a, b"]', list[str], ["a, b"]),
        ("[]", list[str], []),
        ("* 1\n\n* 2,000\n", list[int], [1, 2000]),
        ("- Positive\n- negative", list[Literal["positive", "negative"]], ["positive", "negative"]),
        ('```\n["x"]\n```', list[str], ["x"]),
        ('{"a": 1}', dict[str, int], {"a": 1}),
        ('{"x": "1", "y": 2}', Point, Point(x=1, y=2)),
        ('[{"x": 1, "y": 2}]', list[Point], [Point(x=1, y=2)]),
        ('```json\n{"x": 1, "y": 2}\n```', Point, Point(x=1, y=2)),
        ("None", int | None, None),
        ("5", int | None, 5),
    ],
)
def test_parse_value_is_lenient_where_unambiguous(text: str, tp: Any, expected: Any) -> None:
    assert parse_value(text, tp) == expected


@pytest.mark.parametrize(
    ("text", "tp", "message"),
    [
        ("a, b", list[str], r"expected a JSON array \(e.g. \[\"a\", \"b\"\]\) for list\[str\]"),
        ("The keywords are cats and dogs.", list[str], "expected a JSON array"),
        ("cats\ndogs", list[str], "expected a JSON array"),
        ("- cats\ndogs", list[str], "line 2 'dogs' without a bullet"),
        ("- 1\n- two", list[int], "list item 2: expected int, got 'two'"),
        ('"a"', list[str], "expected list\\[str\\]: Input should be a valid list"),
        ("[1, 2", list[int], "expected a JSON array"),
        ("[NaN]", list[float], "expected a JSON array"),
        ('Sure! ```json\n["a"]\n```', list[str], "expected a JSON array"),
        ('- {"x": 1, "y": 2}', list[Point], "expected a JSON array"),
        ("42 apples", int, "expected int, got '42 apples'"),
        ("1,2,3", int, "expected int"),
        ("1_000", int, "expected int"),
        ("nan", float, "expected float"),
        ("inf", float, "expected float"),
        ("1e999", float, "expected a finite float"),
        ("", int, "expected int"),
        ("truthy", bool, "true or false"),
        ("positive or negative", Literal["positive", "negative"], "one of"),
        ("n/a", int | None, "expected int"),
        ('{"a": "x"}', dict[str, int], "expected dict\\[str, int\\]"),
        ("[1]", dict[str, int], "expected dict"),
    ],
)
def test_a_reply_not_valid_for_its_type_is_refused(text: str, tp: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_value(text, tp)


@given(st.lists(st.integers(min_value=-(10**6), max_value=10**6)))
def test_bulleted_int_lists_read_like_their_json(items: list[int]) -> None:
    bullets = "\n".join(f"- {i}" for i in items)
    if items:
        assert parse_value(bullets, list[int]) == parse_value(format_value(items), list[int])


@pytest.mark.parametrize(
    ("text", "tp", "message"),
    [
        ("4.5", int, "expected int"),
        ("many", int, "expected int"),
        ("maybe", bool, "true or false"),
        ("neutral", Literal["positive", "negative"], "one of 'positive', 'negative'"),
        ('{"x": 1}', Point, "expected Point"),
        ("not json", dict[str, int], "expected a JSON object for dict"),
    ],
)
def test_parse_value_explains_failures(text: str, tp: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_value(text, tp)


def test_parse_type_never_evaluates_code() -> None:
    with pytest.raises(ValueError):
        parse_type("__import__('os').system('echo hacked')")
    with pytest.raises(ValueError, match="unknown type"):
        parse_type("object")


def test_format_value_uses_json_for_non_strings() -> None:
    assert format_value("plain") == "plain"
    assert format_value(3) == "3"
    assert format_value(True) == "true"
    assert format_value(["a", 1]) == '["a", 1]'
    assert format_value(Point(x=1, y=2)) == '{"x":1,"y":2}'


@given(st.integers(min_value=-(10**12), max_value=10**12))
def test_ints_round_trip(n: int) -> None:
    assert parse_value(format_value(n), int) == n


@given(st.lists(st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=10)))
def test_string_lists_round_trip(items: list[str]) -> None:
    assert parse_value(format_value(items), list[str]) == items
