"""What a benchmark run records about where it ran, and its progress lines on stderr.

Shared by the task table (:mod:`benchmarks.compile_tasks`) and the preference benchmark
(:mod:`benchmarks.preferences`): the environment of a results file (versions, commit, the LMs)
and the record of a task's splits.
"""

from __future__ import annotations

import contextlib
import logging
import os
import platform
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import promptc
from benchmarks.tasks import REPO_ROOT, Task

__all__ = ["environment", "log_to_stderr", "source_state", "task_record"]


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=30, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


# Tracked files that cannot change what a run computes: its results, the tests and the prose.
_NOT_SOURCE = (":!benchmarks/results", ":!tests", ":!*.md")


def source_state() -> dict[str, Any]:
    """The commit the code runs at and whether its tracked files differ from it (``None``:
    not a git checkout). Only files that can change a result count: editing results, tests
    or prose (README, notes) beside a run does not make it dirty, nor do untracked files."""
    status = _git("status", "--porcelain", "--untracked-files=no", "--", ".", *_NOT_SOURCE)
    return {
        "git_commit": _git("rev-parse", "HEAD"),
        "git_dirty": None if status is None else bool(status),
    }


def environment(lm: promptc.LM, proposer: promptc.LM | None = None) -> dict[str, Any]:
    """Versions, commit, machine, and the settings of the task LM and the proposer."""
    return {
        "promptc_version": promptc.__version__,
        **source_state(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "lm": lm.settings(),
        "proposer": None if proposer is None else proposer.settings(),
        "lm_cache": str(lm.cache.path) if lm.cache is not None else None,
    }


def task_record(task: Task) -> dict[str, Any]:
    """The task's name, metric, seed, sizes, sources and the ids of its splits."""
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


@contextlib.contextmanager
def log_to_stderr() -> Iterator[None]:
    """Progress lines of the benchmarks (``task: compiling with ...``) on stderr, meanwhile."""
    root = logging.getLogger("benchmarks")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    level, propagate = root.level, root.propagate
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    root.propagate = False
    try:
        yield
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
        root.propagate = propagate
