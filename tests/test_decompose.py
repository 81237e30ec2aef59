from __future__ import annotations

from collections.abc import Callable

import pytest
from conftest import last_field, reply

import promptc
from promptc import LM, Decompose, InputField, LMRequest, OutputField, Predict, Signature, Subtask
from promptc.exceptions import ConfigurationError, DecompositionError

MakeLM = Callable[..., LM]


class KthLetters(Signature):
    """Concatenate the last letters of the words."""

    words: str = InputField()
    answer: str = OutputField()


def split(text: str) -> list[str]:
    """split a string into words"""
    return text.split()


def controller_for_two_words(request: LMRequest) -> str:
    """Plays a controller that splits, takes last letters with a prompt, then finishes."""
    steps = last_field(request, "steps")
    if steps == "(none yet)":
        return reply(action="split", action_input=last_field(request, "words"))
    if steps.count("\n") == 0:
        return reply(action="last_letter", action_input="hello")
    if steps.count("\n") == 1:
        return reply(action="last_letter", action_input="world")
    return reply(action="finish", action_input="od")


def handler(request: LMRequest) -> str:
    system = request.message_list[0]["content"]
    if "- action (" in system:
        return controller_for_two_words(request)
    return reply(letter=last_field(request, "word")[-1])


def build(**kwargs: object) -> Decompose:
    last_letter = Predict("word -> letter")
    return Decompose(
        KthLetters,
        {"split": split, "last_letter": Subtask(last_letter, "the last letter")},
        **kwargs,
    )


def test_controller_delegates_to_code_and_prompt_subtasks(fake_lm: MakeLM) -> None:
    program = build()
    lm = fake_lm(handler)
    with promptc.context(lm=lm), promptc.trace() as t:
        out = program(words="hello world")
    assert out.answer == "od"
    assert [e.predictor for e in t] == [
        "controller",
        "controller",
        "subtasks[last_letter]",
        "controller",
        "subtasks[last_letter]",
        "controller",
    ]
    final_steps = last_field(lm.backend.requests[-1], "steps")  # type: ignore[attr-defined]
    assert final_steps.splitlines() == [
        '1. split("hello world") -> ["hello", "world"]',
        '2. last_letter("hello") -> o',
        '3. last_letter("world") -> d',
    ]
    assert [n for n, _ in program.named_predictors()] == ["controller", "subtasks[last_letter]"]


def test_catalog_lists_subtasks_with_descriptions(fake_lm: MakeLM) -> None:
    lm = fake_lm(handler)
    with promptc.context(lm=lm):
        build()(words="hello world")
    catalog = last_field(lm.backend.requests[0], "subtasks")  # type: ignore[attr-defined]
    assert catalog.splitlines() == [
        "- split: split a string into words",
        "- last_letter: the last letter",
        "- finish: give the final answer",
    ]


def test_step_bound_stops_a_controller_that_never_finishes(fake_lm: MakeLM) -> None:
    lm = fake_lm(lambda r: reply(action="split", action_input="a b"))
    with promptc.context(lm=lm), pytest.raises(DecompositionError, match="max_steps=3"):
        build(max_steps=3)(words="a b")
    assert lm.backend.calls == 4  # type: ignore[attr-defined]


def test_recursion_on_smaller_inputs_until_base_case(fake_lm: MakeLM) -> None:
    def recursive_controller(request: LMRequest) -> str:
        words = last_field(request, "words").split()
        steps = last_field(request, "steps")
        if len(words) == 1:
            return reply(action="finish", action_input=words[0][-1])
        if steps == "(none yet)":
            return reply(action="recurse", action_input=" ".join(words[1:]))
        tail = steps.rsplit("-> ", 1)[1]
        return reply(action="finish", action_input=words[0][-1] + tail)

    program = Decompose(KthLetters, {}, recursive=True, max_depth=5)
    lm = fake_lm(recursive_controller)
    with promptc.context(lm=lm):
        assert program(words="ab cd ef").answer == "bdf"
    with promptc.context(lm=lm), pytest.raises(DecompositionError, match="max_depth=2"):
        Decompose(KthLetters, {}, recursive=True, max_depth=2)(words="ab cd ef")


def test_bad_declarations_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="one output field"):
        Decompose(promptc.make_signature("a -> b, c"), {})
    with pytest.raises(ConfigurationError, match="reserved"):
        Decompose(KthLetters, {"finish": split})
    with pytest.raises(ConfigurationError, match="exactly one input field"):
        Decompose(KthLetters, {"two": Predict("a, b -> c")})
