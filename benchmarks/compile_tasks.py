"""Compile the generic ``input -> target`` program on shared-data tasks and measure it on test.

For each task: the uncompiled program (instruction "Answer the input.", no demos) is scored on
the task's test split; then, for each ``--optimizer`` / ``--system``, the program is compiled on
the train and val splits under ``--budget`` LM requests and the compiled program is scored on
the same test split. ``--system dspy-bfrs`` and ``--system dspy-mipro`` do the same with DSPy's
BootstrapFewShotWithRandomSearch and MIPROv2 on the DSPy twin of the program, through the same
LM object (``benchmarks/dspy_baseline.py``). One Markdown table is printed (a row per task and
system); every figure, with the per-example outcomes, is written to a dated JSON file in
``--out``, with the table (``.md``) and a plot of test score vs. LM requests (``.svg``) beside it.

Run from the repository root with promptc installed (``pip install -e '.[local]'``)::

    python benchmarks/compile_tasks.py --tasks instruction_induction/antonyms \\
        bbh/boolean_expressions --optimizer labeled --optimizer random --budget 200

    # against DSPy (pip install -e '.[local,compile,dspy]')
    python benchmarks/compile_tasks.py --tasks instruction_induction/antonyms \\
        --optimizer random --optimizer racing --system dspy-bfrs --system dspy-mipro

Splits and metrics come from ``benchmarks/tasks.py`` (read its docstring). One LM object with
the default on-disk cache serves the whole run, so a repeated run is answered from the cache:
the table's request counts stay the same (a cache hit is a request too, as in the compile
budget), the ``cached`` counts and the wall times show how much was served from the cache.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dspy_baseline
import plot
from tasks import REPO_ROOT, Task, default_data_dir, find_tasks, load_task, metric_for, program_for

import promptc
from promptc._compile.evaluate import program_inputs
from promptc.exceptions import BudgetExhaustedError
from promptc.optimizers import OPTIMIZERS  # type: ignore[import-not-found,unused-ignore]

DEFAULTS = {"n_train": 30, "n_val": 16, "n_test": 40, "budget": 200}
QUICK = {"n_train": 8, "n_val": 4, "n_test": 6, "budget": 40}
DEFAULT_OPTIMIZERS = ["labeled"]
SYSTEMS = [*sorted(OPTIMIZERS), *dspy_baseline.DSPY_SYSTEMS]


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
        "--optimizer",
        action="append",
        choices=sorted(OPTIMIZERS),
        help="a promptc strategy; repeatable "
        f"(default, without --optimizer or --system: {' '.join(DEFAULT_OPTIMIZERS)})",
    )
    parser.add_argument(
        "--system",
        action="append",
        choices=SYSTEMS,
        help="a promptc strategy or a DSPy baseline (dspy-bfrs: BootstrapFewShotWithRandomSearch,\n"
        "dspy-mipro: MIPROv2; needs the [dspy] extra); repeatable, run after --optimizer ones",
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
    parser.add_argument("--seed", type=int, default=0, help="splits and compiles (default 0)")
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
        "--out",
        type=Path,
        default=REPO_ROOT / "benchmarks" / "results",
        help="directory for the dated JSON results file (default: %(default)s)",
    )
    parser.add_argument("--progress", action="store_true", help="progress bars on stderr")
    args = parser.parse_args(argv)
    profile = QUICK if args.quick else DEFAULTS
    for key, value in profile.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    args.systems = [*(args.optimizer or []), *(args.system or [])] or list(DEFAULT_OPTIMIZERS)
    args.data_dir = args.data_dir or default_data_dir()
    for key in ("budget", "n_train", "n_val", "n_test", "threads", "lm_threads", "max_tokens"):
        if getattr(args, key) is not None and getattr(args, key) < 1:
            parser.error(f"--{key.replace('_', '-')} must be at least 1, got {getattr(args, key)}")
    return args


@dataclass
class Runner:
    """What every measurement of one run shares: the LM and the settings."""

    lm: promptc.LM
    args: argparse.Namespace

    def evaluate(self, program: promptc.Module, task: Task) -> tuple[Any, float]:
        started = time.perf_counter()
        result = promptc.evaluate(
            program,
            task.test,
            metric_for(task.metric),
            lm=self.lm,
            num_threads=self.args.threads,
            progress=self.args.progress,
        )
        return result, time.perf_counter() - started

    def compile(self, program: promptc.Module, task: Task, optimizer: str) -> tuple[Any, float]:
        started = time.perf_counter()
        result = promptc.compile(
            program,
            list(task.train),
            metric_for(task.metric),
            valset=list(task.val),
            optimizer=optimizer,
            budget=self.args.budget,
            seed=self.args.seed,
            lm=self.lm,
            num_threads=self.args.threads,
            progress=self.args.progress,
        )
        return result, time.perf_counter() - started


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _requests(usage: dict[str, Any]) -> int:
    """Requests an evaluation served: fresh calls (each retry counts) plus cache hits."""
    return int(usage.get("calls", 0)) + int(usage.get("cache_hits", 0))


def _scores(result: Any) -> dict[str, Any]:
    return {
        "mean": result.mean,
        "ci95": list(result.ci),
        "n": len(result.results),
        "errors": result.errors,
    }


def _examples(task: Task, result: Any) -> list[dict[str, Any]]:
    return [
        {
            "id": task.test[r.index]["id"],
            "score": r.score,
            "prediction": r.prediction,
            "error": r.error,
        }
        for r in result.results
    ]


def _test_record(task: Task, result: Any, wall: float) -> dict[str, Any]:
    return {
        **_scores(result),
        "lm_requests": _requests(result.usage),
        "usage": result.usage,
        "wall_s": round(wall, 2),
        "examples": _examples(task, result),
    }


def _params(program: promptc.Module) -> dict[str, Any]:
    return {
        name: {"instruction": p.instruction, "demos": list(p.demos)}
        for name, p in program.get_params().items()
    }


def _token_counts(spent: dict[str, Any]) -> dict[str, int]:
    return {k: int(spent[k]) for k in ("prompt_tokens", "completion_tokens")}


def _compile_promptc(runner: Runner, task: Task, program: promptc.Module, system: str) -> Any:
    """A promptc strategy's compile record, or an error record; and the compiled program."""
    try:
        compiled, compile_wall = runner.compile(program, task, system)
    except BudgetExhaustedError as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}, None
    spent = compiled.spent.model_dump(mode="json")
    record = {
        "lm_requests": spent["lm_requests"],
        "spent": spent,
        # Calls and cache hits of this run, tokens of every response served (cached or not).
        "run_usage": {**compiled.run_usage, **_token_counts(spent)},
        "wall_s": round(compile_wall, 2),
        "val_uncompiled": _scores(compiled.baseline),
        "val_best": _scores(compiled.best),
        "trials": [t.model_dump(mode="json") for t in compiled.trials],
        "params": _params(compiled.program),
    }
    return {"compile": record}, compiled.program


