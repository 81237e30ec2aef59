"""A run's results folder, one file per finished cell, so a long run survives its session.

A *cell* is one system on one task with one seed. The folder holds::

    run.json                        the settings every cell depends on, and the command
    cells/<task>--<system>--seed<k>.json   one finished cell: its row, its task's splits, its
                                           wall time (written whole or not at all)

A rerun with the same folder skips every cell that has a file (a finished cell is never run
again, failed or not) and runs the others, so a killed run restarts at the cell it was in. The
folder refuses settings that differ from its ``run.json`` (:class:`RunFolder`), since its
cells would no longer be comparable. Which cells a command asks for (its tasks, systems and
seeds) is not such a setting: a cell is named by them, so a later command may add a system or a
seed to the run, and two processes may fill one folder with different cells (each cell is
checked again just before it starts, so a cell another process finished is not rerun).
:class:`Progress` says how far a run is, with an ETA.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.records import JSON, ResultRow, row_from_json
from promptc.exceptions import ConfigurationError

__all__ = [
    "Cell",
    "CellResult",
    "Progress",
    "RunFolder",
    "format_seconds",
    "ran_at",
    "run_cells",
]

logger = logging.getLogger(__name__)

_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]+")


@dataclass(frozen=True)
class Cell:
    """One system on one task with one seed."""

    task: str
    system: str
    seed: int

    @property
    def file_name(self) -> str:
        task = _UNSAFE.sub("_", self.task.replace("/", "__"))
        return f"{task}--{_UNSAFE.sub('_', self.system)}--seed{self.seed}.json"

    def __str__(self) -> str:
        return f"{self.task} · {self.system} · seed {self.seed}"


@dataclass(frozen=True)
class CellResult:
    """A finished cell: its result row, the record of its task's splits, its wall time, and
    the code it ran with (``source``: its git commit and whether the tree was dirty; ``None``
    for cells written before cells recorded it)."""

    row: ResultRow
    task: Mapping[str, Any]
    wall_s: float
    source: Mapping[str, Any] | None = None

    def to_json(self) -> JSON:
        data: JSON = {"row": self.row.to_json(), "task": dict(self.task), "wall_s": self.wall_s}
        if self.source is not None:
            data["source"] = dict(self.source)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CellResult:
        source = data.get("source")
        return cls(
            row_from_json(data["row"]),
            dict(data["task"]),
            float(data["wall_s"]),
            None if source is None else dict(source),
        )

    @property
    def ran_at(self) -> str:
        """The short commit the cell ran at (``+dirty`` if the tree differed from it), or
        ``unrecorded``."""
        source = self.source or {}
        commit = source.get("git_commit")
        if not commit:
            return "unrecorded"
        return f"{commit[:7]}{'+dirty' if source.get('git_dirty') else ''}"


def _write_whole(path: Path, text: str) -> None:
    """Write ``text`` so that ``path`` holds all of it or none (a kill leaves no half file)."""
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)


def _differences(stored: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    keys = dict.fromkeys([*stored, *current])
    return [
        f"{key}: {stored.get(key)!r} in the folder, {current.get(key)!r} now"
        for key in keys
        if stored.get(key) != current.get(key)
    ]


class RunFolder:
    """The results folder of one run (see the module docstring).

    Args:
        path: the folder.
        settings: what every cell's result depends on (tasks, systems, seeds, model, sizes,
            budget, ...), as JSON values.
        command: the command line, kept in ``run.json`` for whoever resumes the run.
        resume: the folder must already exist (``--resume``).

    Raises:
        ConfigurationError: ``resume`` and the folder holds no run; or the folder's settings
            differ from ``settings`` (the message names each difference).
    """

    def __init__(
        self,
        path: Path,
        settings: Mapping[str, Any],
        *,
        command: Sequence[str] = (),
        resume: bool = False,
    ) -> None:
        self.path = Path(path)
        self.cells = self.path / "cells"
        meta = self.path / "run.json"
        current = json.loads(json.dumps(settings))  # as it reads back (tuples -> lists)
        if meta.is_file():
            stored = json.loads(meta.read_text(encoding="utf-8"))["settings"]
            differs = _differences(stored, current)
            if differs:
                raise ConfigurationError(
                    f"the results folder {self.path} holds a run with other settings: "
                    f"{'; '.join(differs)}. Rerun with the folder's settings to resume it, "
                    "or pass another --run-id (or --out) for a new run"
                )
        elif resume:
            raise ConfigurationError(
                f"--resume {self.path}: no run.json there, so no run to resume; pass the "
                "folder a run created (benchmarks/results/compile_tasks-<run id>)"
            )
        else:
            self.cells.mkdir(parents=True, exist_ok=True)
            payload = {"settings": current, "command": list(command)}
            _write_whole(meta, json.dumps(payload, indent=1) + "\n")
        self.cells.mkdir(exist_ok=True)

    @classmethod
    def of_run(
        cls,
        fresh: Path,
        settings: Mapping[str, Any],
        *,
        command: Sequence[str],
        resume: Path | None,
    ) -> RunFolder:
        """The folder ``resume`` (which must hold a run), else ``fresh`` (new or resumed)."""
        folder = fresh if resume is None else resume
        return cls(folder, settings, command=command, resume=resume is not None)

    def finished(self, cell: Cell) -> CellResult | None:
        """The cell's result, or ``None`` if it has not finished."""
        path = self.cells / cell.file_name
        if not path.is_file():
            return None
        return CellResult.from_json(json.loads(path.read_text(encoding="utf-8")))

    def write(self, cell: Cell, result: CellResult) -> None:
        """Record a finished cell."""
        text = json.dumps(result.to_json(), indent=1, ensure_ascii=False, default=str)
        _write_whole(self.cells / cell.file_name, text + "\n")


