"""Evaluate a program on a dataset with a metric: in parallel, per example, errors counted.

A program that raises on one example scores 0 there and the error is kept with the example; the
run goes on. A metric that raises or returns something other than a finite number (NaN and
infinities included) is a bug in the metric (or a dataset without the label column it reads), and
stops the run with a message that says so; so do an exhausted budget and an LM that cannot be
called at all (unknown model, missing key, an embedded model that is not installed): every further
example would fail alike.
"""

from __future__ import annotations

import contextvars
import inspect
import math
import random
import sys
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

from promptc._compile.data import Row
from promptc._lm.context import Trace, context, current_lm, metering, trace
from promptc._lm.lm import LM
from promptc._program.module import Module, Predict, Prediction
from promptc.exceptions import (
    BudgetExhaustedError,
    ConfigurationError,
    LMConfigurationError,
    ModelNotAvailableError,
)
from promptc.metrics import Metric, resolve_metric

__all__ = [
    "EvalResult",
    "ExampleResult",
    "bootstrap_ci",
    "evaluate",
    "paired_bootstrap_ci",
    "program_inputs",
    "program_name",
]


@dataclass(frozen=True)
class ExampleResult:
    """One example's outcome: the prediction (or error) and its score.

    ``raw`` is the last raw completion of the example's last predictor call, kept when
    :func:`evaluate` is asked to (``keep_raw=True``; a compile does, for its report).
    """

    index: int
    inputs: dict[str, Any]
    prediction: Any
    score: float
    error: str | None = None
    raw: str | None = None


@dataclass(frozen=True)
class EvalResult:
    """Scores over a dataset.

    Attributes:
        results: per-example outcomes, in dataset order.
        mean: the mean score (errors count as 0).
        ci: a 95% percentile-bootstrap confidence interval of the mean.
        errors: how many examples raised.
        usage: LM calls, cache hits, tokens and cost of this evaluation.
    """

    results: list[ExampleResult]
    mean: float
    ci: tuple[float, float]
    errors: int
    usage: dict[str, Any] = field(default_factory=dict)

    @property
    def scores(self) -> list[float]:
        """Per-example scores, in dataset order."""
        return [r.score for r in self.results]

    def summary(self) -> str:
        """A one-line summary: mean, CI, n, errors."""
        return (
            f"{self.mean:.3f} (95% CI {self.ci[0]:.3f}-{self.ci[1]:.3f}, n={len(self.results)}, "
            f"errors={self.errors})"
        )


