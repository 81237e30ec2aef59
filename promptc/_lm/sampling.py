"""What an artifact's LM settings may say: a model's name and sampling parameters, nothing else.

Nothing that routes a request or carries a credential (``api_base``, ``api_key``, headers, ...)
may come from an artifact: those are given where the program runs. The same checks run when an
artifact is written (nothing else is ever saved) and when one is loaded.
"""

from __future__ import annotations

import re
from typing import Any

from promptc._lm.backend import SAMPLING_PARAMS

__all__ = ["MAX_MODEL_CHARS", "MODEL_PATTERN", "check_model", "check_params"]

MAX_MODEL_CHARS = 200
MAX_PARAM_CHARS = 256  # a string parameter value, e.g. one stop sequence
MAX_PARAM_ITEMS = 64  # a list or dict parameter value, e.g. stop sequences or a logit bias
# A model string names a model: no scheme, host, path tricks, whitespace or control characters.
MODEL_PATTERN = r"[A-Za-z0-9_][A-Za-z0-9_.:/@+-]*"
_MODEL = re.compile(MODEL_PATTERN)


def check_model(model: str) -> None:
    """Refuse a model string that could carry a URL or anything but a model's name.

    Raises:
        ValueError: saying what is wrong and what a model string looks like.
    """
    shown = repr(model[:60]) + ("..." if len(model) > 60 else "")
    if len(model) > MAX_MODEL_CHARS:
        problem = f"is {len(model)} characters (the limit is {MAX_MODEL_CHARS})"
    elif not _MODEL.fullmatch(model):
        problem = "has characters beyond letters, digits and _ . : / @ + - (or is empty)"
    elif "//" in model or ".." in model:
        problem = "contains '//' or '..' (a URL or a path, not a model name)"
    else:
        return
    raise ValueError(
        f"model {shown} {problem}; a model string names a model, e.g. 'openai/gpt-4o-mini'; "
        "endpoints are given where the program runs, never stored"
    )


def _scalar(value: Any) -> bool:
    if isinstance(value, str):
        return len(value) <= MAX_PARAM_CHARS
    if isinstance(value, int) and not isinstance(value, bool):
        return abs(value) < 2**63
    return value is None or isinstance(value, (bool, float))


def _short(value: Any) -> bool:
    if isinstance(value, list):
        return len(value) <= MAX_PARAM_ITEMS and all(_scalar(v) for v in value)
    if isinstance(value, dict):
        return len(value) <= MAX_PARAM_ITEMS and all(
            _scalar(k) and _scalar(v) for k, v in value.items()
        )
    return _scalar(value)


def check_params(params: dict[str, Any]) -> None:
    """Refuse LM parameters beyond the sampling settings, or values beyond short plain data.

    Raises:
        ValueError: naming the key, and listing what is allowed.
    """
    for key, value in params.items():
        if key not in SAMPLING_PARAMS:
            raise ValueError(
                f"LM parameter {key!r} is not allowed; an artifact's LM settings carry only "
                f"sampling parameters: {sorted(SAMPLING_PARAMS)} (endpoints, keys and headers "
                "are given where the program runs, never stored)"
            )
        if not _short(value):
            raise ValueError(
                f"LM parameter {key!r}: the value is not short plain data (a number, a bool, a "
                f"string of at most {MAX_PARAM_CHARS} characters, or a list or dict of at most "
                f"{MAX_PARAM_ITEMS} of those)"
            )
