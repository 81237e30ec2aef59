"""``promptc compile --feedback``: compile from preferences (a function, an LM judge or a person
at a local page) instead of labels and a metric."""

from __future__ import annotations

import argparse
import sys
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

from promptc.cli.common import CLIError, note

if TYPE_CHECKING:
    from promptc._compile.result import PreferenceResult

__all__ = ["add_feedback_options", "feedback_from_args", "print_preference_result"]

_RANKED_ROWS = 10


def add_feedback_options(c: argparse.ArgumentParser) -> None:
    """Declare the compile-from-preferences options on the ``compile`` parser."""
    g = c.add_argument_group(
        "compile from preferences (no labels, no metric: a judge picks the better of two outputs)"
    )
    g.add_argument(
        "--feedback",
        help="who judges: 'human' (a page on 127.0.0.1), 'judge' (an LM, see --judge-model), "
        "or FILE.py:FUNCTION / MODULE:FUNCTION returning 'A', 'B', 'tie' or 'skip'",
    )
    g.add_argument("--feedback-budget", type=int, default=50, help="questions to ask at most")
    g.add_argument(
        "--feedback-log",
        help="JSONL file every answer is written to at once and read back on a rerun "
        "(default with --feedback human: beside the artifact, NAME.feedback.jsonl)",
    )
    g.add_argument("--judge-model", help="the LM judge's model (default: --model)")
    g.add_argument("--rubric", help="what makes an output better, for the LM judge")
    g.add_argument("--port", type=int, default=0, help="the page's port (default: any free one)")
    g.add_argument("--open", action="store_true", help="open the page in a browser")


def _feedback_log(args: argparse.Namespace) -> str | None:
    if args.feedback_log:
        return str(args.feedback_log)
    if args.feedback == "human":
        out = Path(args.output)
        return str(out.with_name(out.stem + ".feedback.jsonl"))
    return None


def feedback_from_args(args: argparse.Namespace) -> tuple[Any, AbstractContextManager[Any]]:
    """The feedback provider ``--feedback`` names, and the context it must run in."""
    if args.metric is not None:
        raise CLIError(
            "--feedback replaces --metric (the judge decides which output is better)",
            "drop --metric, or drop --feedback to compile with labels",
        )
    if args.dry_run:
        raise CLIError("--dry-run is not available with --feedback")
    if args.feedback == "human":
        from promptc.judges import Person

        person = Person(port=args.port, open_browser=args.open)
        return person, person
    if args.feedback == "judge":
        from promptc import LM
        from promptc.judges import DEFAULT_RUBRIC, Pairwise

        lm = LM(args.judge_model) if args.judge_model else None
        return Pairwise(lm, rubric=args.rubric or DEFAULT_RUBRIC), nullcontext()
    from promptc._imports import import_object

    return import_object(args.feedback, what="feedback function"), nullcontext()


def compile_from_args(
    args: argparse.Namespace, program: Any, rows: list[dict[str, Any]], settings: dict[str, Any]
) -> PreferenceResult:
    """Run the compile from preferences the command line describes."""
    from promptc._compile.driver import compile_program
    from promptc._compile.result import PreferenceResult

    feedback, running = feedback_from_args(args)
    with running:
        url = getattr(feedback, "url", None)
        if url:
            note(f"answer the questions at {url}")
        result = compile_program(
            program,
            rows,
            feedback=feedback,
            feedback_budget=args.feedback_budget,
            feedback_log=_feedback_log(args),
            **settings,
        )
    assert isinstance(result, PreferenceResult)  # feedback= always gives one
    return result


def print_preference_result(result: PreferenceResult, out: Path) -> None:
    """The ranking, the outcome, what was spent and where the files went."""
    from promptc._compile.result import report_path
    from promptc._report.view import candidate_text

    prefs = result.report.preferences
    print("candidates by estimated utility (relative to the uncompiled program, 95% interval):")
    for r in prefs.ranking[:_RANKED_ROWS]:
        lo, hi = r.ci95
        kept = "*" if r.index == result.report.kept else " "
        print(
            f" {kept}{r.index:>3}  {r.utility:+.2f} [{lo:+.2f}, {hi:+.2f}]  {r.duels:>3} duels  "
            f"{candidate_text(r.candidate)[:70]}"
        )
    print(result.summary())
    print(f"artifact  {out}  ({result.artifact.content_hash[:19]})")
    base = report_path(out)
    print(f"report    {base}.html  ({base.name}.json)")
    sys.stdout.flush()
