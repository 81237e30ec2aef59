"""Frozen prompt artifacts: one YAML file per compiled program.

An artifact carries everything needed to render and parse each prompt exactly as compiled —
signature, instruction, ordered demos, the Jinja2 templates, LM settings — plus compile
provenance, a content hash over everything that changes behaviour (it catches accidental edits;
it is no tamper evidence, anyone can recompute it) and optionally an Ed25519 signature (which is:
see ``promptc._artifact.signing``).
Reading is safe with untrusted files: size-capped, plain-data YAML
(``promptc._artifact.loader``), a frozen extra-forbidding schema, LM settings limited to sampling
parameters, and templates limited to promptc's template language (``promptc._program.templates``),
checked on their parsed AST before anything is compiled or rendered.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

import pydantic
import yaml
from pydantic import JsonValue

from promptc._artifact.loader import Dumper, Loader
from promptc._artifact.provenance import Provenance
from promptc._files import write_atomic
from promptc._lm.backend import SAMPLING_PARAMS
from promptc._lm.sampling import MAX_MODEL_CHARS, MODEL_PATTERN, check_model, check_params
from promptc._program.adapter import ChatAdapter
from promptc._program.module import Module, Predict
from promptc._program.signature import Field, Signature, derive_signature
from promptc._program.templates import TEMPLATE_NAMES, check_template
from promptc._program.types import parse_type
from promptc.exceptions import ArtifactError, ConfigurationError, SignatureError

__all__ = [
    "SCHEMA_VERSION",
    "Artifact",
    "ArtifactSignature",
    "KeySource",
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
    model_config = pydantic.ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


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
    templates: dict[str, str] = pydantic.Field(
        description=(
            "Jinja2 sources of the 'system', 'user' and 'assistant' turns, limited to promptc's "
            "template language (checked on the parsed AST at load, never compiled first): print "
            "{{ instruction }} (system), an input field's name (user), {{ f.name }}-style keys "
            "of the loop variable (name, type, desc, hint of input_fields/output_fields; name, "
            "value of fields) and loop.first/last/index/index0/length; {% for f in LIST %} over "
            "input_fields, output_fields (system) or fields, output_fields (user), fields "
            "(assistant), not nested; {% if %}/elif/else with not, and, or, ==, != against short "
            "constants; the filters capitalize, lower, title, trim, upper without arguments. "
            "Anything else is refused."
        )
    )


_SAMPLING_NAMES: list[JsonValue] = [*sorted(SAMPLING_PARAMS)]


class LMSettings(_Strict):
    """Sampling settings: nothing that routes a request or carries a credential."""

    model: str = pydantic.Field(
        max_length=MAX_MODEL_CHARS, json_schema_extra={"pattern": f"^{MODEL_PATTERN}$"}
    )
    temperature: float = pydantic.Field(ge=0.0, le=2.0)
    max_tokens: int = pydantic.Field(ge=1, le=1_000_000)
    params: dict[str, Any] = pydantic.Field(
        default={},
        description="Sampling parameters only: " + ", ".join(sorted(SAMPLING_PARAMS)),
        json_schema_extra={"propertyNames": {"enum": _SAMPLING_NAMES}},
    )

    @pydantic.field_validator("model")
    @classmethod
    def _model_name(cls, value: str) -> str:
        check_model(value)
        return value

    @pydantic.field_validator("params")
    @classmethod
    def _sampling_only(cls, value: dict[str, Any]) -> dict[str, Any]:
        check_params(value)
        return value


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


class ArtifactSignature(_Strict):
    """An Ed25519 signature over the canonical JSON of everything else in the artifact."""

    algorithm: Literal["ed25519"]
    key_id: str = pydantic.Field(
        pattern="^[0-9a-f]{16}$",
        description="The first 16 hex digits of the sha256 of the raw public key.",
    )
    value: str = pydantic.Field(
        pattern="^[A-Za-z0-9+/]{86}==$", description="The 64-byte signature, base64."
    )


#: A public key to verify with: a PEM file's path, or the PEM text itself (``str`` or ``bytes``).
KeySource = str | Path | bytes


class Artifact(_Strict):
    """A compiled program, as stored in YAML (see ``promptc/schema/artifact.schema.json``)."""

    schema_version: int
    promptc_version: str
    program: ProgramSpec
    predictors: list[PredictorSpec] = pydantic.Field(min_length=1)
    provenance: Provenance = pydantic.Field(
        default=Provenance(),
        description=(
            "How the artifact was compiled (optimizer, seed, data hashes, scores with the paired "
            "gain, spend, trials, hand edits); outside the content hash, covered by a signature."
        ),
    )
    content_hash: str = pydantic.Field(
        default="",
        description=(
            "Unkeyed sha256 of the behaviour (schema version, program, predictors): it catches "
            "accidental edits, not tampering (anyone can recompute it); use `signature` for that."
        ),
    )
    signature: ArtifactSignature | None = pydantic.Field(
        default=None,
        description="Tamper evidence: `promptc sign`, checked by `promptc.load(path, verify=KEY)`.",
    )

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


def _first_error(exc: pydantic.ValidationError) -> str:
    """``where: what`` of a validation error's first problem, for a one-line message."""
    first = exc.errors()[0]
    return f"{'.'.join(str(x) for x in first['loc'])}: {first['msg']}"


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
        lm=_lm_settings(name, own) if own else None,
    )


def _lm_settings(predictor: str, settings: dict[str, Any]) -> LMSettings:
    # Defensive: whatever an LM hands over, nothing but sampling settings is ever written.
    try:
        return LMSettings(**settings)
    except pydantic.ValidationError as exc:
        raise ConfigurationError(
            f"predictor {predictor!r}: LM settings refused, nothing written: {_first_error(exc)}"
        ) from None


