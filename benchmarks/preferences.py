"""Compile from simulated preferences on shared-data tasks: test score vs. preference queries.

Issue 14's benchmark. For each task and seed, on the splits of :mod:`benchmarks.tasks`:

* ``uncompiled``: the task's program as every compile here starts from it: the task's own
  description as the instruction when its folder has one (``program_for(task,
  described=True)``; without labels, "Answer the input." says nothing a judge could steer),
  else the generic instruction;
* ``apohf@N`` and ``random_pairs@N`` for each ``--feedback-budgets`` N: ``promptc.compile``
  from preferences on the train and val rows *without their labels*, with that strategy
  (APOHF, or uniformly random pairs, the reference), at most N questions to the judge and
  ``--budget`` LM requests. The judge is a :class:`benchmarks.bt_judge.BTJudge`: it alone sees
  the labels, scores both outputs with the task's metric and prefers the better one, with
  Bradley-Terry noise (``--noise``: the chance a right-vs-wrong comparison goes the wrong way);
* ``labelled``: ``promptc.compile`` of the same program with the labels and the metric
  (``--labelled-optimizer``, default ``ease``) at the LM budget APOHF spent at the largest N.

Each program is scored on the same test rows. Printed: a table (rows: systems, columns: tasks;
cells ``score [95% CI] (compile LM requests/questions)``), the paired differences APOHF -
random_pairs and APOHF - labelled per task and N (paired bootstrap over the test rows), and a
summary against the issue's targets (APOHF above random pairs at equal queries on most tasks;
within 5 points of the labelled compile at <= 100 queries). Written to ``--out``:
``preferences-<UTC time>.json`` (settings, environment, wall time, every record), ``.md`` and
``.svg`` (test score vs. preference queries) beside it.

Run from the repository root (``pip install -e '.[local,compile]'``)::

    python -m benchmarks.preferences --tasks instruction_induction/antonyms sst2 --quick
    python -m benchmarks.preferences --tasks instruction_induction/antonyms \\
        instruction_induction/singular_to_plural bbh/boolean_expressions sst2

The compiles with the largest N run first: with the LM's on-disk cache, a smaller N asks the
same first questions (the judge is seeded) and replays its LM requests from the cache.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import promptc
from benchmarks import plot
from benchmarks.compile_tasks import _settings, load_fitted, make_lm
from benchmarks.preference_systems import OptimizerSpec, PreferenceStrategy
from benchmarks.preference_table import BudgetSummary, format_summary, format_table, summarize
from benchmarks.records import Difference, PreferenceCompile, ResultRow, rows_to_json
from benchmarks.run_env import environment, log_to_stderr, task_record
from benchmarks.systems import PromptcStrategy, RunOptions, System, Uncompiled
from benchmarks.table import format_differences, paired_difference
from benchmarks.tasks import REPO_ROOT, Task, default_data_dir, find_tasks
from promptc.optimizers import OPTIMIZERS  # type: ignore[import-not-found,unused-ignore]

__all__ = [
    "LABELLED",
    "STRATEGIES",
    "TaskRun",
    "labelled_budget",
    "main",
    "parse_args",
    "report_text",
    "run_differences",
    "run_task",
    "write_results",
]

DEFAULTS: dict[str, Any] = {
    "n_train": 30,
    "n_val": 16,
    "n_test": 40,
    "budget": 300,
    "feedback_budgets": [25, 50, 100],
}
QUICK: dict[str, Any] = {
    "n_train": 8,
    "n_val": 4,
    "n_test": 6,
    "budget": 60,
    "feedback_budgets": [4, 8],
}
#: The compared preference strategies: table name -> ``optimizer=`` of ``promptc.compile``.
STRATEGIES: dict[str, OptimizerSpec] = {"apohf": "apohf", "random_pairs": "random_pairs"}
LABELLED = "labelled"

# Named, not __name__: run as ``python -m``, this module is __main__, outside "benchmarks".
logger = logging.getLogger("benchmarks.preferences")


@dataclass(frozen=True)
class TaskRun:
    """One task at one seed: every system's row, and the paired differences.

    Attributes:
        task: the task's splits (``task.seed`` is the run's seed).
        rows: uncompiled, each strategy at each feedback budget (ascending), labelled.
        differences: per feedback budget, APOHF - random_pairs and APOHF - labelled.
    """

    task: Task
    rows: tuple[ResultRow, ...]
    differences: tuple[Difference, ...]

    def row(self, system: str) -> ResultRow | None:
        """The row of ``system`` (``apohf@25``, ``labelled``), if it ran."""
        return next((r for r in self.rows if r.system == system), None)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line, with the defaults of ``--quick`` or the real run filled in."""
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    add = parser.add_argument
    add("--tasks", nargs="+", required=True, metavar="NAME", help="tasks or whole groups")
    add("--data-dir", type=Path, help="data root (default: $PROMPTC_DATA_DIR, else ../shared/data)")
    add("--model", default=promptc.DEFAULT_MODEL, help="default: %(default)s")
    add("--seeds", nargs="+", type=int, default=[0], help="splits, judge, compiles (default 0)")
    add("--feedback-budgets", nargs="+", type=int, metavar="N", help="questions per compile")
    add("--noise", type=float, default=0.1, help="judge's flip rate in [0, 0.5] (default 0.1)")
    add("--budget", type=int, help="LM requests per compile from preferences (cap)")
    add("--labelled-optimizer", default="ease", choices=sorted(OPTIMIZERS))
    for key, text in {"n_train": "train", "n_val": "val", "n_test": "test"}.items():
        add(f"--{key.replace('_', '-')}", type=int, help=f"{text} rows")
    add("--quick", action="store_true", help=f"smoke-run sizes: {QUICK}")
    add("--max-tokens", type=int, help="LM completion cap (default: the LM's)")
    add("--threads", type=int, default=4, help="examples evaluated at once")
    add("--lm-threads", type=int, help="CPU threads of a local/ model")
    add("--out", type=Path, default=REPO_ROOT / "benchmarks" / "results", help="results dir")
    add("--progress", action="store_true", help="progress bars on stderr")
    args = parser.parse_args(argv)
    for key, value in (QUICK if args.quick else DEFAULTS).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    args.data_dir = args.data_dir or default_data_dir()
    args.feedback_budgets = sorted(set(args.feedback_budgets))
    _check(parser, args)
    return args


