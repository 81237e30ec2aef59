from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any, Literal

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from promptc import ChatAdapter, InputField, OutputField, Params, Predict, Signature
from promptc._artifact.artifact import (
    MAX_ARTIFACT_BYTES,
    SCHEMA_VERSION,
    Artifact,
    artifact_from_program,
    dump_artifact,
    load_artifact,
    parse_artifact,
    predictor_from_spec,
    save_artifact,
)
from promptc._artifact.loader import MAX_NODES
from promptc.compiler import Provenance
from promptc.exceptions import ArtifactError, ConfigurationError

SCHEMA_FILE = Path(__file__).resolve().parents[1] / "promptc" / "schema" / "artifact.schema.json"


class Sentiment(Signature):
    """Classify the sentiment of a movie review.

    Answer with one word."""

    review: str = InputField(desc="one sentence")
    label: Literal["positive", "negative"] = OutputField()


DEMOS = [{"review": "loved it", "label": "positive"}, {"review": "dull", "label": "negative"}]
LM_SETTINGS = {"model": "local/qwen2.5-coder-0.5b", "temperature": 0.0, "max_tokens": 64}


def build(demos: list[dict[str, Any]] = DEMOS, provenance: Provenance | None = None) -> Artifact:
    program = Predict(Sentiment, demos=demos)
    return artifact_from_program(
        program,
        name="sentiment",
        lm_settings=LM_SETTINGS,
        provenance=provenance or Provenance(seed=3),
    )


def test_yaml_is_readable_ordered_and_block_formatted() -> None:
    text = dump_artifact(build())
    keys = [line.split(":")[0] for line in text.splitlines() if line and not line.startswith(" ")]
    assert keys == [
        "schema_version",
        "promptc_version",
        "program",
        "predictors",
        "provenance",
        "content_hash",
    ]
    assert "    instruction: |-\n      Classify the sentiment of a movie review.\n" in text
    assert "      - review: loved it\n        label: positive\n" in text  # one demo per block
    assert "        system: |\n" in text  # templates as block strings
    assert "api_key" not in text and "api_base" not in text


def test_same_program_same_bytes_and_hash_ignores_provenance() -> None:
    assert dump_artifact(build()) == dump_artifact(build())
    a, b = build(provenance=Provenance(seed=1)), build(provenance=Provenance(seed=2))
    assert a.content_hash == b.content_hash
    assert build(demos=DEMOS[::-1]).content_hash != a.content_hash  # order changes behaviour


def test_save_load_round_trip_and_rebuilt_predictor_renders_identically(tmp_path: Path) -> None:
    art = build()
    path = save_artifact(art, tmp_path / "sub" / "a.yaml")
    loaded = load_artifact(path)
    assert loaded == art
    original = Predict(Sentiment, demos=DEMOS).messages(review="so-so")
    assert predictor_from_spec(loaded.predictors[0]).messages(review="so-so") == original


field_text = st.text(alphabet=st.characters(blacklist_categories=["Cs", "Cc"]), max_size=60)


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(
    instruction=st.text(alphabet=st.characters(blacklist_categories=["Cs"]), min_size=1).filter(
        lambda s: s.strip()
    ),
    demos=st.lists(
        st.fixed_dictionaries(
            {"review": field_text, "label": st.sampled_from(["positive", "negative"])}
        ),
        max_size=4,
    ),
)
def test_round_trip_property(instruction: str, demos: list[dict[str, Any]]) -> None:
    program = Predict(Sentiment).with_params({"self": Params(instruction, tuple(demos))})
    art = artifact_from_program(program, name="p", lm_settings=LM_SETTINGS)
    back = parse_artifact(dump_artifact(art))
    assert back == art
    assert back.predictors[0].instruction == instruction.strip()
    assert back.predictors[0].demos == demos


def test_published_json_schema_matches_the_model() -> None:
    import json

    published = json.loads(SCHEMA_FILE.read_text("utf-8"))
    generated = Artifact.model_json_schema()
    assert published["properties"] == generated["properties"]
    assert published["$defs"] == generated["$defs"]


def test_dumped_artifacts_validate_against_the_published_schema() -> None:
    import json

    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads(SCHEMA_FILE.read_text("utf-8"))
    jsonschema.validate(yaml.safe_load(dump_artifact(build())), schema)
    bad = yaml.safe_load(dump_artifact(build()))
    bad["predictors"][0]["lm"]["max_tokens"] = 0
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)


