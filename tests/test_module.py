from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Literal

import pytest
from conftest import last_field, reply

import promptc
from promptc import (
    LM,
    ChainOfThought,
    ChatAdapter,
    InputField,
    LMRequest,
    Module,
    OutputField,
    Params,
    Predict,
    Signature,
)
from promptc.exceptions import ConfigurationError, OutputParseError, SignatureError

MakeLM = Callable[..., LM]


class Sentiment(Signature):
    """Classify the sentiment."""

    review: str = InputField()
    label: Literal["positive", "negative"] = OutputField()


def sentiment_handler(request: LMRequest) -> str:
    review = last_field(request, "review")
    return reply(label="negative" if "bad" in review else "positive")


def test_predict_returns_typed_prediction(fake_lm: MakeLM) -> None:
    lm = fake_lm(sentiment_handler)
    pred = Predict(Sentiment, lm=lm)(review="a bad film")
    assert pred.label == "negative"
    assert pred["label"] == "negative"
    assert pred.to_dict() == {"label": "negative"}
    with pytest.raises(AttributeError, match="no field 'score'"):
        _ = pred.score


def test_predict_uses_context_lm_and_errors_clearly_without_one(fake_lm: MakeLM) -> None:
    predict = Predict("question -> answer: int")
    with pytest.raises(ConfigurationError, match="no LM for predictor"):
        predict(question="2+2?")
    with promptc.context(lm=fake_lm(lambda r: reply(answer=4))):
        assert predict(question="2+2?").answer == 4


def test_bad_inputs_name_the_field(fake_lm: MakeLM) -> None:
    predict = Predict(Sentiment, lm=fake_lm(sentiment_handler))
    with pytest.raises(SignatureError, match=r"missing \['review'\]"):
        predict(text="x")


def test_parse_failure_is_retried_with_the_error_shown(fake_lm: MakeLM) -> None:
    seen: list[LMRequest] = []

    def handler(request: LMRequest) -> str:
        seen.append(request)
        return "I think it is good" if len(seen) == 1 else reply(label="positive")

    lm = fake_lm(handler)
    with promptc.trace() as t:
        pred = Predict(Sentiment, lm=lm)(review="nice")
    assert pred.label == "positive"
    assert len(seen) == 2
    retry = seen[1].message_list
    assert retry[-2] == {"role": "assistant", "content": "I think it is good"}
    assert "could not be used" in retry[-1]["content"]
    assert "<label>...</label>" in retry[-1]["content"]
    assert t.entries[0].raw == ["I think it is good", reply(label="positive")]
    assert lm.usage.total().calls == 2


def test_exhausted_parse_retries_raise_with_raw_completion_and_usage(fake_lm: MakeLM) -> None:
    lm = fake_lm(lambda r: "<label>neutral</label>")
    with pytest.raises(OutputParseError) as info:
        Predict(Sentiment, lm=lm, max_parse_retries=2)(review="x")
    err = info.value
    assert err.raw == "<label>neutral</label>"
    assert err.attempts == 3
    assert err.field == "label"
    assert err.usage["calls"] == 3
    assert err.usage["completion_tokens"] > 0


def test_chain_of_thought_puts_reasoning_first(fake_lm: MakeLM) -> None:
    lm = fake_lm(lambda r: reply(reasoning="2 and 2 make 4", answer=4))
    cot = ChainOfThought("question -> answer: int", lm=lm)
    assert list(cot.signature.output_fields) == ["reasoning", "answer"]
    pred = cot(question="2+2?")
    assert pred.answer == 4 and pred.reasoning == "2 and 2 make 4"


class Pipeline(Module):
    def __init__(self) -> None:
        self.summarize = Predict("text -> summary")
        self.steps = [Predict("summary -> keywords: list[str]"), ChainOfThought(Sentiment)]

    def forward(self, text: str) -> Any:
        summary = self.summarize(text=text).summary
        keywords = self.steps[0](summary=summary).keywords
        label = self.steps[1](review=summary).label
        return {"keywords": keywords, "label": label}


def pipeline_handler(request: LMRequest) -> str:
    system = request.message_list[0]["content"]
    if "- summary (str)" in system and "- keywords" in system:
        return reply(keywords=["film", "bad"])
    if "- review" in system:
        return reply(reasoning="it says bad", label="negative")
    return reply(summary="a bad film")


def test_named_predictors_walks_attributes_lists_and_names_calls(fake_lm: MakeLM) -> None:
    program = Pipeline()
    names = [n for n, _ in program.named_predictors()]
    assert names == ["summarize", "steps[0]", "steps[1]"]
    lm = fake_lm(pipeline_handler)
    with promptc.context(lm=lm), promptc.trace() as t:
        out = program(text="the film was bad")
    assert out == {"keywords": ["film", "bad"], "label": "negative"}
    assert [e.predictor for e in t] == ["summarize", "steps[0]", "steps[1]"]
    assert set(lm.usage.by_tag()) == {"summarize", "steps[0]", "steps[1]"}
    assert lm.usage.total().calls == 3


