"""DSPy interop against the real dspy-ai: from_dspy, to_dspy, dspy_lm, DSPy metrics and rows."""

from __future__ import annotations

import asyncio
import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any, Literal

import pytest
from dspy_fake import GOLD, fake_lm

import promptc
from promptc.exceptions import ConfigurationError
from promptc.interop.dspy import DSPyProgram, dspy_lm
from promptc.testing import FakeBackend

dspy = pytest.importorskip("dspy")

ROOT = Path(__file__).resolve().parents[1]


def _example() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "from_dspy_example", ROOT / "examples" / "from_dspy.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


EXAMPLE = _example()


class Answer(dspy.Signature):
    """Answer the question in one word."""

    question: str = dspy.InputField(desc="a trivia question")
    hints: list[str] = dspy.InputField()
    answer: Literal["yes", "no"] = dspy.OutputField(desc="yes or no")


def test_the_example_round_trips_and_both_systems_answer_alike(tmp_path: Path) -> None:
    lm = fake_lm()
    done = EXAMPLE.main(lm=lm, out=tmp_path)
    result, ours, theirs = done["result"], done["promptc"], done["dspy"]
    dev = EXAMPLE.rows("reviews_dev.jsonl", 8)
    assert result.baseline.mean < result.best.mean == 1.0
    assert ours == [row.label for row in dev]
    assert theirs == ours  # DSPy, on the same fake through dspy_lm, answers as promptc does
    assert lm.usage.by_tag()["dspy"].calls == 2 * len(dev)  # every DSPy request was counted
    # The uncompiled DSPy program answers otherwise on the same fake: the demos made the difference.
    with dspy.context(lm=dspy_lm(lm)):
        plain = [EXAMPLE.Reviewer()(review=row.review).label for row in dev]
    assert plain != ours
    # What DSPy saved and loaded is what the artifact holds, demo for demo, in order.
    stored = {p.name: p for p in promptc.load(tmp_path / "from_dspy.yaml").artifact.predictors}
    reloaded = done["dspy_program"]
    for name, predict in [("gist", reloaded.gist), ("classify", reloaded.classify.predict)]:
        assert predict.signature.instructions == stored[name].instruction
        assert [dict(d.items()) for d in predict.demos] == stored[name].demos
    assert reloaded.classify.predict.demos


def test_signatures_keep_instruction_fields_types_and_descriptions() -> None:
    predict = promptc.from_dspy(dspy.Predict(Answer))
    assert type(predict) is promptc.Predict
    sig = predict.signature
    assert sig.__name__ == "Answer" and sig.instruction == "Answer the question in one word."
    assert [(f.name, f.type_name, f.desc) for f in sig.fields().values()] == [
        ("question", "str", "a trivia question"),
        ("hints", "list[str]", ""),
        ("answer", "Literal['yes', 'no']", "yes or no"),
    ]
    short = promptc.from_dspy(dspy.Predict("question, context: list[str] -> answer: int"))
    assert short.signature.instruction == (
        "Given the fields `question`, `context`, produce the fields `answer`."
    )
    assert {n: f.type_name for n, f in short.signature.fields().items()} == {
        "question": "str",
        "context": "list[str]",
        "answer": "int",
    }
    cot = promptc.from_dspy(dspy.ChainOfThought(Answer))
    assert type(cot) is promptc.ChainOfThought
    assert list(cot.signature.output_fields) == ["reasoning", "answer"]
    assert cot.signature.instruction == "Answer the question in one word."


class Pipeline(dspy.Module):
    def __init__(self) -> None:
        super().__init__()
        self.hops = [dspy.Predict("question -> query"), dspy.Predict("query -> passage")]
        self.answer = dspy.ChainOfThought(Answer)
        self.helper = lambda text: text.strip()

    def forward(self, question: str) -> Any:
        query = self.hops[0](question=question).query
        passage = self.hops[1](query=query).passage
        out = self.answer(question=self.helper(question), hints=[passage])
        return dspy.Prediction(answer=out.answer, passage=passage)


def test_a_module_keeps_its_forward_and_predictor_names() -> None:
    original = Pipeline()
    program = promptc.from_dspy(original)
    assert isinstance(program, DSPyProgram)
    assert [n for n, _ in program.named_predictors()] == ["hops[0]", "hops[1]", "answer"]
    assert type(program).__name__ == "Pipeline"
    assert isinstance(original.answer, dspy.ChainOfThought)  # the input is never changed

    def reply(request: promptc.LMRequest) -> str:
        text = dict(request.messages[-1])["content"]
        if "<question>" in text and "<hints>" not in text:
            return "<query>q</query>"
        if "<query>" in text:
            return "<passage>p</passage>"
        return "<reasoning>r</reasoning>\n<answer>yes</answer>"

    lm = promptc.LM("fake/m", backend=FakeBackend(reply), cache=False)
    with promptc.context(lm=lm), promptc.trace() as recorded:
        out = program(question=" Is it? ")
    assert isinstance(out, promptc.Prediction) and out.to_dict() == {
        "answer": "yes",
        "passage": "p",
    }
    assert [e.predictor for e in recorded] == ["hops[0]", "hops[1]", "answer"]
    assert recorded.entries[-1].inputs == {"question": "Is it?", "hints": ["p"]}


