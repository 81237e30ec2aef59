"""Answer JSON inputs one line at a time, as ``promptc run --jsonl`` does.

Each line is answered as soon as it arrives, and the answer is written and flushed before the next
line is read, so a pipe can feed a long-running ``promptc run`` and read replies as they come. A
line that cannot be answered (not UTF-8, not JSON, not an object, wrong fields, an LM or parse
error) gets an error object naming its line number, and the stream goes on. An error every
further line would meet too (no usable LM, a model that is not installed) stops the stream.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, TextIO

from promptc._compile.evaluate import program_inputs
from promptc.exceptions import LMConfigurationError, ModelNotAvailableError

if TYPE_CHECKING:
    from promptc._artifact.runtime import CompiledProgram

__all__ = ["LineAnswerer", "LineError", "parse_line"]


class LineError(ValueError):
    """One line cannot be read as inputs."""


class LineAnswerer:
    """Writes a compiled program's answers, one JSON line per input, to ``out``.

    Args:
        compiled: the loaded artifact (bound onto its program when it has several predictors).
        out: where answers and error objects go, one JSON object per line.
    """

    def __init__(self, compiled: CompiledProgram, out: TextIO) -> None:
        self.compiled = compiled
        self.out = out
        self.required, self.optional = program_inputs(compiled._target())

    def answer_lines(self, lines: Iterable[tuple[int, bytes]]) -> int:
        """Answer each ``(line number, raw line)`` as it comes; blank lines are skipped.

        Returns:
            How many lines failed.
        """
        failed = 0
        for number, raw in lines:
            if not raw.strip():
                continue
            try:
                values = parse_line(raw)
            except LineError as exc:
                self._write({"line": number, "error": str(exc)})
                failed += 1
                continue
            failed += not self.answer(values, line=number)
        return failed

    def answer(self, values: dict[str, Any], *, line: int | None = None) -> bool:
        """Write the answer to one input, or an error object; return whether it was answered.

        Raises:
            LMConfigurationError: the LM cannot be called at all.
            ModelNotAvailableError: the embedded model is not installed.
        """
        where = {} if line is None else {"line": line}
        wrong = self._wrong_fields(values)
        if wrong:
            self._write({**where, "error": wrong})
            return False
        try:
            result = self.compiled(**values)
        except (LMConfigurationError, ModelNotAvailableError):
            raise
        except Exception as exc:  # one bad input: report it and go on, as evaluate does
            self._write({**where, "error": f"{type(exc).__name__}: {exc}"})
            return False
        self._write(result.to_dict() if hasattr(result, "to_dict") else result)
        return True

    def _wrong_fields(self, values: dict[str, Any]) -> str | None:
        known = self.required + self.optional
        missing = [f for f in self.required if f not in values]
        unknown = [f for f in values if f not in known]
        if not missing and not unknown:
            return None
        parts = [f"{k} {v}" for k, v in (("missing", missing), ("unknown", unknown)) if v]
        return f"wrong input fields: {', '.join(parts)}; expected {known}"

    def _write(self, value: Any) -> None:
        self.out.write(json.dumps(value, ensure_ascii=False, default=str) + "\n")
        self.out.flush()


def parse_line(raw: bytes) -> dict[str, Any]:
    """One line of input as a dict of field values.

    Raises:
        LineError: the line is not UTF-8, not JSON, or not a JSON object.
    """
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise LineError("not UTF-8 text") from None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise LineError(
            f'not valid JSON ({exc.msg}); give an object: {{"field": "value"}}'
        ) from None
    except RecursionError:
        raise LineError("JSON nested too deeply to be a row of input fields") from None
    except ValueError as exc:  # e.g. an integer past Python's 4300-digit conversion limit
        raise LineError(f"JSON Python cannot read ({exc})") from None
    if not isinstance(value, dict):
        raise LineError(f"expected a JSON object of input fields, got {type(value).__name__}")
    return value
