"""Typed records of a task-table run, and their JSON (the format of ``benchmarks/results``).

A run of :mod:`benchmarks.compile_tasks` is a list of :class:`ResultRow`: one per (task,
system, seed), each holding what the :class:`~benchmarks.systems.System` returned
(:class:`SystemResult`). ``to_json`` gives the same dicts the results files have held since
the first run (fields added since, such as ``seed``, a DSPy compile's ``adapter`` and
``curve``, appear only when set), and :func:`row_from_json` reads every one of those files
back, so old results still plot and tabulate. :mod:`benchmarks.preferences` writes the same
rows, a compile from preferences recorded as :class:`PreferenceCompile`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "Curve",
    "DSPyCompile",
    "Difference",
    "ExampleOutcome",
    "PreferenceCompile",
    "PromptcCompile",
    "ResultRow",
    "Scores",
    "SystemResult",
    "TestRecord",
    "load_rows",
    "row_from_json",
    "rows_to_json",
]

JSON = dict[str, Any]
#: ``(LM requests spent, best validation score so far)`` points, in order of spend.
Curve = tuple[tuple[int, float], ...]


@dataclass(frozen=True)
class Scores:
    """A mean score over some rows, with its 95% bootstrap interval."""

    mean: float
    ci95: tuple[float, float]
    n: int
    errors: int

    def to_json(self) -> JSON:
        return {"mean": self.mean, "ci95": list(self.ci95), "n": self.n, "errors": self.errors}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Scores:
        lo, hi = data["ci95"]
        return cls(float(data["mean"]), (float(lo), float(hi)), int(data["n"]), data["errors"])


@dataclass(frozen=True)
class ExampleOutcome:
    """One test row's outcome: the row's id, its score, the prediction or the error."""

    id: str
    score: float
    prediction: Any
    error: str | None

    def to_json(self) -> JSON:
        return {
            "id": self.id,
            "score": self.score,
            "prediction": self.prediction,
            "error": self.error,
        }


@dataclass(frozen=True)
class TestRecord:
    """A program scored on a task's test rows.

    Attributes:
        scores: mean, CI, rows and errors.
        lm_requests: requests served (fresh calls, each retry counted, plus cache hits).
        usage: the LM usage of the evaluation (calls, cache hits, tokens, cost).
        wall_s: seconds the evaluation took.
        examples: per-row outcomes, in test-row order.
    """

    __test__ = False  # not a pytest class

    scores: Scores
    lm_requests: int
    usage: Mapping[str, Any]
    wall_s: float
    examples: tuple[ExampleOutcome, ...]

    def row_scores(self) -> list[float]:
        """Per-row scores in test-row order (for paired comparisons)."""
        return [e.score for e in self.examples]

    def to_json(self) -> JSON:
        return {
            **self.scores.to_json(),
            "lm_requests": self.lm_requests,
            "usage": dict(self.usage),
            "wall_s": self.wall_s,
            "examples": [e.to_json() for e in self.examples],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TestRecord:
        examples = tuple(
            ExampleOutcome(str(e["id"]), float(e["score"]), e.get("prediction"), e.get("error"))
            for e in data.get("examples", ())
        )
        return cls(
            Scores.from_json(data),
            int(data["lm_requests"]),
            dict(data.get("usage", {})),
            float(data["wall_s"]),
            examples,
        )


@dataclass(frozen=True)
class PromptcCompile:
    """What a promptc strategy's compile spent and found.

    Attributes:
        lm_requests: requests charged to the budget.
        spent: the artifact's spend record (budget, requests by phase, tokens, cost).
        run_usage: calls and cache hits of this run, tokens of every response served.
        wall_s: seconds the compile took.
        val_uncompiled: the uncompiled program on the validation rows.
        val_best: the compiled program on the same rows.
        trials: one JSON record per trial, in order.
        params: the compiled prompts (``{predictor: {instruction, demos}}``).
    """

    lm_requests: int
    spent: Mapping[str, Any]
    run_usage: Mapping[str, Any]
    wall_s: float
    val_uncompiled: Scores
    val_best: Scores
    trials: tuple[Mapping[str, Any], ...]
    params: Mapping[str, Any]

    @property
    def val_best_mean(self) -> float | None:
        return self.val_best.mean

    @property
    def curve(self) -> Curve:
        """The best validation score so far vs. LM requests, from the trial records."""
        return tuple(
            (int(t["requests"]), float(t["best"]))
            for t in self.trials
            if t.get("requests") is not None and t.get("best") is not None
        )

    def to_json(self) -> JSON:
        return {
            "lm_requests": self.lm_requests,
            "spent": dict(self.spent),
            "run_usage": dict(self.run_usage),
            "wall_s": self.wall_s,
            "val_uncompiled": self.val_uncompiled.to_json(),
            "val_best": self.val_best.to_json(),
            "trials": [dict(t) for t in self.trials],
            "params": dict(self.params),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PromptcCompile:
        return cls(
            int(data["lm_requests"]),
            dict(data["spent"]),
            dict(data["run_usage"]),
            float(data["wall_s"]),
            Scores.from_json(data["val_uncompiled"]),
            Scores.from_json(data["val_best"]),
            tuple(data.get("trials", ())),
            dict(data.get("params", {})),
        )


@dataclass(frozen=True)
class DSPyCompile:
    """What a DSPy optimizer's compile spent and found (DSPy enforces no budget).

    Attributes:
        lm_requests: requests it really made (fresh calls plus cache hits).
        run_usage: the LM usage during the compile.
        wall_s: seconds the compile took.
        val_best: DSPy's own validation score of its pick, when it reports one.
        settings: the optimizer's settings, sized from the budget.
        demos: demos per predictor of the compiled program.
        adapter: the DSPy adapter the compiled program formats its prompts with (``chat``,
            ``xml``, ``json``); ``None`` in runs before adapters were chosen (``chat``).
        adapters: with the adapter chosen on the validation rows, what each adapter's compile
            scored there and spent (``{adapter: {"val_best", "lm_requests"}}``); its spend is
            in ``lm_requests``.
        curve: the best validation score so far vs. LM requests spent, one point per full
            validation pass (:data:`Curve`); ``None`` when not recorded.
    """

    lm_requests: int
    run_usage: Mapping[str, Any]
    wall_s: float
    val_best: float | None
    settings: Mapping[str, Any]
    demos: Mapping[str, int]
    adapter: str | None = None
    adapters: Mapping[str, Mapping[str, Any]] | None = None
    curve: Curve | None = None

    @property
    def val_best_mean(self) -> float | None:
        return self.val_best

    def to_json(self) -> JSON:
        out: JSON = {
            "lm_requests": self.lm_requests,
            "run_usage": dict(self.run_usage),
            "wall_s": self.wall_s,
            "val_best": None if self.val_best is None else {"mean": self.val_best},
            "settings": dict(self.settings),
            "demos": dict(self.demos),
        }
        if self.adapter is not None:
            out["adapter"] = self.adapter
        if self.adapters is not None:
            out["adapters"] = {k: dict(v) for k, v in self.adapters.items()}
        if self.curve is not None:
            out["curve"] = [list(p) for p in self.curve]
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DSPyCompile:
        best = data.get("val_best")
        curve = data.get("curve")
        return cls(
            int(data["lm_requests"]),
            dict(data["run_usage"]),
            float(data["wall_s"]),
            None if best is None else float(best["mean"]),
            dict(data.get("settings", {})),
            dict(data.get("demos", {})),
            data.get("adapter"),
            data.get("adapters"),
            None if curve is None else tuple((int(r), float(b)) for r, b in curve),
        )


@dataclass(frozen=True)
class PreferenceCompile:
    """What a compile from simulated preferences spent, asked and kept.

    Attributes:
        strategy: the preference strategy (``apohf``, ``random_pairs``).
        feedback_budget: the cap on questions to the judge.
        lm_requests: requests charged to the LM budget.
        spent: the artifact's spend record.
        run_usage: calls and cache hits of this run, tokens of every response served.
        wall_s: seconds the compile took.
        questions: questions the judge answered.
        automatic: comparisons settled without asking (identical outputs, a failed output).
        verdicts: the judge's answers by verdict (``A``, ``B``, ``tie``, ``skip``).
        judge: the simulated judge's own counts (calls, ties, flips, noise).
        candidates: candidates the strategy built (the uncompiled program included).
        kept: the index of the kept candidate (0: the uncompiled program).
        ranking: the strategy's ranking, best first (index, candidate, utility, ci95, duels).
        params: the compiled prompts (``{predictor: {instruction, demos}}``).
    """

    strategy: str
    feedback_budget: int
    lm_requests: int
    spent: Mapping[str, Any]
    run_usage: Mapping[str, Any]
    wall_s: float
    questions: int
    automatic: int
    verdicts: Mapping[str, int]
    judge: Mapping[str, Any]
    candidates: int
    kept: int
    ranking: tuple[Mapping[str, Any], ...]
    params: Mapping[str, Any]

    @property
    def val_best_mean(self) -> float | None:
        """No labelled validation score: a compile from preferences has no metric."""
        return None

    def to_json(self) -> JSON:
        return {
            "strategy": self.strategy,
            "feedback_budget": self.feedback_budget,
            "lm_requests": self.lm_requests,
            "spent": dict(self.spent),
            "run_usage": dict(self.run_usage),
            "wall_s": self.wall_s,
            "questions": self.questions,
            "automatic": self.automatic,
            "verdicts": dict(self.verdicts),
            "judge": dict(self.judge),
            "candidates": self.candidates,
            "kept": self.kept,
            "ranking": [dict(r) for r in self.ranking],
            "params": dict(self.params),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PreferenceCompile:
        return cls(
            str(data["strategy"]),
            int(data["feedback_budget"]),
            int(data["lm_requests"]),
            dict(data["spent"]),
            dict(data["run_usage"]),
            float(data["wall_s"]),
            int(data["questions"]),
            int(data["automatic"]),
            dict(data["verdicts"]),
            dict(data["judge"]),
            int(data["candidates"]),
            int(data["kept"]),
            tuple(data.get("ranking", ())),
            dict(data.get("params", {})),
        )


CompileRecord = PromptcCompile | DSPyCompile | PreferenceCompile


@dataclass(frozen=True)
class SystemResult:
    """What one system did on one task: its compile (none for the uncompiled program) and its
    program scored on the test rows, or the error that stopped it, or why the system does not
    apply to the task (``skipped``: a DSPy baseline for a program it has no twin of); a
    skipped system is ``n/a`` in the tables, not a failure."""

    compile: CompileRecord | None = None
    test: TestRecord | None = None
    error: str | None = None
    skipped: str | None = None


@dataclass(frozen=True)
class ResultRow:
    """One row of the task table: a system on a task, with the seed of the task's splits and
    of the compile (``None`` in runs before several seeds)."""

    task: str
    group: str
    metric: str
    system: str
    result: SystemResult
    seed: int | None = None

    def to_json(self) -> JSON:
        out: JSON = {
            "task": self.task,
            "group": self.group,
            "metric": self.metric,
            "system": self.system,
        }
        if self.seed is not None:
            out["seed"] = self.seed
        if self.result.error is not None:
            out["error"] = self.result.error
        if self.result.skipped is not None:
            out["skipped"] = self.result.skipped
        if self.result.compile is not None:
            out["compile"] = self.result.compile.to_json()
        if self.result.test is not None:
            out["test"] = self.result.test.to_json()
        return out


def _compile_from_json(data: Mapping[str, Any] | None) -> CompileRecord | None:
    if data is None:
        return None
    if "feedback_budget" in data:
        return PreferenceCompile.from_json(data)
    return PromptcCompile.from_json(data) if "spent" in data else DSPyCompile.from_json(data)


def row_from_json(data: Mapping[str, Any]) -> ResultRow:
    """A row of a results file's ``results`` list (any run since the first)."""
    test = data.get("test")
    result = SystemResult(
        compile=_compile_from_json(data.get("compile")),
        test=None if test is None else TestRecord.from_json(test),
        error=data.get("error"),
        skipped=data.get("skipped"),
    )
    return ResultRow(
        data["task"], data["group"], data["metric"], data["system"], result, data.get("seed")
    )


def load_rows(path: Path) -> list[ResultRow]:
    """The rows of a ``compile_tasks-*.json`` results file."""
    payload = json.loads(Path(path).read_text(encoding="utf-8"))
    return [row_from_json(r) for r in payload["results"]]


def rows_to_json(rows: Sequence[ResultRow]) -> list[JSON]:
    """The ``results`` list of a results file."""
    return [r.to_json() for r in rows]


@dataclass(frozen=True)
class Difference:
    """System ``a`` minus system ``b`` on the same test rows of a task.

    Attributes:
        task: the task.
        a: the first system.
        b: the second system.
        mean: ``mean(a - b)`` over the rows.
        ci95: the paired-bootstrap 95% interval of that mean.
        n: rows compared.
        seed: the seed of both rows (``None`` in runs before several seeds).
    """

    task: str
    a: str
    b: str
    mean: float
    ci95: tuple[float, float]
    n: int
    seed: int | None = None

    def to_json(self) -> JSON:
        out: JSON = {
            "task": self.task,
            "a": self.a,
            "b": self.b,
            "mean": self.mean,
            "ci95": list(self.ci95),
            "n": self.n,
        }
        if self.seed is not None:
            out["seed"] = self.seed
        return out