def test_instructions_and_demos_the_dspy_program_carries_come_along(tmp_path: Path) -> None:
    program = Pipeline()
    program.answer.predict.signature = program.answer.predict.signature.with_instructions(
        "Be brief."
    )
    program.answer.predict.demos = [
        dspy.Example(question="a?", hints=["h"], reasoning="r", answer="no", augmented=True),
        dspy.Example(question="b?", answer="yes"),  # incomplete: DSPy shows it too
        dspy.Example(question="c?"),  # no output: DSPy drops it, and so does promptc
    ]
    program.save(str(tmp_path / "program.json"))
    loaded = Pipeline()
    loaded.load(str(tmp_path / "program.json"))
    for source in (program, loaded):
        params = promptc.from_dspy(source).get_params()["answer"]
        assert params.instruction == "Be brief."
        assert list(params.demos) == [
            {"question": "a?", "hints": ["h"], "reasoning": "r", "answer": "no"},
            {"question": "b?", "answer": "yes"},
        ]


class WithTools(dspy.Module):
    def __init__(self) -> None:
        super().__init__()
        self.agent = dspy.ReAct("question -> answer", tools=[lambda x: x])

    def forward(self, question: str) -> Any:
        return self.agent(question=question)


class Custom(dspy.Predict):
    def forward(self, **kwargs: Any) -> Any:
        return super().forward(**kwargs)


class Hidden(dspy.Module):
    def __init__(self) -> None:
        super().__init__()
        self._qa = dspy.Predict("question -> answer")

    def forward(self, question: str) -> Any:
        return self._qa(question=question)


class Empty(dspy.Module):
    def forward(self, question: str) -> Any:
        return dspy.Prediction(answer=question)


