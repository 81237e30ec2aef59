"""Task folders of the shared benchmark data: find them, load seeded splits, pick their metric.

A *task folder* holds one example per line in ``train.jsonl``, ``valid.jsonl`` / ``dev.jsonl``
and/or ``test.jsonl``; every row has ``input`` and ``target`` (and optionally ``targets``, more
accepted answers, and ``id``). A *group* is a folder of task folders (``instruction_induction``,
``bbh``); a folder that holds split files directly (``gsm8k``) is a task and its own group.
Nothing here assumes that a particular task exists: any folder of this layout loads.

How the train / val / test splits are made (:func:`load_task`): each split takes its rows from
its own file when the folder has one, else it is carved from another file (test from train or
valid; val from train or test; train from valid or test). Every file is shuffled with the seed
before rows are taken, and rows are taken in the order test, val, train, so the test rows depend
only on the seed and ``n_test``. In practice:

* ``instruction_induction``, ``gsm8k``, ``trec`` (train + test): train and val are two disjoint
  seeded samples of ``train.jsonl``; test is a seeded sample of ``test.jsonl``.
* ``bbh`` (test only): test, val and train are carved, in that order, from one seeded shuffle of
  ``test.jsonl``, as SOURCES.md suggests for a compiler that needs a train/dev pool. The task's
  three CoT exemplars (``fewshot_cot.jsonl``, not part of ``test.jsonl``) open the train split,
  which is then filled up to ``n_train`` with carved rows.
* ``sst2`` (train + dev + test): each split is a seeded sample of its own file.
* ``hotpotqa`` (``dev_distractor_first53.jsonl``, read as the val file): test, val and train are
  carved from its 53 rows, so ask for at most 53 in all (e.g. 25 / 12 / 16). Its rows carry
  their ten ``context`` paragraphs, so :func:`program_for` gives it the multi-hop program:
  BM25 over the paragraphs of every loaded row (the distractor setting's pooled corpus).
* ``gsm8k`` is scored with ``numeric_match``, so :func:`program_for` gives it
  :class:`promptc.programs.MathCoT` (reasoning, then a number).

A test row never appears in train or val: the splits are checked to be disjoint by ``id`` (rows
without one get ``<file>:<line>``). Identical *inputs* can still occur under different ids when
the source data repeats them; :attr:`Task.input_overlap` counts them so a report can say so.

Metrics are chosen by :mod:`benchmarks.metrics`. Run from the repository root:
``python -m benchmarks.compile_tasks --help``.
"""

from __future__ import annotations

import difflib
import json
import logging
import os
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import promptc
from benchmarks.metrics import task_metric
from benchmarks.task_programs import HotpotMultiHop, InputTarget
from promptc.programs import (  # type: ignore[import-not-found,unused-ignore]
    BM25Retriever,
    MathCoT,
    hotpotqa_passages,
)

__all__ = [
    "SPLIT_FILES",
    "HotpotMultiHop",
    "InputTarget",
    "Task",
    "TaskNotFoundError",
    "default_data_dir",
    "find_tasks",
    "load_task",
    "program_for",
    "spare_test_rows",
    "task_description",
]

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[1]

#: File names of each split, in order of preference.
SPLIT_FILES: dict[str, tuple[str, ...]] = {
    "train": ("train.jsonl",),
    # HotPotQA's distractor rows (with context) are the only dev file of that folder to use.
    "val": ("valid.jsonl", "dev.jsonl", "validation.jsonl", "dev_distractor_first53.jsonl"),
    "test": ("test.jsonl",),
}
#: Where a split takes its rows when its own file is missing (the first file that exists).
_FALLBACK = {"test": ("train", "val"), "val": ("train", "test"), "train": ("val", "test")}
#: Extra demo rows a folder may ship (BBH's parsed CoT exemplars); they only join train.
_EXTRA_TRAIN = "fewshot_cot.jsonl"


class TaskNotFoundError(LookupError):
    """A task or group name matches no task folder under the data root."""


