from __future__ import annotations

from typing import Literal

import pydantic
import pytest

from promptc import InputField, OutputField, Signature, make_signature
from promptc.exceptions import SignatureError


class Person(pydantic.BaseModel):
    name: str
    age: int


class QA(Signature):
    """Answer the question using the context."""

    question: str = InputField(desc="a question")
    context: list[str] = InputField(desc="passages")
    answer: int = OutputField(desc="a number")


def test_class_signature_collects_fields_in_order_with_docstring_instruction() -> None:
    assert QA.instruction == "Answer the question using the context."
    assert list(QA.input_fields) == ["question", "context"]
    assert list(QA.output_fields) == ["answer"]
    assert QA.input_fields["context"].type_name == "list[str]"
    assert QA.output_fields["answer"].desc == "a number"
    assert not hasattr(QA, "question")  # markers are removed from the class


def test_supported_types_round_trip_through_names() -> None:
    class All(Signature):
        a: str = InputField()
        b: int = InputField()
        c: float = InputField()
        d: bool = InputField()
        e: Literal["x", "y"] = InputField()
        f: list[int] = InputField()
        g: dict[str, float] = InputField()
        h: Person = InputField()
        i: str | None = OutputField()

    names = {n: f.type_name for n, f in All.fields().items()}
    assert names == {
        "a": "str",
        "b": "int",
        "c": "float",
        "d": "bool",
        "e": "Literal['x', 'y']",
        "f": "list[int]",
        "g": "dict[str, float]",
        "h": "Person",
        "i": "str | None",
    }
    spec = ", ".join(f"{n}: {t}" for n, t in names.items() if n != "i") + " -> i: str | None"
    rebuilt = make_signature(spec, models={"Person": Person})
    assert {n: f.type_name for n, f in rebuilt.fields().items()} == names


def test_without_instruction_a_default_is_built_from_fields() -> None:
    class NoDoc(Signature):
        text: str = InputField()
        summary: str = OutputField()

    assert NoDoc.instruction == "Given the fields `text`, produce the fields `summary`."


def test_unsupported_type_names_the_field() -> None:
    with pytest.raises(SignatureError, match=r"field 'when'.*unsupported type"):

        class Bad(Signature):
            when: set[int] = InputField()  # type: ignore[valid-type]
            out: str = OutputField()


def test_field_without_declaration_says_how_to_fix() -> None:
    with pytest.raises(SignatureError, match=r"field 'q' needs a declaration.*InputField"):

        class Bad(Signature):
            q: str
            a: str = OutputField()


def test_marker_without_annotation_is_an_error() -> None:
    with pytest.raises(SignatureError, match=r"field 'q' has no type annotation"):

        class Bad(Signature):
            q = InputField()
            a: str = OutputField()


@pytest.mark.parametrize("name", ["instruction", "_private", "demos"])
def test_reserved_names_are_refused(name: str) -> None:
    with pytest.raises(SignatureError, match=repr(name)):
        make_signature(f"{name} -> out")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("question answer", "exactly one '->'"),
        ("a -> b -> c", "exactly one '->'"),
        ("question ->", "no output fields"),
        ("q -> a: tuple[int]", r"field 'a'.*unknown type 'tuple'"),
        ("q -> a: Literal[x]", "quoted strings or ints"),
        ("q, q -> a", "declared twice"),
        ("q, , r -> a", "empty field name"),
        ("q -> a: list[str", "ends too early"),
        ("q -> 1a", "not a Python identifier"),
    ],
)
def test_malformed_shorthand_gives_a_clear_error(spec: str, message: str) -> None:
    with pytest.raises(SignatureError, match=message):
        make_signature(spec)


def test_shorthand_parses_types_and_defaults_to_str() -> None:
    sig = make_signature(
        "question, options: list[str] -> answer: Literal['A', 'B'], confidence: float",
        "Pick an option.",
        descriptions={"question": "the question"},
    )
    assert sig.instruction == "Pick an option."
    assert sig.input_fields["question"].annotation is str
    assert sig.input_fields["question"].desc == "the question"
    assert sig.output_fields["answer"].type_name == "Literal['A', 'B']"


def test_copies_leave_the_original_untouched() -> None:
    new = QA.with_instruction("Be terse.")
    more = QA.with_fields(outputs={"reasoning": (str, "why")}, prepend_outputs=True)
    assert QA.instruction == "Answer the question using the context."
    assert new.instruction == "Be terse."
    assert list(new.fields()) == list(QA.fields())
    assert list(more.output_fields) == ["reasoning", "answer"]
    assert list(QA.output_fields) == ["answer"]
    with pytest.raises(SignatureError, match="non-empty"):
        QA.with_instruction("  ")


def test_validate_inputs_names_missing_unexpected_and_badly_typed_fields() -> None:
    assert QA.validate_inputs({"question": "q", "context": ["a"]}) == {
        "question": "q",
        "context": ["a"],
    }
    with pytest.raises(SignatureError, match=r"missing \['context'\]"):
        QA.validate_inputs({"question": "q"})
    with pytest.raises(SignatureError, match=r"unexpected \['extra'\]"):
        QA.validate_inputs({"question": "q", "context": [], "extra": 1})
    with pytest.raises(SignatureError, match=r"input 'context'.*list\[str\]"):
        QA.validate_inputs({"question": "q", "context": "not a list"})


def test_subclass_inherits_fields_and_can_add_more() -> None:
    class QA2(QA):
        """Also cite."""

        citation: str = OutputField()

    assert list(QA2.fields()) == ["question", "context", "answer", "citation"]
    assert QA2.instruction == "Also cite."


def test_to_dict_describes_the_signature() -> None:
    d = QA.to_dict()
    assert d["name"] == "QA"
    assert d["outputs"] == [{"name": "answer", "type": "int", "desc": "a number"}]