class MyAdapter(dspy.ChatAdapter):
    pass


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (WithTools, "'agent': dspy.ReAct (it calls tools in a loop, and promptc has no tools)"),
        (lambda: Custom("q -> a"), "Custom subclasses dspy.Predict with code of its own"),
        (Hidden, "the predictor at '_qa' is in a private attribute"),
        (Empty, "Empty holds no dspy.Predict or dspy.ChainOfThought"),
        (lambda: dspy.Predict("q -> a", temperature=0.7), "carries call settings ['temperature']"),
        (lambda: dspy.Predict("q -> instruction"), "field name 'instruction' is reserved"),
        (lambda: "q -> a", "from_dspy takes a dspy.Module"),
        (
            lambda: dspy.ChainOfThought("photo: dspy.Image, q -> a"),
            "field 'photo' has the DSPy type dspy.Image",
        ),
        (lambda: dspy.Predict("q, past: list[dspy.History] -> a"), "the DSPy type dspy.History"),
    ],
)
def test_what_promptc_cannot_run_is_refused_in_one_line(make: Any, expected: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        promptc.from_dspy(make())
    assert expected in str(info.value) and "\n" not in str(info.value)


def test_a_custom_adapter_is_refused_and_dspy_formats_are_not() -> None:
    with dspy.context(adapter=MyAdapter()), pytest.raises(ConfigurationError) as info:
        promptc.from_dspy(dspy.Predict("q -> a"))
    assert "custom adapter MyAdapter" in str(info.value) and "\n" not in str(info.value)
    with dspy.context(adapter=dspy.JSONAdapter()):
        assert promptc.from_dspy(dspy.Predict("q -> a")).signature.output_fields


def _compiled(tmp_path: Path) -> Any:
    program = promptc.from_dspy(dspy.Predict("review -> label"))
    rows = [{"review": r, "label": label} for r, label in list(GOLD.items())[:8]]
    with promptc.context(lm=fake_lm()):
        return promptc.compile(program, rows[:4], "exact_match", valset=rows[4:], budget=20)


def test_to_dspy_takes_a_result_a_loaded_artifact_an_artifact_or_a_path(tmp_path: Path) -> None:
    result = _compiled(tmp_path)
    path = result.save(tmp_path / "a.yaml")
    wanted = result.artifact.predictors[0].demos
    assert wanted
    for given in (result, promptc.load(path), result.artifact, path, str(path)):
        into = promptc.to_dspy(given, dspy.Predict("review -> label"))
        assert [dict(d.items()) for d in into.demos] == wanted
        assert into.demos[0].inputs().keys() == ["review"]


def test_to_dspy_refuses_a_program_of_another_shape(tmp_path: Path) -> None:
    result = _compiled(tmp_path)
    with pytest.raises(ConfigurationError, match=r"'hops\[1\]'\], the compiled program \['self'\]"):
        promptc.to_dspy(result, Pipeline())
    with pytest.raises(ConfigurationError, match="fields"):
        promptc.to_dspy(result, dspy.Predict("text -> label"))
    with pytest.raises(ConfigurationError, match="to_dspy takes a CompileResult"):
        promptc.to_dspy(42, dspy.Predict("review -> label"))


def dspy_metric(example: Any, pred: Any, trace: Any = None) -> float:
    return float(example.label == pred.label)


def test_a_dspy_metric_and_dspy_examples_work_unchanged() -> None:
    rows = [dspy.Example(review=r, label=label).with_inputs("review") for r, label in GOLD.items()]
    program = promptc.from_dspy(dspy.Predict("review -> label"))
    program.demos = [{"review": "x", "label": "negative"}]  # the fake answers with demos only
    with promptc.context(lm=fake_lm()):
        scored = promptc.evaluate(program, rows[:6], dspy_metric)
        plain = promptc.evaluate(program, [dict(r.items()) for r in rows[:6]], dspy_metric)
    assert scored.mean == plain.mean == 1.0 and scored.errors == 0
    with pytest.raises(ConfigurationError, match="the row has no column 'answer'"):
        with promptc.context(lm=fake_lm()):
            promptc.evaluate(program, rows[:1], lambda example, pred: example.answer == pred.label)


def test_dspy_lm_registers_each_lm_once() -> None:
    lm = fake_lm()
    first, second = dspy_lm(lm), dspy_lm(lm)
    assert first.model == second.model != dspy_lm(fake_lm()).model
    assert first.model.startswith("promptc_lm/")


def test_the_bridge_imports_dspy_only_when_called() -> None:
    code = (
        "import sys, promptc; from promptc import from_dspy, to_dspy; "
        "from promptc.interop.dspy import dspy_lm; print('dspy' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


class Inner(dspy.Module):
    def __init__(self) -> None:
        super().__init__()
        self.step = dspy.Predict("question -> query")

    def forward(self, question: str) -> Any:
        return self.step(question=question)


class Outer(dspy.Module):
    def __init__(self) -> None:
        super().__init__()
        self.inner = Inner()
        self.by_kind = {"short": dspy.Predict("query -> answer"), "note": "not a module"}
        self.again = self.inner.step  # reachable twice: one predictor

    def forward(self, question: str) -> Any:
        query = self.inner(question=question).query
        return self.by_kind["short"](query=query)


def test_nested_modules_and_dicts_convert_compile_and_go_back() -> None:
    def reply(request: promptc.LMRequest) -> str:
        messages = [dict(m) for m in request.messages]
        if "<question>" in messages[-1]["content"]:
            return "<query>q</query>"
        shown = any(m["role"] == "assistant" for m in messages)
        return f"<answer>{'a' if shown else 'x'}</answer>"

    program = promptc.from_dspy(Outer())
    assert [n for n, _ in program.named_predictors()] == ["inner.step", "by_kind[short]"]
    rows = [{"question": f"q{i}?", "query": "q", "answer": "a"} for i in range(8)]
    lm = promptc.LM("fake/m", backend=FakeBackend(reply), cache=False)
    with promptc.context(lm=lm):
        assert program(question="q?").answer == "x"
        result = promptc.compile(program, rows[:4], "exact_match", valset=rows[4:], budget=40)
        assert result.program(question="q?").answer == "a"
    into = promptc.to_dspy(result, Outer())
    stored = {p.name: p.demos for p in result.artifact.predictors}
    assert stored["inner.step"] and stored["by_kind[short]"]
    assert [dict(d.items()) for d in into.inner.step.demos] == stored["inner.step"]
    assert [dict(d.items()) for d in into.by_kind["short"].demos] == stored["by_kind[short]"]


def test_dspy_lm_answers_dspy_async_calls_too() -> None:
    lm = fake_lm()
    predict = dspy.Predict("review -> label")
    predict.demos = [dspy.Example(review="x", label="negative").with_inputs("review")]
    review = next(r for r, label in GOLD.items() if label == "positive")

    async def ask() -> Any:
        with dspy.context(lm=dspy_lm(lm)):
            return await predict.acall(review=review)

    assert asyncio.run(ask()).label == "positive"
    assert lm.usage.by_tag()["dspy"].calls == 1
