"""Signatures: typed input and output fields plus an instruction.

A signature is a class; its docstring is the instruction and its annotated attributes are fields::

    class Classify(Signature):
        \"\"\"Classify the sentiment of a movie review.\"\"\"

        review: str = InputField(desc="one sentence from a review")
        label: Literal["positive", "negative"] = OutputField(desc="the sentiment")

The string shorthand goes through the explicit factory :func:`make_signature`. Fields are collected
in ``__init_subclass__`` (no metaclass, no frame inspection); copies with a new instruction or extra
fields are new subclasses, so a signature class is never mutated.
"""

from __future__ import annotations

import inspect
import keyword
import re
import typing
from dataclasses import dataclass
from typing import Any, ClassVar

import pydantic

from promptc._program.types import (
    SUPPORTED_TYPES_HINT,
    check_type,
    parse_type,
    type_name,
    validate_value,
)
from promptc.exceptions import SignatureError

__all__ = [
    "Field",
    "InputField",
    "OutputField",
    "Signature",
    "derive_signature",
    "make_signature",
]

_RESERVED = {"instruction", "demos", "lm", "completed", "fields", "input_fields", "output_fields"}


@dataclass(frozen=True)
class Field:
    """One declared field of a signature.

    Attributes:
        name: the field name, a Python identifier.
        kind: ``"input"`` or ``"output"``.
        annotation: the field's type.
        desc: a description shown to the model.
    """

    name: str
    kind: str
    annotation: Any
    desc: str = ""

    @property
    def type_name(self) -> str:
        """The canonical type name, e.g. ``list[str]``."""
        return type_name(self.annotation)


@dataclass(frozen=True)
class _FieldMarker:
    kind: str
    desc: str


def InputField(*, desc: str = "") -> Any:
    """Declare an input field of a signature."""
    return _FieldMarker("input", desc)


def OutputField(*, desc: str = "") -> Any:
    """Declare an output field of a signature."""
    return _FieldMarker("output", desc)


def _check_name(sig: str, name: str) -> None:
    if not name.isidentifier() or keyword.iskeyword(name):
        raise SignatureError(f"signature {sig}: field name {name!r} is not a Python identifier")
    if name.startswith("_") or name in _RESERVED:
        raise SignatureError(
            f"signature {sig}: field name {name!r} is reserved; rename the field "
            f"(names may not start with '_' or be one of {sorted(_RESERVED)})"
        )


def _check_field(sig: str, field: Field) -> None:
    _check_name(sig, field.name)
    reason = check_type(field.annotation)
    if reason is not None:
        raise SignatureError(
            f"signature {sig}: field {field.name!r} has an unsupported type: {reason}. "
            f"Supported: {SUPPORTED_TYPES_HINT}."
        )