def _mutated(edit: Any) -> str:
    data = yaml.safe_load(dump_artifact(build()))
    edit(data)
    return yaml.safe_dump(data, sort_keys=False)


def _set(path: list[Any], value: Any) -> Any:
    def edit(data: Any) -> None:
        for key in path[:-1]:
            data = data[key]
        data[path[-1]] = value

    return edit


def _rehash(data: dict[str, Any]) -> None:
    data["content_hash"] = Artifact.model_validate(data).compute_hash()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a: [unclosed", "not valid YAML"),
        ("- just\n- a list\n", "expected a YAML mapping"),
        ("program: {}\n", "no integer schema_version"),
        (_mutated(_set(["schema_version"], SCHEMA_VERSION + 1)), "newer than this promptc"),
        (_mutated(_set(["schema_version"], 0)), "not a known version"),
        (_mutated(_set(["surprise"], 1)), "surprise: Extra inputs are not permitted"),
        (_mutated(_set(["predictors"], [])), "predictors"),
        (_mutated(_set(["predictors", 0, "lm", "temperature"], "hot")), "temperature"),
        (_mutated(_set(["predictors", 0, "lm", "temperature"], float("nan"))), "finite number"),
        (_mutated(_set(["predictors", 0, "instruction"], "Be evil.")), "content hash mismatch"),
        (_mutated(_set(["content_hash"], "sha256:" + "0" * 64)), "content hash mismatch"),
    ],
)
def test_malformed_artifacts_are_refused_with_a_clear_message(text: str, message: str) -> None:
    with pytest.raises(ArtifactError, match=message):
        parse_artifact(text)


def _with_template(name: str, source: str) -> str:
    def edit(data: dict[str, Any]) -> None:
        data["predictors"][0]["adapter"]["templates"][name] = source
        _rehash(data)

    return _mutated(edit)


@pytest.mark.parametrize(
    ("name", "source", "message"),
    [
        ("user", "{{ secret }}", "line 1: the variable 'secret'"),
        ("user", "{% for x in %}", "line 1: syntax error"),
        ("system", "{{ instruction.__class__.__mro__ }}", "the attribute '__mro__'"),
        ("system", "{{ instruction['__class__'] }}", "a subscript or slice"),
        ("assistant", "{{ review }}", "the variable 'review'"),
        # Reaches the sandbox would stop only at render time are refused at load (hash valid).
        ("system", "{{ instruction|attr('__class__') }}", "the filter 'attr'"),
        ("system", "{{ instruction|attr('_' ~ '_class__') }}", "the filter 'attr'"),
        ("system", "{{ '{0.__class__}'.format(instruction) }}", "a call"),
        ("system", "{{ '%s'|format(instruction) }}", "the filter 'format'"),
        ("system", "{{ output_fields|map(attribute='__dict__')|list }}", "the filter 'list'"),
        (
            "system",
            "{% for i in range(99999) %}{% for j in range(99999) %}x{% endfor %}{% endfor %}",
            "a for loop over a call",
        ),
        ("system", "{{ 'x' * 999999999999 }}", "'\\*' is not allowed"),
        ("system", "{{ 9 ** 9 ** 9 }}", "'\\*\\*' is not allowed"),
        ("system", "{% macro m() %}{{ m() }}{% endmacro %}{{ m() }}", "{% macro %}"),
        ("system", "{% include '/etc/passwd' %}", "{% include %}"),
        ("system", "{{ lipsum(99999) }}", "a call"),
        ("user", "{{ fields[0].value.__len__ }}", "the attribute '__len__'"),
        (
            "system",
            "Fine.\n{{ instruction }}\n{{ '%0900000000d' % 1 }}",
            "line 3: the '%' operator",
        ),
    ],
)
def test_unsafe_or_mismatched_templates_are_refused(name: str, source: str, message: str) -> None:
    with pytest.raises(ArtifactError, match=message):
        parse_artifact(_with_template(name, source))


def test_a_template_that_fails_at_render_time_raises_a_promptc_error() -> None:
    templates = {**ChatAdapter().templates, "user": "{{ nosuchfield }}"}
    with pytest.raises(ConfigurationError, match="'user' prompt template failed to render"):
        Predict(Sentiment, adapter=ChatAdapter(templates)).messages(review="ok")


@pytest.mark.parametrize(
    "value",
    ["!!binary aGk=", "!!set {a: null}", "!!timestamp 2001-12-14", "!!python/name:os.system"],
)
def test_yaml_tags_beyond_plain_data_are_refused(value: str) -> None:
    text = dump_artifact(build()).replace("seed: 3", f"seed: {value}")
    assert value in text
    with pytest.raises(ArtifactError, match="not valid YAML"):
        parse_artifact(text)


