"""Property-based fuzzing: the signature factory, the artifact loader and the output parser.

Whatever the input, the only exceptions that escape are promptc's own, documented ones:
``SignatureError`` from :func:`make_signature`, ``ArtifactError`` from the loader (and only
``PromptcError``s from a program built on a loaded artifact), ``ParseFailure`` from
:meth:`ChatAdapter.parse` and ``OutputParseError`` from a predictor.
"""

from __future__ import annotations

import os
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from promptc import LM, ChatAdapter, CompiledProgram, Predict, make_signature
from promptc._program.adapter import ParseFailure
from promptc.artifact import artifact_from_program, dump_artifact, parse_artifact
from promptc.compiler import Provenance
from promptc.exceptions import ArtifactError, OutputParseError, PromptcError, SignatureError
from promptc.testing import FakeBackend

FUZZ = settings(
    max_examples=int(os.environ.get("PROMPTC_FUZZ_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    database=None,
)

# -- the signature factory -------------------------------------------------------------------

SIGNATURE_TOKENS = [
    "q", "answer", "x_1", "->", ",", ":", " ", "int", "str", "float", "bool", "list", "dict",
    "[", "]", "|", "None", "Literal", "'a'", '"b"', "1", "-2", "Optional", "tuple", "(", ")",
    "\n", "_p", "class", "__import__", "Any", "...", "-", ">", "=", "os.system", "é",
]  # fmt: skip
signature_specs = st.one_of(
    st.text(max_size=80),
    st.lists(st.sampled_from(SIGNATURE_TOKENS), max_size=24).map("".join),
)


@FUZZ
@given(signature_specs)
def test_signature_factory_raises_only_signature_errors(spec: str) -> None:
    try:
        sig = make_signature(spec)
    except SignatureError:
        return
    values = {name: "0" for name in sig.input_fields}
    try:
        Predict(sig).messages(**values)
    except PromptcError:
        pass


# -- the artifact loader ---------------------------------------------------------------------

BASE = dump_artifact(
    artifact_from_program(
        Predict("review, topic -> label: Literal['positive', 'negative'], score: float"),
        name="fuzz",
        lm_settings={"model": "fake/m", "temperature": 0.0, "max_tokens": 16},
        provenance=Provenance(seed=1),
    )
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)
YAML_SNIPPETS = [
    "!!python/object/apply:os.system ['true']", "&a [1]", "*a", "!!binary aGk=", "{{ x }}",
    "'", '"', ":", "- ", "\t", "\n  ", "{% for %}", "__class__", "!!set {}", "? ", "|", ">",
    "\x00", "\ufeff", "~", "[", "]",
]  # fmt: skip


def check_loader(text: bytes | str, verify_hash: bool) -> None:
    try:
        art = parse_artifact(text, verify_hash=verify_hash)
    except ArtifactError:
        return
    program = CompiledProgram(art, lm=LM("fake/m", backend=FakeBackend(lambda r: ""), cache=False))
    spec = art.predictors[0]
    inputs = {f.name: "x" for f in spec.signature.inputs}
    try:
        program.render(**inputs)
        program(**inputs)
    except PromptcError:
        pass


@FUZZ
@given(st.binary(max_size=400))
def test_loader_on_arbitrary_bytes_raises_only_artifact_errors(data: bytes) -> None:
    check_loader(data, verify_hash=True)


@st.composite
def mutated_artifacts(draw: st.DrawFn) -> str:
    text = BASE
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(text)))
        cut = draw(st.integers(0, 20))
        insert = draw(st.sampled_from(YAML_SNIPPETS) | st.text(max_size=10))
        text = text[:at] + insert + text[at + cut :]
    return text


@FUZZ
@given(mutated_artifacts(), st.booleans())
def test_loader_on_mutated_artifacts_raises_only_artifact_errors(text: str, verify: bool) -> None:
    check_loader(text, verify_hash=verify)


@st.composite
def restructured_artifacts(draw: st.DrawFn) -> str:
    data = yaml.safe_load(BASE)
    node: Any = data
    path = draw(st.lists(st.integers(0, 10), min_size=1, max_size=5))
    for step in path[:-1]:
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        if not keys or not isinstance(node[keys[step % len(keys)]], (dict, list)):
            break
        node = node[keys[step % len(keys)]]
    keys = list(node) if isinstance(node, dict) else list(range(len(node)))
    if keys:
        node[keys[path[-1] % len(keys)]] = draw(json_values)
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


@FUZZ
@given(restructured_artifacts())
def test_loader_on_wrongly_typed_artifacts_raises_only_artifact_errors(text: str) -> None:
    check_loader(text, verify_hash=False)


# -- the output parser -----------------------------------------------------------------------

MULTI = make_signature(
    "q -> a: int, b: list[str], c: Literal['x', 'y'], d: dict[str, float], e: bool | None"
)
SINGLE = make_signature("q -> answer: float")
TAG_NAMES = ["a", "b", "c", "d", "e", "answer", "A", "q", "completed"]


@st.composite
def completions(draw: st.DrawFn) -> str:
    parts = []
    for _ in range(draw(st.integers(0, 7))):
        name = draw(st.sampled_from(TAG_NAMES))
        body = draw(
            st.sampled_from(["1", "-3", "x", "y", '["p"]', '{"k": 1.5}', "null", "true", "[", "{"])
            | st.text(max_size=15)
        )
        closing = draw(st.sampled_from([f"</{name}>", "", f"< / {name} >", "</other>"]))
        parts.append(f"{draw(st.sampled_from(['', ' ', chr(10)]))}<{name}>{body}{closing}")
    return "".join(parts)


texts = st.one_of(st.text(max_size=200), completions())


@FUZZ
@given(texts)
def test_output_parser_raises_only_parse_failures(text: str) -> None:
    for signature in (MULTI, SINGLE):
        try:
            out = ChatAdapter().parse(signature, text)
        except ParseFailure:
            continue
        assert set(out) == set(signature.output_fields)


@FUZZ
@given(texts)
def test_predictor_on_any_reply_returns_or_raises_output_parse_error(text: str) -> None:
    lm = LM("fake/m", backend=FakeBackend(lambda r: text), cache=False)
    try:
        prediction = Predict(MULTI, lm=lm, max_parse_retries=1)(q="?")
    except OutputParseError as exc:
        assert exc.raw == text and exc.attempts == 2
    else:
        assert set(prediction) == set(MULTI.output_fields)
