"""promptc.programs: structure, real BM25 retrieval, runs, compiles and artifacts, on fakes."""

from __future__ import annotations

import copy
import re
import runpy
import typing
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import last_field, reply

import promptc
from promptc import LM, LMRequest, Params
from promptc.exceptions import ConfigurationError, OutputParseError
from promptc.programs import (
    QA,
    BM25Retriever,
    Classify,
    KthLetterConcat,
    MathCoT,
    MultiHopQA,
    hotpotqa_passages,
    kth_letter_decompose,
    kth_letters,
)

MakeLM = Callable[..., LM]

PASSAGES = [
    "Vostok Station | Vostok Station is a Russian research station founded in 1957.",
    "Lake Vostok | Lake Vostok is a subglacial lake under Vostok Station in Antarctica.",
    "Mount Erebus | Mount Erebus is an active volcano on Ross Island.",
    "Ross Island | Ross Island was discovered by James Clark Ross in 1841.",
    "James Clark Ross | James Clark Ross was an explorer born in London.",
]


def system(request: LMRequest) -> str:
    return request.message_list[0]["content"]


# -- Classify, QA, MathCoT -----------------------------------------------------------------------


def test_classify_types_its_output_with_the_labels(fake_lm: MakeLM) -> None:
    program = Classify(["spam", "ham"], "Is the mail spam?", input_name="mail")
    assert list(program.signature.input_fields) == ["mail"]
    label = program.signature.output_fields["label"]
    assert typing.get_args(label.annotation) == ("spam", "ham")
    assert program.signature.instruction == "Is the mail spam?"
    assert program.named_predictors() == [("self", program)]
    lm = fake_lm(lambda r: reply(label="spam" if "win" in last_field(r, "mail") else "ham"))
    with promptc.context(lm=lm):
        assert program(mail="win money").label == "spam"
        assert program(mail="lunch at 1?").label == "ham"
    off_label = fake_lm(lambda r: reply(label="eggs"))
    with promptc.context(lm=off_label), pytest.raises(OutputParseError):
        program(mail="hello")
    assert off_label.usage.total().calls == 2  # shown back once, then it fails


@pytest.mark.parametrize("labels", [["one"], ["a", "a"], ["a", ""], "ab"])
def test_classify_refuses_bad_labels(labels: list[str]) -> None:
    with pytest.raises(ConfigurationError, match="label"):
        Classify(labels)


def test_qa_with_and_without_context(fake_lm: MakeLM) -> None:
    assert list(QA().signature.input_fields) == ["question"]
    program = QA(with_context=True, instruction="Answer from the context.")
    assert list(program.signature.input_fields) == ["question", "context"]
    assert program.signature.instruction == "Answer from the context."
    lm = fake_lm(lambda r: reply(answer=last_field(r, "context").split()[-1]))
    with promptc.context(lm=lm):
        assert program(question="Where?", context="born in London").answer == "London"


def test_math_cot_reasons_first_and_scores_numbers_like_gsm8k(fake_lm: MakeLM) -> None:
    program = MathCoT()
    assert list(program.signature.output_fields) == ["reasoning", "answer"]
    assert program.signature.output_fields["answer"].annotation is float
    lm = fake_lm(lambda r: reply(reasoning="12 * 100 = 1200", answer="$1,200"))
    rows = [{"question": "How much?", "answer": "1200"}, {"question": "And?", "answer": "12"}]
    result = promptc.evaluate(program, rows, "numeric_match", lm=lm, num_threads=1)
    assert result.results[0].prediction == {"reasoning": "12 * 100 = 1200", "answer": 1200.0}
    assert result.scores == [1.0, 0.0]


# -- BM25Retriever -------------------------------------------------------------------------------


def test_bm25_ranks_the_passages_that_share_rare_terms_first() -> None:
    retriever = BM25Retriever(PASSAGES, k=2)
    assert len(retriever) == 5
    found = retriever.search("Who discovered Ross Island?")
    assert [p.split(" | ")[0] for p, _ in found] == ["Ross Island", "Mount Erebus"]
    assert found[0][1] > found[1][1] > 0
    assert retriever("explorer born London", k=1) == [PASSAGES[4]]
    assert retriever("zebra quantum") == []  # no shared term: nothing, not noise
    assert retriever("the of and") == []  # stop words only
    assert copy.deepcopy(retriever) is retriever  # shared by program copies, like an LM


