"""The artifact schema: the frozen models a compiled program's YAML file is read into.

:func:`promptc.load` returns a :class:`~promptc.CompiledProgram` whose ``artifact`` is an
:class:`Artifact`; a compile's result carries one too. Every model is frozen and refuses unknown
keys; ``promptc/schema/artifact.schema.json`` is the same schema as JSON Schema::

    Artifact                    schema_version, promptc_version, content_hash, provenance
    ├── program: ProgramSpec    name, entry, modules: list[ModuleSpec] (path, type)
    ├── predictors: list[PredictorSpec]
    │   ├── signature: SignatureSpec    name, inputs / outputs: list[FieldSpec] (name, type, desc)
    │   ├── instruction, demos
    │   ├── adapter: AdapterSpec        kind, templates (system, user, assistant)
    │   └── lm: LMSettings | None       model, temperature, max_tokens, params (sampling only)
    └── signature: ArtifactSignature | None   algorithm, key_id, value (``promptc sign``)

Functions: :func:`artifact_from_program` (freeze a program), :func:`dump_artifact` (YAML text),
:func:`save_artifact` (an atomic write), :func:`load_artifact` / :func:`parse_artifact` (read a
file or text: size-capped, plain-data YAML, the hash checked, templates checked).
"""

from promptc._artifact.artifact import (
    SCHEMA_VERSION,
    AdapterSpec,
    Artifact,
    ArtifactSignature,
    FieldSpec,
    KeySource,
    LMSettings,
    ModuleSpec,
    PredictorSpec,
    ProgramSpec,
    SignatureSpec,
    artifact_from_program,
    dump_artifact,
    load_artifact,
    parse_artifact,
    save_artifact,
)

__all__ = [
    "SCHEMA_VERSION",
    "AdapterSpec",
    "Artifact",
    "ArtifactSignature",
    "FieldSpec",
    "KeySource",
    "LMSettings",
    "ModuleSpec",
    "PredictorSpec",
    "ProgramSpec",
    "SignatureSpec",
    "artifact_from_program",
    "dump_artifact",
    "load_artifact",
    "parse_artifact",
    "save_artifact",
]