def _run_dspy(runner: Runner, task: Task, program: promptc.Module, system: str) -> dict[str, Any]:
    """A DSPy baseline: compile the DSPy twin of ``program``, then score it on test."""
    metric, args = metric_for(task.metric), runner.args
    compiled = dspy_baseline.compile_dspy(
        system,
        program,
        task,
        metric,
        runner.lm,
        budget=args.budget,
        seed=args.seed,
        threads=args.threads,
    )
    record: dict[str, Any] = {
        "compile": {
            "lm_requests": dspy_baseline.requests(compiled.usage),
            "run_usage": compiled.usage,
            "wall_s": round(compiled.wall_s, 2),
            "val_best": None if compiled.val_score is None else {"mean": compiled.val_score},
            "settings": compiled.settings,
            "demos": compiled.demos,
        }
    }
    _log(f"{task.name}: {system}-compiled program on {len(task.test)} test rows")
    inputs = program_inputs(program)[0]
    result = dspy_baseline.evaluate_dspy(
        compiled.program, task.test, inputs, metric, runner.lm, threads=args.threads
    )
    record["test"] = {
        "mean": result.mean,
        "ci95": list(result.ci),
        "n": len(result.scores),
        "errors": sum(e is not None for e in result.errors),
        "lm_requests": dspy_baseline.requests(result.usage),
        "usage": result.usage,
        "wall_s": round(result.wall_s, 2),
        "examples": [
            {"id": row["id"], "score": score, "prediction": prediction, "error": error}
            for row, score, prediction, error in zip(
                task.test, result.scores, result.predictions, result.errors, strict=True
            )
        ],
    }
    return record