@dataclass(frozen=True)
class Task:
    """One task's seeded splits and its metric.

    Attributes:
        name: the folder relative to the data root (``bbh/boolean_expressions``, ``gsm8k``).
        group: the first component of ``name``.
        metric: a metric name for :func:`benchmarks.metrics.metric_for` (``exact_match``,
            ``exact_set``, ...).
        train: rows demos may be drawn from.
        val: rows a compiler scores candidates on.
        test: held-out rows, disjoint from train and val by ``id``.
        seed: the seed the splits were drawn with.
        sources: the file each split was taken from (``{"val": "train.jsonl", ...}``).
        input_overlap: train/val rows whose ``input`` equals a test row's input (under another
            id; this comes from repeats in the source data).
        description: what a person would say the task is, from the data's own files (the
            instruction-induction tasks' human-written ``reference_instructions.json``, the
            longest one; a BBH task's one-line description atop ``cot_prompt.txt``), or
            ``None``. A compile without labels needs it: without labels or a description, no
            prompt can tell what "Answer the input." should do.
    """

    name: str
    group: str
    metric: str
    train: tuple[dict[str, Any], ...]
    val: tuple[dict[str, Any], ...]
    test: tuple[dict[str, Any], ...]
    seed: int
    sources: dict[str, str] = field(default_factory=dict)
    input_overlap: int = 0
    description: str | None = None

    def sizes(self) -> dict[str, int]:
        """Rows per split."""
        return {"train": len(self.train), "val": len(self.val), "test": len(self.test)}


def default_data_dir() -> Path:
    """``$PROMPTC_DATA_DIR`` if set, else ``../shared/data`` next to the repository root."""
    env = os.environ.get("PROMPTC_DATA_DIR")
    return Path(env).expanduser() if env else REPO_ROOT.parent / "shared" / "data"


def _split_files(folder: Path) -> dict[str, Path]:
    found = {}
    for split, names in SPLIT_FILES.items():
        for name in names:
            if (folder / name).is_file():
                found[split] = folder / name
                break
    return found


def _is_task(folder: Path) -> bool:
    return folder.is_dir() and bool(_split_files(folder))


def _tasks_under(folder: Path) -> list[Path]:
    if _is_task(folder):
        return [folder]
    return sorted(p for p in folder.rglob("*") if _is_task(p))


def _available(root: Path) -> str:
    names = [p.relative_to(root).as_posix() for p in _tasks_under(root)]
    groups = sorted({n.split("/")[0] for n in names})
    by_group = []
    for group in groups:
        members = [n.split("/", 1)[1] for n in names if "/" in n and n.split("/")[0] == group]
        by_group.append(f"{group} ({len(members)}: {', '.join(members)})" if members else group)
    return "; ".join(by_group) or "none"


def find_tasks(root: Path, names: Sequence[str]) -> list[Path]:
    """The task folders named by ``names``, in order and without repeats.

    Args:
        root: the data root.
        names: task names relative to ``root`` (``instruction_induction/antonyms``,
            ``bbh/boolean_expressions``, ``gsm8k``) or whole groups (``instruction_induction``:
            every task folder under it).

    Raises:
        TaskNotFoundError: the root does not exist, or a name matches no task folder; the
            message lists the tasks that do exist (and close matches).
    """
    root = Path(root)
    if not root.is_dir():
        raise TaskNotFoundError(
            f"data root {root} does not exist; pass --data-dir or set PROMPTC_DATA_DIR"
        )
    found: list[Path] = []
    for name in names:
        parts = Path(name).parts
        if not parts or Path(name).is_absolute() or ".." in parts:
            raise TaskNotFoundError(f"task name {name!r} must be a path inside {root}")
        folder = root.joinpath(*parts)
        tasks = _tasks_under(folder) if folder.is_dir() else []
        if not tasks:
            raise TaskNotFoundError(_not_found(root, name, folder))
        found.extend(t for t in tasks if t not in found)
    return found


def _not_found(root: Path, name: str, folder: Path) -> str:
    known = [p.relative_to(root).as_posix() for p in _tasks_under(root)]
    known += sorted({k.split("/")[0] for k in known})
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
    what = (
        f"{folder} holds no {' / '.join(n for v in SPLIT_FILES.values() for n in v)} file"
        if folder.is_dir()
        else f"no task {name!r} under {root}"
    )
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    return f"{what}.{hint} Available: {_available(root)}"


def _read_rows(path: Path) -> list[dict[str, Any]]:
    rows = promptc.load_dataset(path)
    for number, row in enumerate(rows, start=1):
        missing = [k for k in ("input", "target") if k not in row]
        if missing:
            raise ValueError(f"{path}: row {number} lacks {missing}; it has {sorted(row)}")
        row.setdefault("id", f"{path.name}:{number}")
        row["id"] = str(row["id"])
    return rows


