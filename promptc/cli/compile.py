"""``promptc compile``: a program, training rows and a metric -> an artifact and its report."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from promptc.cli.common import (
    EXIT_OK,
    CLIError,
    add_common,
    build_lm,
    read_rows,
)
from promptc.cli.entry import entry_for, load_program

if TYPE_CHECKING:
    from promptc._compile.result import CompileResult

__all__ = ["add_parser", "cmd_compile"]

_TABLE_ROWS = 10  # candidates printed after a compile (the report has them all)


def cmd_compile(args: argparse.Namespace) -> int:
    """Compile ``args.program``; print the candidates table, the scores and where files went."""
    from promptc._compile.driver import compile_program
    from promptc.metrics import resolve_metric

    if not args.output and not args.dry_run:
        raise CLIError("compile needs -o/--output (the artifact's path)", "e.g. -o out/app.yaml")
    program = load_program(args.program)
    train = read_rows(args.train, args.limit)
    val = read_rows(args.val, args.limit) if args.val else None
    holdout = read_rows(args.holdout, args.limit) if args.holdout else None
    settings: dict[str, Any] = {
        "optimizer": None if args.feedback else _metric_strategy(args),
        "lm": build_lm(args),
        "proposer": build_lm(args, args.proposer) if args.proposer else None,
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
    if args.feedback:
        from promptc.cli.prefer import compile_from_args, print_preference_result

        settings["optimizer"] = _preference_strategy(args)
        del settings["holdout"]
        if holdout is not None:
            raise CLIError("--holdout needs a metric; it is not available with --feedback")
        settings["progress"] = _show_progress(args.progress)
        preferred = compile_from_args(args, program, train, settings)
        print_preference_result(preferred, preferred.save(args.output))
        return EXIT_OK
    metric = resolve_metric(args.metric or "exact_match")
    if args.dry_run:
        print(compile_program(program, train, metric, dry_run=True, **settings).text())
        return EXIT_OK
    bar = _show_progress(args.progress)
    result = compile_program(program, train, metric, progress=bar, **settings)
    _print_result(result, result.save(args.output))
    return EXIT_OK


def _metric_strategy(args: argparse.Namespace) -> Any:
    from promptc._compile.auto import AUTO
    from promptc._compile.driver import resolve_optimizer
    from promptc._compile.options import strategy_options

    name = args.optimizer or AUTO
    options = strategy_options(args, name)
    return AUTO if name == AUTO else resolve_optimizer(name, **options)


def _preference_strategy(args: argparse.Namespace) -> Any:
    from promptc._compile.prefer import resolve_dueling

    return resolve_dueling(args.optimizer or "apohf")


def _print_result(result: CompileResult, out: Path) -> None:
    """The candidates table, the scores, what was spent and where the files went."""
    from promptc._compile.result import report_path, selection_of
    from promptc._report.html import format_table

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
    selection = selection_of(result.artifact)
    if selection:
        print(f"new rows  {selection.text()}")
    if result.report.optimizer.chosen_by:
        print(f"strategy  {result.report.optimizer.name}, {result.report.optimizer.chosen_by}")
    print(f"outcome   {result.report.outcome.reason}")
    print(
        f"spent     {spent.lm_requests} LM requests (budget {spent.budget}): "
        f"{run['lm_calls']} calls, {run['cache_hits']} cache hits, {run['cache_errors']} cache "
        f"errors; {spent.prompt_tokens}+{spent.completion_tokens} tokens"
    )
    print(f"artifact  {out}  ({result.artifact.content_hash[:19]})")
    base = report_path(out)
    print(f"report    {base}.html  ({base.name}.json)")


def _show_progress(mode: str) -> bool:
    """Set up how a compile shows progress on stderr; True for the bar.

    ``bar``: one tqdm bar for the whole run; ``log``: one line per trial (for nohup and CI);
    ``auto``: the bar on a terminal when tqdm is installed, else the log lines.
    """
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


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Declare ``compile`` and its options on the subcommand set ``sub``."""
    c = sub.add_parser("compile", help="compile a program into an artifact")
    c.add_argument("program", help="FILE.py:OBJECT or MODULE:OBJECT")
    c.add_argument("--train", required=True, help="training rows (.jsonl or .csv)")
    c.add_argument(
        "--val",
        help="validation rows (default: all but a third of --train, sized to the budget)",
    )
    c.add_argument("--holdout", help="rows the search never sees, re-scored at the end")
    c.add_argument(
        "--metric",
        help="built-in name, MODULE:FUNCTION or FILE.py:FUNCTION (default: exact_match)",
    )
    c.add_argument(
        "--optimizer",
        help="strategy (auto, labeled, random, ape, racing, thompson, tpe, ease; default auto: "
        "labeled, random or tpe by the budget and --proposer); "
        "with --feedback: apohf (default) or random_pairs",
    )
    c.add_argument(
        "--proposer",
        metavar="MODEL",
        help="an LM that writes instruction candidates, built as --model is (default: --model); "
        "with --optimizer auto it makes the search tpe (instructions and demos)",
    )
    c.add_argument("--budget", type=int, help="hard cap on LM calls")
    c.add_argument("--token-budget", type=int, help="cap on prompt + completion tokens")
    c.add_argument(
        "--cost-budget",
        type=float,
        help="cap in US dollars (only for models whose price litellm's cost map knows)",
    )
    c.add_argument("--seed", type=int, default=0)
    from promptc._compile.options import add_strategy_options

    add_strategy_options(c)
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
    from promptc.cli.prefer import add_feedback_options

    add_feedback_options(c)
    add_common(c)
    c.set_defaults(func=cmd_compile)
