"""promptc.testing.WordTask: the fake word-labeling task the compile tests run on."""

from __future__ import annotations

import pytest

from promptc import LMRequest, Params, Predict
from promptc.testing import WordTask

DEMOS = tuple(WordTask.rows(["apple", "bread"]))


def request(demos: tuple[dict[str, str], ...] = (), instruction: str = "Label.") -> LMRequest:
    program = Predict(WordTask.SIGNATURE).with_params({"self": Params(instruction, demos)})
    assert isinstance(program, Predict)
    return LMRequest.build("fake/words", program.messages(word="onion"))


def test_rows_words_and_labels() -> None:
    assert WordTask.words(4) == ["bw0000", "ew0001", "dw0002", "ow0003"]
    assert WordTask.rows(["ice", "tea"]) == [
        {"word": "ice", "label": "a"},
        {"word": "tea", "label": "b"},
    ]


def test_needing_demos_it_is_right_only_with_two() -> None:
    task = WordTask(needs="demos")
    assert task(request()) == "<label>b</label>"  # onion starts with a vowel: "a" is right
    assert task(request(DEMOS[:1])) == "<label>b</label>"
    assert task(request(DEMOS)) == "<label>a</label>"


def test_a_rejected_reply_in_a_parse_retry_is_not_a_demo() -> None:
    first = request(DEMOS[:1])
    program = Predict(WordTask.SIGNATURE)
    retry = [*first.message_list, *program.adapter.feedback(program.signature, "<label>", "bad")]
    again = LMRequest.build("fake/words", retry)
    assert WordTask.word(again) == "onion"
    assert WordTask.demos(again) == 1
    assert WordTask(needs="demos")(again) == "<label>b</label>"


def test_needing_the_instruction_it_follows_the_vowel_rule() -> None:
    task = WordTask(needs="instruction")
    assert task(request(instruction=WordTask.PROPOSALS[0])) == "<label>a</label>"
    assert task(request(instruction=WordTask.PROPOSALS[1])) == "<label>b</label>"
    proposer = [{"role": "system", "content": "You write instructions for a step."}]
    asks = [LMRequest.build("fake/words", proposer, rollout=r) for r in (0, 1)]
    assert [task(a) for a in asks] == [
        f"<proposed_instruction>{p}</proposed_instruction>" for p in WordTask.PROPOSALS
    ]


def test_a_request_without_a_word_is_refused() -> None:
    with pytest.raises(ValueError, match="no <word> field"):
        WordTask.word(LMRequest.build("fake/words", [{"role": "user", "content": "hi"}]))
