"""The template language: promptc's own formats pass, the allowlist holds, rendering is bounded."""

from __future__ import annotations

from typing import Literal

import pytest

from promptc import ChatAdapter, InputField, OutputField, Predict, Signature
from promptc._program.adapter import PROMPT_FORMATS, format_templates
from promptc._program.templates import (
    RENDER_FACTOR,
    RENDER_SLACK,
    TEMPLATE_NAMES,
    check_template,
)
from promptc.exceptions import ConfigurationError


class Review(Signature):
    """Label the review."""

    review: str = InputField(desc="one sentence")
    label: Literal["positive", "negative"] = OutputField()
    note: str = OutputField(desc="why")


@pytest.mark.parametrize("fmt", PROMPT_FORMATS)
def test_every_built_in_format_is_in_the_language(fmt: str) -> None:
    for part, source in format_templates(fmt).items():
        check_template(part, source, ["review"])
        check_template(part, source)


def test_the_whole_language_renders() -> None:
    templates = {
        "system": (
            "{{ instruction|trim|upper }}\n"
            "{% if input_fields and not output_fields %}never{% endif %}"
            "{% for f in output_fields %}"
            "{% if loop.first %}[{% elif f.name == 'note' and not loop.last %}?"
            "{% elif f.name != 'label' or loop.index0 == 1 %}|{% else %},{% endif %}"
            "{{ f.name|capitalize }}:{{ f.hint|lower }}:{{ f.type }}:{{ f.desc|title }}"
            "{{ loop.index }}/{{ loop.length }}"
            "{% endfor %}"
        ),
        "user": "{{ review }}|{% for f in fields %}{{ f.name }}={{ f.value }}{% endfor %}",
        "assistant": "{% for f in fields %}<{{ f.name }}>{{ f.value }}</{{ f.name }}>{% endfor %}",
    }
    messages = Predict(Review, adapter=ChatAdapter(templates)).messages(review="fine")
    assert messages[0]["content"] == (
        "LABEL THE REVIEW.\n[Label:exactly one of: positive, negative:Literal['positive', "
        "'negative']:1/2|Note:text:str:Why2/2"
    )
    assert messages[1]["content"] == "fine|review=fine"


@pytest.mark.parametrize(
    ("part", "source", "found"),
    [
        ("system", "ok\n\n{{ instruction|wordwrap(5) }}", "line 3: the filter 'wordwrap'"),
        ("user", "{% for f in fields %}{{ f }}{% endfor %}", "the variable 'f'"),
        ("system", "{% for f in output_fields %}{{ f.value }}{% endfor %}", "'f.value'"),
        ("system", "{{ loop.index }}", "'loop.index'"),
        ("system", "{{ input_fields }}", "the variable 'input_fields'"),
        ("system", "{% for a, b in output_fields %}{% endfor %}", "unpacking"),
        ("system", "{% for f in output_fields %}{% else %}x{% endfor %}", "with else"),
        ("system", "{% for f in output_fields if f.name %}{% endfor %}", "with else, if"),
        ("system", "{% for loop in output_fields %}{% endfor %}", "the loop variable name"),
        ("system", "{% if instruction < 'a' %}{% endif %}", "a comparison other than"),
        ("system", "{% if instruction == '" + "x" * 101 + "' %}{% endif %}", "the constant"),
        ("system", "{% if instruction is defined %}{% endif %}", "an 'is' test"),
        ("system", "{{ 'constant' }}", "a constant"),
        ("system", "{{ instruction if instruction }}", "an inline if/else"),
        ("system", "{% with a = instruction %}{% endwith %}", "{% with %}"),
        ("system", "{% filter upper %}x{% endfilter %}", "{% filter %}"),
        ("system", "{% raw %}{{ x }}{% endraw %}{{ instruction.upper() }}", "a call"),
        ("assistant", "{{ " + "(" * 5000 + "1" + ")" * 5000 + " }}", "nested too deeply"),
    ],
)
def test_beyond_the_language_is_refused_naming_what_and_where(
    part: str, source: str, found: str
) -> None:
    with pytest.raises(ConfigurationError, match="template '" + part) as info:
        check_template(part, source, ["review"])
    assert found in str(info.value)


def test_chat_adapter_applies_the_same_rule_to_user_templates() -> None:
    bad = {**format_templates("xml"), "system": "{{ '%0900000000d' % 1 }}"}
    with pytest.raises(ConfigurationError, match="the '%' operator"):
        ChatAdapter(bad)


def test_jinja2_globals_are_not_readable_even_where_any_name_passes() -> None:
    # Without a signature the user template may name any input; at render time Jinja2's
    # globals (range, lipsum, ...) are not there to be read.
    adapter = ChatAdapter({**format_templates("xml"), "user": "{{ lipsum }}"})
    with pytest.raises(ConfigurationError, match="failed to render"):
        Predict(Review, adapter=adapter).messages(review="x")


def test_rendering_stops_at_the_cap() -> None:
    big = {**format_templates("xml"), "system": "{{ instruction }}" * 3000}
    program = Predict(Review.with_instruction("y" * 1000), adapter=ChatAdapter(big))
    context = 1000 + sum(len(s) for s in ("label", "note", "why", "text", "str"))  # about
    assert 3000 * 1000 > RENDER_FACTOR * context + RENDER_SLACK
    with pytest.raises(ConfigurationError, match="rendered more than"):
        program.messages(review="x")
    fine = {**format_templates("xml"), "system": "{{ instruction }}" * 3}
    text = Predict(Review.with_instruction("y" * 1000), adapter=ChatAdapter(fine))
    assert text.messages(review="x")[0]["content"] == "y" * 3000


def test_template_names_are_the_three_turns() -> None:
    assert TEMPLATE_NAMES == ("system", "user", "assistant")
    with pytest.raises(ConfigurationError, match="unknown template"):
        check_template("tool", "x")
