"""The template language an artifact may carry, checked on the parsed AST; bounded rendering.

A template travels inside an artifact, and an artifact is untrusted input. So a template may use
only the small language promptc's own templates use, checked against an allowlist of AST nodes
*before* anything is compiled (Jinja2 folds constants while compiling: ``{{ '%0900000000d' % 1 }}``
would allocate ~900 MB then):

- print a documented scalar (``{{ instruction }}``, an input field's name in the user turn), a
  documented key of the loop variable (``{{ f.name }}``: ``name``, ``type``, ``desc``, ``hint`` of
  ``input_fields``/``output_fields``, ``name``, ``value`` of ``fields``) or ``loop.first``,
  ``loop.last``, ``loop.index``, ``loop.index0``, ``loop.length``;
- ``{% for f in <documented list> %}`` (no nesting, no unpacking, no ``else``, no filter);
- ``{% if %}`` / ``elif`` / ``else`` on those values or a documented list, with ``not``, ``and``,
  ``or`` and ``==`` / ``!=`` against short constants;
- the filters in :data:`ALLOWED_FILTERS`, without arguments.

Anything else (calls, arithmetic, ``~``, subscripts, ``set``, macros, includes, Jinja2's globals
such as ``range`` or ``lipsum``, filters with arguments, ...) is refused naming what was found and
on which line. Rendering stops once the output exceeds a cap relative to its inputs.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import jinja2
import jinja2.meta
import jinja2.nodes as nodes
import jinja2.sandbox

from promptc.exceptions import ConfigurationError

__all__ = [
    "ALLOWED_FILTERS",
    "TEMPLATE_CONTEXT",
    "TEMPLATE_NAMES",
    "check_template",
    "render_bounded",
    "template_variables",
]

TEMPLATE_NAMES = ("system", "user", "assistant")
# What each template may read; the user turn may also name the signature's input fields.
TEMPLATE_CONTEXT = {
    "system": frozenset({"instruction", "input_fields", "output_fields"}),
    "user": frozenset({"fields", "output_fields"}),
    "assistant": frozenset({"fields"}),
}
# The documented lists and the keys of their items.
_FIELD_KEYS = ("name", "type", "desc", "hint")
ITEM_KEYS = {"input_fields": _FIELD_KEYS, "output_fields": _FIELD_KEYS, "fields": ("name", "value")}
LOOP_KEYS = ("first", "last", "index", "index0", "length")
ALLOWED_FILTERS = frozenset({"capitalize", "lower", "title", "trim", "upper"})
MAX_TEMPLATE_CHARS = 64 * 1024
MAX_CONSTANT_CHARS = 100
# A render may produce at most RENDER_FACTOR times the characters of its inputs, plus this.
RENDER_FACTOR = 8
RENDER_SLACK = 256 * 1024

RULE = (
    "templates may only print documented variables, loop once over a documented list "
    "({% for f in fields %}, not nested), test with {% if %} (not/and/or, ==/!= against short "
    f"constants) and use the filters {', '.join(sorted(ALLOWED_FILTERS))} without arguments "
    "(see 'Trusting an artifact' in the README)"
)

_WORDS = {
    "Add": "'+'",
    "Assign": "{% set %}",
    "AssignBlock": "{% set %}",
    "Block": "{% block %}",
    "Call": "a call",
    "CallBlock": "{% call %}",
    "Concat": "'~' concatenation",
    "CondExpr": "an inline if/else",
    "Const": "a constant",
    "Dict": "a dict literal",
    "Div": "'/'",
    "ExprStmt": "{% do %}",
    "Extends": "{% extends %}",
    "FilterBlock": "{% filter %}",
    "FloorDiv": "'//'",
    "FromImport": "{% from ... import %}",
    "Getitem": "a subscript or slice",
    "Import": "{% import %}",
    "Include": "{% include %}",
    "List": "a list literal",
    "Macro": "{% macro %}",
    "Mod": "the '%' operator",
    "Mul": "'*'",
    "Pow": "'**'",
    "ScopedEvalContextModifier": "{% autoescape %}",
    "Sub": "'-'",
    "Test": "an 'is' test",
    "Tuple": "a tuple",
    "With": "{% with %}",
}


class _PromptEnvironment(jinja2.sandbox.SandboxedEnvironment):
    """The sandbox, reading ``f.name`` of the render context's plain-dict records as an item.

    Jinja2 tries ``getattr`` first and falls back to the item through an ``AttributeError``,
    ~1.5 us per read; every user turn reads two or three per field. Anything that is not such a
    record, or not such a key, goes through the sandbox's own lookup.
    """

    def getattr(self, obj: Any, attribute: str) -> Any:
        if type(obj) is dict and attribute in obj:
            return obj[attribute]
        return super().getattr(obj, attribute)


@functools.lru_cache(maxsize=1)
def environment() -> jinja2.sandbox.SandboxedEnvironment:
    """The one Jinja2 environment: sandboxed, strict, and without Jinja2's globals."""
    env = _PromptEnvironment(
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )
    env.globals.clear()  # no range, lipsum, cycler, joiner, namespace, dict
    return env


