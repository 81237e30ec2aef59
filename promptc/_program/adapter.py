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

from promptc._lm.backend import Message
from promptc._program.signature import Field, Signature
from promptc._program.templates import (
    TEMPLATE_CONTEXT,
    TEMPLATE_NAMES,
    check_template,
    render_bounded,
    template_variables,
)
from promptc._program.types import format_value, parse_value
from promptc.exceptions import ConfigurationError

__all__ = [
    "TEMPLATE_CONTEXT",
    "TEMPLATE_NAMES",
    "ChatAdapter",
    "ParseFailure",
    "check_template",
    "template_variables",
]

# Named prompt formats: how the instruction, the fields and the inputs are laid out. Every one
# asks for (and parses) each output in its XML tag, and shares the assistant template.
PROMPT_FORMATS = ("xml", "markdown", "plain")


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


# One definition of a field tag, shared by escaping and parsing: ``<``, optional whitespace, an
# optional ``/``, optional whitespace, the field's name (any case), optional whitespace, ``>``.
def _tag_start(names: tuple[str, ...]) -> str:
    alternatives = "|".join(map(re.escape, sorted(names, key=len, reverse=True)))
    return r"<\s*(/?)\s*(" + alternatives + ")"


_TAG_END = r"\s*>"


@functools.lru_cache(maxsize=256)
def _tag_prefix(names: tuple[str, ...]) -> re.Pattern[str]:
    # What a tag starts with, up to where its ``>`` could follow (or the value ends, since a
    # template may print ``>`` right after it): escaping its ``<`` leaves nothing the parser
    # below can read as a tag, whatever surrounds the value.
    return re.compile(_tag_start(names) + r"(?=\s|>|\Z)", re.IGNORECASE)


@functools.lru_cache(maxsize=256)
def _tag(names: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile(_tag_start(names) + _TAG_END, re.IGNORECASE)


def _neutralize(text: str, names: tuple[str, ...]) -> str:
    """Escape the ``<`` of anything that could be read as a field's opening or closing tag."""
    return _tag_prefix(names).sub(lambda m: "&lt;" + m.group(0)[1:], text) if "<" in text else text


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
    """Formats prompts as chat turns with each field in its XML tag (``<answer>...</answer>``)
    and parses replies.

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
        for name in TEMPLATE_NAMES:  # they end up in artifacts: the same rule as at load
            check_template(name, self.templates[name])

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
        try:
            return render_bounded(name, self.templates[name], context).strip()
        except ConfigurationError:
            raise
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


def _field_of(matched: str, names: tuple[str, ...]) -> str:
    # The name as the regex matched it (case-insensitively, as the regex folds case).
    return next(n for n in names if re.fullmatch(re.escape(n), matched, re.IGNORECASE))


def _sections(completion: str, names: tuple[str, ...]) -> dict[str, str]:
    """Read each field's text from its tags; the first occurrence of a field wins."""
    tags = [
        (m.start(), m.end(), bool(m.group(1)), _field_of(m.group(2), names))
        for m in _tag(names).finditer(completion)
    ]
    found: dict[str, str] = {}
    for i, (_, end, closing, name) in enumerate(tags):
        if closing or name in found:
            continue
        # The text runs to this field's closing tag, or the next opening tag, or the end.
        stop = next(
            (s for s, _, c, n in tags[i + 1 :] if not c or n == name),
            len(completion),
        )
        found[name] = completion[end:stop].strip()
    return found