def test_bm25_refuses_an_empty_corpus() -> None:
    with pytest.raises(ConfigurationError, match="at least one passage"):
        BM25Retriever([])
    with pytest.raises(ConfigurationError, match="k must be"):
        BM25Retriever(["a"], k=0)


def test_hotpotqa_passages_are_titled_and_deduplicated() -> None:
    rows = [
        {"context": [["A", ["One.", " Two."]], ["B", ["Three."]]]},
        {"context": [["A", ["One.", " Two."]]]},
        {"question": "no context"},
    ]
    assert hotpotqa_passages(rows) == ["A | One. Two.", "B | Three."]


# -- MultiHopQA ----------------------------------------------------------------------------------


def multihop_handler(request: LMRequest) -> str:
    """The first query names the island; the next reads the context; the answer reads it too."""
    head = system(request)
    if head.startswith("Write a short search query that finds"):
        return reply(query="Mount Erebus island")
    if head.startswith("Write a short search query for the missing fact"):
        context = last_field(request, "context")
        island = "Ross Island" if "Ross Island" in context else "unknown"
        return reply(query=f"who discovered {island}")
    context = last_field(request, "context")
    found = re.search(r"discovered by ([A-Z][a-z]+ [A-Z][a-z]+ [A-Z][a-z]+)", context)
    return reply(answer=found.group(1) if found else "unknown")


def test_multihop_structure() -> None:
    program = MultiHopQA(BM25Retriever(PASSAGES), hops=3)
    names = [name for name, _ in program.named_predictors()]
    assert names == ["generate_query[0]", "generate_query[1]", "generate_query[2]", "answer"]
    assert list(program.generate_query[1].signature.input_fields) == ["question", "context"]
    assert promptc._compile.evaluate.program_inputs(program) == (["question"], [])
    with pytest.raises(ConfigurationError, match="hops"):
        MultiHopQA(BM25Retriever(PASSAGES), hops=0)


def test_multihop_chains_retrievals_into_the_answer(fake_lm: MakeLM) -> None:
    program = MultiHopQA(BM25Retriever(PASSAGES), passages_per_hop=1)
    lm = fake_lm(multihop_handler)
    with promptc.context(lm=lm), promptc.trace() as t:
        out = program(question="Who discovered the island Mount Erebus is on?")
    assert out.queries == ["Mount Erebus island", "who discovered Ross Island"]
    assert [p.split(" | ")[0] for p in out.passages] == ["Mount Erebus", "Ross Island"]
    assert out.answer == "James Clark Ross"
    assert [e.predictor for e in t.entries] == ["generate_query[0]", "generate_query[1]", "answer"]
    assert "[1] Mount Erebus" in t.entries[1].inputs["context"]


def test_multihop_compiles_saves_and_loads(fake_lm: MakeLM, tmp_path: Path) -> None:
    retriever = BM25Retriever(PASSAGES)
    program = MultiHopQA(retriever, passages_per_hop=1)
    # Rows with a context column give the answer predictor labeled demos.
    train = [{"question": f"q{i}", "context": f"[1] fact {i}", "answer": f"a{i}"} for i in range(6)]
    val = [{"question": "Who discovered the island Mount Erebus is on?", "answer": "James Ross"}]

    def needs_demos(request: LMRequest) -> str:
        answering = system(request).startswith("Answer the question")
        if answering and len(request.message_list) == 2:  # no demos: a wrong answer
            return reply(answer="unknown")
        return multihop_handler(request)

    lm = fake_lm(needs_demos)
    result = promptc.compile(
        program, train, "token_f1", valset=val, optimizer="labeled", lm=lm, budget=40
    )
    assert program.answer.demos == []  # the input program is untouched
    assert (result.baseline.mean, result.best.mean) == (0.0, 0.8)
    params = result.program.get_params()
    assert [len(params[n].demos) for n in params] == [0, 0, 4]
    path = result.save(tmp_path / "multihop.yaml")
    loaded = promptc.load(path, lm=lm, program=MultiHopQA(retriever, passages_per_hop=1))
    assert loaded(question=val[0]["question"]).answer == "James Clark Ross"
    assert [p.name for p in loaded.artifact.predictors] == [
        "generate_query[0]",
        "generate_query[1]",
        "answer",
    ]


# -- Decomposed Prompting ------------------------------------------------------------------------


