"""The compile driver: search a program's prompts on a dev set under an LM-call budget.

Strategies (``promptc.optimizers``) only propose candidates; this driver owns the run state:
splits, the budget, evaluation, the incumbent, and the artifact with its provenance.
"""

from __future__ import annotations

import random
import sys
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from promptc._artifact import Artifact, artifact_from_program, save_artifact
from promptc._context import current_lm, metering
from promptc._data import data_hash, split_dataset
from promptc._evaluate import EvalResult, evaluate
from promptc._lm import LM, default_lm
from promptc._module import Module, Params, Predict
from promptc._usage import Budget
from promptc.exceptions import BudgetExhaustedError, ConfigurationError
from promptc.metrics import Metric, resolve_metric

__all__ = [
    "Candidate",
    "CompileResult",
    "Optimizer",
    "SearchSpace",
    "compile_program",
    "resolve_optimizer",
]

Candidate = dict[str, Params]


@dataclass(frozen=True)
class SearchSpace:
    """What a strategy may tune, handed to :meth:`Optimizer.setup`.

    Attributes:
        predictors: the program's predictors by name (read-only: do not call or change them).
        base: the program's current parameters by name.
        trainset: rows demos may be drawn from (never the validation rows).
        seed: the compile's seed; derive every random choice from it.
    """

    predictors: dict[str, Predict]
    base: dict[str, Params]
    trainset: list[dict[str, Any]]
    seed: int

    def demo_pool(self, name: str) -> list[dict[str, Any]]:
        """Training rows that carry every field of predictor ``name``, reduced to those fields."""
        fields = list(self.predictors[name].signature.fields())
        return [
            {f: row[f] for f in fields} for row in self.trainset if all(f in row for f in fields)
        ]

    def sample_demos(self, name: str, k: int, rng: random.Random) -> tuple[dict[str, Any], ...]:
        """``k`` distinct demos for predictor ``name`` from its pool, in random order."""
        pool = self.demo_pool(name)
        return tuple(rng.sample(pool, min(k, len(pool))))


class Optimizer(ABC):
    """A search strategy over predictor parameters (instructions and ordered demos).

    :func:`compile_program` calls, in this order:

    1. :meth:`setup` once, with the :class:`SearchSpace`;
    2. :meth:`ask` for the next candidate (a ``{predictor name: Params}`` dict, covering any
       subset of predictors), or ``None`` to end the search;
    3. :meth:`tell` with that candidate's validation result; then back to 2.

    The driver evaluates every candidate on the same validation rows, keeps the best (the
    uncompiled program included), and stops early when the LM-call budget is spent.
    """

    name: ClassVar[str] = "optimizer"

    @abstractmethod
    def setup(self, space: SearchSpace) -> None:
        """Receive the search space before the first :meth:`ask`."""

    @abstractmethod
    def ask(self) -> Candidate | None:
        """The next candidate to evaluate, or ``None`` when done."""

    def tell(self, candidate: Candidate, result: EvalResult) -> None:  # noqa: B027 - optional
        """Learn from a candidate's validation result (stateless strategies ignore it)."""

    def config(self) -> dict[str, Any]:
        """The strategy's settings, recorded in the artifact's provenance."""
        return {}


@dataclass
class CompileResult:
    """What a compile returns: the better program, its artifact, and the run's record.

    ``run_usage`` counts what this run itself called (fresh calls vs. cache hits); the artifact's
    provenance records only what does not depend on the cache's state.
    """

    program: Module
    artifact: Artifact
    baseline: EvalResult
    best: EvalResult
    trials: list[dict[str, Any]] = field(default_factory=list)
    run_usage: dict[str, int] = field(default_factory=dict)

    def save(self, path: str | Path) -> Path:
        """Write the artifact atomically to ``path`` (YAML)."""
        return save_artifact(self.artifact, path)


def _describe(candidate: Candidate) -> dict[str, Any]:
    return {
        name: {"instruction": p.instruction, "demos": len(p.demos)} for name, p in candidate.items()
    }


