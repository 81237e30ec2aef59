"""Datasets: rows of field values read from JSONL or CSV, with errors that name the line."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import random
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from promptc._program.types import format_value, parse_value, type_name
from promptc.exceptions import ConfigurationError, DataError

__all__ = [
    "DataError",
    "Row",
    "check_labels",
    "data_hash",
    "load_dataset",
    "split_dataset",
    "split_train_val",
    "validation_size",
]

Example = dict[str, Any]


class Row(dict[str, Any]):
    """A dataset row as a metric receives it: ``row["answer"]`` or ``row.answer``.

    A plain dict with attribute access to its columns, so a metric written for DSPy
    (``metric(example, pred, trace=None)`` reading ``example.answer``) runs unchanged.
    """

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"the row has no column {name!r}; it has {list(self)}") from None


def load_dataset(path: str | Path, *, limit: int | None = None) -> list[Example]:
    """Read a ``.jsonl`` (one JSON object per line) or ``.csv`` (with a header row) file.

    Args:
        path: the file.
        limit: keep only the first ``limit`` rows (at least 1).

    Raises:
        DataError: the file is missing, empty, of an unknown kind, or has a broken line
            (the message gives the line number and what was wrong).
        ConfigurationError: ``limit`` is below 1.
    """
    if limit is not None and limit < 1:
        raise ConfigurationError(f"limit must be a positive number of rows, got {limit}")
    p = Path(path)
    if not p.is_file():
        raise DataError(f"dataset {p} does not exist")
    suffix = p.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        rows = _read_jsonl(p)
    elif suffix == ".csv":
        rows = _read_csv(p)
    else:
        raise DataError(f"dataset {p}: expected a .jsonl or .csv file, got {suffix or 'no suffix'}")
    if not rows:
        raise DataError(f"dataset {p} has no rows")
    return rows[:limit] if limit is not None else rows


def _decode(path: Path, number: int, raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(
            f"{path}:{number}: not UTF-8 (byte {raw[exc.start]:#04x} at column {exc.start + 1}); "
            "save the file as UTF-8"
        ) from None


def _read_jsonl(path: Path) -> list[Example]:
    rows: list[Example] = []
    with path.open("rb") as fh:
        for number, raw in enumerate(fh, start=1):
            line = _decode(path, number, raw)
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}:{number}: not valid JSON ({exc.msg})") from None
            except RecursionError:
                raise DataError(f"{path}:{number}: JSON nested too deeply to be a row") from None
            except ValueError as exc:  # e.g. an integer past the 4300-digit conversion limit
                raise DataError(f"{path}:{number}: JSON Python cannot read ({exc})") from None
            if not isinstance(row, dict):
                raise DataError(
                    f"{path}:{number}: expected a JSON object, got {type(row).__name__}"
                )
            rows.append(row)
    return rows


def _read_csv(path: Path) -> list[Example]:
    raw = path.read_bytes()
    for number, line in enumerate(raw.splitlines(keepends=True), start=1):
        _decode(path, number, line)
    reader = csv.DictReader(io.StringIO(raw.decode("utf-8"), newline=""))
    rows = []
    try:
        for row in reader:
            if None in row:
                raise DataError(f"{path}:{reader.line_num}: more values than header columns")
            if None in row.values():
                raise DataError(f"{path}:{reader.line_num}: fewer values than header columns")
            rows.append(dict(row))
    except csv.Error as exc:
        raise DataError(f"{path}:{reader.line_num}: not valid CSV ({exc})") from None
    return rows


def data_hash(rows: Sequence[Example]) -> str:
    """A sha256 over the rows' canonical JSON (order matters)."""
    digest = hashlib.sha256()
    for row in rows:
        digest.update(json.dumps(row, sort_keys=True, ensure_ascii=False, default=str).encode())
        digest.update(b"\n")
    return "sha256:" + digest.hexdigest()


