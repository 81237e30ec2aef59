"""An artifact's provenance is typed: earlier shapes still load (and keep their signatures),
unknown keys and oversized values are refused, and it stays outside the content hash."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pydantic
import pytest
import yaml

from promptc import Predict
from promptc._artifact.provenance import MAX_ITEMS
from promptc._artifact.signing import rehash_artifact
from promptc.artifact import artifact_from_program, dump_artifact, load_artifact, parse_artifact
from promptc.cli.show import show_artifact
from promptc.compiler import Provenance
from promptc.exceptions import ArtifactError

GOLDEN = Path(__file__).resolve().parent / "golden"
PREVIOUS = GOLDEN / "previous_version.yaml"  # compiled (held-out rows) and signed by 51afc05
SETTINGS = {"model": "openai/gpt-4o-mini", "temperature": 0.0, "max_tokens": 16}

#: The shape the first compile driver wrote: trials without ids, with only instruction and
#: demo count per predictor, and no spend per phase.
EARLY: dict[str, Any] = {
    "optimizer": {"name": "labeled", "config": {"k": 4}},
    "seed": 0,
    "data": {
        "train": {"rows": 8, "hash": "sha256:" + "a" * 64},
        "val": {"rows": 8, "hash": "sha256:" + "b" * 64},
    },
    "scores": {
        "metric": "exact_match",
        "baseline": {"mean": 0.25, "ci95": [0.0, 0.5], "n": 8, "errors": 0},
        "compiled": {"mean": 0.75, "ci95": [0.5, 1.0], "n": 8, "errors": 1},
    },
    "spent": {
        "budget": None,
        "lm_requests": 16,
        "prompt_tokens": 900,
        "completion_tokens": 40,
        "cost_usd": 0.0,
    },
    "trials": [
        {"candidate": "baseline", "score": 0.25},
        {"candidate": {"self": {"instruction": "Label it.", "demos": 4}}, "score": 0.75},
        {"candidate": {"self": {"instruction": "Label it.", "demos": 2}}, "score": None,
         "stopped": "budget"},
    ],
}  # fmt: skip


def _artifact_text(provenance: dict[str, Any]) -> str:
    art = artifact_from_program(Predict("review -> label"), name="p", lm_settings=SETTINGS)
    data = yaml.safe_load(dump_artifact(art))
    data["provenance"] = provenance
    return yaml.safe_dump(data, sort_keys=False)


@pytest.mark.parametrize("shape", [EARLY, {}, {"seed": 1}], ids=["early", "empty", "seed"])
def test_earlier_provenance_shapes_load_and_dump_unchanged(shape: dict[str, Any]) -> None:
    art = parse_artifact(_artifact_text(shape))
    assert art.provenance.model_dump(mode="json") == shape
    assert yaml.safe_load(dump_artifact(art))["provenance"] == shape


def test_an_early_provenance_reads_as_typed_records() -> None:
    prov = parse_artifact(_artifact_text(EARLY)).provenance
    assert prov.spent is not None and prov.spent.lm_requests == 16 and prov.spent.by_phase is None
    assert prov.scores is not None and prov.scores.gain is None
    trials = prov.trials or []
    assert [t.id for t in trials] == [None, None, None]
    assert trials[0].candidate == "baseline" and trials[2].stopped == "budget"
    assert not isinstance(trials[1].candidate, str)
    assert trials[1].candidate["self"].demos == 4
    assert trials[1].candidate["self"].instruction_changed is None


def test_the_previous_versions_signed_artifact_loads_and_its_signature_holds() -> None:
    pytest.importorskip("cryptography")
    art = load_artifact(PREVIOUS, verify=GOLDEN / "previous_version.pub")
    prov = art.provenance
    assert prov.optimizer is not None and prov.optimizer.name == "random"
    assert prov.scores is not None and prov.scores.holdout is not None
    assert prov.scores.holdout.compiled.n == 6 and prov.scores.holdout.gain is None
    assert prov.spent is not None and prov.spent.token_budget == 100_000
    assert prov.spent.by_phase is not None and prov.spent.by_phase["holdout"].requests == 12
    assert [t.id for t in prov.trials or []] == list(range(9))
    assert "compiled  0.600  (95% CI 0.300-0.900, n=10, errors=0)" in show_artifact(art)
    # Read and dumped again, the provenance is what the file holds, key for key.
    on_disk = yaml.safe_load(PREVIOUS.read_text("utf-8"))["provenance"]
    assert json.loads(json.dumps(prov.model_dump(mode="json"))) == on_disk


def test_rehash_of_a_previous_versions_artifact_appends_its_edit(tmp_path: Path) -> None:
    path = shutil.copy(PREVIOUS, tmp_path / "old.yaml")
    text = Path(path).read_text("utf-8").replace("produce the fields `label`.", "label it.", 1)
    Path(path).write_text(text, "utf-8")
    art, message = rehash_artifact(path)
    assert "signature was dropped" in message
    (edit,) = art.provenance.edited or []
    assert edit.previous_hash == yaml.safe_load(PREVIOUS.read_text("utf-8"))["content_hash"]
    assert art.provenance.trials == load_artifact(PREVIOUS).provenance.trials


def _set(*path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(data: dict[str, Any]) -> None:
        for key in path[:-1]:
            data = data[key]
        data[path[-1]] = value

    return edit


@pytest.mark.parametrize(
    ("edit", "refused"),
    [
        (_set("note", value="x"), "provenance.note: Extra inputs are not permitted"),
        (_set("spent", "lm_requests", value=-1), "provenance.spent.lm_requests"),
        (_set("data", "train", "hash", value="md5:00"), "provenance.data.train.hash"),
        (_set("trials", value=[{"candidate": "x" * 1001}]), "provenance.trials.0.candidate"),
        (_set("scores", "compiled", "ci95", value=[0.5]), "provenance.scores.compiled.ci95"),
        (_set("trials", value=[{"candidate": {"self": {"demos": 1}}}]), "provenance.trials.0"),
        # yaml reads .nan and .inf as floats: a score that is not a number is refused, not shown
        (_set("scores", "compiled", "mean", value=float("nan")), "provenance.scores.compiled.mean"),
        (_set("spent", "cost_usd", value=float("inf")), "provenance.spent.cost_usd"),
        (
            _set("trials", value=[{"candidate": "baseline", "score": float("-inf")}]),
            "provenance.trials.0.score",
        ),
    ],
)
def test_provenance_refuses_what_its_schema_does_not_allow(
    edit: Callable[[dict[str, Any]], None], refused: str
) -> None:
    data = json.loads(json.dumps(EARLY))
    edit(data)
    with pytest.raises(ArtifactError, match="not a valid artifact: " + re.escape(refused)):
        parse_artifact(_artifact_text(data))


def test_the_trial_list_is_bounded() -> None:
    trials = [{"candidate": "baseline"}] * (MAX_ITEMS + 1)
    with pytest.raises(pydantic.ValidationError, match="at most 100000 items"):
        Provenance.model_validate({"trials": trials})


def test_provenance_stays_outside_the_content_hash() -> None:
    art = parse_artifact(_artifact_text(EARLY))
    other = parse_artifact(_artifact_text({"seed": 9}))
    assert art.content_hash == other.content_hash == art.compute_hash()


def test_the_published_schema_accepts_the_previous_artifact_and_types_provenance() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((GOLDEN.parent.parent / "promptc/schema/artifact.schema.json").read_text())
    data = yaml.safe_load(PREVIOUS.read_text("utf-8"))
    jsonschema.validate(data, schema)
    data["provenance"]["trials"][0]["payload"] = "x"
    with pytest.raises(jsonschema.ValidationError, match="'payload' was unexpected"):
        jsonschema.validate(data, schema)