def compile_program(
    program: Module,
    trainset: Sequence[Mapping[str, Any]],
    metric: Metric | str,
    *,
    optimizer: Optimizer | str = "labeled",
    lm: LM | None = None,
    valset: Sequence[Mapping[str, Any]] | None = None,
    budget: int | None = None,
    seed: int = 0,
    name: str | None = None,
    entry: str | None = None,
    num_threads: int = 4,
    progress: bool = False,
) -> CompileResult:
    """Search ``program``'s prompts and return a new program plus its artifact.

    Args:
        program: the program to compile; it is never changed.
        trainset: rows to draw demos from; also split for validation when ``valset`` is None.
        metric: ``metric(row, prediction) -> float | bool``, or a built-in metric's name.
        optimizer: the search strategy, or its name in ``promptc.optimizers.OPTIMIZERS``.
        lm: the LM to compile with (default: the one in context, else :func:`default_lm`).
        valset: rows candidates are scored on.
        budget: hard cap on LM requests, by any LM in the program (a cache hit counts too, so a
            warm-cache recompile takes the same path); ``None`` for no cap.
        seed: makes the compile reproducible.
        name: the program name stored in the artifact.
        entry: where the program lives (``file.py:object``), stored for reference.
        num_threads: examples evaluated at once.
        progress: show progress bars.
    """
    if budget is not None and budget < 1:
        raise ConfigurationError(f"budget must be a positive number of LM requests, got {budget}")
    optimizer = resolve_optimizer(optimizer)
    metric = resolve_metric(metric)
    lm = lm or current_lm() or default_lm()
    train, val = _splits(trainset, valset, seed)
    space = SearchSpace(
        predictors=dict(program.named_predictors()),
        base=program.get_params(),
        trainset=train,
        seed=seed,
    )

    def score(candidate: Module) -> EvalResult:
        return evaluate(candidate, val, metric, lm=lm, num_threads=num_threads, progress=progress)

    spend = Budget(budget if budget is not None else sys.maxsize)
    with metering(spend) as meter:
        run = _search(program, optimizer, space, score, budget, len(val))
    usage = meter.usage.total()
    provenance = {
        "optimizer": {"name": optimizer.name, "config": optimizer.config()},
        "seed": seed,
        "data": {
            "train": {"rows": len(train), "hash": data_hash(train)},
            "val": {"rows": len(val), "hash": data_hash(val)},
        },
        "scores": {
            "metric": getattr(metric, "__name__", "metric"),
            "baseline": _score_record(run.baseline),
            "compiled": _score_record(run.best),
        },
        "spent": {
            "budget": budget,
            "lm_requests": spend.used,
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
            "cost_usd": round(usage.cost, 6),
        },
        "trials": run.trials,
    }
    artifact = artifact_from_program(
        run.program,
        name=name or type(program).__name__,
        entry=entry,
        lm_settings=lm.settings(),
        provenance=provenance,
    )
    run_usage = {"lm_calls": usage.calls, "cache_hits": usage.cache_hits, "errors": usage.errors}
    return CompileResult(run.program, artifact, run.baseline, run.best, run.trials, run_usage)


@dataclass
class _Run:
    program: Module
    baseline: EvalResult
    best: EvalResult
    trials: list[dict[str, Any]]


def _search(
    program: Module,
    optimizer: Optimizer,
    space: SearchSpace,
    score: Callable[[Module], EvalResult],
    budget: int | None,
    val_rows: int,
) -> _Run:
    """The ask/tell loop: score the baseline, then each candidate, keeping the best."""
    try:
        baseline = score(program)
    except BudgetExhaustedError as exc:
        raise BudgetExhaustedError(
            f"a budget of {budget} LM requests cannot even score the uncompiled program on "
            f"{val_rows} validation rows; raise the budget or use fewer validation rows",
            limit=exc.limit,
        ) from None
    run = _Run(program, baseline, baseline, [_trial("baseline", baseline.mean)])
    optimizer.setup(space)
    while (candidate := optimizer.ask()) is not None:
        trial = program.with_params(candidate)
        try:
            result = score(trial)
        except BudgetExhaustedError:
            run.trials.append({**_trial(_describe(candidate), None), "stopped": "budget"})
            break
        optimizer.tell(candidate, result)
        run.trials.append(_trial(_describe(candidate), result.mean))
        if result.mean > run.best.mean:
            run.program, run.best = trial, result
    return run


def _trial(candidate: Any, score: float | None) -> dict[str, Any]:
    return {"candidate": candidate, "score": None if score is None else round(score, 6)}


def _score_record(result: EvalResult) -> dict[str, Any]:
    return {
        "mean": round(result.mean, 6),
        "ci95": [round(result.ci[0], 6), round(result.ci[1], 6)],
        "n": len(result.results),
        "errors": result.errors,
    }


def _splits(
    trainset: Sequence[Mapping[str, Any]], valset: Sequence[Mapping[str, Any]] | None, seed: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    rows = [dict(r) for r in trainset]
    if valset is not None:
        train, val = rows, [dict(r) for r in valset]
    elif len(rows) < 4:
        raise ConfigurationError(
            f"trainset has {len(rows)} rows; give at least 4, or a separate valset"
        )
    else:
        train, val = split_dataset(rows, [0.5, 0.5], seed=seed)
    if not train or not val:
        raise ConfigurationError("trainset and valset must both be non-empty")
    return train, val


def resolve_optimizer(spec: Optimizer | str, **kwargs: Any) -> Optimizer:
    """An optimizer instance from an instance or a name (``"labeled"``, ``"random"``, ...)."""
    if isinstance(spec, Optimizer):
        return spec
    # Lazy: promptc never imports promptc.optimizers at module level (arrows point one way).
    from promptc.optimizers import OPTIMIZERS  # type: ignore[import-not-found,unused-ignore]

    if spec not in OPTIMIZERS:
        raise ConfigurationError(f"unknown optimizer {spec!r}; choose one of {sorted(OPTIMIZERS)}")
    optimizer: Optimizer = OPTIMIZERS[spec](**kwargs)
    return optimizer
