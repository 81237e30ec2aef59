from __future__ import annotations

from typing import Any, Literal

import pydantic
import pytest
from hypothesis import given
from hypothesis import strategies as st

from promptc._types import format_value, parse_type, parse_value


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
        ("4.5", int, "expected int"),
        ("many", int, "expected int"),
        ("maybe", bool, "true or false"),
        ("neutral", Literal["positive", "negative"], "one of 'positive', 'negative'"),
        ('{"x": 1}', Point, "expected Point"),
        ("not json", dict[str, int], "expected JSON"),
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