def _find_root(folder: Path) -> Path | None:
    """The nearest ancestor (or the folder itself) that holds manifest.json."""
    for candidate in (folder, *folder.parents):
        if (candidate / "manifest.json").is_file():
            return candidate
    return None


def _task_name(folder: Path, root: Path | None) -> str:
    """The folder relative to the data root; without a root, ``<parent>/<folder>``."""
    if root is not None:
        relative = folder.resolve().relative_to(root.resolve()) if _inside(folder, root) else None
        if relative is not None and relative.parts:
            return relative.as_posix()
    return f"{folder.resolve().parent.name}/{folder.name}" if root is None else folder.name


def _inside(folder: Path, root: Path) -> bool:
    return folder.resolve().is_relative_to(root.resolve())


def _read_shuffled(path: Path, seed: int) -> list[dict[str, Any]]:
    """The file's rows in a seeded order; each task file gets its own order for one seed."""
    order = _read_rows(path)
    # A str seed is hashed with sha512 by random.Random: stable across runs and platforms.
    random.Random(f"{seed}:{path.parent.name}/{path.name}").shuffle(order)
    return order


def _carve(
    files: dict[str, Path], seed: int, sizes: Mapping[str, int]
) -> tuple[dict[str, list[dict[str, Any]]], dict[str, str]]:
    pools = {split: _read_shuffled(path, seed) for split, path in files.items()}
    taken: dict[str, list[dict[str, Any]]] = {}
    sources: dict[str, str] = {}
    for split in ("test", "val", "train"):
        source = split if split in pools else next(s for s in _FALLBACK[split] if s in pools)
        pool = pools[source]
        taken[split], pools[source] = pool[: sizes[split]], pool[sizes[split] :]
        sources[split] = files[source].name
    return taken, sources


def load_task(
    folder: Path,
    *,
    seed: int,
    n_train: int,
    n_val: int,
    n_test: int,
    root: Path | None = None,
) -> Task:
    """Load a task folder into seeded train / val / test splits (see the module docstring).

    A split gets fewer rows than asked when its source has fewer left; it is never empty.

    Args:
        folder: the task folder.
        seed: seeds every shuffle; the same seed gives the same splits.
        n_train: train rows (BBH's CoT exemplars, when present, are among them).
        n_val: validation rows.
        n_test: test rows.
        root: the data root (the task name is the folder relative to it, and its
            manifest.json gives the metric); default: the nearest ancestor holding
            ``manifest.json``; without one the name is ``<parent>/<folder>``.

    Raises:
        TaskNotFoundError: the folder holds no split file.
        ValueError: a size is below 1, a split would be empty, a row lacks ``input`` or
            ``target``, or (a bug) a test id also occurs in train or val.
    """
    folder = Path(folder)
    sizes = {"train": n_train, "val": n_val, "test": n_test}
    bad = {k: v for k, v in sizes.items() if not isinstance(v, int) or v < 1}
    if bad:
        raise ValueError(f"split sizes must be positive integers, got {bad}")
    files = _split_files(folder)
    if not files:
        raise TaskNotFoundError(_not_found(folder.parent, folder.name, folder))
    root = Path(root) if root is not None else _find_root(folder)
    name = _task_name(folder, root)
    extra = _extra_train(folder, seed)
    taken, sources = _carve(files, seed, {**sizes, "train": max(n_train - len(extra), 0)})
    taken["train"] = (extra + taken["train"])[:n_train]
    if extra:
        sources["train"] = f"{_EXTRA_TRAIN} + {sources['train']}"
    empty = [split for split, rows in taken.items() if not rows]
    if empty:
        raise ValueError(
            f"{name}: no rows left for {empty} (sizes asked: {sizes}; files: "
            f"{sorted(p.name for p in files.values())}); ask for fewer rows"
        )
    _check_disjoint(name, taken)
    test_inputs = {str(r["input"]) for r in taken["test"]}
    overlap = sum(str(r["input"]) in test_inputs for r in taken["train"] + taken["val"])
    return Task(
        name=name,
        group=name.split("/")[0],
        metric=task_metric(name, taken["test"] + taken["val"] + taken["train"], root),
        train=tuple(taken["train"]),
        val=tuple(taken["val"]),
        test=tuple(taken["test"]),
        seed=seed,
        sources=sources,
        input_overlap=overlap,
        description=task_description(folder),
    )