def split_dataset(
    rows: Sequence[Example], fractions: Sequence[float], *, seed: int
) -> list[list[Example]]:
    """Shuffle ``rows`` with ``seed`` and cut them into parts of the given fractions."""
    if not all(math.isfinite(f) and f > 0 for f in fractions) or abs(sum(fractions) - 1) > 1e-9:
        raise ConfigurationError(f"split fractions must be positive and sum to 1, got {fractions}")
    order = list(rows)
    random.Random(seed).shuffle(order)
    parts, start = [], 0
    for i, frac in enumerate(fractions):
        end = len(order) if i == len(fractions) - 1 else start + round(frac * len(order))
        parts.append(order[start:end])
        start = end
    return parts


def check_labels(rows: Sequence[Mapping[str, Any]], fields: Mapping[str, Any]) -> None:
    """Refuse training rows whose output values are not valid for their fields' types.

    A training row becomes a demo: its output values are shown as the model's reply, written as
    :func:`~promptc._program.types.format_value` writes them.
    A value that reply parsing would refuse
    (``"a, b"`` for a ``list[str]``, ``"maybe"`` for a ``Literal['yes', 'no']``) would teach the
    model a format its own answers are then refused for.

    Args:
        rows: the training rows.
        fields: output field name -> type, over every predictor of the program.

    Raises:
        ConfigurationError: naming the first bad row and field, what was expected and what was
            got, and how many other values are bad.
    """
    bad = [
        (i, name, tp, problem)
        for i, row in enumerate(rows)
        for name, tp in fields.items()
        if name in row and (problem := _label_problem(row[name], tp))
    ]
    if not bad:
        return
    i, name, tp, problem = bad[0]
    more = f" ({len(bad) - 1} more bad value(s) in other rows or fields)" if len(bad) > 1 else ""
    raise ConfigurationError(
        f"trainset[{i}] field {name!r} is not a valid {type_name(tp)}: {problem}{more}. A "
        "training row is shown to the model as an example answer, so its value must be one the "
        "model may reply: fix the row's value, or drop the row"
    )


def _label_problem(value: Any, tp: Any) -> str | None:
    try:
        parse_value(format_value(value), tp)
    except (ValueError, TypeError) as exc:  # TypeError: a value pydantic cannot write as JSON
        return str(exc)
    return None


#: Validation rows a compile sizes for itself at most: 200 rows put a 95% interval of about
#: +-0.07 around an accuracy, so more would buy the choice little for its cost.
MAX_VAL_ROWS = 200


def validation_size(rows: int, budget: int | None, per_row: int = 1) -> int:
    """How many of ``rows`` labelled rows to score candidates on when no valset is given.

    As many as the data and the budget allow, since a winner chosen on few rows is chosen
    partly for its luck on them (the winner's curse: issue 16 saw a winner at 0.75 on 16
    validation rows score 0.38 on new ones): the demo pool keeps a third of the rows (at least
    8, or half of fewer than 16), validation takes the rest, at most :data:`MAX_VAL_ROWS`, and,
    under a ``budget`` of LM requests, at most a fifth of what the budget pays for
    (``per_row`` requests a row: the program's predictors), so that the uncompiled program and
    at least four candidates can be scored on every validation row. At least 2.
    """
    keep = max(rows // 3, min(8, rows // 2))
    size = min(rows - keep, MAX_VAL_ROWS)
    if budget is not None:
        size = min(size, budget // (5 * max(1, per_row)))
    return max(2, size)


def split_train_val(
    trainset: Sequence[Mapping[str, Any]],
    valset: Sequence[Mapping[str, Any]] | None,
    seed: int,
    *,
    val_rows: int | None = None,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Training and validation rows: ``valset`` as given, else ``val_rows`` rows of
    ``trainset`` (default: half of them) drawn with ``seed``, the rest for training."""
    rows = [dict(r) for r in trainset]
    if valset is not None:
        train, val = rows, [dict(r) for r in valset]
    elif len(rows) < 4:
        raise ConfigurationError(
            f"trainset has {len(rows)} rows; give at least 4, or a separate valset"
        )
    elif val_rows is None:
        train, val = split_dataset(rows, [0.5, 0.5], seed=seed)
    else:
        kept = 1 - min(max(1, val_rows), len(rows) - 1) / len(rows)
        train, val = split_dataset(rows, [kept, 1 - kept], seed=seed)
    if not train or not val:
        raise ConfigurationError("trainset and valset must both be non-empty")
    return train, val
