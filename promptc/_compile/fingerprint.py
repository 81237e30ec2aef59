"""What a compile's trial scores mean: the program, its data, metric and LM, fingerprinted.

Stored trials (a TPE study in shared storage) are per-row scores of a candidate; they can be
reused only by a compile whose fingerprint is the same. Each part is readable or a short hash, so
a mismatch can be shown part by part.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from promptc._compile.board import prompt_identity
from promptc._compile.data import data_hash

if TYPE_CHECKING:
    from promptc._program.module import Params, Predict

__all__ = ["Fingerprint"]


def _signature(name: str, predictor: Predict) -> str:
    sig = predictor.signature
    ins = ", ".join(f"{n}: {f.type_name}" for n, f in sig.input_fields.items())
    outs = ", ".join(f"{n}: {f.type_name}" for n, f in sig.output_fields.items())
    return f"{name}({ins} -> {outs})"


def _short(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Fingerprint:
    """What the scores of a compile's trials mean.

    Attributes:
        program: each predictor's name and signature, e.g. ``self(word: str -> label: int)``.
        prompts: a hash of the program's current instructions, demos and prompt formats.
        train: a hash of the training rows (demos are drawn from them).
        val: a hash of the validation rows (trials are scored on them).
        metric: the metric's name.
        lm: the LM's model and sampling settings, as JSON.
    """

    program: str
    prompts: str
    train: str
    val: str
    metric: str
    lm: str

    @classmethod
    def of(
        cls,
        predictors: Mapping[str, Predict],
        base: Mapping[str, Params],
        train: Sequence[dict[str, Any]],
        val: Sequence[dict[str, Any]],
        metric: object,
        lm_settings: Mapping[str, Any],
    ) -> Fingerprint:
        """The fingerprint of a compile of ``predictors`` (currently set to ``base``)."""
        prompts = {n: prompt_identity(p) for n, p in sorted(base.items())}
        return cls(
            program="; ".join(_signature(n, p) for n, p in sorted(predictors.items())),
            prompts=_short(json.dumps(prompts, sort_keys=True, default=str)),
            train=data_hash(train)[:23],
            val=data_hash(val)[:23],
            metric=str(getattr(metric, "__name__", type(metric).__name__)),
            lm=json.dumps(dict(lm_settings), sort_keys=True, default=str),
        )

    def to_dict(self) -> dict[str, str]:
        """The parts by name (to store with a study)."""
        return asdict(self)
