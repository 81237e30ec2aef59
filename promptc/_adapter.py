"""The adapter: signature + instruction + ordered demos + inputs -> chat messages, and back.

Formatting is done by three Jinja2 templates (system, user turn, assistant turn), rendered in
Jinja2's sandbox with strict undefined variables; the template texts travel inside compiled
artifacts, so a shipped prompt is rendered by exactly the text that was compiled. Fields are
wrapped in XML tags (``<answer>...</answer>``): small local models follow that format far more
reliably than DSPy-style ``[[ ## field ## ]]`` markers (measured on Qwen2.5-Coder-0.5B: 20/24
parsed and correct vs. 0/24 parsed). Values are turned into strings and neutralized in Python
before rendering: a template never evaluates user text, and user text cannot forge a field tag.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Literal, get_args, get_origin

import jinja2
import jinja2.meta
import jinja2.nodes
import jinja2.sandbox

from promptc._backend import Message
from promptc._signature import Field, Signature
from promptc._types import format_value, parse_value
from promptc.exceptions import ConfigurationError

__all__ = ["ChatAdapter", "ParseFailure", "unsafe_constructs"]

TEMPLATE_NAMES = ("system", "user", "assistant")
# Named prompt formats: how the instruction, the fields and the inputs are laid out. Every one
# asks for (and parses) each output in its XML tag, and shares the assistant template.
PROMPT_FORMATS = ("xml", "markdown", "plain")
# What each template may read; the user turn may also name the signature's input fields.
TEMPLATE_CONTEXT = {
    "system": frozenset({"instruction", "input_fields", "output_fields"}),
    "user": frozenset({"fields", "output_fields"}),
    "assistant": frozenset({"fields"}),
}


class ParseFailure(ValueError):
    """A completion did not fit the signature; ``field`` names the culprit when one does."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


@functools.lru_cache(maxsize=1)
def _default_templates() -> dict[str, str]:
    return format_templates("xml")


@functools.lru_cache(maxsize=len(PROMPT_FORMATS))
def _read_format(name: str) -> tuple[tuple[str, str], ...]:
    folder = resources.files("promptc") / "templates"
    prefix = {"xml": "chat"}.get(name, name)
    return tuple(
        (
            part,
            (folder / f"{'chat' if part == 'assistant' else prefix}_{part}.jinja2").read_text(
                "utf-8"
            ),
        )
        for part in TEMPLATE_NAMES
    )


def format_templates(name: str) -> dict[str, str]:
    """The templates of a named prompt format (one of :data:`PROMPT_FORMATS`).

    Raises:
        ConfigurationError: ``name`` is not a known format.
    """
    if name not in PROMPT_FORMATS:
        raise ConfigurationError(
            f"unknown prompt format {name!r}; choose one of {list(PROMPT_FORMATS)}"
        )
    return dict(_read_format(name))


class _PromptEnvironment(jinja2.sandbox.SandboxedEnvironment):
    """The sandbox, reading ``f.name`` of the render context's plain-dict records as an item.

    Jinja2 tries ``getattr`` first and falls back to the item through an ``AttributeError``,
    ~1.5 µs per read; every user turn reads two or three per field. Anything that is not such a
    record, or not such a key, goes through the sandbox's own lookup.
    """

    def getattr(self, obj: Any, attribute: str) -> Any:
        if type(obj) is dict and attribute in obj:
            return obj[attribute]
        return super().getattr(obj, attribute)


@functools.lru_cache(maxsize=1)
def _environment() -> jinja2.sandbox.SandboxedEnvironment:
    return _PromptEnvironment(
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )


@functools.lru_cache(maxsize=256)
def _compile(source: str) -> jinja2.Template:
    return _environment().from_string(source)


def template_variables(source: str) -> set[str]:
    """The undeclared variables a template reads (checked against the signature at load)."""
    env = _environment()
    return set(jinja2.meta.find_undeclared_variables(env.parse(source)))


def private_accesses(source: str) -> list[str]:
    """Attribute or key accesses to names starting with ``_`` (a reach for Python internals).

    The sandbox already refuses them at render time; finding them at load time lets a hostile
    artifact be refused before anything is rendered.
    """
    tree = _environment().parse(source)
    found = [n.attr for n in tree.find_all(jinja2.nodes.Getattr) if n.attr.startswith("_")]
    for node in tree.find_all(jinja2.nodes.Getitem):
        key = node.arg
        if isinstance(key, jinja2.nodes.Const) and str(key.value).startswith("_"):
            found.append(str(key.value))
    return found


