"""Field types: which annotations a signature accepts, how they are named, shown and parsed.

Type names are parsed by a small recursive-descent reader, never by ``eval``: a signature string
or an artifact file can name types, and neither may run code.
"""

from __future__ import annotations

import json
import math
import re
import types
from typing import Any, Literal, Union, get_args, get_origin

import pydantic

__all__ = [
    "SUPPORTED_TYPES_HINT",
    "check_type",
    "format_value",
    "parse_type",
    "parse_value",
    "type_name",
    "validate_value",
]

SUPPORTED_TYPES_HINT = (
    "str, int, float, bool, Literal[...], list[T], dict[str, T], T | None, or a pydantic model"
)

_SCALARS: dict[str, type] = {"str": str, "int": int, "float": float, "bool": bool}
_TRUE = {"true", "yes", "y", "1"}
_FALSE = {"false", "no", "n", "0"}
_NUMBER = re.compile(r"[+-]?\$?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][+-]?\d+)?")
_INTEGER = re.compile(r"[+-]?\d+")
_BULLET = re.compile(r"[-*][ \t]+(\S.*)")
_FENCE = re.compile(r"```(?:json)?\s*(.*?)\s*```", re.DOTALL | re.IGNORECASE)
_JSON_SHAPES = {list: 'a JSON array (e.g. ["a", "b"])', dict: "a JSON object"}


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, pydantic.BaseModel)


def check_type(tp: Any) -> str | None:
    """Return ``None`` when ``tp`` is a supported field type, else a reason it is not."""
    if tp in _SCALARS.values() or _is_model(tp):
        return None
    origin, args = get_origin(tp), get_args(tp)
    if origin is Literal:
        bad = [a for a in args if not isinstance(a, (str, int, bool))]
        return f"Literal values must be str, int or bool, got {bad!r}" if bad else None
    if origin is list and len(args) == 1:
        return check_type(args[0])
    if origin is dict and len(args) == 2:
        return "dict keys must be str" if args[0] is not str else check_type(args[1])
    if origin in (Union, types.UnionType):
        rest = [a for a in args if a is not type(None)]
        if len(rest) == 1 and len(args) == 2:
            return check_type(rest[0])
        return "unions other than `T | None` are not supported"
    return f"{tp!r} is not a supported field type"


def type_name(tp: Any) -> str:
    """The canonical name of a supported type, e.g. ``list[str]`` or ``Literal['a', 'b']``."""
    if tp in _SCALARS.values():
        return str(tp.__name__)
    if _is_model(tp):
        return str(tp.__name__)
    origin, args = get_origin(tp), get_args(tp)
    if origin is Literal:
        return "Literal[" + ", ".join(repr(a) for a in args) + "]"
    if origin is list:
        return f"list[{type_name(args[0])}]"
    if origin is dict:
        return f"dict[str, {type_name(args[1])}]"
    rest = [a for a in args if a is not type(None)]
    return f"{type_name(rest[0])} | None"