def spare_test_rows(folder: Path, *, n_train: int, n_val: int) -> int:
    """The most test rows ``folder`` can give while val and train keep ``n_val`` and
    ``n_train`` rows (0 when even those do not fit), for any seed.

    A test split with its own file can take all of it; one carved from the file val or train
    also come from (BBH's ``test.jsonl``) leaves them their rows.
    """
    files = _split_files(Path(folder))
    if not files:
        raise TaskNotFoundError(_not_found(Path(folder).parent, Path(folder).name, Path(folder)))
    counts = {split: len(_read_rows(path)) for split, path in files.items()}
    source = {
        split: split if split in files else next(s for s in _FALLBACK[split] if s in files)
        for split in ("test", "val", "train")
    }
    extra = len(_extra_train(Path(folder), 0))
    wanted = {"val": n_val, "train": max(n_train - extra, 0)}
    taken = sum(n for split, n in wanted.items() if source[split] == source["test"])
    return max(counts[source["test"]] - taken, 0)


def task_description(folder: Path) -> str | None:
    """The task's description from its folder's own files (see :attr:`Task.description`)."""
    reference = folder / "reference_instructions.json"
    if reference.is_file():
        notes = json.loads(reference.read_text(encoding="utf-8")).get("annotations", [])
        texts = [str(n).strip() for n in notes if str(n).strip()]
        return max(texts, key=lambda t: (len(t), t)) if texts else None
    prompt = folder / "cot_prompt.txt"
    if prompt.is_file():
        lines = prompt.read_text(encoding="utf-8").splitlines()
        after = lines[lines.index("-----") + 1 :] if "-----" in lines else lines
        first = next((line.strip() for line in after if line.strip()), "")
        return first or None
    return None


def _extra_train(folder: Path, seed: int) -> list[dict[str, Any]]:
    path = folder / _EXTRA_TRAIN
    return _read_shuffled(path, seed) if path.is_file() else []


def _check_disjoint(name: str, taken: Mapping[str, list[dict[str, Any]]]) -> None:
    test_ids = {r["id"] for r in taken["test"]}
    for split in ("train", "val"):
        leaked = test_ids & {r["id"] for r in taken[split]}
        if leaked:
            raise ValueError(f"{name}: test ids {sorted(leaked)[:5]} also occur in {split}")
    shared = {r["id"] for r in taken["train"]} & {r["id"] for r in taken["val"]}
    if shared:
        raise ValueError(f"{name}: ids {sorted(shared)[:5]} occur in both train and val")


_GENERIC_INSTRUCTION = "Answer the input."


def program_for(task: Task, *, described: bool = False) -> promptc.Module:
    """The uncompiled program a task starts from.

    With ``described``, the instruction is the task's :attr:`Task.description` (when it has
    one) instead of the generic one: what a person compiling without labels starts from.

    For most tasks (classification, free-form, BBH multiple choice), ``input -> target``, one
    prompt, with a deliberately generic instruction ("Answer the input."): it says nothing
    about the task, so a compiler's job is to do better than that, with demos or a better
    instruction. For a task whose every row carries HotPotQA ``context`` paragraphs,
    :class:`HotpotMultiHop` (two hops of query + BM25 retrieval over the paragraphs of all the
    task's rows, then an answer; three prompts); it needs the ``[retrieve]`` extra. For a task
    scored with ``numeric_match`` (GSM8K), :class:`promptc.programs.MathCoT` (reasoning, then
    a number) on the rows through :class:`InputTarget`, with MathCoT's own instruction unless
    a description replaces it.
    """
    rows = [*task.train, *task.val, *task.test]
    if rows and all(isinstance(r.get("context"), list) for r in rows):
        return HotpotMultiHop(BM25Retriever(hotpotqa_passages(rows)), passages_per_hop=3)
    if task.metric == "numeric_match":
        math = MathCoT(instruction=task.description if described else None)
        return InputTarget(math, input_field="question", target_field="answer")
    instruction = (task.description if described else None) or _GENERIC_INSTRUCTION
    signature = promptc.make_signature("input -> target", instruction=instruction)
    return promptc.Predict(signature)