# Constructs a prompt template never needs and a hostile one would: calling anything (``range``,
# ``lipsum``, ``str.format``), dynamic attribute access by name, arithmetic that can blow up
# memory, macros that can recurse, and loading other templates.
_FORBIDDEN_NODES = {
    jinja2.nodes.Call: "a function or method call",
    jinja2.nodes.Mul: "multiplication",
    jinja2.nodes.Pow: "exponentiation",
    jinja2.nodes.Macro: "a macro",
    jinja2.nodes.CallBlock: "a call block",
    jinja2.nodes.Include: "an include",
    jinja2.nodes.Extends: "an extends",
    jinja2.nodes.Import: "an import",
    jinja2.nodes.FromImport: "an import",
}
_FORBIDDEN_FILTERS = frozenset(
    {"attr", "format", "map", "select", "reject", "selectattr", "rejectattr", "groupby", "sum"}
)


def unsafe_constructs(source: str) -> list[str]:
    """What in a template goes beyond reading field values, described (empty when nothing).

    Private attribute or key access, calls, the ``attr``/``format``/``map``-like filters, string
    constants naming dunders, multiplication, macros and includes: the sandbox stops most of
    these only when rendering, so an artifact carrying any of them is refused at load instead.
    """
    tree = _environment().parse(source)
    private = private_accesses(source)
    found = [f"private attributes {sorted(set(private))}"] if private else []
    for node_type, label in _FORBIDDEN_NODES.items():
        if any(True for _ in tree.find_all(node_type)):
            found.append(label)
    for node in tree.find_all((jinja2.nodes.Filter, jinja2.nodes.Test)):
        if node.name in _FORBIDDEN_FILTERS:
            found.append(f"the {node.name!r} filter")
    for const in tree.find_all(jinja2.nodes.Const):
        if isinstance(const.value, str) and "__" in const.value:
            found.append(f"the string {const.value[:40]!r}")
    return sorted(set(found))


