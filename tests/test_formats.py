"""Named prompt formats: a tunable layout of the same prompt, kept by the artifact."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import reply

import promptc
from promptc import LM, LMRequest, Params, Predict
from promptc._program.adapter import PROMPT_FORMATS, format_templates
from promptc.exceptions import ConfigurationError
from promptc.testing import WordTask

MakeLM = Callable[..., LM]


def asked_word(request: LMRequest) -> str:
    """The word of the last user turn, in any format's layout."""
    text = request.message_list[-1]["content"]
    for pattern in (r"<word>\n(.*)\n</word>", r"### word\n\n(.*)", r"word: (.*)"):
        if m := re.search(pattern, text):
            return m.group(1).strip()
    raise AssertionError(f"no word in {text!r}")


SIGNATURE = "word -> label: Literal['a', 'b']"
DEMO = {"word": "apple", "label": "a"}


def messages(fmt: str | None) -> list[dict[str, str]]:
    program = Predict(SIGNATURE).with_params({"self": Params("Label the word.", (DEMO,), fmt)})
    assert isinstance(program, Predict)
    return program.messages(word="onion")


@pytest.mark.parametrize(
    ("fmt", "system_start", "user"),
    [
        ("xml", "Label the word.", "<word>\nonion\n</word>"),
        ("markdown", "## Task\n\nLabel the word.", "### word\n\nonion"),
        ("plain", "Label the word.\nYou are given word.", "word: onion"),
    ],
)
def test_each_format_lays_out_the_same_prompt(fmt: str, system_start: str, user: str) -> None:
    shown = messages(fmt)
    assert shown[0]["content"].startswith(system_start)
    assert "<label>...</label>" in shown[0]["content"]  # every format asks for XML outputs
    assert shown[-1]["content"] == user
    assert shown[2] == {"role": "assistant", "content": "<label>a</label>"}  # shared template


def test_no_format_keeps_the_adapter_and_xml_is_the_default() -> None:
    assert messages(None) == messages("xml")
    assert set(PROMPT_FORMATS) == {"xml", "markdown", "plain"}


def test_unknown_format_names_the_choices() -> None:
    with pytest.raises(ConfigurationError, match=r"unknown prompt format 'json'.*'markdown'"):
        Predict(SIGNATURE).with_params({"self": Params("x", (), "json")})


def test_a_formatted_program_answers_and_its_artifact_keeps_the_layout(
    fake_lm: MakeLM, tmp_path: Path
) -> None:
    def handler(request: LMRequest) -> str:
        assert request.message_list[0]["content"].startswith("## Task")
        return reply(label=WordTask.label(asked_word(request)))

    program = Predict(SIGNATURE).with_params({"self": Params("Label.", (DEMO,), "markdown")})
    with promptc.context(lm=fake_lm(handler)):
        assert program(word="onion").label == "a"
    from promptc.artifact import artifact_from_program, save_artifact

    path = save_artifact(artifact_from_program(program, name="fmt"), tmp_path / "fmt.yaml")
    loaded = promptc.load(path)
    assert isinstance(program, Predict)
    assert loaded.render(word="onion") == program.messages(word="onion")
    assert program.adapter.templates == format_templates("markdown")


def test_tpe_finds_the_format_that_works(fake_lm: MakeLM) -> None:
    from promptc.metrics import exact_match
    from promptc.optimizers import TPE

    words = [f"{c}{i}q" for i in range(8) for c in "aeibcdfg"]
    rows = WordTask.rows(words)

    def only_plain_works(request: LMRequest) -> str:
        if request.message_list[0]["content"].startswith("Write a variation"):
            return reply(variation="Label it.")
        word = asked_word(request)
        right = WordTask.label(word)
        plain = "You are given word" in request.message_list[0]["content"]
        return reply(label=right if plain else "b")

    result = promptc.compile(
        Predict(SIGNATURE),
        rows[:16],
        exact_match,
        valset=rows[16:],
        optimizer=TPE(num_trials=16, minibatch=8, bootstrap=0, num_instructions=0),
        lm=fake_lm(only_plain_works),
        seed=0,
    )
    compiled = result.program
    assert isinstance(compiled, Predict)
    assert compiled.adapter.templates == format_templates("plain")
    assert result.best.mean == 1.0 > result.baseline.mean
