"""A durable log of answered questions, so an interrupted compile never asks a question twice.

One JSON object a line (JSONL)::

    {"key": "sha256:...", "verdict": "A", "inputs": {...}, "a": {...}, "b": {...},
     "time": "2025-01-31T12:00:00Z"}

Each answer is flushed and fsynced before :meth:`FeedbackLog.record` returns, so a hard kill right
after an answer loses nothing. A kill in the middle of a write leaves a torn last line: reading
ignores it with a warning, and the next write replaces it. The file is read as untrusted input:
JSON only, a known set of keys, verdicts checked, each line at most :data:`MAX_LINE_BYTES`.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from promptc.exceptions import ConfigurationError, DataError
from promptc.judges._types import VERDICTS, Feedback, Question, Verdict, check_verdict, swap

__all__ = ["MAX_LINE_BYTES", "FeedbackLog"]

logger = logging.getLogger(__name__)

#: The longest line the log writes or reads (inputs and both outputs of one question, as JSON).
MAX_LINE_BYTES = 4 * 1024 * 1024
_KEYS = frozenset({"key", "verdict", "inputs", "a", "b", "time"})
_APPEND = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)


class FeedbackLog:
    """Answered questions in a JSONL file: look an answer up before asking, record it after.

    Use it around any feedback provider (a function, an LM judge, a :class:`Person`)::

        log = FeedbackLog("answers.jsonl")
        verdict = log.ask(question, person)  # from the log if answered before, else asked

    A question counts as answered when it, or its swapped form (A and B exchanged), is in the
    log. A ``"skip"`` is an answer too: a rerun does not ask again. One process writes a log at
    a time.

    Args:
        path: the JSONL file; created (with its folder) on the first answer.

    Raises:
        DataError: the file exists but a line is malformed (the message names file and line).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._answers: dict[str, tuple[Question, Verdict]] = {}
        self._lock = threading.Lock()
        self._torn_at: int | None = None  # where a torn last line starts; cut before appending
        self._unterminated = False  # the last line lacks its newline; add one before appending
        if self.path.exists():
            self._read()

    def __len__(self) -> int:
        return len(self._answers)

    def __repr__(self) -> str:
        return f"FeedbackLog({str(self.path)!r}, answers={len(self)})"

    def items(self) -> Iterator[tuple[Question, Verdict]]:
        """Each answered question with its verdict, in the order first answered (once each; a
        question recorded again keeps its latest verdict)."""
        yield from list(self._answers.values())

    def lookup(self, question: Question) -> Verdict | None:
        """The recorded verdict on ``question``, read through a swap if the log holds the
        swapped question; ``None`` if neither was answered."""
        found = self._answers.get(question.key())
        if found is not None:
            return found[1]
        found = self._answers.get(question.swapped().key())
        return swap(found[1]) if found is not None else None

    def ask(self, question: Question, feedback: Feedback) -> Verdict:
        """The verdict on ``question``: from the log, or else from ``feedback`` (then recorded).

        Raises:
            ConfigurationError: ``feedback`` answered something other than A, B, tie, skip,
                or the question is too large to record.
        """
        known = self.lookup(question)
        if known is not None:
            return known
        _encode(question, "skip")  # too large to record: fail before asking anyone
        name = getattr(feedback, "__qualname__", type(feedback).__qualname__)
        verdict = check_verdict(feedback(question), source=f"feedback {name}")
        self.record(question, verdict)
        return verdict

    def record(self, question: Question, verdict: Verdict) -> None:
        """Append ``verdict`` on ``question``; durable (fsynced) when this returns.

        Raises:
            ConfigurationError: ``verdict`` is not one of A, B, tie, skip, or the question's
                line would be longer than :data:`MAX_LINE_BYTES`.
        """
        if verdict not in VERDICTS:
            raise ConfigurationError(
                f"cannot record verdict {verdict!r}; expected one of {', '.join(VERDICTS)}"
            )
        line = _encode(question, verdict)
        with self._lock:
            self._append(line)
            self._add(question, verdict)

    def _append(self, line: bytes) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        created = not self.path.exists()
        fd = os.open(self.path, _APPEND, 0o666)
        try:
            if self._torn_at is not None:
                # Drop the torn fragment so the file stays one object a line.
                os.ftruncate(fd, self._torn_at)
                self._torn_at = None
            size = os.fstat(fd).st_size
            try:
                _write_all(fd, b"\n" + line if self._unterminated else line)
                os.fsync(fd)
            except OSError:
                os.ftruncate(fd, size)  # e.g. a full disk: leave no half line behind
                raise
            self._unterminated = False
        finally:
            os.close(fd)
        if created:
            _fsync_dir(self.path.parent)

    def _read(self) -> None:
        offset = 0
        with self.path.open("rb") as fh:
            for number, raw in enumerate(iter(lambda: fh.readline(MAX_LINE_BYTES + 1), b""), 1):
                if len(raw) > MAX_LINE_BYTES:
                    raise DataError(
                        f"{self.path}:{number}: line longer than {MAX_LINE_BYTES} bytes; the log "
                        "writes shorter lines, so the file was not written by promptc"
                    )
                if not raw.endswith(b"\n"):
                    self._read_last(number, raw, offset)
                elif raw.strip():
                    self._add(*_decode(self.path, number, raw))
                offset += len(raw)

    def _read_last(self, number: int, raw: bytes, offset: int) -> None:
        """A last line without its newline: torn by a kill mid-write unless it is whole JSON."""
        if raw.strip() and not _parses(raw):
            logger.warning(
                "%s:%d: ignoring a torn last line (the writer was killed mid-write): %r",
                self.path, number, raw[:200],
            )  # fmt: skip
            self._torn_at = offset
            return
        if raw.strip():
            self._add(*_decode(self.path, number, raw))
        self._unterminated = True

    def _add(self, question: Question, verdict: Verdict) -> None:
        self._answers[question.key()] = (question, verdict)


