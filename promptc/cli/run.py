"""``promptc eval`` and ``promptc run``: score an artifact or program on rows; answer inputs."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from typing import IO, TYPE_CHECKING, Any

from promptc._artifact import artifact as art
from promptc._lm.lm import LM
from promptc._program.module import Module
from promptc.cli.common import (
    EXIT_DIFF,
    EXIT_OK,
    CLIError,
    add_api_base,
    add_common,
    build_lm,
    note,
    read_rows,
    terminal_safe,
)
from promptc.cli.entry import entry_refusal, load_program
from promptc.exceptions import ConfigurationError

if TYPE_CHECKING:
    from promptc._artifact.runtime import CompiledProgram
    from promptc._compile.evaluate import ExampleResult

__all__ = ["add_parsers", "cmd_eval", "cmd_run"]

_PROGRAM_HELP = (
    "FILE.py:OBJECT or MODULE:OBJECT, the program a multi-predictor artifact's prompts run in "
    "(default: the artifact's recorded entry, when it is a .py file inside the current directory)"
)

_VERIFY_HELP = (
    "require the artifact to carry a valid signature by this Ed25519 public key (PEM file; "
    "promptc sign makes one) before anything of it is used; needs promptc[sign]"
)


def cmd_eval(args: argparse.Namespace) -> int:
    """Score an artifact or a program on ``--data``; print the summary line."""
    from promptc._compile.evaluate import evaluate
    from promptc.metrics import resolve_metric

    if args.target.endswith((".yaml", ".yml")):
        lm = build_lm(args) if args.model else None
        compiled = _compiled(args.target, lm, args.program, args.api_base, args.verify)
        program, name, lm = compiled._target(), compiled.name, compiled.lm()
    elif args.program:
        raise CLIError(
            f"--program binds an artifact's prompts, and {args.target} is a program already",
            "give ARTIFACT.yaml --program FILE.py:OBJECT, or only FILE.py:OBJECT",
        )
    elif args.verify:
        raise CLIError(
            f"--verify checks an artifact's signature, and {args.target} is a program, not an "
            "artifact",
            "give ARTIFACT.yaml --verify PUBLIC_KEY, or drop --verify",
        )
    else:
        program, name, lm = load_program(args.target), args.target, build_lm(args)
    metric = resolve_metric(args.metric)
    rows = read_rows(args.data, args.limit)
    out = open(args.output, "w", encoding="utf-8") if args.output else None
    try:
        result = evaluate(
            program,
            rows,
            metric,
            lm=lm,
            num_threads=args.threads,
            progress=True,
            on_result=(lambda r: _write_result(out, r)) if out else None,
        )
    finally:
        if out:
            out.close()
    print(terminal_safe(f"{name} on {args.data}: {result.summary()}"))
    return EXIT_DIFF if args.strict and result.errors else EXIT_OK


def _write_result(out: IO[str], r: ExampleResult) -> None:
    row = {"index": r.index, "score": r.score, "prediction": r.prediction, "error": r.error}
    out.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")


def cmd_run(args: argparse.Namespace) -> int:
    """Answer ``--input``, or each line of ``--jsonl`` as it arrives."""
    from promptc.cli.stream import LineAnswerer

    lm = LM(args.model, api_base=args.api_base, cache=False) if args.model else None
    compiled = _compiled(args.artifact, lm, args.program, args.api_base, args.verify)
    answerer = LineAnswerer(compiled, sys.stdout)
    if args.input is not None:
        answered = answerer.answer(_json_line(args.input, "--input"))
        return EXIT_OK if answered else EXIT_DIFF
    return EXIT_DIFF if answerer.answer_lines(_numbered_lines(args.jsonl)) else EXIT_OK


def _numbered_lines(source: str | None) -> Iterator[tuple[int, bytes]]:
    """Lines as they arrive (a pipe is read line by line, never to its end first)."""
    if source in (None, "-"):
        yield from enumerate(iter(sys.stdin.buffer.readline, b""), 1)
        return
    with open(source, "rb") as fh:
        yield from enumerate(fh, 1)


def _json_line(text: str, where: str) -> dict[str, Any]:
    from promptc.cli.stream import LineError, parse_line

    try:
        return parse_line(text.encode("utf-8", "surrogateescape"))
    except LineError as exc:
        raise CLIError(f"{where}: {exc}") from None


def _compiled(
    path: str, lm: LM | None, program: str | None, api_base: str | None, verify: str | None
) -> CompiledProgram:
    """Load an artifact (signed by ``verify``, when given), bound onto the program its prompts
    run in when it needs one.

    Without ``lm``, the LM is built from the artifact's settings, served at ``api_base``.
    """
    from promptc._artifact.runtime import CompiledProgram

    if verify:
        from promptc._artifact.signing import check_public_key

        check_public_key(verify)  # a bad key is a usage error, not a bad artifact
    artifact = art.load_artifact(path, verify=verify)
    compiled = CompiledProgram(
        artifact,
        lm=lm,
        program=_program_for(artifact, program),
        api_base=None if lm is not None else api_base,
    )
    compiled.lm()  # an LM the artifact may not name stops the command here, not at each input
    return compiled


def _program_for(artifact: art.Artifact, chosen: str | None) -> Module | None:
    """``--program`` if given; else none for one predictor; else the recorded entry, if trusted.

    The recorded entry is untrusted text: it is imported only under the rule of
    :func:`promptc.cli.entry.entry_refusal` (a ``.py`` file inside the current directory).
    """
    if chosen:
        given = load_program(chosen)
        note(f"program {chosen} (from --program)")
        return given
    count = len(artifact.predictors)
    if count == 1:
        return None
    entry = artifact.program.entry
    refusal = entry_refusal(entry)
    program: Module | None = None
    if entry is not None and refusal is None:
        try:
            program = load_program(entry)
        except ConfigurationError as exc:
            refusal = str(exc)
    if program is None:
        shown = f" {entry[:200]!r}" if entry else ""
        raise CLIError(
            f"artifact {artifact.program.name!r} holds {count} predictors, so it runs inside its "
            f"program, and its recorded entry{shown} is not used ({refusal}): "
            "pass --program FILE.py:OBJECT",
            "an artifact's entry is imported only when it is a .py file inside the current "
            "directory naming a promptc Module; see README, 'Pipelines from the CLI'",
        )
    note(f"program {entry} (the artifact's recorded entry; choose another with --program)")
    return program


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Declare ``eval`` and ``run`` and their options on the subcommand set ``sub``."""
    e = sub.add_parser("eval", help="score an artifact or program on a dataset")
    e.add_argument("target", help="ARTIFACT.yaml or FILE.py:OBJECT")
    e.add_argument("--data", required=True)
    e.add_argument("--program", help=_PROGRAM_HELP)
    e.add_argument("--verify", metavar="PUBLIC_KEY", help=_VERIFY_HELP)
    e.add_argument(
        "--metric", default="exact_match", help="built-in name, MODULE:FUNCTION or FILE.py:FUNCTION"
    )
    e.add_argument("--output", help="write per-example results as JSONL")
    e.add_argument("--strict", action="store_true", help="exit 1 if any example failed")
    add_common(e)
    e.set_defaults(func=cmd_eval)

    r = sub.add_parser("run", help="run an artifact on one input or a JSONL stream")
    r.add_argument("artifact")
    r.add_argument("--program", help=_PROGRAM_HELP)
    r.add_argument("--verify", metavar="PUBLIC_KEY", help=_VERIFY_HELP)
    r.add_argument("--input", help='one input as JSON, e.g. {"review": "great"}')
    r.add_argument(
        "--jsonl",
        help="a JSONL file of inputs ('-' or absent: stdin), answered line by line as they "
        "arrive; a bad line gets an error object and the run goes on (exit 1 at the end)",
    )
    r.add_argument("--model", help="override the artifact's model")
    add_api_base(r)
    r.set_defaults(func=cmd_run)