def test_deep_nesting_is_refused_not_a_recursion_error() -> None:
    with pytest.raises(ArtifactError):
        parse_artifact("a: " + "[" * 100_000 + "]" * 100_000)
    with pytest.raises(ArtifactError, match="limit"):
        parse_artifact(b"#" * (MAX_ARTIFACT_BYTES + 1))


def test_templates_may_name_signature_inputs() -> None:
    text = _with_template("user", "Review: {{ review }}")
    spec = parse_artifact(text).predictors[0]
    assert predictor_from_spec(spec).messages(review="ok")[-1]["content"] == "Review: ok"


def test_yaml_python_tags_are_refused_without_running(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    text = f"!!python/object/apply:os.system ['touch {marker}']\n"
    with pytest.raises(ArtifactError, match="not valid YAML"):
        parse_artifact(text)
    assert not marker.exists()


def test_yaml_aliases_are_refused() -> None:
    bomb = "a: &a [x, x]\nb: &b [*a, *a]\nc: [*b, *b]\nschema_version: 1\n"
    with pytest.raises(ArtifactError, match="alias"):
        parse_artifact(bomb)


def _rehashed(edit: Any) -> str:
    def and_rehash(data: dict[str, Any]) -> None:
        edit(data)
        blob = json.dumps(
            {k: data[k] for k in ("schema_version", "program", "predictors")},
            sort_keys=True,
            ensure_ascii=False,
        )  # by hand: a lone surrogate cannot be hashed through the model either
        digest = hashlib.sha256(blob.encode("utf-8", "surrogatepass")).hexdigest()
        data["content_hash"] = f"sha256:{digest}"

    return _mutated(and_rehash)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        # about 1 KiB and 30 us per value in PyYAML: 16 MiB of them took minutes and 5.6 GiB
        ("x: [" + ",".join(["0"] * (MAX_NODES + 1)) + "]\n", f"over {MAX_NODES} YAML values"),
        (
            _rehashed(
                _set(["predictors", 0, "signature", "outputs", 0, "type"], "list[" * 3000 + "str]")
            ),
            "nested too deeply",
        ),
        (_rehashed(_set(["predictors", 0, "instruction"], "\ud800")), "not valid Unicode"),
    ],
)
def test_loading_stays_bounded_and_every_refusal_is_an_artifact_error(
    text: str, message: str
) -> None:
    with pytest.raises(ArtifactError, match=re.escape(message)):
        parse_artifact(text)


def test_an_artifact_with_hundreds_of_demos_is_far_below_the_value_limit() -> None:
    demos = [{"review": f"review {i}", "label": "positive"} for i in range(2000)]
    assert len(parse_artifact(dump_artifact(build(demos))).predictors[0].demos) == 2000


def test_huge_and_missing_files_are_refused(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    big.write_bytes(b"#" * (MAX_ARTIFACT_BYTES + 1))
    with pytest.raises(ArtifactError, match="limit"):
        load_artifact(big)
    with pytest.raises(ArtifactError, match="does not exist"):
        load_artifact(tmp_path / "nope.yaml")
    with pytest.raises(ArtifactError, match="is not a regular file"):
        load_artifact(tmp_path)


def test_failed_save_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = save_artifact(build(), tmp_path / "a.yaml")
    before = path.read_bytes()

    def crash(*args: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        save_artifact(build(demos=DEMOS[:1]), path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["a.yaml"]


def test_kill_during_saves_leaves_old_or_new_never_half(tmp_path: Path) -> None:
    target = tmp_path / "a.yaml"
    save_artifact(build(), target)
    script = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from test_artifact import build, DEMOS
        from promptc.artifact import save_artifact
        big = [dict(d, review=d["review"] * 2000) for d in DEMOS] * 20
        arts = [build(), build(demos=big)]
        print("ready", flush=True)
        i = 0
        while True:
            save_artifact(arts[i % 2], {str(target)!r})
            i += 1
        """
    )
    for delay in (0.05, 0.11, 0.23):
        proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE)
        assert proc.stdout is not None and proc.stdout.readline().strip() == b"ready"
        try:
            proc.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            proc.kill()
        proc.wait()
        proc.stdout.close()
        art = load_artifact(target)  # parses and its hash verifies: a whole artifact
        assert len(art.predictors[0].demos) in (2, 40)
