"""The ``promptc`` command: compile, eval, run, show, diff, validate, keys, sign, rehash,
models.

Each command family lives in its own module, with its options declared beside it:
:mod:`~promptc.cli.compile` (compile), :mod:`~promptc.cli.run` (eval, run),
:mod:`~promptc.cli.artifacts` (show, diff, validate, keys, sign, rehash) and
:mod:`~promptc.cli.models` (models pull/list); what they share is in :mod:`~promptc.cli.common`.
This module assembles the parser and turns failures into one line, a hint and an exit code.

Exit codes: 0 success; 1 a difference (``diff``), failed examples (``eval --strict``) or
failed input lines (``run``);
2 bad usage or input (arguments, files, datasets, programs); 3 an invalid artifact;
4 an LM failure (transport, budget); 130 interrupted. Errors are one line plus a hint; set
``PROMPTC_DEBUG=1`` for the traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

from promptc.cli import artifacts, models, run
from promptc.cli import compile as compile_command
from promptc.cli.common import (
    EXIT_ARTIFACT,
    EXIT_DIFF,
    EXIT_INTERRUPTED,
    EXIT_LM,
    EXIT_OK,
    EXIT_USAGE,
    CLIError,
    terminal_safe,
)
from promptc.exceptions import (
    ArtifactError,
    BudgetExhaustedError,
    ConfigurationError,
    LMError,
    ModelNotAvailableError,
    PromptcError,
)

__all__ = [
    "EXIT_ARTIFACT",
    "EXIT_DIFF",
    "EXIT_INTERRUPTED",
    "EXIT_LM",
    "EXIT_OK",
    "EXIT_USAGE",
    "main",
]

_MODEL_HINT = "`promptc models list` shows the models; the runtime: pip install 'promptc[local]'"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="promptc", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    compile_command.add_parser(sub)
    run.add_parsers(sub)
    artifacts.add_parsers(sub)
    models.add_parser(sub)
    return parser


def _hint_for(exc: BaseException) -> tuple[str, int]:
    if isinstance(exc, ArtifactError):
        return "check the file, or compile it again", EXIT_ARTIFACT
    if isinstance(exc, BudgetExhaustedError):
        return "raise --budget", EXIT_LM
    if isinstance(exc, ModelNotAvailableError):
        return _MODEL_HINT, EXIT_USAGE
    if isinstance(exc, LMError):
        return "check --model, the provider's API key and the network", EXIT_LM
    if isinstance(exc, (ConfigurationError, ValueError)):
        return "see `promptc <command> --help`", EXIT_USAGE
    return "", EXIT_USAGE


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``promptc`` command."""
    args = _parser().parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except KeyboardInterrupt:
        print("promptc: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (CLIError, PromptcError, OSError) as exc:
        if os.environ.get("PROMPTC_DEBUG"):
            raise
        hint, code = (exc.hint, exc.code) if isinstance(exc, CLIError) else _hint_for(exc)
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"promptc: error: {terminal_safe(first)}", file=sys.stderr)
        if hint:
            print(f"hint: {hint}", file=sys.stderr)
        return code