def bootstrap_ci(
    scores: Sequence[float], *, confidence: float = 0.95, resamples: int = 1000, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean (seeded, so reports are reproducible)."""
    n = len(scores)
    if n == 0:
        return (0.0, 0.0)
    rng = random.Random(seed)
    means = sorted(sum(rng.choices(scores, k=n)) / n for _ in range(resamples))
    lo = means[math.floor((1 - confidence) / 2 * (resamples - 1))]
    hi = means[math.ceil((1 + confidence) / 2 * (resamples - 1))]
    return (lo, hi)


def paired_bootstrap_ci(
    a: Sequence[float],
    b: Sequence[float],
    *,
    confidence: float = 0.95,
    resamples: int = 1000,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap interval of ``mean(a) - mean(b)`` for scores on the same rows.

    ``a[i]`` and ``b[i]`` are two candidates' scores on row ``i``: each resample draws row
    indices and takes both scores of every drawn row, so the row-to-row variation both share
    (easy and hard rows) cancels out. That is the interval to read for "is B better than A";
    two unpaired intervals that overlap say little about it. Seeded, like :func:`bootstrap_ci`.

    Raises:
        ValueError: ``a`` and ``b`` differ in length (they must be scores on the same rows).
    """
    if len(a) != len(b):
        raise ValueError(
            f"paired scores must cover the same rows, got {len(a)} and {len(b)} scores; "
            "pass both candidates' scores on the same rows, in the same order"
        )
    return bootstrap_ci(
        [x - y for x, y in zip(a, b, strict=True)],
        confidence=confidence,
        resamples=resamples,
        seed=seed,
    )


def program_inputs(program: Module) -> tuple[list[str], list[str]]:
    """The (required, optional) input names a program's ``forward`` takes."""
    if isinstance(program, Predict):
        return list(program.signature.input_fields), []
    params = [
        p
        for p in inspect.signature(program.forward).parameters.values()
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    ]
    required = [p.name for p in params if p.default is p.empty]
    optional = [p.name for p in params if p.default is not p.empty]
    if not params:
        raise ConfigurationError(
            f"{type(program).__name__}.forward declares no named inputs; declare them "
            "(e.g. `def forward(self, question: str)`) so dataset columns can be matched"
        )
    return required, optional


def _score(metric: Metric, row: Mapping[str, Any], prediction: Any, index: int) -> float:
    name = getattr(metric, "__name__", repr(metric))
    try:
        value = metric(Row(row), prediction)
    except Exception as exc:
        raise ConfigurationError(
            f"metric {name} raised on example {index} ({type(exc).__name__}: {exc}); the example "
            f"has columns {list(row)}: fix the metric, or give the dataset the label column it "
            "reads"
        ) from exc
    if isinstance(value, bool):
        return float(value)
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigurationError(
            f"metric {name} returned {value!r} on example {index}; a metric must return a "
            "finite number or a bool (scores are averaged and written to JSON reports)"
        )
    return float(value)


def evaluate(
    program: Module,
    rows: Sequence[Mapping[str, Any]],
    metric: Metric | str,
    *,
    lm: LM | None = None,
    num_threads: int = 4,
    progress: bool = False,
    on_result: Callable[[ExampleResult], None] | None = None,
    keep_raw: bool = False,
) -> EvalResult:
    """Run ``program`` on every row and score it with ``metric``.

    Args:
        program: the program; its ``forward`` inputs are taken from each row's columns.
        rows: the dataset; other columns (the gold labels) are passed to the metric.
        metric: ``metric(row, prediction) -> float | bool``, or a built-in metric's name; the
            row reads as ``row["answer"]`` or ``row.answer``, so a DSPy metric
            ``metric(example, pred, trace=None)`` runs unchanged.
        lm: the LM to use (else the one set by :func:`promptc.context`).
        num_threads: examples run at once.
        progress: show a progress bar on stderr (when tqdm is installed).
        on_result: called with each example's result, in dataset order.
        keep_raw: keep each example's last raw completion in :attr:`ExampleResult.raw`.

    Raises:
        ConfigurationError: rows lack the program's inputs, or the metric raises or returns a
            non-number (NaN and infinities included).
        LMConfigurationError: the LM cannot be called (unknown model, missing API key).
        ModelNotAvailableError: the embedded model is not pulled, or its runtime is missing.
        BudgetExhaustedError: a budget set by an enclosing compile ran out.
    """
    metric = resolve_metric(metric)
    names, optional = program_inputs(program)
    for i, row in enumerate(rows):
        missing = [n for n in names if n not in row]
        if missing:
            raise ConfigurationError(
                f"example {i} lacks the program's input(s) {missing}; it has {list(row)}"
            )
    chosen = lm if lm is not None else current_lm()
    stopped: list[BaseException] = []  # the run-stopping error, once one happened

    def run(i: int) -> ExampleResult:
        if stopped:
            raise stopped[0]
        row = rows[i]
        inputs = {n: row[n] for n in [*names, *optional] if n in row}
        recorded = Trace()
        try:
            with context(lm=chosen), trace() if keep_raw else nullcontext(recorded) as recorded:
                prediction = program(**inputs)
        except (BudgetExhaustedError, LMConfigurationError, ModelNotAvailableError) as exc:
            stopped.append(exc)
            raise  # every further example would fail alike
        except Exception as exc:  # a failing example scores 0; the run goes on
            error = f"{type(exc).__name__}: {exc}"
            return ExampleResult(i, inputs, None, 0.0, error, _last_raw(recorded))
        shown = prediction.to_dict() if isinstance(prediction, Prediction) else prediction
        score = _score(metric, row, prediction, i)
        return ExampleResult(i, inputs, shown, score, raw=_last_raw(recorded))

    with metering() as meter:
        ctx = contextvars.copy_context()
        results = _run_all(ctx, run, len(rows), num_threads, progress, on_result)
    scores = [r.score for r in results]
    return EvalResult(
        results=results,
        mean=sum(scores) / len(scores) if scores else 0.0,
        ci=bootstrap_ci(scores),
        errors=sum(r.error is not None for r in results),
        usage=meter.usage.total().to_dict(),
    )


def _last_raw(recorded: Trace) -> str | None:
    entries = recorded.entries
    return entries[-1].raw[-1] if entries and entries[-1].raw else None


def _run_all(
    ctx: contextvars.Context,
    run: Callable[[int], ExampleResult],
    n: int,
    num_threads: int,
    progress: bool,
    on_result: Callable[[ExampleResult], None] | None,
) -> list[ExampleResult]:
    bar = _progress(n) if progress else None
    out: list[ExampleResult | None] = [None] * n
    with ThreadPoolExecutor(max_workers=max(1, num_threads)) as pool:
        futures = [pool.submit(ctx.copy().run, run, i) for i in range(n)]
        try:
            for future in futures:
                result = future.result()
                out[result.index] = result
                if on_result is not None:
                    on_result(result)
                if bar is not None:
                    bar.update(1)
        except BaseException:
            for future in futures:  # a run-stopping error: examples not yet started never start
                future.cancel()
            raise
    if bar is not None:
        bar.close()
    return [r for r in out if r is not None]


def _progress(total: int) -> Any:
    """A tqdm bar on stderr, or ``None`` without tqdm (the ``[compile]`` extra brings it)."""
    try:
        from tqdm import tqdm  # type: ignore[import-untyped,unused-ignore]
    except ImportError:
        return None
    return tqdm(total=total, file=sys.stderr, unit="ex", leave=False, disable=None)


def program_name(program: Module) -> str:
    """An artifact's default name: a lone predictor's signature name, else the class name."""
    return program.signature.__name__ if isinstance(program, Predict) else type(program).__name__