def artifact_from_program(
    program: Module,
    *,
    name: str,
    entry: str | None = None,
    lm_settings: dict[str, Any] | None = None,
    provenance: Provenance | None = None,
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
        provenance=provenance or Provenance(),
    )
    return art.model_copy(update={"content_hash": art.compute_hash()})


def dump_artifact(artifact: Artifact) -> str:
    """The artifact as YAML text: stable key order, block strings, one demo per block."""
    data = artifact.model_dump(mode="json")
    if data["signature"] is None:
        del data["signature"]
    return yaml.dump(
        data,
        Dumper=Dumper,
        sort_keys=False,
        allow_unicode=True,
        width=100,
        default_flow_style=False,
    )


def save_artifact(artifact: Artifact, path: str | Path) -> Path:
    """Write atomically: a crash mid-save leaves the old file (or none), never half a file."""
    return write_atomic(Path(path), dump_artifact(artifact).encode("utf-8"))


def load_artifact(
    path: str | Path, *, verify_hash: bool = True, verify: KeySource | None = None
) -> Artifact:
    """Read and validate an artifact file.

    Args:
        path: the YAML file.
        verify_hash: check the content hash (an accidental-edit check, not tamper evidence).
        verify: a public key (PEM path or text): the artifact must carry a valid signature by
            it (needs ``pip install 'promptc[sign]'``).

    Raises:
        ArtifactError: the file is missing, too large, not YAML, not an artifact, from a newer
            promptc, edited after compiling (hash mismatch), not signed by ``verify``, or
            carries unsafe templates or LM settings.
    """
    p = Path(path)
    if not p.exists():
        raise ArtifactError(f"artifact {p} does not exist")
    if not p.is_file():
        raise ArtifactError(f"artifact {p} is not a regular file (a directory, device or pipe)")
    size = p.stat().st_size
    if size > MAX_ARTIFACT_BYTES:
        raise ArtifactError(f"artifact {p} is {size} bytes; the limit is {MAX_ARTIFACT_BYTES}")
    with p.open("rb") as fh:  # at most one byte past the limit, should the file grow meanwhile
        text = fh.read(MAX_ARTIFACT_BYTES + 1)
    return parse_artifact(text, source=str(p), verify_hash=verify_hash, verify=verify)


def parse_artifact(
    text: bytes | str,
    *,
    source: str = "<artifact>",
    verify_hash: bool = True,
    verify: KeySource | None = None,
) -> Artifact:
    """Validate artifact text (see :func:`load_artifact`)."""
    if len(text) > MAX_ARTIFACT_BYTES:
        raise ArtifactError(f"{source}: {len(text)} bytes; the limit is {MAX_ARTIFACT_BYTES}")
    try:
        return _parse(text, source, verify_hash, verify)
    except RecursionError:  # deep YAML, or a type such as list[list[...]] nested thousands deep
        raise ArtifactError(f"{source}: nested too deeply to be an artifact") from None
    except UnicodeError:  # e.g. the escape "\ud800" (a lone surrogate) in a double-quoted string
        raise ArtifactError(
            f"{source}: holds text that is not valid Unicode (a lone surrogate such as "
            '"\\ud800"); artifact text must be encodable as UTF-8'
        ) from None


def _parse(text: bytes | str, source: str, verify_hash: bool, verify: KeySource | None) -> Artifact:
    art = _validate(_read_yaml(text, source), source)
    if verify is not None:
        from promptc._artifact.signing import verify_signature

        verify_signature(art, verify, source=source)
    if verify_hash and art.content_hash != art.compute_hash():
        raise ArtifactError(
            f"{source}: content hash mismatch (file says {art.content_hash or 'nothing'}, content "
            f"is {art.compute_hash()}): the file was edited after compiling (the hash catches "
            "accidental edits; it is no tamper evidence: sign artifacts for that). Restore the "
            f"compiled file, compile again, or after reviewing the edit: promptc rehash {source}"
        )
    for spec in art.predictors:
        _check_templates(source, spec)
        try:
            signature_from_spec(spec.signature, spec.instruction)
        except (ArtifactError, SignatureError) as exc:
            raise ArtifactError(f"{source}: predictor {spec.name!r}: {exc}") from None
    return art


def _read_yaml(text: bytes | str, source: str) -> dict[str, Any]:
    try:
        data = yaml.load(text, Loader=Loader)
    except ArtifactError as exc:
        raise ArtifactError(f"{source}: {exc}") from None
    except yaml.YAMLError as exc:
        raise ArtifactError(f"{source}: not valid YAML ({str(exc).splitlines()[0]})") from None
    except ValueError as exc:  # e.g. a number Python will not convert
        raise ArtifactError(f"{source}: not valid artifact YAML ({exc})") from None
    if not isinstance(data, dict):
        raise ArtifactError(f"{source}: expected a YAML mapping, got {type(data).__name__}")
    return data


def _validate(data: dict[str, Any], source: str) -> Artifact:
    data = _migrate(data, source)
    try:
        return Artifact.model_validate(data)
    except pydantic.ValidationError as exc:
        raise ArtifactError(
            f"{source}: not a valid artifact: {_first_error(exc)} ({exc.error_count()} problem(s))"
        ) from None


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

    names = [f.name for f in (*spec.inputs, *spec.outputs)]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:  # a dict would keep one silently; a reviewer reading the file sees both
        raise ArtifactError(f"signature {spec.name}: field {twice[0]!r} is declared twice")

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