class _TypeReader:
    """Reads ``str | int | list[T] | dict[str, T] | Literal[...] | T | None | ModelName``."""

    _TOKEN = re.compile(r"\s*(\w+|'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|-?\d+|[\[\],|])")

    def __init__(self, text: str, models: dict[str, type[pydantic.BaseModel]]) -> None:
        self.text = text
        self.models = models
        self.tokens = self._tokenize(text)
        self.pos = 0

    def _tokenize(self, text: str) -> list[str]:
        tokens, i = [], 0
        while i < len(text):
            if text[i].isspace():
                i += 1
                continue
            m = self._TOKEN.match(text, i)
            if not m:
                raise ValueError(f"unexpected character {text[i]!r} in type {text!r}")
            tokens.append(m.group(1))
            i = m.end()
        return tokens

    def _next(self) -> str:
        if self.pos >= len(self.tokens):
            raise ValueError(f"type {self.text!r} ends too early")
        tok = self.tokens[self.pos]
        self.pos += 1
        return tok

    def _expect(self, tok: str) -> None:
        got = self._next()
        if got != tok:
            raise ValueError(f"expected {tok!r} in type {self.text!r}, got {got!r}")

    def read(self) -> Any:
        tp = self._read_union()
        if self.pos != len(self.tokens):
            raise ValueError(f"unexpected {self.tokens[self.pos]!r} in type {self.text!r}")
        return tp

    def _read_union(self) -> Any:
        tp = self._read_one()
        if self.pos < len(self.tokens) and self.tokens[self.pos] == "|":
            self.pos += 1
            if self._next() != "None":
                raise ValueError(f"only `T | None` unions are supported, in {self.text!r}")
            return tp | None
        return tp

    def _read_one(self) -> Any:
        name = self._next()
        if name in _SCALARS:
            return _SCALARS[name]
        if name in ("list", "List"):
            self._expect("[")
            inner = self._read_union()
            self._expect("]")
            return list[inner]  # type: ignore[valid-type]
        if name in ("dict", "Dict"):
            self._expect("[")
            self._expect("str")
            self._expect(",")
            inner = self._read_union()
            self._expect("]")
            return dict[str, inner]  # type: ignore[valid-type]
        if name == "Literal":
            return self._read_literal()
        if name in ("Optional",):
            self._expect("[")
            inner = self._read_union()
            self._expect("]")
            return inner | None
        if name in self.models:
            return self.models[name]
        raise ValueError(f"unknown type {name!r} in {self.text!r}")

    def _read_literal(self) -> Any:
        self._expect("[")
        values: list[Any] = []
        while True:
            tok = self._next()
            if tok[:1] in ("'", '"'):
                values.append(json.loads('"' + tok[1:-1].replace('"', '\\"') + '"'))
            elif tok in ("True", "False"):
                values.append(tok == "True")
            elif re.fullmatch(r"-?\d+", tok):
                values.append(int(tok))
            else:
                raise ValueError(f"Literal values must be quoted strings or ints, got {tok!r}")
            sep = self._next()
            if sep == "]":
                break
            if sep != ",":
                raise ValueError(f"expected ',' or ']' in {self.text!r}, got {sep!r}")
        return Literal[tuple(values)]


def parse_type(text: str, models: dict[str, type[pydantic.BaseModel]] | None = None) -> Any:
    """Parse a type name such as ``"list[str]"`` into a type, without ``eval``.

    Raises:
        ValueError: the text names no supported type (the message says what was expected).
    """
    return _TypeReader(text, models or {}).read()


_ADAPTERS: dict[Any, pydantic.TypeAdapter[Any]] = {}


def _adapter(tp: Any) -> pydantic.TypeAdapter[Any]:
    """A cached TypeAdapter per type (building one costs ~100 us)."""
    adapter = _ADAPTERS.get(tp)
    if adapter is None:
        adapter = _ADAPTERS.setdefault(tp, pydantic.TypeAdapter(tp))
    return adapter


