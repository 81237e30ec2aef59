"""Frozen prompt artifacts: one YAML file per compiled program.

An artifact carries everything needed to render and parse each prompt exactly as compiled —
signature, instruction, ordered demos, the Jinja2 templates, LM settings — plus compile
provenance and a content hash over everything that changes behaviour. Reading is safe with
untrusted files: size-capped, ``yaml.safe_load`` semantics with anchors and aliases refused,
a frozen extra-forbidding schema, templates checked in Jinja2's sandbox before use.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any, ClassVar, Literal

import pydantic
import yaml

from promptc._adapter import ChatAdapter
from promptc._files import write_atomic
from promptc._module import Module, Predict
from promptc._signature import Field, Signature, derive_signature
from promptc._templates import TEMPLATE_NAMES, check_template
from promptc._types import parse_type
from promptc.exceptions import ArtifactError, ConfigurationError, SignatureError

__all__ = [
    "SCHEMA_VERSION",
    "Artifact",
    "artifact_from_program",
    "dump_artifact",
    "load_artifact",
    "parse_artifact",
    "predictor_from_spec",
    "save_artifact",
]

SCHEMA_VERSION = 1
MAX_ARTIFACT_BYTES = 16 * 1024 * 1024


class _Strict(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)


class FieldSpec(_Strict):
    name: str
    type: str
    desc: str = ""


class SignatureSpec(_Strict):
    name: str
    inputs: list[FieldSpec]
    outputs: list[FieldSpec] = pydantic.Field(min_length=1)


class AdapterSpec(_Strict):
    kind: Literal["chat"] = "chat"
    templates: dict[str, str]


class LMSettings(_Strict):
    model: str
    temperature: float = pydantic.Field(ge=0.0, le=2.0)
    max_tokens: int = pydantic.Field(ge=1)
    params: dict[str, Any] = {}


class PredictorSpec(_Strict):
    name: str
    signature: SignatureSpec
    instruction: str
    demos: list[dict[str, Any]] = []
    adapter: AdapterSpec
    lm: LMSettings | None = None


class ModuleSpec(_Strict):
    path: str
    type: str


class ProgramSpec(_Strict):
    name: str
    entry: str | None = None
    modules: list[ModuleSpec]


class Artifact(_Strict):
    """A compiled program, as stored in YAML (see ``promptc/schema/artifact.schema.json``)."""

    schema_version: int
    promptc_version: str
    program: ProgramSpec
    predictors: list[PredictorSpec] = pydantic.Field(min_length=1)
    provenance: dict[str, Any] = {}
    content_hash: str = ""

    def behaviour(self) -> dict[str, Any]:
        """The part of the artifact that changes outputs (what the content hash covers)."""
        return {
            "schema_version": self.schema_version,
            "program": self.program.model_dump(mode="json"),
            "predictors": [p.model_dump(mode="json") for p in self.predictors],
        }

    def compute_hash(self) -> str:
        """sha256 over :meth:`behaviour` as canonical JSON."""
        blob = json.dumps(self.behaviour(), sort_keys=True, ensure_ascii=False)
        return "sha256:" + hashlib.sha256(blob.encode("utf-8")).hexdigest()

    def predictor(self, name: str) -> PredictorSpec:
        """The predictor spec called ``name``."""
        for spec in self.predictors:
            if spec.name == name:
                return spec
        raise ArtifactError(f"artifact has no predictor {name!r}; it has {self.names()}")

    def names(self) -> list[str]:
        """Predictor names, in program order."""
        return [p.name for p in self.predictors]


def _version() -> str:
    from promptc import __version__

    return __version__


def _field_specs(fields: dict[str, Field]) -> list[FieldSpec]:
    return [FieldSpec(name=f.name, type=f.type_name, desc=f.desc) for f in fields.values()]


def _predictor_spec(name: str, p: Predict, lm_settings: dict[str, Any] | None) -> PredictorSpec:
    sig = p.signature
    own = p.lm.settings() if p.lm is not None else lm_settings
    return PredictorSpec(
        name=name,
        signature=SignatureSpec(
            name=sig.__name__,
            inputs=_field_specs(sig.input_fields),
            outputs=_field_specs(sig.output_fields),
        ),
        instruction=sig.instruction,
        demos=[json.loads(json.dumps(d, default=str)) for d in p.demos],
        adapter=AdapterSpec(templates=dict(p.adapter.templates)),
        lm=LMSettings(**own) if own else None,
    )


def artifact_from_program(
    program: Module,
    *,
    name: str,
    entry: str | None = None,
    lm_settings: dict[str, Any] | None = None,
    provenance: dict[str, Any] | None = None,
) -> Artifact:
    """Freeze ``program``'s prompts into an artifact (the program itself is not changed)."""
    modules = [
        ModuleSpec(path=path or "self", type=type(m).__name__)
        for path, m in program.named_modules()
    ]
    predictors = [_predictor_spec(n, p, lm_settings) for n, p in program.named_predictors()]
    art = Artifact(
        schema_version=SCHEMA_VERSION,
        promptc_version=_version(),
        program=ProgramSpec(name=name, entry=entry, modules=modules),
        predictors=predictors,
        provenance=json.loads(json.dumps(provenance or {}, sort_keys=True, default=str)),
    )
    return art.model_copy(update={"content_hash": art.compute_hash()})


