"""``Params.format`` round-trips through ``with_params`` / ``get_params``."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import promptc
from promptc import ChatAdapter, Params, Predict
from promptc.compiler import PROMPT_FORMATS, format_templates

SIGNATURE = "word -> label"

# Signatures keep an instruction stripped of surrounding whitespace; the rest round-trips.
instructions = st.text(min_size=1).map(str.strip).filter(bool)
demos = st.lists(
    st.fixed_dictionaries({"word": st.text(max_size=8), "label": st.text(max_size=8)}),
    max_size=3,
).map(tuple)


class Pipeline(promptc.Module):
    def __init__(self) -> None:
        self.first = Predict(SIGNATURE)
        self.second = Predict(SIGNATURE, adapter=ChatAdapter(format_templates("markdown")))

    def forward(self, word: str) -> Any:
        return self.second(word=self.first(word=word).label)


@given(instruction=instructions, shown=demos, fmt=st.sampled_from(PROMPT_FORMATS))
def test_with_params_then_get_params_gives_the_same_params(
    instruction: str, shown: tuple[dict[str, Any], ...], fmt: str
) -> None:
    params = {"first": Params(instruction, shown, fmt), "second": Params(instruction, (), fmt)}
    assert Pipeline().with_params(params).get_params() == params


def test_get_params_names_each_predictors_format_and_with_params_keeps_it() -> None:
    program = Pipeline()
    assert {n: p.format for n, p in program.get_params().items()} == {
        "first": "xml",
        "second": "markdown",
    }
    assert program.with_params(program.get_params()).get_params() == program.get_params()


def test_none_keeps_the_format_a_predictor_has() -> None:
    tuned = Pipeline().with_params({"second": Params("Label it.")})
    assert tuned.get_params()["second"] == Params("Label it.", (), "markdown")


def test_a_named_format_switches_the_adapter_to_its_templates() -> None:
    tuned = Predict(SIGNATURE).with_params({"self": Params("Label it.", (), "plain")})
    assert isinstance(tuned, Predict)
    assert tuned.adapter.templates == format_templates("plain")


def test_templates_that_are_no_named_format_report_none() -> None:
    custom = {**format_templates("xml"), "system": "Do it. {{ instruction }}"}
    program = Predict(SIGNATURE, adapter=ChatAdapter(custom))
    assert program.get_params()["self"].format is None
    kept = program.with_params(program.get_params())
    assert isinstance(kept, Predict) and kept.adapter.templates == custom


@pytest.mark.parametrize("fmt", PROMPT_FORMATS)
def test_the_board_treats_a_named_current_format_as_no_change(fmt: str) -> None:
    from promptc.compiler import Board

    program = Predict(SIGNATURE, adapter=ChatAdapter(format_templates(fmt)))
    board = Board(program.get_params(), 2)
    same = {"self": Params(program.signature.instruction, (), fmt)}
    kept = {"self": Params(program.signature.instruction)}
    assert board.key(same) == board.key(kept) == board.key({})