def letter_handler(request: LMRequest) -> str:
    k = {"1st": 1, "2nd": 2, "3rd": 3}[system(request).split()[2]]
    return reply(letter=last_field(request, "word")[k - 1])


@pytest.mark.parametrize(("k", "chunk"), [(1, 4), (2, 2), (3, 1)])
def test_kth_letter_concat_recurses_and_matches_the_reference(
    fake_lm: MakeLM, k: int, chunk: int
) -> None:
    text = "Augusta Ada King Countess of Lovelace an English mathematician"
    program = KthLetterConcat(k, chunk=chunk)
    assert [n for n, _ in program.named_predictors()] == ["letter"]
    lm = fake_lm(letter_handler)
    with promptc.context(lm=lm):
        assert program(text=text).answer == kth_letters(text, k)
    long_enough = [w for w in text.split() if len(w) >= k]
    assert lm.usage.total().calls == len(long_enough)  # one call per word, none for the rest


def test_kth_letters_reference() -> None:
    assert kth_letters("Augusta Ada King", 2) == "udi"
    assert kth_letters("a bb ccc", 3) == "c"
    with pytest.raises(ConfigurationError):
        KthLetterConcat(0)


def test_kth_letter_concat_compiles_and_round_trips(fake_lm: MakeLM, tmp_path: Path) -> None:
    program = KthLetterConcat(2)
    rows = [{"text": t, "answer": kth_letters(t, 2)} for t in ("ab cd", "xyz uvw", "hello you")]
    train = [{"word": w, "letter": w[1]} for w in ("cat", "dog", "emu", "fox")]
    lm = fake_lm(letter_handler)
    result = promptc.compile(program, train, "exact_match", valset=rows, lm=lm, optimizer="labeled")
    assert result.best.mean == 1.0
    path = result.save(tmp_path / "letters.yaml")
    loaded = promptc.load(path, lm=lm)  # one predictor: callable without the program
    assert loaded(word="tiger").letter == "i"
    bound = promptc.load(path, lm=lm, program=KthLetterConcat(2))
    assert bound(text="Grace Hopper").answer == "ro"


def controller_handler(request: LMRequest) -> str:
    """A controller that splits, asks for each word's letter, joins, and finishes."""
    if "- action (" not in system(request):
        return letter_handler(request)
    steps = [s for s in last_field(request, "steps").splitlines() if s[:1].isdigit()]
    words = last_field(request, "text").split()
    if not steps:
        return reply(action="split", action_input=" ".join(words))
    if len(steps) <= len(words):
        return reply(action="kth_letter", action_input=words[len(steps) - 1])
    letters = [s.rsplit("-> ", 1)[1].strip('"') for s in steps[1:]]
    if len(steps) == len(words) + 1:
        return reply(action="join", action_input=" ".join(letters))
    return reply(action="finish", action_input=steps[-1].rsplit("-> ", 1)[1].strip('"'))


def test_kth_letter_decompose_lets_a_controller_prompt_drive(fake_lm: MakeLM) -> None:
    program = kth_letter_decompose(2)
    assert [n for n, _ in program.named_predictors()] == ["controller", "subtasks[kth_letter]"]
    lm = fake_lm(controller_handler)
    with promptc.context(lm=lm), promptc.trace() as t:
        out = program(text="Augusta Ada King")
    assert out.answer == "udi"
    assert [e.predictor for e in t.entries].count("subtasks[kth_letter]") == 3
    with pytest.raises(ConfigurationError):
        kth_letter_decompose(0)


def test_programs_take_demos_and_keep_them_apart(fake_lm: MakeLM) -> None:
    program = Classify(["a", "b"])
    tuned = program.with_params({"self": Params("Pick.", ({"text": "x", "label": "a"},))})
    assert program.demos == [] and tuned.params.demos == ({"text": "x", "label": "a"},)
    assert isinstance(tuned, Classify) and tuned.labels == ("a", "b")


EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.mark.parametrize(
    ("script", "kind"),
    [
        ("classify.py", Classify),
        ("qa.py", QA),
        ("math_cot.py", MathCoT),
        ("multihop.py", MultiHopQA),
        ("letters.py", KthLetterConcat),
    ],
)
def test_examples_define_their_program(script: str, kind: type) -> None:
    namespace = runpy.run_path(str(EXAMPLES / script))  # defines, does not run main()
    assert isinstance(namespace["program"], kind)
    assert callable(namespace["main"])