def format_seconds(seconds: float) -> str:
    """``45 s``, ``12 min``, ``3 h 05 min``."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    return f"{minutes} min" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"


class Progress:
    """How far a run is: cells done of all, and an ETA for the rest.

    The ETA adds, for each cell left, the mean wall time of the finished cells of its system
    (else of all finished cells): systems differ by orders of magnitude (the uncompiled
    program is scored only; an adapter choice compiles three times).

    Args:
        cells: every cell of the run, in run order.
        walls: wall seconds of the cells already finished.
    """

    def __init__(self, cells: Sequence[Cell], walls: Mapping[Cell, float]) -> None:
        self.cells = list(cells)
        self.walls = dict(walls)

    def eta(self) -> float | None:
        """Seconds the cells left should take; ``None`` before any cell finished."""
        if not self.walls:
            return None
        overall = sum(self.walls.values()) / len(self.walls)
        total = 0.0
        for cell in self.cells:
            if cell in self.walls:
                continue
            same = [w for c, w in self.walls.items() if c.system == cell.system]
            total += sum(same) / len(same) if same else overall
        return total

    def finished(self, cell: Cell, wall: float) -> str:
        """Record ``cell`` as done; the progress line to show."""
        self.walls[cell] = wall
        return f"{self.status()}: finished {cell} in {format_seconds(wall)}"

    def status(self) -> str:
        eta = self.eta()
        left = "ETA unknown" if eta is None else f"ETA {format_seconds(eta)}"
        return f"[{len(self.walls)}/{len(self.cells)} cells, {left}]"


#: A cell's work: run it, return its row and the record of its task's splits.
Work = Callable[[], tuple[ResultRow, Mapping[str, Any]]]


def run_cells(
    folder: RunFolder,
    plan: Sequence[tuple[Cell, Work]],
    *,
    finished_only: bool = False,
    source: Mapping[str, Any] | None = None,
) -> list[CellResult]:
    """Run, in order, every cell of ``plan`` that ``folder`` does not hold finished, writing
    each (with ``source``, the code it runs with) as it finishes and logging progress; return
    the results of all cells, in plan order (with ``finished_only``, run none and return the
    finished cells' results)."""
    done = {cell: found for cell, _ in plan if (found := folder.finished(cell)) is not None}
    progress = Progress([cell for cell, _ in plan], {c: r.wall_s for c, r in done.items()})
    logger.info("results folder %s: %s before this session", folder.path, progress.status())
    if finished_only:
        return [done[cell] for cell, _ in plan if cell in done]
    for cell, work in plan:
        if cell in done:
            continue
        if (found := folder.finished(cell)) is not None:  # another process finished it
            done[cell] = found
            logger.info("%s", progress.finished(cell, found.wall_s))
            continue
        started = time.perf_counter()
        row, task = work()
        done[cell] = CellResult(row, task, round(time.perf_counter() - started, 2), source)
        folder.write(cell, done[cell])
        logger.info("%s", progress.finished(cell, done[cell].wall_s))
    return [done[cell] for cell, _ in plan]


def ran_at(results: Sequence[CellResult]) -> dict[str, int]:
    """How many of ``results`` ran at each commit (:attr:`CellResult.ran_at`), most first."""
    return dict(Counter(r.ran_at for r in results).most_common())