def format_value(value: Any) -> str:
    """Show a value in a prompt: strings as they are, everything else as compact JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, pydantic.BaseModel):
        return value.model_dump_json()
    return json.dumps(_adapter(type(value)).dump_python(value, mode="json"), ensure_ascii=False)


def _unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"`":
        return text[1:-1].strip()
    return text


def _bare(text: str) -> str:
    """A scalar's text without surrounding quotes and a sentence's full stop."""
    body = _unquote(text)
    return body[:-1].rstrip() if body.endswith(".") else body


def _parse_number(text: str, tp: type) -> Any:
    body = _bare(text)
    if not _NUMBER.fullmatch(body):
        raise ValueError(f"expected {tp.__name__}, got {text!r}")
    digits = body.replace(",", "").replace("$", "")
    if tp is int and _INTEGER.fullmatch(digits):
        return int(digits)  # exact, however long
    number = float(digits)
    if not math.isfinite(number):
        raise ValueError(f"expected a finite {tp.__name__}, got {text!r}")
    if tp is int:
        if not number.is_integer():
            raise ValueError(f"expected int (a whole number), got {text!r}")
        return int(number)
    return number


def _parse_literal(text: str, args: tuple[Any, ...]) -> Any:
    bare = text.rstrip(".").strip()
    candidates = [text, bare, _unquote(text), _unquote(bare), _unquote(bare).rstrip(".").strip()]
    for cand in candidates:
        for arg in args:
            if str(arg) == cand or str(arg).lower() == cand.lower():
                return arg
    allowed = ", ".join(repr(a) for a in args)
    raise ValueError(f"expected one of {allowed}, got {text!r}")


def parse_value(text: str, tp: Any) -> Any:
    """Parse a completion's field text into ``tp``; a text that is not valid for it is refused.

    What each type accepts (surrounding whitespace is ignored everywhere; "quotes" means one pair
    of ``'``, ``"`` or backticks around the whole value; a full stop may end a scalar):

    ============================  ==============================================================
    type                          accepted
    ============================  ==============================================================
    ``str``                       any text, as it is
    ``int``                       a whole number: optional sign and ``$``, digits with optional
                                  thousands commas (``1,234``), optional quotes; ``3.0`` and
                                  ``1e3`` are whole too. ``4.5``, ``42 apples``: refused
    ``float``                     a finite number as for ``int``, with a fraction or exponent
                                  (``$3.50``, ``-1.5e-3``); ``nan``, ``inf``: refused
    ``bool``                      ``true``/``yes``/``y``/``1`` or ``false``/``no``/``n``/``0``,
                                  any case, optional quotes
    ``Literal[...]``              one of the values, exactly or in another case, optional quotes
    ``T | None``                  empty, ``none`` or ``null`` (any case) for ``None``, else ``T``
    ``list[T]``                   a JSON array whose items validate as ``T``; for a scalar or
                                  ``Literal`` ``T`` also a bulleted list: every non-empty line
                                  starts with ``- `` or ``* ``, each item read as ``T`` by this
                                  table. ``a, b`` or free text: refused
    ``dict[str, T]``, a model     a JSON object, validated by pydantic (lax: ``"1"`` fits an
                                  ``int`` field)
    ============================  ==============================================================

    A JSON value may be wrapped in one fenced block (a json-tagged or a bare triple-backtick
    fence) that is the whole field. JSON's ``NaN`` and ``Infinity`` are refused. Prompts ask for
    JSON for lists (the bulleted form is accepted because small models often reply so, and is
    just as unambiguous).

    Raises:
        ValueError: with a message saying what was expected and what was got.
    """
    text = text.strip()
    origin, args = get_origin(tp), get_args(tp)
    if tp is str:
        return text
    if origin in (Union, types.UnionType):
        if text.lower() in ("", "none", "null"):
            return None
        return parse_value(text, next(a for a in args if a is not type(None)))
    if tp in (int, float):
        return _parse_number(text, tp)
    if tp is bool:
        low = _bare(text).lower()
        if low in _TRUE or low in _FALSE:
            return low in _TRUE
        raise ValueError(f"expected true or false, got {text!r}")
    if origin is Literal:
        return _parse_literal(text, args)
    if origin is list and _is_scalar(args[0]) and _BULLET.match(text):
        return _parse_bullets(text, args[0])
    return _parse_json(text, tp)


def _is_scalar(tp: Any) -> bool:
    return tp in _SCALARS.values() or get_origin(tp) is Literal


def _parse_bullets(text: str, item: Any) -> list[Any]:
    values = []
    for i, line in enumerate((ln for ln in text.splitlines() if ln.strip()), start=1):
        m = _BULLET.match(line.strip())
        if not m:
            raise ValueError(
                f"expected a JSON array or one '- ' item per line, got line {i} {line!r} without "
                f"a bullet in {text[:200]!r}"
            )
        try:
            values.append(parse_value(m.group(1), item))
        except ValueError as exc:
            raise ValueError(f"list item {i}: {exc}") from None
    return values


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a finite number")


def _parse_json(text: str, tp: Any) -> Any:
    fence = _FENCE.fullmatch(text)
    body = fence.group(1) if fence else text
    expected = _JSON_SHAPES.get(get_origin(tp), "a JSON object")
    try:
        data = json.loads(body, parse_constant=_no_constant)
    except ValueError:
        raise ValueError(f"expected {expected} for {type_name(tp)}, got {text[:200]!r}") from None
    try:
        return _adapter(tp).validate_python(data)
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        raise ValueError(f"expected {type_name(tp)}: {first['msg']} (got {text[:200]!r})") from None


def validate_value(value: Any, tp: Any) -> Any:
    """Validate (and leniently coerce) a Python value given for a field of type ``tp``."""
    try:
        return _adapter(tp).validate_python(value)
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        raise ValueError(f"expected {type_name(tp)}: {first['msg']}, got {value!r}") from None