class _Dumper(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:
        return True

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)  # indent list items under their key


# Characters YAML would fold or drop in plain and block styles (NEL, LS, PS, CR, controls):
# strings holding any are written double-quoted, where they are escaped and survive a reload.
_NEEDS_QUOTES = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\ufeff]")


def _str_representer(dumper: yaml.SafeDumper, data: str) -> yaml.Node:
    style = '"' if _NEEDS_QUOTES.search(data) else ("|" if "\n" in data else None)
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(str, _str_representer)


def dump_artifact(artifact: Artifact) -> str:
    """The artifact as YAML text: stable key order, block strings, one demo per block."""
    data = artifact.model_dump(mode="json")
    return yaml.dump(
        data,
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        width=100,
        default_flow_style=False,
    )


def save_artifact(artifact: Artifact, path: str | Path) -> Path:
    """Write atomically: a crash mid-save leaves the old file (or none), never half a file."""
    return write_atomic(Path(path), dump_artifact(artifact).encode("utf-8"))


# The plain-data tags; explicit or implicit others (!!binary, !!set, !!timestamp, !!python/...)
# have no constructor below and are refused as invalid YAML.
_PLAIN_TAGS = {
    f"tag:yaml.org,2002:{t}" for t in ("null", "bool", "int", "float", "str", "seq", "map")
}


class _NoAliasLoader(yaml.SafeLoader):
    """``yaml.safe_load`` semantics, minus anchors and aliases (no "billion laughs") and minus
    every tag but JSON's types."""

    yaml_constructors: ClassVar[dict[Any, Any]] = {
        tag: constructor
        for tag, constructor in yaml.SafeLoader.yaml_constructors.items()
        if tag in _PLAIN_TAGS or tag is None
    }

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()  # type: ignore[no-untyped-call]
            raise ArtifactError(
                f"artifact uses a YAML alias at line {event.start_mark.line + 1}; artifacts "
                "are plain data and may not use anchors or aliases"
            )
        return super().compose_node(parent, index)


def load_artifact(path: str | Path, *, verify_hash: bool = True) -> Artifact:
    """Read and validate an artifact file.

    Raises:
        ArtifactError: the file is missing, too large, not YAML, not an artifact, from a newer
            promptc, tampered with (hash mismatch), or carries unsafe templates.
    """
    p = Path(path)
    if not p.is_file():
        raise ArtifactError(f"artifact {p} does not exist")
    size = p.stat().st_size
    if size > MAX_ARTIFACT_BYTES:
        raise ArtifactError(f"artifact {p} is {size} bytes; the limit is {MAX_ARTIFACT_BYTES}")
    return parse_artifact(p.read_bytes(), source=str(p), verify_hash=verify_hash)