def template_variables(source: str) -> set[str]:
    """The undeclared variables a template reads."""
    return set(jinja2.meta.find_undeclared_variables(environment().parse(source)))


class _Refused(Exception):
    def __init__(self, node: nodes.Node, what: str = "") -> None:
        super().__init__(what or _WORDS.get(type(node).__name__, type(node).__name__))
        self.lineno = node.lineno


@dataclass(frozen=True)
class _Scope:
    scalars: frozenset[str] | None  # None: any name not a list (the inputs are not known)
    lists: frozenset[str]
    item: str | None = None  # the loop variable, inside a for loop
    items_of: str = ""  # the list it walks

    def is_scalar(self, name: str) -> bool:
        if name in self.lists or name == self.item or (self.item and name == "loop"):
            return False
        return name in self.scalars if self.scalars is not None else True

    def allowed(self) -> list[str]:
        names = set(self.scalars or ())
        if self.item:
            names |= {f"{self.item}.{k}" for k in ITEM_KEYS[self.items_of]}
            names |= {f"loop.{k}" for k in LOOP_KEYS}
        return sorted(names)


def _scope(part: str, inputs: Iterable[str] | None) -> _Scope:
    lists = frozenset(n for n in TEMPLATE_CONTEXT[part] if n in ITEM_KEYS)
    scalars = frozenset(TEMPLATE_CONTEXT[part] - lists)
    if part == "user":
        return _Scope(None if inputs is None else scalars | frozenset(inputs) - lists, lists)
    return _Scope(scalars, lists)


def check_template(part: str, source: str, inputs: Iterable[str] | None = None) -> None:
    """Refuse a template that goes beyond promptc's template language (see the module doc).

    Args:
        part: ``"system"``, ``"user"`` or ``"assistant"``.
        source: the Jinja2 source.
        inputs: the signature's input field names (the user turn may print them); ``None`` when
            not known yet (any name is then taken for one, and must be given at render time).

    Raises:
        ConfigurationError: naming what was found, and where.
    """
    _check_cached(part, source, None if inputs is None else tuple(sorted(inputs)))


@functools.lru_cache(maxsize=512)
def _check_cached(part: str, source: str, inputs: tuple[str, ...] | None) -> None:
    where = f"template {part!r}"
    if part not in TEMPLATE_CONTEXT:
        raise ConfigurationError(f"unknown template {part!r}; expected one of {TEMPLATE_NAMES}")
    if len(source) > MAX_TEMPLATE_CHARS:
        raise ConfigurationError(
            f"{where} is {len(source)} characters; the limit is {MAX_TEMPLATE_CHARS}"
        )
    try:
        tree = environment().parse(source)
        _statements(tree.body, _scope(part, inputs))
    except jinja2.TemplateSyntaxError as exc:
        raise ConfigurationError(f"{where} line {exc.lineno}: syntax error: {exc}") from None
    except RecursionError:
        raise ConfigurationError(f"{where} is nested too deeply") from None
    except _Refused as exc:
        raise ConfigurationError(
            f"{where} line {exc.lineno}: {exc} is not allowed; {RULE}"
        ) from None


def _statements(body: Sequence[nodes.Node], scope: _Scope) -> None:
    for node in body:
        if isinstance(node, nodes.Output):
            for child in node.nodes:
                if not isinstance(child, nodes.TemplateData):
                    _value(child, scope)
        elif isinstance(node, nodes.If):
            _test(node.test, scope)
            _statements(node.body, scope)
            _statements(node.elif_, scope)
            _statements(node.else_, scope)
        elif isinstance(node, nodes.For):
            _for(node, scope)
        else:
            raise _Refused(node)


def _for(node: nodes.For, scope: _Scope) -> None:
    if scope.item is not None:
        raise _Refused(node, "a for loop inside another for loop")
    if not isinstance(node.target, nodes.Name):
        raise _Refused(node, "unpacking in a for loop")
    if node.else_ or node.test is not None or node.recursive:
        raise _Refused(node, "a for loop with else, if or recursive")
    it = node.iter
    if not (isinstance(it, nodes.Name) and it.name in scope.lists):
        raise _Refused(it, f"a for loop over {_show(it)} (loop over one of {sorted(scope.lists)})")
    name = node.target.name
    if name == "loop" or name in scope.lists:
        raise _Refused(node, f"the loop variable name {name!r} (it hides a list)")
    _statements(node.body, replace(scope, item=name, items_of=it.name))