@functools.lru_cache(maxsize=256)
def _tag_pattern(names: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile(r"<(/?\s*(?:" + "|".join(map(re.escape, names)) + r")\b)", re.IGNORECASE)


def _neutralize(text: str, names: tuple[str, ...]) -> str:
    """Escape ``<field>`` and ``</field>`` inside a value so it cannot pose as a field tag."""
    return _tag_pattern(names).sub(r"&lt;\1", text) if "<" in text else text


def _hint(f: Field) -> str:
    tp = f.annotation
    if tp is str:
        return "text"
    if tp is bool:
        return "true or false"
    if tp is int:
        return "an integer"
    if tp is float:
        return "a number"
    if get_origin(tp) is Literal:
        return "exactly one of: " + ", ".join(str(a) for a in get_args(tp))
    return f"JSON of type {f.type_name}"


def _describe(fields: dict[str, Field]) -> list[dict[str, str]]:
    return [
        {"name": f.name, "type": f.type_name, "desc": f.desc, "hint": _hint(f)}
        for f in fields.values()
    ]


def _values(
    fields: dict[str, Field], values: dict[str, Any], names: tuple[str, ...]
) -> list[dict[str, str]]:
    return [
        {"name": name, "value": _neutralize(format_value(values[name]), names)}
        for name in fields
        if name in values
    ]


@dataclass(frozen=True)
class ChatAdapter:
    """Formats prompts as chat turns with ``[[ ## field ## ]]`` markers and parses replies.

    Attributes:
        templates: Jinja2 sources for the ``system``, ``user`` and ``assistant`` turns; the
            defaults ship with promptc under ``promptc/templates``.
    """

    templates: dict[str, str] = field(default_factory=lambda: dict(_default_templates()))

    def __post_init__(self) -> None:
        missing = [n for n in TEMPLATE_NAMES if n not in self.templates]
        if missing:
            raise ConfigurationError(
                f"ChatAdapter templates lack {missing}; give all of {TEMPLATE_NAMES}"
            )

    def format(
        self,
        signature: type[Signature],
        demos: list[dict[str, Any]],
        inputs: dict[str, Any],
    ) -> list[Message]:
        """Render the messages for one call.

        Args:
            signature: the signature; its ``instruction`` is the one used.
            demos: ordered demonstrations, each a dict of field values.
            inputs: the validated input values.
        """
        return [*self.prefix(signature, demos), self.turn(signature, inputs)]

    def prefix(self, signature: type[Signature], demos: list[dict[str, Any]]) -> list[Message]:
        """The system message and the demo turns: what a prompt holds before its inputs.

        They depend on the signature, the demos and the templates only, so a predictor whose
        three stay the same renders them once (see :meth:`Predict.messages`).
        """
        outs = _describe(signature.output_fields)
        names = tuple(signature.fields())
        system = self._render(
            "system",
            {
                "instruction": signature.instruction,
                "input_fields": _describe(signature.input_fields),
                "output_fields": outs,
            },
        )
        messages: list[Message] = [{"role": "system", "content": system}]
        for demo in demos:
            messages.append(self._user(signature, demo, outs, names))
            assistant = {"fields": _values(signature.output_fields, demo, names)}
            messages.append({"role": "assistant", "content": self._render("assistant", assistant)})
        return messages

    def turn(self, signature: type[Signature], inputs: dict[str, Any]) -> Message:
        """The user turn that asks for ``inputs`` (validated input values)."""
        outs = _describe(signature.output_fields)
        return self._user(signature, inputs, outs, tuple(signature.fields()))

    def _user(
        self,
        signature: type[Signature],
        values: dict[str, Any],
        outs: list[dict[str, str]],
        names: tuple[str, ...],
    ) -> Message:
        fields = _values(signature.input_fields, values, names)
        by_name = {f["name"]: f["value"] for f in fields}
        content = self._render("user", {**by_name, "fields": fields, "output_fields": outs})
        return {"role": "user", "content": content}

    def _render(self, name: str, context: dict[str, Any]) -> str:
        template = _compile(self.templates[name])
        try:
            # shared=True: the template sees the render context only, not Jinja2's globals
            # (range, lipsum, ...), and no copy of them is made per call.
            parts = template.root_render_func(template.new_context(context, shared=True))
            return "".join(parts).strip()
        except (jinja2.TemplateError, TypeError, ValueError, LookupError, RecursionError) as exc:
            raise ConfigurationError(
                f"the {name!r} prompt template failed to render ({type(exc).__name__}: {exc}); "
                "fix the template, or compile the artifact again with promptc's default ones"
            ) from None

    def parse(self, signature: type[Signature], completion: str) -> dict[str, Any]:
        """Parse a completion into typed output values.

        Each field is read from its first ``<field>...</field>``; a missing closing tag ends at
        the next field tag or the end of the reply. A reply with no tags at all is taken whole
        when the signature has a single output.

        Raises:
            ParseFailure: a field is missing or does not fit its type.
        """
        sections = _sections(completion, tuple(signature.output_fields))
        outputs = signature.output_fields
        if not sections and len(outputs) == 1:
            sections = {next(iter(outputs)): completion}
        missing = [n for n in outputs if n not in sections]
        if missing:
            raise ParseFailure(f"the reply lacks the field(s) {missing}", missing[0])
        parsed: dict[str, Any] = {}
        for name, f in outputs.items():
            try:
                parsed[name] = parse_value(sections[name], f.annotation)
            except ValueError as exc:
                raise ParseFailure(f"field {name!r}: {exc}", name) from None
        return parsed

    def feedback(self, signature: type[Signature], completion: str, error: str) -> list[Message]:
        """Messages that show the model its unparsable reply and what was wrong with it."""
        tags = " ".join(f"<{n}>...</{n}>" for n in signature.output_fields)
        return [
            {"role": "assistant", "content": completion},
            {
                "role": "user",
                "content": (
                    f"Your reply could not be used: {error}. Reply again with each output field "
                    f"inside its XML tag, and nothing else: {tags}"
                ),
            },
        ]


@functools.lru_cache(maxsize=256)
def _field_tags(
    names: tuple[str, ...],
) -> tuple[re.Pattern[str], dict[str, tuple[str, re.Pattern[str]]]]:
    """The opening-tag pattern of ``names``, and by lower-cased name: the name, its closing tag."""
    opening = re.compile(r"<\s*(" + "|".join(map(re.escape, names)) + r")\s*>", re.IGNORECASE)
    closing: dict[str, tuple[str, re.Pattern[str]]] = {}
    for n in names:  # names equal but for case: the first one is read, as tags ignore case
        closing.setdefault(n.lower(), (n, re.compile(rf"<\s*/\s*{re.escape(n)}\s*>", re.I)))
    return opening, closing


def _sections(completion: str, names: tuple[str, ...]) -> dict[str, str]:
    """Read each field's text from its tags; the first occurrence of a field wins."""
    opening, closing = _field_tags(names)
    found: dict[str, str] = {}
    for m in opening.finditer(completion):
        name, close_tag = closing[m.group(1).lower()]
        if name in found:
            continue
        rest = completion[m.end() :]
        close = close_tag.search(rest)
        nxt = opening.search(rest)
        end = close.start() if close else (nxt.start() if nxt else len(rest))
        if close and nxt and nxt.start() < close.start():
            end = nxt.start()
        found[name] = rest[:end].strip()
    return found