def run_task(runner: Runner, task: Task) -> list[dict[str, Any]]:
    """The uncompiled program, then each system's compiled program, scored on test."""
    program = program_for(task)
    base = {"task": task.name, "group": task.group, "metric": task.metric}
    _log(f"{task.name}: uncompiled program on {len(task.test)} test rows")
    result, wall = runner.evaluate(program, task)
    records = [{**base, "system": "uncompiled", "test": _test_record(task, result, wall)}]
    for system in runner.args.systems:
        _log(f"{task.name}: compiling with {system!r} (budget {runner.args.budget})")
        if system in dspy_baseline.DSPY_SYSTEMS:
            try:
                records.append(
                    {**base, "system": system, **_run_dspy(runner, task, program, system)}
                )
            except Exception as exc:  # a baseline that breaks is reported, not fatal
                _log(f"{task.name}: {system} failed: {type(exc).__name__}: {exc}")
                records.append({**base, "system": system, "error": f"{type(exc).__name__}: {exc}"})
            continue
        outcome, compiled = _compile_promptc(runner, task, program, system)
        record = {**base, "system": system, **outcome}
        if compiled is None:
            _log(f"{task.name}: {system} failed: {outcome['error']}")
        else:
            _log(f"{task.name}: {system}-compiled program on {len(task.test)} test rows")
            result, wall = runner.evaluate(compiled, task)
            record["test"] = _test_record(task, result, wall)
        records.append(record)
    return records


def _ci(scores: dict[str, Any]) -> str:
    lo, hi = scores["ci95"]
    return f"{scores['mean']:.3f} [{lo:.3f}, {hi:.3f}]"


def _with_cached(requests: int, cached: int) -> str:
    return f"{requests} ({cached} cached)" if cached else str(requests)


def _uncompiled_val(records: list[dict[str, Any]], task: str) -> str:
    """The uncompiled program's val score, as the first compile of ``task`` measured it."""
    for r in records:
        if r["task"] == task and "val_uncompiled" in r.get("compile", {}):
            return f"{r['compile']['val_uncompiled']['mean']:.3f}"
    return "—"


HEADER = (
    "| task | metric | system | test score [95% CI] | n | errors | val score "
    "| compile LM requests | test LM requests | compile s | test s | compile tokens | test tokens |"
)


def _tokens(usage: dict[str, Any]) -> str:
    return f"{int(usage.get('prompt_tokens', 0)) + int(usage.get('completion_tokens', 0)):,}"


def format_table(records: list[dict[str, Any]]) -> str:
    """One Markdown table: a row per (task, system), figures as measured.

    Requests count fresh calls and cache hits alike (``(N cached)`` says how many were hits);
    tokens are prompt plus completion tokens of every request served.
    """
    lines = [HEADER, "|" + "---|" * 3 + "---:|" * 10]
    for r in records:
        head = f"| {r['task']} | {r['metric']} | {r['system']} |"
        if "error" in r:
            lines.append(f"{head} failed: {r['error']} |" + " |" * 9)
            continue
        test, c = r["test"], r.get("compile")
        cells = [_ci(test), str(test["n"]), str(test["errors"])]
        if c is not None:
            cells += [
                f"{c['val_best']['mean']:.3f}" if c.get("val_best") else "—",
                _with_cached(c["lm_requests"], c["run_usage"].get("cache_hits", 0)),
            ]
        else:
            cells += [_uncompiled_val(records, r["task"]), "—"]
        cells += [
            _with_cached(test["lm_requests"], test["usage"].get("cache_hits", 0)),
            f"{c['wall_s']:.1f}" if c is not None else "—",
            f"{test['wall_s']:.1f}",
            _tokens(c["run_usage"]) if c is not None else "—",
            _tokens(test["usage"]),
        ]
        lines.append(f"{head} {' | '.join(cells)} |")
    return "\n".join(lines)


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=30, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def _environment(lm: promptc.LM) -> dict[str, Any]:
    status = _git("status", "--porcelain")
    return {
        "promptc_version": promptc.__version__,
        "git_commit": _git("rev-parse", "HEAD"),
        "git_dirty": None if status is None else bool(status),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "lm": lm.settings(),
        "lm_cache": str(lm.cache.path) if lm.cache is not None else None,
    }