# Names Jinja2 binds itself (``self``: the template reference; ``loop``: the loop object).
_JINJA_OWN = frozenset({"self", "loop"})


def _value(node: nodes.Node, scope: _Scope) -> None:
    """A printed or compared value: a documented scalar, item key or loop key, maybe filtered."""
    if isinstance(node, nodes.Filter):
        if node.name not in ALLOWED_FILTERS:
            raise _Refused(node, f"the filter {node.name!r}")
        if node.args or node.kwargs or node.dyn_args or node.dyn_kwargs:
            raise _Refused(node, f"the filter {node.name!r} with arguments")
        if node.node is None:
            raise _Refused(node, f"the filter {node.name!r} as a block")
        _value(node.node, scope)
    elif isinstance(node, nodes.Name):
        if node.name in _JINJA_OWN:  # a field called so would print Jinja2's object, not itself
            raise _Refused(
                node,
                f"the name {node.name!r}, which is Jinja2's own (print a field called so "
                "with {% for f in fields %}{{ f.value }}{% endfor %})",
            )
        if not scope.is_scalar(node.name):
            raise _Refused(node, f"{_show(node)} (readable: {scope.allowed()})")
    elif isinstance(node, nodes.Getattr):
        base = node.node.name if isinstance(node.node, nodes.Name) else None
        if base is not None and base == scope.item and node.attr in ITEM_KEYS[scope.items_of]:
            return
        if base == "loop" and scope.item is not None and node.attr in LOOP_KEYS:
            return
        raise _Refused(node, f"{_show(node)} (readable: {scope.allowed()})")
    else:
        raise _Refused(node)


def _test(node: nodes.Node, scope: _Scope) -> None:
    if isinstance(node, nodes.Not):
        _test(node.node, scope)
    elif isinstance(node, (nodes.And, nodes.Or)):
        _test(node.left, scope)
        _test(node.right, scope)
    elif isinstance(node, nodes.Compare):
        if len(node.ops) != 1 or node.ops[0].op not in ("eq", "ne"):
            raise _Refused(node, "a comparison other than one '==' or '!='")
        _operand(node.expr, scope)
        _operand(node.ops[0].expr, scope)
    elif not (isinstance(node, nodes.Name) and node.name in scope.lists):
        _value(node, scope)


def _operand(node: nodes.Node, scope: _Scope) -> None:
    if isinstance(node, nodes.Const):
        value = node.value
        ok = value is None or isinstance(value, (bool, int, str))
        if not ok or len(str(value)) > MAX_CONSTANT_CHARS:
            raise _Refused(node, f"the constant {str(value)[:40]!r} (short strings and numbers)")
    else:
        _value(node, scope)


def _show(node: nodes.Node) -> str:
    if isinstance(node, nodes.Name):
        return f"the variable {node.name!r}"
    if isinstance(node, nodes.Getattr):
        if isinstance(node.node, nodes.Name):
            return f"'{node.node.name}.{node.attr}'"
        return f"the attribute {node.attr!r}"
    return _WORDS.get(type(node).__name__, type(node).__name__)


@functools.lru_cache(maxsize=256)
def compiled(part: str, source: str) -> jinja2.Template:
    """The compiled template, once it passed :func:`check_template` (never compiled before)."""
    check_template(part, source)
    return environment().from_string(source)


def _chars(value: Any) -> int:
    if isinstance(value, str):
        return len(value)
    if isinstance(value, dict):
        return sum(_chars(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return sum(_chars(v) for v in value)
    return 0


def render_bounded(part: str, source: str, context: dict[str, Any]) -> str:
    """Render a checked template, stopping once the output exceeds its cap.

    The cap is ``RENDER_FACTOR`` times the characters of the context plus ``RENDER_SLACK``:
    far above what a prompt template needs, far below what exhausts memory.

    Raises:
        ConfigurationError: the output went over the cap (or the template is not allowed).
    """
    limit = RENDER_FACTOR * _chars(context) + RENDER_SLACK
    out: list[str] = []
    size = 0
    template = compiled(part, source)
    # shared=True: the template sees the render context only, and no copy of globals is made
    # per call; any field name works, since the context is a dict.
    for chunk in template.root_render_func(template.new_context(context, shared=True)):
        size += len(chunk)
        if size > limit:
            raise ConfigurationError(
                f"the {part!r} prompt template rendered more than {limit} characters "
                f"({RENDER_FACTOR}x its inputs + {RENDER_SLACK}); a prompt template prints each "
                "value about once: fix the template"
            )
        out.append(chunk)
    return "".join(out)