class Signature:
    """Base class of all signatures; subclass it, never instantiate it.

    Class attributes (derived at class creation, read-only by convention):
        instruction: the task instruction (the docstring, or a default built from the fields).
        input_fields: input fields by name, in declaration order.
        output_fields: output fields by name, in declaration order.
    """

    instruction: ClassVar[str] = ""
    input_fields: ClassVar[dict[str, Field]] = {}
    output_fields: ClassVar[dict[str, Field]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        inputs: dict[str, Field] = {}
        outputs: dict[str, Field] = {}
        for base in reversed(cls.__mro__[1:]):
            if issubclass(base, Signature):
                inputs.update(base.input_fields)
                outputs.update(base.output_fields)
        own = inspect.get_annotations(cls)
        hints = _resolve_hints(cls) if own else {}
        for name in own:
            marker = cls.__dict__.get(name)
            if not isinstance(marker, _FieldMarker):
                raise SignatureError(
                    f"signature {cls.__name__}: field {name!r} needs a declaration; write "
                    f"`{name}: {own[name] if isinstance(own[name], str) else type_name(own[name])}"
                    " = InputField(desc=...)` or `= OutputField(desc=...)`"
                )
            field = Field(name, marker.kind, hints[name], marker.desc)
            _check_field(cls.__name__, field)
            (inputs if marker.kind == "input" else outputs)[name] = field
            delattr(cls, name)
        _check_unmarked(cls)
        clash = set(inputs) & set(outputs)
        if clash:
            raise SignatureError(
                f"signature {cls.__name__}: {sorted(clash)} declared as both input and output"
            )
        cls.input_fields = inputs
        cls.output_fields = outputs
        doc = cls.__dict__.get("__doc__")
        cls.instruction = _clean_doc(doc) if doc else (cls.instruction or _default_instruction(cls))

    @classmethod
    def fields(cls) -> dict[str, Field]:
        """All fields, inputs first, in declaration order."""
        return {**cls.input_fields, **cls.output_fields}

    @classmethod
    def check(cls) -> None:
        """Raise :class:`SignatureError` unless the signature can be used by a predictor."""
        if not cls.output_fields:
            raise SignatureError(
                f"signature {cls.__name__} has no output fields; declare at least one "
                "`name: type = OutputField(desc=...)`"
            )

    @classmethod
    def with_instruction(cls, instruction: str) -> type[Signature]:
        """A copy of this signature with another instruction."""
        if not isinstance(instruction, str) or not instruction.strip():
            raise SignatureError(f"instruction must be a non-empty string, got {instruction!r}")
        return derive_signature(cls, instruction=instruction.strip())

    @classmethod
    def with_fields(
        cls,
        *,
        inputs: dict[str, tuple[Any, str]] | None = None,
        outputs: dict[str, tuple[Any, str]] | None = None,
        prepend_outputs: bool = False,
    ) -> type[Signature]:
        """A copy with extra fields, each given as ``name: (type, description)``.

        Args:
            inputs: input fields appended after the existing ones.
            outputs: output fields appended (or prepended with ``prepend_outputs``).
            prepend_outputs: put the new outputs first (chain-of-thought puts reasoning first).
        """
        new_in = dict(cls.input_fields)
        for name, (tp, desc) in (inputs or {}).items():
            new_in[name] = Field(name, "input", tp, desc)
        extra_out = {n: Field(n, "output", tp, d) for n, (tp, d) in (outputs or {}).items()}
        new_out = (
            {**extra_out, **cls.output_fields}
            if prepend_outputs
            else {**cls.output_fields, **extra_out}
        )
        return derive_signature(cls, input_fields=new_in, output_fields=new_out)

    @classmethod
    def validate_inputs(cls, values: dict[str, Any]) -> dict[str, Any]:
        """Check that ``values`` has exactly the input fields, each of the right type.

        Raises:
            SignatureError: naming the missing, unexpected or ill-typed field.
        """
        missing = [n for n in cls.input_fields if n not in values]
        extra = [n for n in values if n not in cls.input_fields]
        if missing or extra:
            parts = []
            if missing:
                parts.append(f"missing {missing}")
            if extra:
                parts.append(f"unexpected {extra}")
            raise SignatureError(
                f"{cls.__name__} takes inputs {list(cls.input_fields)}: " + ", ".join(parts)
            )
        out = {}
        for name, field in cls.input_fields.items():
            try:
                out[name] = validate_value(values[name], field.annotation)
            except ValueError as exc:
                raise SignatureError(f"{cls.__name__}: input {name!r}: {exc}") from None
        return out

    @classmethod
    def to_dict(cls) -> dict[str, Any]:
        """A plain description: name, instruction and fields (type names, descriptions)."""

        def spec(fields: dict[str, Field]) -> list[dict[str, str]]:
            return [{"name": f.name, "type": f.type_name, "desc": f.desc} for f in fields.values()]

        return {
            "name": cls.__name__,
            "instruction": cls.instruction,
            "inputs": spec(cls.input_fields),
            "outputs": spec(cls.output_fields),
        }


def _resolve_hints(cls: type) -> dict[str, Any]:
    try:
        return typing.get_type_hints(cls)
    except Exception as exc:
        raise SignatureError(
            f"signature {cls.__name__}: cannot resolve field annotations ({exc}); "
            "import every type a field uses in the signature's module"
        ) from None


def _check_unmarked(cls: type) -> None:
    for name, value in cls.__dict__.items():
        if isinstance(value, _FieldMarker):
            raise SignatureError(
                f"signature {cls.__name__}: field {name!r} has no type annotation; write "
                f"`{name}: str = {'InputField' if value.kind == 'input' else 'OutputField'}(...)`"
            )


def _clean_doc(doc: str) -> str:
    return inspect.cleandoc(doc)


def _default_instruction(cls: type[Signature]) -> str:
    ins = ", ".join(f"`{n}`" for n in cls.input_fields)
    outs = ", ".join(f"`{n}`" for n in cls.output_fields)
    return f"Given the fields {ins}, produce the fields {outs}." if ins else f"Produce {outs}."


def derive_signature(
    base: type[Signature],
    *,
    instruction: str | None = None,
    input_fields: dict[str, Field] | None = None,
    output_fields: dict[str, Field] | None = None,
) -> type[Signature]:
    """Build a sibling signature class (same name) with some parts replaced."""
    new_in = base.input_fields if input_fields is None else input_fields
    new_out = base.output_fields if output_fields is None else output_fields
    for field in [*new_in.values(), *new_out.values()]:
        _check_field(base.__name__, field)
    ns: dict[str, Any] = {"__module__": base.__module__, "__qualname__": base.__qualname__}
    derived: type[Signature] = type(base.__name__, (Signature,), ns)
    derived.input_fields = dict(new_in)
    derived.output_fields = dict(new_out)
    derived.instruction = instruction if instruction is not None else base.instruction
    return derived


_SPEC_RE = re.compile(r"^(?P<inputs>.*?)->(?P<outputs>.*)$", re.DOTALL)


def _split_fields(text: str) -> list[str]:
    parts, depth, cur = [], 0, ""
    for ch in text:
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    if cur.strip():
        parts.append(cur)
    return [p.strip() for p in parts]


def _parse_side(
    spec: str, text: str, kind: str, models: dict[str, type[pydantic.BaseModel]]
) -> dict[str, Field]:
    fields: dict[str, Field] = {}
    for part in _split_fields(text):
        if not part:
            raise SignatureError(f"signature {spec!r}: empty field name among the {kind}s")
        name, _, tname = part.partition(":")
        name = name.strip()
        try:
            tp = parse_type(tname.strip(), models) if tname.strip() else str
        except ValueError as exc:
            raise SignatureError(
                f"signature {spec!r}: field {name!r}: {exc}. Supported: {SUPPORTED_TYPES_HINT}."
            ) from None
        if name in fields:
            raise SignatureError(f"signature {spec!r}: field {name!r} is declared twice")
        fields[name] = Field(name, kind, tp, "")
    return fields


def make_signature(
    spec: str,
    instruction: str | None = None,
    *,
    name: str = "StringSignature",
    descriptions: dict[str, str] | None = None,
    models: dict[str, type[pydantic.BaseModel]] | None = None,
) -> type[Signature]:
    """Build a signature from the shorthand ``"question, context -> answer: int"``.

    Args:
        spec: comma-separated inputs, ``->``, comma-separated outputs; each ``name`` or
            ``name: type`` (types as in :data:`SUPPORTED_TYPES_HINT`; default ``str``).
        instruction: the instruction; by default one is built from the field names.
        name: the class name of the new signature.
        descriptions: field descriptions by field name.
        models: pydantic models that type names in ``spec`` may refer to.

    Raises:
        SignatureError: the spec is malformed; the message names the offending part.
    """
    if not isinstance(spec, str):
        raise SignatureError(f"a signature spec must be a string, got {type(spec).__name__}")
    m = _SPEC_RE.match(spec)
    if m is None or "->" in m.group("outputs"):
        raise SignatureError(
            f"signature {spec!r} must have exactly one '->' between inputs and outputs, "
            "e.g. 'question, context -> answer: int'"
        )
    inputs = _parse_side(spec, m.group("inputs"), "input", models or {})
    outputs = _parse_side(spec, m.group("outputs"), "output", models or {})
    if not outputs:
        raise SignatureError(f"signature {spec!r} has no output fields after '->'")
    unknown = set(descriptions or {}) - set(inputs) - set(outputs)
    if unknown:
        raise SignatureError(
            f"signature {spec!r}: descriptions for unknown fields {sorted(unknown)}"
        )
    for fields in (inputs, outputs):
        for fname, field in fields.items():
            fields[fname] = Field(
                fname, field.kind, field.annotation, (descriptions or {}).get(fname, "")
            )
    if not name.isidentifier():
        raise SignatureError(f"signature name {name!r} is not a Python identifier")
    base = type(name, (Signature,), {"__module__": __name__})
    derived = derive_signature(base, input_fields=inputs, output_fields=outputs)
    derived.instruction = instruction.strip() if instruction else _default_instruction(derived)
    derived.check()
    return derived