def _check(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    for key in ("budget", "n_train", "n_val", "n_test", "threads", "lm_threads", "max_tokens"):
        if getattr(args, key) is not None and getattr(args, key) < 1:
            parser.error(f"--{key.replace('_', '-')} must be at least 1, got {getattr(args, key)}")
    if min(args.feedback_budgets) < 1:
        parser.error(f"--feedback-budgets must be at least 1, got {args.feedback_budgets}")
    if not 0 <= args.noise <= 0.5:
        parser.error(f"--noise must be in [0, 0.5], got {args.noise}")


def _run(system: System, task: Task, lm: promptc.LM, budget: int, name: str) -> ResultRow:
    result = system.compile(task, lm, budget, task.seed)
    if result.error is not None:
        logger.info("%s: %s failed: %s", task.name, name, result.error)
    return ResultRow(task.name, task.group, task.metric, name, result, task.seed)


def labelled_budget(rows: Sequence[ResultRow], feedback_budget: int, cap: int) -> int:
    """The LM requests APOHF spent at ``feedback_budget`` (``cap`` when it did not compile)."""
    for r in rows:
        c = r.result.compile
        if isinstance(c, PreferenceCompile) and r.system == f"apohf@{feedback_budget}":
            return max(1, c.lm_requests)
    return cap


def run_task(task: Task, lm: promptc.LM, args: argparse.Namespace) -> TaskRun:
    """Every system on ``task`` (largest feedback budget first, for the cache), then the
    differences."""
    options = RunOptions(args.threads, args.progress)
    logger.info("%s: metric %s, rows %s, seed %d", task.name, task.metric, task.sizes(), task.seed)
    rows = [_run(Uncompiled(options, described=True), task, lm, 0, "uncompiled")]
    for strategy, spec in STRATEGIES.items():
        done = []
        for n in sorted(args.feedback_budgets, reverse=True):
            system = PreferenceStrategy(strategy, n, args.noise, options, spec)
            done.append(_run(system, task, lm, args.budget, system.name))
        rows.extend(reversed(done))
    budget = labelled_budget(rows, max(args.feedback_budgets), args.budget)
    labelled = PromptcStrategy(args.labelled_optimizer, options, described=True)
    rows.append(_run(labelled, task, lm, budget, LABELLED))
    return TaskRun(task, tuple(rows), tuple(run_differences(rows, args.feedback_budgets)))


def run_differences(rows: Sequence[ResultRow], feedback_budgets: Sequence[int]) -> list[Difference]:
    """Per feedback budget: APOHF - random_pairs and APOHF - labelled, paired on test rows."""
    by_name = {r.system: r for r in rows}
    out = []
    for n in feedback_budgets:
        apohf = by_name.get(f"apohf@{n}")
        for other in (f"random_pairs@{n}", LABELLED):
            if apohf is not None and other in by_name:
                diff = paired_difference(apohf, by_name[other])
                if diff is not None:
                    out.append(diff)
    return out


def _summary(runs: Sequence[TaskRun], args: argparse.Namespace) -> list[BudgetSummary]:
    return summarize([r.differences for r in runs], args.feedback_budgets, LABELLED)


def _label(run: TaskRun, several_seeds: bool) -> str:
    return f"{run.task.name} (seed {run.task.seed})" if several_seeds else run.task.name


def report_text(
    args: argparse.Namespace, lm: promptc.LM, runs: Sequence[TaskRun], wall: float
) -> str:
    """The printed report: settings line, table, differences, summary."""
    several = len(args.seeds) > 1
    labels = [_label(r, several) for r in runs]
    diffs = [
        replace(d, task=label) for r, label in zip(runs, labels, strict=True) for d in r.differences
    ]
    sizes = ", ".join(
        f"{label} {r.task.sizes()['train']}/{r.task.sizes()['val']}/{r.task.sizes()['test']}"
        for r, label in zip(runs, labels, strict=True)
    )
    head = (
        f"LM {lm.settings()}; judge: Bradley-Terry on the task metric, noise {args.noise}; "
        f"LM budget {args.budget} requests per compile from preferences; labelled: "
        f"{args.labelled_optimizer} at APOHF@{max(args.feedback_budgets)}'s LM requests; "
        f"rows train/val/test: {sizes}; total wall {wall:.0f} s"
    )
    summary = format_summary(_summary(runs, args))
    table = format_table([(label, r.rows) for r, label in zip(runs, labels, strict=True)])
    return f"{head}\n\n{table}\n\n{format_differences(diffs)}\n\n{summary}"


def _plot(runs: Sequence[TaskRun], several_seeds: bool, largest: int) -> str:
    panels: dict[str, list[plot.Point]] = {}
    for run in runs:
        points = panels.setdefault(_label(run, several_seeds), [])
        for r in run.rows:
            test, c = r.result.test, r.result.compile
            if test is None:
                continue
            series, x = r.system.split("@")[0], 0.0
            if isinstance(c, PreferenceCompile):
                x = float(c.questions)
            elif r.system == LABELLED:
                x = float(largest)  # at APOHF's LM budget there; it asked no questions
            points.append((series, x, test.scores.mean, test.scores.ci95))
    title = f"test score vs. preference queries (labelled: at APOHF@{largest}'s LM budget)"
    return plot.scatter_svg(panels, title=title, x_label="preference queries", x_unit="queries")


def write_results(
    args: argparse.Namespace,
    argv: list[str] | None,
    started: dt.datetime,
    wall: float,
    lm: promptc.LM,
    runs: Sequence[TaskRun],
) -> tuple[Path, str]:
    """The JSON results file, its ``.md`` and ``.svg`` beside it; returns the path and the
    printed report."""
    report = report_text(args, lm, runs, wall)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"preferences-{started:%Y-%m-%dT%H%M%SZ}.json"
    summary = _summary(runs, args)
    payload = {
        "script": "benchmarks/preferences.py",
        "argv": sys.argv[1:] if argv is None else argv,
        "settings": _settings(args),
        "started_utc": started.isoformat(timespec="seconds"),
        "wall_s": round(wall, 1),
        "environment": environment(lm),
        "runs": [
            {
                "task": task_record(r.task),
                "results": rows_to_json(r.rows),
                "differences": [d.to_json() for d in r.differences],
            }
            for r in runs
        ],
        "summary": [s.to_json() for s in summary],
        "report": report,
    }
    path.write_text(json.dumps(payload, indent=1, ensure_ascii=False, default=str) + "\n")
    svg = path.with_suffix(".svg")
    svg.write_text(_plot(runs, len(args.seeds) > 1, max(args.feedback_budgets)), encoding="utf-8")
    path.with_suffix(".md").write_text(
        f"{report}\n\n![test score vs preference queries]({svg.name})\n", encoding="utf-8"
    )
    return path, report


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; exit status 1 if a system failed on a task."""
    args = parse_args(argv)
    with log_to_stderr():
        started, clock = dt.datetime.now(dt.timezone.utc), time.perf_counter()
        folders = find_tasks(args.data_dir, args.tasks)
        lm = make_lm(args)
        runs = []
        for seed in args.seeds:
            runs += [run_task(load_fitted(folder, args, seed), lm, args) for folder in folders]
        path, report = write_results(args, argv, started, time.perf_counter() - clock, lm, runs)
    print(report)
    print(f"\nresults: {path}\ntable: {path.with_suffix('.md')}\nplot: {path.with_suffix('.svg')}")
    return 1 if any(r.result.error is not None for run in runs for r in run.rows) else 0


if __name__ == "__main__":
    sys.exit(main())
