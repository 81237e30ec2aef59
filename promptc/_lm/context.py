"""Scoped run state: the LM in use, the trace being recorded, predictor names.

There is no global settings object. ``with promptc.context(lm=...)`` sets the LM for the block
(and for threads or tasks started with a copy of the context); nested blocks override it.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from promptc._lm.usage import Budget, UsageTracker

if TYPE_CHECKING:
    from promptc._lm.lm import LM

__all__ = ["Meter", "Trace", "TraceEntry", "context", "current_lm", "metering", "trace"]

_LM: contextvars.ContextVar[LM | None] = contextvars.ContextVar("promptc_lm", default=None)
_TRACE: contextvars.ContextVar[Trace | None] = contextvars.ContextVar("promptc_trace", default=None)
_METERS: contextvars.ContextVar[tuple[Meter, ...]] = contextvars.ContextVar(
    "promptc_meters", default=()
)
_NAMES: contextvars.ContextVar[dict[int, str] | None] = contextvars.ContextVar(
    "promptc_names", default=None
)


@dataclass(frozen=True)
class TraceEntry:
    """One predictor call.

    Attributes:
        predictor: the predictor's name in its program (``"classify"``, ``"steps[0].predict"``).
        signature: the signature's class name.
        instruction: the instruction used.
        inputs: the validated inputs.
        outputs: the parsed outputs (empty when the call failed).
        demos: the demos shown, in order.
        raw: the raw completions, one per attempt.
        usage: LM usage of this call (calls, cache hits, tokens, cost).
        error: the error message when the call failed, else ``None``.
    """

    predictor: str
    signature: str
    instruction: str
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    demos: list[dict[str, Any]]
    raw: list[str]
    usage: dict[str, Any]
    error: str | None = None


@dataclass
class Trace:
    """The entries recorded inside a :func:`trace` block, in call order (thread-safe)."""

    entries: list[TraceEntry] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, entry: TraceEntry) -> None:
        """Append an entry."""
        with self._lock:
            self.entries.append(entry)

    def __iter__(self) -> Iterator[TraceEntry]:
        return iter(list(self.entries))

    def __len__(self) -> int:
        return len(self.entries)


class _Scope(AbstractContextManager[None]):
    """Sets a context variable for a ``with`` block (a class, not a generator: it runs around
    every program call, where a generator-based context manager costs ~2 µs more)."""

    __slots__ = ("_token", "_value", "_var")

    def __init__(self, var: contextvars.ContextVar[Any], value: Any) -> None:
        self._var, self._value = var, value
        self._token: contextvars.Token[Any] | None = None

    def __enter__(self) -> None:
        self._token = self._var.set(self._value)

    def __exit__(self, *exc_info: object) -> None:
        if self._token is not None:
            self._var.reset(self._token)


def context(*, lm: LM | None = None) -> AbstractContextManager[None]:
    """Use ``lm`` for every predictor without an LM of its own inside the block."""
    return _Scope(_LM, lm)


def current_lm() -> LM | None:
    """The LM set by the innermost :func:`context` block, if any."""
    return _LM.get()


@contextmanager
def trace() -> Iterator[Trace]:
    """Record every predictor call made inside the block (nested blocks record separately)."""
    recorder = Trace()
    token = _TRACE.set(recorder)
    try:
        yield recorder
    finally:
        _TRACE.reset(token)


def current_trace() -> Trace | None:
    """The trace being recorded, if any."""
    return _TRACE.get()


def naming(names: Callable[[], dict[int, str]]) -> AbstractContextManager[None]:
    """Bind predictor names (by object id) for the calls of one top-level program run.

    ``names`` is called only by the outermost run: nested module calls reuse its names, so
    the program tree is walked once per run, not once per predictor call.
    """
    if _NAMES.get() is not None:
        return nullcontext()
    return _Scope(_NAMES, names())


def predictor_name(obj: object, fallback: str) -> str:
    """The name bound to ``obj`` by the running program, or ``fallback``."""
    names = _NAMES.get()
    return names.get(id(obj), fallback) if names else fallback


@dataclass(frozen=True)
class Meter:
    """Counts the LM requests made inside a :func:`metering` block, by any LM.

    Attributes:
        budget: the cap every request inside counts against, if any.
        usage: calls, cache hits, tokens and cost of the requests inside.
    """

    budget: Budget | None
    usage: UsageTracker


@contextmanager
def metering(budget: Budget | None = None) -> Iterator[Meter]:
    """Meter (and optionally cap) every LM request inside the block, whichever LM makes it.

    Predictors that carry an LM of their own are metered too; nested blocks each count.
    """
    meter = Meter(budget, UsageTracker())
    token = _METERS.set((*_METERS.get(), meter))
    try:
        yield meter
    finally:
        _METERS.reset(token)


def current_meters() -> tuple[Meter, ...]:
    """The meters of the enclosing :func:`metering` blocks, outermost first."""
    return _METERS.get()