def parse_artifact(
    text: bytes | str, *, source: str = "<artifact>", verify_hash: bool = True
) -> Artifact:
    """Validate artifact text (see :func:`load_artifact`)."""
    if len(text) > MAX_ARTIFACT_BYTES:
        raise ArtifactError(f"{source}: {len(text)} bytes; the limit is {MAX_ARTIFACT_BYTES}")
    try:
        return _parse(text, source, verify_hash)
    except RecursionError:
        raise ArtifactError(f"{source}: nested too deeply to be an artifact") from None


def _parse(text: bytes | str, source: str, verify_hash: bool) -> Artifact:
    try:
        data = yaml.load(text, Loader=_NoAliasLoader)
    except ArtifactError as exc:
        raise ArtifactError(f"{source}: {exc}") from None
    except yaml.YAMLError as exc:
        raise ArtifactError(f"{source}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise ArtifactError(f"{source}: expected a YAML mapping, got {type(data).__name__}")
    data = _migrate(data, source)
    try:
        art = Artifact.model_validate(data)
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(x) for x in first["loc"])
        raise ArtifactError(
            f"{source}: not a valid artifact: {where}: {first['msg']} "
            f"({exc.error_count()} problem(s); run `promptc validate {source}` for all)"
        ) from None
    if verify_hash and art.content_hash != art.compute_hash():
        raise ArtifactError(
            f"{source}: content hash mismatch (file says {art.content_hash or 'nothing'}, content "
            f"is {art.compute_hash()}): the file was edited after compiling. Restore the "
            "compiled file "
            "or compile again."
        )
    for spec in art.predictors:
        _check_templates(source, spec)
        try:
            signature_from_spec(spec.signature, spec.instruction)
        except (ArtifactError, SignatureError) as exc:
            raise ArtifactError(f"{source}: predictor {spec.name!r}: {exc}") from None
    return art


def _migrate(data: dict[str, Any], source: str) -> dict[str, Any]:
    version = data.get("schema_version")
    if not isinstance(version, int):
        raise ArtifactError(f"{source}: no integer schema_version; is this a promptc artifact?")
    if version > SCHEMA_VERSION:
        raise ArtifactError(
            f"{source}: schema_version {version} is newer than this promptc supports "
            f"({SCHEMA_VERSION}); upgrade promptc (it was written by promptc "
            f"{data.get('promptc_version', '?')})"
        )
    if version < 1:
        raise ArtifactError(f"{source}: schema_version {version} is not a known version")
    return data


def _check_templates(source: str, spec: PredictorSpec) -> None:
    templates = spec.adapter.templates
    if set(templates) != set(TEMPLATE_NAMES):
        raise ArtifactError(
            f"{source}: predictor {spec.name!r}: templates must be exactly {list(TEMPLATE_NAMES)}, "
            f"got {sorted(templates)}"
        )
    inputs = [f.name for f in spec.signature.inputs]
    for name, text in templates.items():
        try:
            check_template(name, text, inputs)
        except ConfigurationError as exc:
            raise ArtifactError(f"{source}: predictor {spec.name!r}: {exc}") from None


def signature_from_spec(spec: SignatureSpec, instruction: str) -> type[Signature]:
    """Rebuild a signature class from its stored spec."""

    def fields(items: list[FieldSpec], kind: str) -> dict[str, Field]:
        out = {}
        for f in items:
            try:
                out[f.name] = Field(f.name, kind, parse_type(f.type), f.desc)
            except ValueError as exc:
                raise ArtifactError(f"signature {spec.name}: field {f.name!r}: {exc}") from None
        return out

    base = type(spec.name if spec.name.isidentifier() else "Stored", (Signature,), {})
    return derive_signature(
        base,
        instruction=instruction,
        input_fields=fields(spec.inputs, "input"),
        output_fields=fields(spec.outputs, "output"),
    )


def predictor_from_spec(spec: PredictorSpec) -> Predict:
    """A :class:`Predict` that renders and parses exactly as the stored predictor."""
    signature = signature_from_spec(spec.signature, spec.instruction)
    return Predict(signature, demos=spec.demos, adapter=ChatAdapter(dict(spec.adapter.templates)))