def _task_record(task: Task) -> dict[str, Any]:
    return {
        "name": task.name,
        "metric": task.metric,
        "seed": task.seed,
        "sizes": task.sizes(),
        "sources": task.sources,
        "input_overlap": task.input_overlap,
        "ids": {
            "train": [r["id"] for r in task.train],
            "val": [r["id"] for r in task.val],
            "test": [r["id"] for r in task.test],
        },
    }


def _settings(args: argparse.Namespace) -> dict[str, Any]:
    return {k: str(v) if isinstance(v, Path) else v for k, v in sorted(vars(args).items())}


def load_fitted(folder: Path, args: argparse.Namespace) -> Task:
    """The task's splits at the asked sizes, or halved until they fit a small task (HotPotQA's
    53 rows) and said so on stderr; the sizes used are in the results."""
    sizes = {"n_train": args.n_train, "n_val": args.n_val, "n_test": args.n_test}
    for _ in range(4):
        try:
            return load_task(folder, seed=args.seed, root=args.data_dir, **sizes)
        except ValueError as exc:
            if "no rows left" not in str(exc) or min(sizes.values()) < 2:
                raise
            sizes = {k: max(1, v // 2) for k, v in sizes.items()}
            _log(f"{folder.name}: too few rows for the asked sizes; trying {sizes}")
    return load_task(folder, seed=args.seed, root=args.data_dir, **sizes)


def make_lm(args: argparse.Namespace) -> promptc.LM:
    """The one LM of the run, with the default on-disk cache."""
    options: dict[str, Any] = {}
    if args.max_tokens is not None:
        options["max_tokens"] = args.max_tokens
    if args.lm_threads is not None:
        if not args.model.startswith("local/"):
            raise SystemExit("--lm-threads applies to local/ models only")
        name = args.model.removeprefix("local/")
        options["backend"] = promptc.LocalBackend(name, n_threads=args.lm_threads)
    return promptc.LM(args.model, **options)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started, clock = dt.datetime.now(dt.timezone.utc), time.perf_counter()
    folders = find_tasks(args.data_dir, args.tasks)
    tasks = [load_fitted(folder, args) for folder in folders]
    lm = make_lm(args)
    runner = Runner(lm, args)
    records: list[dict[str, Any]] = []
    for task in tasks:
        _log(f"{task.name}: metric {task.metric}, rows {task.sizes()}, from {task.sources}")
        records.extend(run_task(runner, task))
    table = format_table(records)
    wall = time.perf_counter() - clock
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"compile_tasks-{started:%Y-%m-%dT%H%M%SZ}.json"
    payload = {
        "script": "benchmarks/compile_tasks.py",
        "argv": sys.argv[1:] if argv is None else argv,
        "settings": _settings(args),
        "started_utc": started.isoformat(timespec="seconds"),
        "wall_s": round(wall, 1),
        "environment": _environment(lm),
        "tasks": [_task_record(t) for t in tasks],
        "results": records,
        "table": table,
    }
    path.write_text(json.dumps(payload, indent=1, ensure_ascii=False, default=str) + "\n")
    sizes = ", ".join(
        f"{t.name} {t.sizes()['train']}/{t.sizes()['val']}/{t.sizes()['test']}" for t in tasks
    )
    summary = (
        f"LM {lm.settings()}; seed {args.seed}; budget {args.budget} LM requests per compile; "
        f"rows train/val/test: {sizes}; total wall {wall:.0f} s"
    )
    plot_path = path.with_suffix(".svg")
    plot_path.write_text(plot.accuracy_vs_calls_svg(records), encoding="utf-8")
    table_path = path.with_suffix(".md")
    table_path.write_text(
        f"{summary}\n\n{table}\n\n![score vs LM requests]({plot_path.name})\n", encoding="utf-8"
    )
    print(f"{summary}\n")
    print(table)
    print(f"\nresults: {path}\ntable: {table_path}\nplot: {plot_path}")
    return 1 if any("error" in r for r in records) else 0


if __name__ == "__main__":
    sys.exit(main())
