"""What every ``promptc`` command shares: exit codes, the user-facing error, safe output, the
options several commands take, and the LM and rows they build from them.

Exit codes: 0 success; 1 a difference (``diff``), failed examples (``eval --strict``) or
failed input lines (``run``); 2 bad usage or input (arguments, files, datasets, programs);
3 an invalid artifact; 4 an LM failure (transport, budget); 130 interrupted.
"""

from __future__ import annotations

import argparse
import re
import sys
from typing import Any

from promptc._compile.data import load_dataset
from promptc._lm.lm import LM, default_lm

__all__ = [
    "EXIT_ARTIFACT",
    "EXIT_DIFF",
    "EXIT_INTERRUPTED",
    "EXIT_LM",
    "EXIT_OK",
    "EXIT_USAGE",
    "CLIError",
    "add_api_base",
    "add_common",
    "build_lm",
    "note",
    "positive",
    "read_rows",
    "terminal_safe",
]

EXIT_OK, EXIT_DIFF, EXIT_USAGE, EXIT_ARTIFACT, EXIT_LM, EXIT_INTERRUPTED = 0, 1, 2, 3, 4, 130


class CLIError(Exception):
    """A user-facing failure: one line, a hint, an exit code."""

    def __init__(self, message: str, hint: str = "", code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.hint = hint
        self.code = code


# Control characters other than newline and tab (C0, DEL, C1, line/paragraph separators): an
# artifact's text could carry terminal escape sequences, shown escaped instead of obeyed.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")


def terminal_safe(text: str) -> str:
    """``text`` with control characters written as escapes (``\\x1b``), so printing text that
    came from an artifact or a model cannot move the cursor, recolour or retitle a terminal."""
    return _CONTROL.sub(lambda m: repr(m.group(0))[1:-1], text)


def note(text: str) -> None:
    """One ``promptc: ...`` line on stderr (what the command chose, not its result)."""
    print(f"promptc: {terminal_safe(text)}", file=sys.stderr, flush=True)


def positive(text: str) -> int:
    """An argparse type: an integer of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {value}")
    return value


def add_api_base(p: argparse.ArgumentParser) -> None:
    """``--api-base``: where ``openai/<name>`` models are served."""
    p.add_argument(
        "--api-base",
        metavar="URL",
        help="base URL of an OpenAI-compatible endpoint for openai/<name> models, e.g. "
        "http://localhost:8000/v1 (default: $OPENAI_BASE_URL); the key is read from "
        "$OPENAI_API_KEY only",
    )


def add_common(p: argparse.ArgumentParser) -> None:
    """The LM and dataset options of the commands that run a program over rows."""
    p.add_argument("--model", help="LM model string (default: $PROMPTC_MODEL or local)")
    add_api_base(p)
    p.add_argument("--threads", type=positive, default=4, help="examples run at once")
    p.add_argument(
        "--limit", type=positive, help="use only the first N rows of each dataset (N >= 1)"
    )
    p.add_argument("--no-cache", action="store_true", help="do not use the LM cache")
    p.add_argument("--max-tokens", type=int, help="completion length cap (default 512)")


def build_lm(args: argparse.Namespace, model: str | None = None) -> LM:
    """The LM the options of :func:`add_common` name (or ``model``, built with the same
    options: ``--proposer``)."""
    kwargs: dict[str, Any] = {}
    if getattr(args, "no_cache", False):
        kwargs["cache"] = False
    if getattr(args, "max_tokens", None):
        kwargs["max_tokens"] = args.max_tokens
    if args.api_base:
        kwargs["api_base"] = args.api_base
    model = model or args.model
    if model:
        return LM(model, **kwargs)
    return default_lm(**kwargs)


def read_rows(path: str, limit: int | None = None) -> list[dict[str, Any]]:
    """A dataset's rows (``--limit`` applied)."""
    return load_dataset(path, limit=limit)