def test_params_read_set_clone_never_mutate(fake_lm: MakeLM) -> None:
    program = Pipeline()
    before = program.get_params()
    demo = {"text": "t", "summary": "s"}
    tuned = program.with_params({"summarize": Params("Summarize in 5 words.", (demo,))})
    assert program.get_params() == before
    assert tuned.get_params()["summarize"] == Params("Summarize in 5 words.", (demo,), "xml")
    assert tuned.get_params()["steps[0]"] == before["steps[0]"]
    with pytest.raises(ConfigurationError, match="no predictor named"):
        program.with_params({"nope": Params("x")})
    lm = fake_lm(pipeline_handler)
    with promptc.context(lm=lm):
        tuned(text="bad")
    assert tuned.get_params()["summarize"].demos == (demo,)  # running did not change it
    first = lm.backend.requests[0].message_list  # type: ignore[attr-defined]
    assert first[0]["content"].startswith("Summarize in 5 words.")
    assert first[1]["content"] == "<text>\nt\n</text>"


def test_async_call_matches_sync(fake_lm: MakeLM) -> None:
    lm = fake_lm(sentiment_handler)
    predict = Predict(Sentiment, lm=lm)

    async def main() -> list[str]:
        preds = await asyncio.gather(*(predict.acall(review=r) for r in ["bad", "good", "bad"]))
        return [p.label for p in preds]

    assert asyncio.run(main()) == ["negative", "positive", "negative"]
    assert predict(review="bad").label == "negative"


def test_async_program_runs_forward_in_a_thread_with_context(fake_lm: MakeLM) -> None:
    lm = fake_lm(pipeline_handler)

    async def main() -> Any:
        with promptc.context(lm=lm):
            return await Pipeline().acall(text="bad")

    assert asyncio.run(main())["label"] == "negative"


# -- typed outputs: a reply not valid for its type is a parse error, never wrapped --------------

JUNK = "{a:/ 'x] 0,.é<> zz 9\n\"c [: b"  # the kind FaultyBackend injects as a garbage reply


def keywords_handler(bad: dict[str, str]) -> Callable[[LMRequest], str]:
    """Answers the bad reply for the texts in ``bad`` until shown the error, then valid JSON."""

    def handle(request: LMRequest) -> str:
        text = next(m for m in request.message_list if m["role"] == "user")["content"]
        for key, reply_text in bad.items():
            if key in text and "could not be used" not in request.message_list[-1]["content"]:
                return reply_text
        return '<keywords>["a", "b"]</keywords>'

    return handle


@pytest.mark.parametrize(
    "bad_reply", ["<keywords>a, b</keywords>", "The keywords are a and b.", JUNK]
)
def test_a_reply_not_valid_for_its_type_is_shown_back_and_counted(
    fake_lm: MakeLM, bad_reply: str
) -> None:
    lm = fake_lm(keywords_handler({"text-1": bad_reply, "text-4": bad_reply, "text-7": bad_reply}))
    program = Predict("text -> keywords: list[str]")
    rows = [{"text": f"text-{i}", "keywords": ["a", "b"]} for i in range(10)]
    result = promptc.evaluate(program, rows, "exact_match", lm=lm)
    assert result.errors == 0 and result.mean == 1.0  # the retry, shown the error, fixed it
    assert result.usage["parse_errors"] == 3 and result.usage["calls"] == 13
    retries = [r for r in lm.backend.requests if len(r.message_list) > 2]  # type: ignore[attr-defined]
    assert len(retries) == 3
    assert all("expected a JSON array" in r.message_list[-1]["content"] for r in retries)


def test_a_reply_that_stays_invalid_is_an_error_after_the_retries(fake_lm: MakeLM) -> None:
    lm = fake_lm(lambda request: "<keywords>a, b</keywords>")
    program = Predict("text -> keywords: list[str]", lm=lm, max_parse_retries=2)
    with pytest.raises(OutputParseError, match="expected a JSON array") as info:
        program(text="x")
    assert info.value.attempts == 3
    assert lm.usage.total().parse_errors == 3


class CountingAdapter(ChatAdapter):
    """Counts how often the system message and demo turns are rendered."""

    def prefix(self, signature: Any, demos: list[dict[str, Any]]) -> list[Any]:
        self.__dict__["rendered"] = self.__dict__.get("rendered", 0) + 1
        return super().prefix(signature, demos)


def test_the_prompt_prefix_is_rendered_once_until_what_it_shows_changes(fake_lm: MakeLM) -> None:
    adapter = CountingAdapter()
    demo = {"question": "1+1?", "answer": 2}
    p = Predict("question -> answer: int", demos=[demo], adapter=adapter, lm=fake_lm(lambda r: "3"))
    for _ in range(3):
        assert p(question="x").answer == 3
    first = p.messages(question="y")
    first[0]["content"] = "changed by the caller"  # a caller's edit never reaches the memo
    assert p.messages(question="y")[0]["content"] != "changed by the caller"
    assert adapter.rendered == 1
    p.demos[0]["answer"] = 5  # edited in place: the memo sees it
    assert "<answer>5</answer>" in p.messages(question="y")[2]["content"]
    p.signature = p.signature.with_instruction("Add.")
    assert p.messages(question="y")[0]["content"].startswith("Add.")
    assert adapter.rendered == 3
    assert p.messages(question="y") == ChatAdapter().format(p.signature, p.demos, {"question": "y"})
