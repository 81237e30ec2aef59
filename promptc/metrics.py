"""Built-in metrics, and resolution of a metric given by name or ``module:function``.

A metric is any callable ``metric(example, prediction) -> float | bool``: ``example`` is the
dataset row (a dict with inputs and gold labels, whose columns also read as attributes:
``example.answer``, as in DSPy), ``prediction`` what the program returned.
The built-ins compare every field of the prediction that the example also has (a field named in
``targets`` may hold a list of accepted answers) and average the scores.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from promptc._imports import import_object
from promptc.exceptions import ConfigurationError

__all__ = [
    "METRICS",
    "Metric",
    "choice_letter_match",
    "contains",
    "exact_match",
    "normalize",
    "numeric_match",
    "resolve_metric",
    "token_f1",
]

Metric = Callable[[Mapping[str, Any], Any], "float | bool"]

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")
_PAREN_LETTER = re.compile(r"\(([A-Za-z])\)")
_BARE_LETTER = re.compile(r"\s*(?:option\s+)?([A-Za-z])\s*[.):]?\s*", re.IGNORECASE)
_LEADING_LETTER = re.compile(r"\s*([A-Za-z])[.)]\s")


def normalize(text: Any) -> str:
    """Lowercase, drop punctuation and articles, squeeze white space (SQuAD-style)."""
    s = str(text).lower()
    s = "".join(ch for ch in s if ch not in string.punctuation)
    s = _ARTICLES.sub(" ", s)
    return " ".join(s.split())


def _pairs(example: Mapping[str, Any], prediction: Any) -> list[tuple[Any, list[Any]]]:
    """(predicted value, accepted gold values) for each field both sides have."""
    if isinstance(prediction, Mapping):
        fields = [k for k in prediction if k in example and k != "reasoning"]
        if not fields:
            raise ValueError(
                f"the prediction's fields {list(prediction)} share none with the example's "
                f"{list(example)}; name the gold field like the output field"
            )
        pairs = [(prediction[k], [example[k]]) for k in fields]
    else:
        gold_key = "target" if "target" in example else None
        if gold_key is None:
            raise ValueError("a non-dict prediction needs a 'target' column in the example")
        pairs = [(prediction, [example[gold_key]])]
    extra = example.get("targets")
    if isinstance(extra, list) and len(pairs) == 1:
        pairs = [(pairs[0][0], [*pairs[0][1], *extra])]
    return pairs


def _average(scores: Iterable[float]) -> float:
    values = list(scores)
    return sum(values) / len(values)


def _metric(compare: Callable[[Any, Any], float]) -> Metric:
    def metric(example: Mapping[str, Any], prediction: Any) -> float:
        return _average(
            max(compare(pred, gold) for gold in golds)
            for pred, golds in _pairs(example, prediction)
        )

    metric.__name__ = compare.__name__.lstrip("_")
    metric.__doc__ = compare.__doc__
    return metric


def _exact_match(pred: Any, gold: Any) -> float:
    """1.0 when the normalized strings are equal."""
    return float(normalize(pred) == normalize(gold))


def _contains(pred: Any, gold: Any) -> float:
    """1.0 when the normalized gold answer appears as whole words in the prediction."""
    g = normalize(gold)
    return float(bool(g) and re.search(rf"(^|\s){re.escape(g)}($|\s)", normalize(pred)) is not None)


def _token_f1(pred: Any, gold: Any) -> float:
    """SQuAD-style token F1 of the normalized strings."""
    p, g = normalize(pred).split(), normalize(gold).split()
    common = sum((Counter(p) & Counter(g)).values())
    if not p or not g or common == 0:
        return float(p == g)
    precision, recall = common / len(p), common / len(g)
    return 2 * precision * recall / (precision + recall)


def _last_number(value: Any) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    found = _NUMBER.findall(str(value))
    return float(found[-1].replace(",", "")) if found else None


def _numeric_match(pred: Any, gold: Any) -> float:
    """1.0 when the last number in the prediction equals the gold number."""
    p, g = _last_number(pred), _last_number(gold)
    return float(p is not None and g is not None and abs(p - g) < 1e-6)


def _letter(value: Any) -> str | None:
    """``(B)`` anywhere, else a reply that is only a letter (``B``, ``option b``), else a reply
    opening with a letter and ``.`` or ``)`` (``B. Paris``); never the "I" of "I think"."""
    text = str(value)
    m = _PAREN_LETTER.search(text) or _BARE_LETTER.fullmatch(text) or _LEADING_LETTER.match(text)
    return m.group(1).upper() if m else None


def _choice_letter_match(pred: Any, gold: Any) -> float:
    """1.0 when the chosen option letter, as in ``(B)`` or ``B.``, equals the gold letter."""
    p, g = _letter(pred), _letter(gold)
    return float(p is not None and p == g)


exact_match = _metric(_exact_match)
contains = _metric(_contains)
token_f1 = _metric(_token_f1)
numeric_match = _metric(_numeric_match)
choice_letter_match = _metric(_choice_letter_match)

METRICS: dict[str, Metric] = {
    "exact_match": exact_match,
    "em": exact_match,
    "contains": contains,
    "token_f1": token_f1,
    "f1": token_f1,
    "numeric_match": numeric_match,
    "choice_letter_match": choice_letter_match,
}


def resolve_metric(spec: str | Metric) -> Metric:
    """A metric from a callable, a built-in name, ``"package.module:function"`` or
    ``"path/to/file.py:function"`` (imported by the same loader as a CLI ``--program``).

    Raises:
        ConfigurationError: the name is unknown, cannot be imported, or is not callable.
    """
    if callable(spec):
        return spec
    if spec in METRICS:
        return METRICS[spec]
    if ":" not in spec:
        raise ConfigurationError(
            f"unknown metric {spec!r}; use one of {sorted(METRICS)}, 'module:function' or "
            "'file.py:function'"
        )
    try:
        obj = import_object(spec, what="metric")
    except ConfigurationError as exc:
        raise ConfigurationError(f"cannot load metric {spec!r}: {exc}") from None
    if not callable(obj):
        raise ConfigurationError(f"metric {spec!r} is not callable")
    return obj  # type: ignore[no-any-return]