def _encode(question: Question, verdict: Verdict) -> bytes:
    record = {
        "key": question.key(),
        "verdict": verdict,
        "inputs": question.inputs,
        "a": question.a,
        "b": question.b,
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    line = json.dumps(record, ensure_ascii=False, default=str).encode() + b"\n"
    if len(line) > MAX_LINE_BYTES:
        raise ConfigurationError(
            f"a question of {len(line)} bytes as JSON is too large for the feedback log (at most "
            f"{MAX_LINE_BYTES}); shorten the inputs or outputs"
        )
    return line


def _parses(raw: bytes) -> bool:
    try:
        json.loads(raw)
    except (ValueError, RecursionError):
        return False
    return True


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        keys = [k for k, _ in pairs]
        raise ValueError(f"duplicate key {next(k for k in keys if keys.count(k) > 1)!r}")
    return result


def _decode(path: Path, number: int, raw: bytes) -> tuple[Question, Verdict]:
    where = f"{path}:{number}"
    try:
        record = json.loads(raw.decode("utf-8"), object_pairs_hook=_no_duplicates)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError and JSONDecodeError too
        raise DataError(f"{where}: not a JSON line of the feedback log ({exc})") from None
    if not isinstance(record, dict) or set(record) != _KEYS:
        got = sorted(record) if isinstance(record, dict) else type(record).__name__
        raise DataError(f"{where}: expected an object with keys {sorted(_KEYS)}, got {got}")
    if record["verdict"] not in VERDICTS:
        raise DataError(
            f"{where}: verdict {record['verdict']!r} is not one of {', '.join(VERDICTS)}"
        )
    parts = [record[name] for name in ("inputs", "a", "b")]
    if not all(isinstance(part, dict) for part in parts):
        raise DataError(f"{where}: inputs, a and b must be JSON objects")
    question = Question(*parts)
    if question.key() != record["key"]:
        raise DataError(
            f"{where}: key {str(record['key'])[:80]!r} does not match the question on the line "
            "(edited by hand?); delete the line to ask the question again"
        )
    verdict: Verdict = record["verdict"]
    return question, verdict


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:  # os.write may write less than asked
        view = view[os.write(fd, view) :]


def _fsync_dir(folder: Path) -> None:
    """Make a new file's directory entry durable too (POSIX; a no-op where dirs cannot open)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
