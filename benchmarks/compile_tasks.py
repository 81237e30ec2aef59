"""Compile each task's program on shared-data tasks and measure it on test, over seeds.

For each task (and each ``--seeds`` seed: its own splits and compile seeds): the uncompiled
program (:func:`benchmarks.tasks.program_for`: ``input -> target`` with the instruction
"Answer the input.", MathCoT for GSM8K, the multi-hop program for HotPotQA) is scored on the
task's test split; then, for each ``--optimizer`` / ``--system``, the program is compiled on
the train and val splits under ``--budget`` LM requests and the compiled program is scored on
the same test split. ``--system dspy-bfrs`` and ``--system dspy-mipro`` do the same with DSPy's
BootstrapFewShotWithRandomSearch and MIPROv2 on the DSPy twin of the program, through the same
LM object (:mod:`benchmarks.dspy_baseline`), with DSPy's default adapter and, as a second row
(``dspy-mipro+best``), the adapter that scored best on the validation rows
(``--dspy-adapter``, :mod:`benchmarks.dspy_adapters`). Every system is a
:class:`benchmarks.systems.System`.

Printed: a table (a row per task, seed and system), the paired differences per seed, and the
evidence of :mod:`benchmarks.evidence` (means over seeds; promptc - DSPy over seeds and rows
with a summary row; adapter choices; matched spend). Every figure, with per-example outcomes
and validation curves, goes to ``OUT/compile_tasks-RUN_ID.json``, with the tables (``.md``)
and plots (``.svg``, ``.curves.svg``) beside it.

Each finished task x system x seed cell is also written to the run's folder
``OUT/compile_tasks-RUN_ID/`` (:mod:`benchmarks.cells`) as it finishes, with progress and an
ETA on stderr; the same command with the same ``--run-id`` (or ``--resume DIR``) resumes a
killed run where it stopped, never rerunning a finished cell, and refuses other settings
(model, proposer, budget, sizes); a later command may add tasks, systems or seeds to the run,
two processes may fill one folder with different cells, and ``--finished-only`` reports the
cells a folder holds without running any.

Run from the repository root with promptc installed (``pip install -e '.[local]'``)::

    python -m benchmarks.compile_tasks --tasks instruction_induction/antonyms \\
        bbh/boolean_expressions --optimizer labeled --optimizer random --budget 200

    # against DSPy (pip install -e '.[local,compile,dspy]'), three seeds, resumable
    python -m benchmarks.compile_tasks --tasks instruction_induction/antonyms \\
        --optimizer random --optimizer racing --system dspy-bfrs --system dspy-mipro \\
        --seeds 0 1 2 --n-test 200 --run-id evidence

Splits come from :mod:`benchmarks.tasks` (read its docstring), metrics from
:mod:`benchmarks.metrics`. One LM object with
the default on-disk cache serves the whole run, so a repeated run is answered from the cache:
the table's request counts stay the same (a cache hit is a request too, as in the compile
budget), the ``cached`` counts and the wall times show how much was served from the cache.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import promptc
from benchmarks import evidence, evidence_tables, plot
from benchmarks.cells import Cell, RunFolder, ran_at, run_cells
from benchmarks.dspy_adapters import ADAPTER_CHOICES
from benchmarks.dspy_baseline import DSPY_SYSTEMS, DSPySystem
from benchmarks.records import ResultRow, rows_to_json
from benchmarks.run_env import environment, log_to_stderr, source_state, task_record
from benchmarks.systems import PromptcStrategy, RunOptions, System, Uncompiled
from benchmarks.table import differences, format_differences, format_table
from benchmarks.tasks import (
    REPO_ROOT,
    Task,
    default_data_dir,
    find_tasks,
    load_task,
    spare_test_rows,
)
from promptc.compiler import AUTO
from promptc.exceptions import ConfigurationError
from promptc.optimizers import OPTIMIZERS  # type: ignore[import-not-found,unused-ignore]

DEFAULTS = {"n_train": 30, "n_val": 16, "n_test": 40, "budget": 200}
QUICK = {"n_train": 8, "n_val": 4, "n_test": 6, "budget": 40}
_SLOT_CONTEXT = 4096  # tokens of context per decoding slot (--lm-slots), the backend's default
DEFAULT_OPTIMIZERS = ["labeled"]
#: A DSPy system alone (``dspy-mipro``) runs with DSPy's default adapter and --dspy-adapter's;
#: with its adapter (``dspy-mipro+best``), with that adapter only.
STRATEGIES = [AUTO, *sorted(OPTIMIZERS)]
SYSTEMS = [
    *STRATEGIES,
    *DSPY_SYSTEMS,
    *(f"{d}+{a}" for d in DSPY_SYSTEMS for a in ADAPTER_CHOICES if a != "chat"),
]

# Named, not __name__: run as ``python -m``, this module is __main__, outside "benchmarks".
logger = logging.getLogger("benchmarks.compile_tasks")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument(
        "--tasks",
        nargs="+",
        required=True,
        metavar="NAME",
        help="tasks (bbh/boolean_expressions) or whole groups (instruction_induction)",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="data root (default: $PROMPTC_DATA_DIR, else ../shared/data from the repo root)",
    )
    parser.add_argument("--model", default=promptc.DEFAULT_MODEL, help="default: %(default)s")
    parser.add_argument(
        "--proposer",
        metavar="MODEL",
        help="the LM that proposes instructions in promptc compiles and MIPROv2 (its\n"
        "prompt_model), built as --model is (--lm-threads, --max-tokens); its requests\n"
        "count in the compile's budget and spend (default: --model proposes)",
    )
    parser.add_argument(
        "--optimizer",
        action="append",
        choices=STRATEGIES,
        help="a promptc strategy (auto: the default, on train and val rows together, which\n"
        "the compile splits itself); repeatable "
        f"(default, without --optimizer or --system: {' '.join(DEFAULT_OPTIMIZERS)})",
    )
    parser.add_argument(
        "--system",
        action="append",
        choices=SYSTEMS,
        help="a promptc strategy or a DSPy baseline (dspy-bfrs: BootstrapFewShotWithRandomSearch,\n"
        "dspy-mipro: MIPROv2; needs the [dspy] extra), run with DSPy's default adapter and\n"
        "--dspy-adapter's, or with one adapter only (dspy-mipro+best); repeatable, run after\n"
        "--optimizer ones",
    )
    helps = {
        "budget": "LM requests per compile",
        "n_train": "train rows (the demo pool)",
        "n_val": "validation rows candidates are scored on",
        "n_test": "test rows every system is scored on",
    }
    for key, text in helps.items():
        parser.add_argument(
            f"--{key.replace('_', '-')}",
            type=int,
            help=f"{text} (default {DEFAULTS[key]}; with --quick {QUICK[key]})",
        )
    seeds = parser.add_mutually_exclusive_group()
    seeds.add_argument("--seed", type=int, help="one seed of splits and compiles (default 0)")
    seeds.add_argument(
        "--seeds",
        type=int,
        nargs="+",
        metavar="SEED",
        help="several seeds: each gives its own splits and compiles, and the report adds\n"
        "means over seeds and paired promptc - DSPy intervals over seeds and rows",
    )
    parser.add_argument(
        "--dspy-adapter",
        choices=ADAPTER_CHOICES,
        default="best",
        help="a second row per DSPy system (dspy-mipro+best beside dspy-mipro, DSPy's chat):\n"
        "xml, json, or best: the best of the three on the validation rows, all three\n"
        "compiles counted; chat: DSPy's default only (default: %(default)s)",
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes for a smoke run")
    parser.add_argument("--max-tokens", type=int, help="LM completion cap (default: the LM's)")
    parser.add_argument("--threads", type=int, default=4, help="examples evaluated at once")
    parser.add_argument(
        "--lm-threads",
        type=int,
        help="CPU threads of a local/ model (default: the backend's); use 1 when another\n"
        "process is running a model too: oversubscribed llama.cpp threads crawl",
    )
    parser.add_argument(
        "--lm-slots",
        type=int,
        help="requests a local/ model decodes at once (its n_parallel, each slot with 4096\n"
        "tokens of context; default 1): about 2.2x the tokens per second with 4 slots on one\n"
        "thread here, but a reply then depends on what shares its batch (1 in 4 long\n"
        "generations differed from one-slot decoding), so give every cell of a task the same",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=REPO_ROOT / "benchmarks" / "results",
        help="directory for the results: OUT/compile_tasks-RUN_ID.json (.md, .svg) and the\n"
        "run's folder of finished cells OUT/compile_tasks-RUN_ID/ (default: %(default)s)",
    )
    parser.add_argument(
        "--run-id",
        help="names the run (default: the start time); rerunning with the same --out and\n"
        "--run-id resumes the run: finished cells are kept, the others run",
    )
    parser.add_argument(
        "--resume",
        type=Path,
        metavar="DIR",
        help="resume the run in DIR (OUT/compile_tasks-RUN_ID), same settings",
    )
    parser.add_argument(
        "--finished-only",
        action="store_true",
        help="run no cell: report the asked cells the run's folder holds finished (a report\n"
        "of a run still going, or of one filled by several processes)",
    )
    parser.add_argument("--progress", action="store_true", help="progress bars on stderr")
    args = parser.parse_args(argv)
    profile = QUICK if args.quick else DEFAULTS
    for key, value in profile.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    args.systems = [*(args.optimizer or []), *(args.system or [])] or list(DEFAULT_OPTIMIZERS)
    if args.resume is not None and args.run_id is not None:
        parser.error("give --resume DIR or --run-id, not both")
    args.seeds = args.seeds or [0 if args.seed is None else args.seed]
    args.seed = args.seeds[0]
    if len(set(args.seeds)) != len(args.seeds):
        parser.error(f"--seeds must differ, got {args.seeds}")
    args.data_dir = args.data_dir or default_data_dir()
    numbers = ("budget", "n_train", "n_val", "n_test", "threads", "lm_threads", "lm_slots")
    for key in (*numbers, "max_tokens"):
        if getattr(args, key) is not None and getattr(args, key) < 1:
            parser.error(f"--{key.replace('_', '-')} must be at least 1, got {getattr(args, key)}")
    return args


def make_systems(
    names: Sequence[str],
    options: RunOptions,
    *,
    dspy_adapter: str = "chat",
    proposer: promptc.LM | None = None,
) -> list[System]:
    """The uncompiled program, then the named systems (promptc strategies, DSPy optimizers).

    A DSPy optimizer runs with DSPy's default adapter (``chat``) and, when ``dspy_adapter``
    is another (``xml``, ``json``, ``best``), with that one too, as a second system; a name
    with its adapter (``dspy-mipro+best``) runs with that adapter only. A system named twice
    (``--system dspy-mipro --system dspy-mipro+best``) runs, and is reported, once.
    ``proposer`` (default: the task LM) proposes the instructions of every compile.
    """
    systems: list[System] = [Uncompiled(options)]
    for name in names:
        base, _, adapter = name.partition("+")
        if adapter:
            systems.append(DSPySystem(base, options, adapter, proposer=proposer))
            continue
        if name not in DSPY_SYSTEMS:
            systems.append(PromptcStrategy(name, options, proposer=proposer))
            continue
        systems.append(DSPySystem(name, options, proposer=proposer))
        if dspy_adapter != "chat":
            systems.append(DSPySystem(name, options, dspy_adapter, proposer=proposer))
    unique: dict[str, System] = {}
    for system in systems:
        unique.setdefault(system.name, system)
    return list(unique.values())


def run_task(
    task: Task, systems: Sequence[System], lm: promptc.LM, *, budget: int, seed: int
) -> list[ResultRow]:
    """Each system compiled on ``task`` and scored on its test rows, in order."""
    rows = []
    for system in systems:
        result = system.compile(task, lm, budget, seed)
        if result.error is not None:
            logger.info("%s: %s failed: %s", task.name, system.name, result.error)
        rows.append(ResultRow(task.name, task.group, task.metric, system.name, result))
    return rows


def run_cell(task: Task, system: System, lm: promptc.LM, *, budget: int, seed: int) -> ResultRow:
    """One system compiled on ``task`` (its splits for ``seed``) and scored on its test rows."""
    result = system.compile(task, lm, budget, seed)
    if result.error is not None:
        logger.info("%s: %s failed: %s", task.name, system.name, result.error)
    if result.skipped is not None:
        logger.info("%s: %s is n/a: %s", task.name, system.name, result.skipped)
    return ResultRow(task.name, task.group, task.metric, system.name, result, seed)


def _settings(args: argparse.Namespace) -> dict[str, Any]:
    return {k: str(v) if isinstance(v, Path) else v for k, v in sorted(vars(args).items())}


def load_fitted(folder: Path, args: argparse.Namespace, seed: int | None = None) -> Task:
    """The task's splits for ``seed`` (default ``args.seed``) at the asked sizes, else with
    fewer test rows when that lets val and train keep theirs (BBH tasks under 250 rows: test
    and the rest come from one file), else all halved until they fit a small task
    (HotPotQA's 53 rows), said so on stderr; the sizes used are in the results."""
    seed = args.seed if seed is None else seed
    sizes = {"n_train": args.n_train, "n_val": args.n_val, "n_test": args.n_test}
    for _ in range(5):
        spare = spare_test_rows(folder, n_train=sizes["n_train"], n_val=sizes["n_val"])
        if spare >= min(sizes["n_test"], sizes["n_val"]):  # else the test split would be tiny
            if spare < sizes["n_test"]:
                logger.info("%s: %d test rows fit beside train and val", folder.name, spare)
                sizes["n_test"] = spare
            try:
                return load_task(folder, seed=seed, root=args.data_dir, **sizes)
            except ValueError as exc:  # a split's own file is too small (a tiny train file)
                if "no rows left" not in str(exc):
                    raise
        if min(sizes.values()) < 2:
            break
        sizes = {k: max(1, v // 2) for k, v in sizes.items()}
        logger.info("%s: too few rows for the asked sizes; trying %s", folder.name, sizes)
    return load_task(folder, seed=seed, root=args.data_dir, **sizes)


def make_lm(args: argparse.Namespace, model: str | None = None) -> promptc.LM:
    """The task LM of the run (or the LM of ``model``, built the same way: the proposer),
    with the default on-disk cache."""
    model = args.model if model is None else model
    options: dict[str, Any] = {}
    if args.max_tokens is not None:
        options["max_tokens"] = args.max_tokens
    if args.lm_threads is not None or args.lm_slots is not None:
        if not model.startswith("local/"):
            raise SystemExit(
                f"--lm-threads and --lm-slots apply to local/ models only, not {model}"
            )
        slots = args.lm_slots or 1
        options["backend"] = promptc.LocalBackend(
            model.removeprefix("local/"),
            num_threads=args.lm_threads,
            n_parallel=slots,
            n_ctx=_SLOT_CONTEXT * slots,
        )
    return promptc.LM(model, **options)


def make_proposer(args: argparse.Namespace) -> promptc.LM | None:
    """The ``--proposer`` LM, built as :func:`make_lm` builds the task LM; ``None`` without
    ``--proposer`` (the task LM proposes)."""
    return None if args.proposer is None else make_lm(args, args.proposer)


def _write_results(
    args: argparse.Namespace,
    argv: list[str] | None,
    started: dt.datetime,
    wall: float,
    lms: tuple[promptc.LM, promptc.LM | None],
    tasks: Sequence[Task],
    rows: Sequence[ResultRow],
    folder: Path,
    ran: Mapping[str, int],
) -> tuple[Path, str]:
    """The JSON results file beside the run's ``folder``, its ``.md`` and ``.svg`` plots
    beside it; ``lms`` are the task LM and the proposer (``None``: the task LM); ``ran``
    counts the rows' cells by the commit they ran at; returns the path and the printed
    report (summary and tables)."""
    (lm, proposer), (table, diffs) = lms, (format_table(rows), differences(rows))
    path = folder.with_name(f"{folder.name}.json")
    payload = {
        "script": "benchmarks/compile_tasks.py",
        "argv": sys.argv[1:] if argv is None else argv,
        "settings": _settings(args),
        "started_utc": started.isoformat(timespec="seconds"),
        "wall_s": round(wall, 1),
        "environment": environment(lm, proposer),
        "cells_ran_at": dict(ran),
        "tasks": [task_record(t) for t in tasks],
        "results": rows_to_json(rows),
        "table": table,
        "differences": [d.to_json() for d in diffs],
        "run_folder": folder.name,
        "seeds": args.seeds,
        "evidence": evidence_tables.evidence_json(rows),
        "curves": evidence.curves_json(rows),
    }
    path.write_text(json.dumps(payload, indent=1, ensure_ascii=False, default=str) + "\n")
    first = [t for t in tasks if t.seed == args.seeds[0]]
    sizes = ", ".join(
        f"{t.name} {t.sizes()['train']}/{t.sizes()['val']}/{t.sizes()['test']}" for t in first
    )
    seeds = " ".join(map(str, args.seeds))
    proposed = "" if proposer is None else f"proposer {proposer.settings()}; "
    summary = (
        f"LM {lm.settings()}; {proposed}seed{'s' if len(args.seeds) > 1 else ''} {seeds}; budget "
        f"{args.budget} LM requests per compile; rows train/val/test: {sizes}; "
        f"total wall {wall:.0f} s; cells ran at "
        + ", ".join(f"{commit} ({n})" for commit, n in ran.items())
    )
    report = f"{summary}\n\n{table}\n\n{format_differences(diffs)}"
    report += "".join(f"\n\n{part}" for part in evidence_tables.format_evidence(rows))
    plots = f"![score vs LM requests]({path.with_suffix('.svg').name})"
    path.with_suffix(".svg").write_text(plot.accuracy_vs_calls_svg(rows), encoding="utf-8")
    if payload["curves"]:
        curves = path.with_suffix(".curves.svg")
        curves.write_text(plot.best_val_vs_requests_svg(rows), encoding="utf-8")
        plots += f"\n\n![best validation score vs LM requests]({curves.name})"
    path.with_suffix(".md").write_text(f"{report}\n\n{plots}\n", encoding="utf-8")
    return path, report


def main(argv: list[str] | None = None) -> int:
    """Run the task table; exit status 1 if a system failed on a task."""
    args = parse_args(argv)
    with log_to_stderr():
        try:
            return _run(args, argv)
        except ConfigurationError as exc:  # a results folder of another run
            raise SystemExit(f"compile_tasks: {exc}") from None


def _run(args: argparse.Namespace, argv: list[str] | None) -> int:
    started, clock = dt.datetime.now(dt.timezone.utc), time.perf_counter()
    folders = find_tasks(args.data_dir, args.tasks)
    by_seed = {seed: [load_fitted(f, args, seed) for f in folders] for seed in args.seeds}
    lm, proposer = make_lm(args), make_proposer(args)
    options = RunOptions(args.threads, args.progress)
    systems = make_systems(args.systems, options, dspy_adapter=args.dspy_adapter, proposer=proposer)
    settings = {  # not tasks, systems, seeds: they name the cells (a run may gain some)
        **{k: getattr(args, k) for k in ("model", "proposer", "budget", "max_tokens")},
        **{k: getattr(args, k) for k in ("n_train", "n_val", "n_test")},
    }
    run = RunFolder.of_run(
        args.out / f"compile_tasks-{args.run_id or f'{started:%Y-%m-%dT%H%M%SZ}'}",
        settings,
        command=sys.argv[1:] if argv is None else argv,
        resume=args.resume,
    )
    plan = [
        (Cell(t.name, s.name, seed), _work(t, s, lm, args.budget, seed))
        for seed in args.seeds
        for t in by_seed[seed]
        for s in systems
    ]
    results = run_cells(run, plan, finished_only=args.finished_only, source=source_state())
    rows = [r.row for r in results]
    if not rows:
        raise ConfigurationError(f"--finished-only: {run.path} holds none of the asked cells")
    tasks = [t for seed in args.seeds for t in by_seed[seed]]
    wall = time.perf_counter() - clock
    path, report = _write_results(
        args, argv, started, wall, (lm, proposer), tasks, rows, run.path, ran_at(results)
    )
    print(report)
    print(f"\nresults: {path}\ntable: {path.with_suffix('.md')}\nplot: {path.with_suffix('.svg')}")
    return 1 if any(r.result.error is not None for r in rows) else 0


def _work(
    task: Task, system: System, lm: promptc.LM, budget: int, seed: int
) -> Callable[[], tuple[ResultRow, dict[str, Any]]]:
    return lambda: (run_cell(task, system, lm, budget=budget, seed=seed), task_record(task))


if __name__ == "__main__":
    sys.exit(main())
