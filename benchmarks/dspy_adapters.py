"""DSPy's adapters as a setting of the DSPy baselines, and what their compiles spent over time.

An adapter formats a DSPy program's prompts and parses the replies. DSPy's default
(``ChatAdapter``: ``[[ ## field ## ]]`` markers) suits a small model badly; a user who sees
that switches to ``XMLAdapter`` or ``JSONAdapter``, so the benchmark does too
(``--dspy-adapter``): ``best`` compiles with each adapter and keeps the one whose compiled
program scored best on the *validation* rows (:func:`merge_choice`), with the spend of all
three compiles charged to it. :class:`ValidationCurve` records, during a compile, the best
validation score so far after each full validation pass, against the LM requests spent, so
DSPy and promptc can be read at the same spend.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from benchmarks.dspy_twin import import_dspy
from benchmarks.records import Curve, DSPyCompile

__all__ = [
    "ADAPTERS",
    "ADAPTER_CHOICES",
    "AdapterRun",
    "ValidationCurve",
    "make_adapter",
    "merge_choice",
]

#: ``--dspy-adapter`` names -> DSPy 3.4.1 adapter classes; ``chat`` is DSPy's default.
ADAPTERS = {"chat": "ChatAdapter", "xml": "XMLAdapter", "json": "JSONAdapter"}
#: The ``--dspy-adapter`` choices: an adapter, or the best of them on the validation rows.
ADAPTER_CHOICES = [*ADAPTERS, "best"]


def make_adapter(name: str) -> Any:
    """A new DSPy adapter object for ``name`` (``chat``, ``xml`` or ``json``).

    Raises:
        ValueError: an unknown name.
    """
    if name not in ADAPTERS:
        raise ValueError(f"unknown DSPy adapter {name!r}; known: {sorted(ADAPTERS)}")
    return getattr(import_dspy(), ADAPTERS[name])()


class ValidationCurve:
    """Collects ``(requests spent, best validation score so far)`` after each evaluation of a
    DSPy compile over all ``n_val`` validation rows (``dspy.Evaluate`` calls on fewer rows,
    such as a one-row trace, are not validation passes).

    Use :meth:`callback` in ``dspy.context(callbacks=[...])``; DSPy calls it around every
    ``dspy.Evaluate`` (a failing callback only logs a warning there, so it cannot break a
    compile).

    Args:
        n_val: validation rows.
        spent: the LM requests spent since the compile began, when asked.
    """

    def __init__(self, n_val: int, spent: Callable[[], int]) -> None:
        self.n_val = n_val
        self.spent = spent
        self.points: list[tuple[int, float]] = []
        self._rows: dict[str, int] = {}

    def started(self, call_id: str, instance: Any, inputs: Mapping[str, Any]) -> None:
        devset = inputs.get("devset") or getattr(instance, "devset", None) or ()
        self._rows[call_id] = len(devset)

    def ended(self, call_id: str, outputs: Any, exception: BaseException | None) -> None:
        rows = self._rows.pop(call_id, 0)
        score = getattr(outputs, "score", None)
        if exception is not None or rows != self.n_val or score is None:
            return
        best = max(float(score) / 100.0, self.points[-1][1] if self.points else 0.0)
        self.points.append((self.spent(), best))  # DSPy reports percentages

    def callback(self) -> Any:
        """A ``dspy.utils.callback.BaseCallback`` feeding this curve."""
        from dspy.utils.callback import BaseCallback

        curve = self

        class _Callback(BaseCallback):  # type: ignore[misc]
            def on_evaluate_start(self, call_id: str, instance: Any, inputs: Any) -> None:
                curve.started(call_id, instance, inputs)

            def on_evaluate_end(
                self, call_id: str, outputs: Any, exception: BaseException | None = None
            ) -> None:
                curve.ended(call_id, outputs, exception)

        return _Callback()

    def curve(self) -> Curve:
        return tuple(self.points)


@dataclass(frozen=True)
class AdapterRun:
    """One adapter's compile in an adapter choice.

    Attributes:
        adapter: ``chat``, ``xml`` or ``json``.
        program: the compiled DSPy program (``None`` when the compile failed).
        record: its compile record (``None`` when the compile failed).
        val_score: its validation score (DSPy's own, else measured on the validation rows).
        extra_requests: requests spent measuring ``val_score`` when DSPy reported none.
        extra_usage: the LM usage of that measurement.
        error: why the compile failed.
    """

    adapter: str
    program: Any = None
    record: DSPyCompile | None = None
    val_score: float | None = None
    extra_requests: int = 0
    extra_usage: Mapping[str, Any] = field(default_factory=dict)
    error: str | None = None


def _sum_usage(usages: list[Mapping[str, Any]]) -> dict[str, Any]:
    keys = dict.fromkeys(k for u in usages for k in u)
    total = {k: sum(u.get(k, 0) for u in usages) for k in keys}
    if "cost" in total:
        total["cost"] = round(total["cost"], 6)
    return total


def _usages(run: AdapterRun) -> list[Mapping[str, Any]]:
    return [] if run.record is None else [run.record.run_usage, run.extra_usage]


def _chained_curve(runs: list[AdapterRun]) -> Curve:
    """The compiles' curves one after the other, as spent: requests add up, best carries."""
    points: list[tuple[int, float]] = []
    offset, best = 0, 0.0
    for run in runs:
        if run.record is None:
            continue
        for requests, score in run.record.curve or ():
            best = max(best, score)
            points.append((offset + requests, best))
        offset += run.record.lm_requests + run.extra_requests
    return tuple(points)


def merge_choice(runs: list[AdapterRun]) -> tuple[AdapterRun, DSPyCompile]:
    """The run with the best validation score (the first on a tie: DSPy's default first),
    and the compile record of the whole choice: its program's validation score, demos and
    settings, with the spend (requests, usage, wall time) of every adapter's compile.

    Raises:
        RuntimeError: every adapter's compile failed (the message has their errors).
    """
    done = [r for r in runs if r.record is not None and r.val_score is not None]
    if not done:
        errors = "; ".join(f"{r.adapter}: {r.error}" for r in runs)
        raise RuntimeError(f"no adapter compiled: {errors}")
    chosen = max(done, key=lambda r: r.val_score or 0.0)
    assert chosen.record is not None
    spent = sum(r.record.lm_requests + r.extra_requests for r in runs if r.record is not None)
    adapters: dict[str, dict[str, Any]] = {}
    for run in runs:
        if run.record is None:
            adapters[run.adapter] = {"error": run.error}
        else:
            requests = run.record.lm_requests + run.extra_requests
            adapters[run.adapter] = {"val_best": run.val_score, "lm_requests": requests}
    record = DSPyCompile(
        lm_requests=spent,
        run_usage=_sum_usage([u for r in runs for u in _usages(r)]),
        wall_s=round(sum(r.record.wall_s for r in runs if r.record is not None), 2),
        val_best=chosen.val_score,
        settings=chosen.record.settings,
        demos=chosen.record.demos,
        adapter=chosen.adapter,
        adapters=adapters,
        curve=_chained_curve(runs),
    )
    return chosen, record
