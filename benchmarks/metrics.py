"""Which metric a benchmark task is scored with, and the metric promptc does not ship.

:func:`task_metric` picks a metric name from the data root's ``manifest.json`` (or, for a task
it does not list, from SOURCES.md's documented choices and the task's group); :func:`metric_for`
turns the name into the callable. ``exact_set`` is instruction induction's set match.
"""

from __future__ import annotations

import json
import string
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from promptc.metrics import Metric, resolve_metric

__all__ = ["exact_set", "metric_for", "task_metric"]
#: Metrics of the instruction-induction tasks that are not ``em``, as SOURCES.md documents them;
#: used only for a task that manifest.json does not list.
_DOCUMENTED_METRICS = {
    "common_concept": "f1",
    "informal_to_formal": "f1",
    "orthography_starts_with": "es",
    "taxonomy_animal": "es",
    "synonyms": "contains",
}
#: Manifest metric codes -> metric names understood by :func:`metric_for`.
_METRIC_NAMES = {
    "em": "exact_match",
    "f1": "token_f1",
    "contains": "contains",
    "es": "exact_set",
}
_GROUP_METRICS = {"gsm8k": "numeric_match", "hotpotqa": "exact_match"}


def _manifest_entry(root: Path | None, name: str) -> dict[str, Any]:
    if root is None or not (root / "manifest.json").is_file():
        return {}
    manifest = json.loads((root / "manifest.json").read_text(encoding="utf-8"))
    node: Any = manifest
    for part in name.split("/"):
        node = node.get(part) if isinstance(node, dict) else None
    return node if isinstance(node, dict) else {}


def task_metric(name: str, rows: Sequence[Mapping[str, Any]], root: Path | None = None) -> str:
    """The metric name of task ``name`` (``group/task``).

    In order: the ``metric`` manifest.json gives the task (``em`` -> ``exact_match``, ``f1`` ->
    ``token_f1``, ``contains``, ``es`` -> ``exact_set``); for ``bbh``, ``choice_letter_match``
    when the task is multiple-choice (manifest ``type``, or rows with ``options``), else
    ``exact_match``; ``numeric_match`` for ``gsm8k``; the instruction-induction metrics that
    SOURCES.md documents; else ``exact_match``.

    BBH caveat: a multiple-choice task whose gold answer is free text (2 rows of ruin_names,
    1 of movie_recommendation) scores 0 there under ``choice_letter_match``.
    """
    group, _, leaf = name.partition("/")
    entry = _manifest_entry(root, name)
    code = entry.get("metric")
    if code is None and group == "instruction_induction":
        code = _DOCUMENTED_METRICS.get(leaf, "em")
    if code is not None:
        if code not in _METRIC_NAMES:
            raise ValueError(f"{name}: unknown metric {code!r}; known: {sorted(_METRIC_NAMES)}")
        return _METRIC_NAMES[code]
    if group == "bbh":
        multiple_choice = entry.get("type") == "multiple_choice" or any(
            "options" in r for r in rows
        )
        return "choice_letter_match" if multiple_choice else "exact_match"
    return _GROUP_METRICS.get(group, "exact_match")


_II_PUNCTUATION = str.maketrans("", "", string.punctuation)


def _ii_tokens(text: Any) -> set[str]:
    """Instruction-induction normalisation (SOURCES.md), as a set of tokens."""
    s = str(text).replace(" and ", " ").replace("Sentence 1:", " ").replace("Sentence 2:", " ")
    s = s.strip().split("\n")[0].split(".")[0].lower().replace("-", " ")
    return set(s.translate(_II_PUNCTUATION).split())


def exact_set(example: Mapping[str, Any], prediction: Any) -> float:
    """1.0 when the prediction's token set equals the token set of ``target`` or of any answer
    in ``targets``, after the instruction-induction normalisation (``es`` in SOURCES.md: drop
    ``' and '`` and ``Sentence 1:``/``Sentence 2:``, keep the first line up to the first ``.``,
    lowercase, ``-`` to a space, strip punctuation). So ``"dog, cat"`` matches ``"cat and dog"``.

    ``prediction`` is the program's output (its ``target`` field) or a plain string.
    """
    if isinstance(prediction, Mapping):
        if "target" not in prediction:
            raise ValueError(f"exact_set needs a 'target' output field, got {list(prediction)}")
        prediction = prediction["target"]
    golds = [example["target"], *(example.get("targets") or [])]
    predicted = _ii_tokens(prediction)
    return float(any(predicted == _ii_tokens(gold) for gold in golds))


_LOCAL_METRICS: dict[str, Metric] = {"exact_set": exact_set}


def metric_for(name: str) -> Metric:
    """The metric callable for a metric name of :func:`task_metric` (or any promptc metric)."""
    return _LOCAL_METRICS.get(name) or resolve_metric(name)
