"""The contract of a preference strategy: candidates compared two at a time, no metric.

A compile from preferences (``compile(program, inputs, feedback=...)``) has no per-row scores:
all it learns is, for one input at a time, which of two candidates' outputs a judge prefers.
A :class:`DuelingOptimizer` builds the candidates, picks each pair to ask about, and ranks the
candidates by their estimated latent utility. :class:`~promptc.optimizers.APOHF` is the default;
:class:`~promptc.optimizers.RandomPairs` (uniform pairs) is the reference.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

from promptc._compile.board import Candidate
from promptc._compile.strategy import SearchSpace, _init_parameters, _plain

__all__ = ["Duel", "DuelingOptimizer", "Utility"]


@dataclass(frozen=True)
class Duel:
    """A pair of candidates to compare, by their indices in :meth:`DuelingOptimizer.setup`'s list.

    Attributes:
        first: the candidate shown as output A.
        second: the candidate shown as output B (never ``first``).
    """

    first: int
    second: int


@dataclass(frozen=True)
class Utility:
    """A candidate's estimated latent utility (Bradley-Terry scale: a difference of 1 means the
    higher one wins about 73% of comparisons), with an interval.

    Attributes:
        index: the candidate's index in :meth:`DuelingOptimizer.setup`'s list.
        mean: the estimate.
        low: the lower end of the strategy's confidence interval.
        high: the upper end.
        duels: comparisons this candidate took part in.
    """

    index: int
    mean: float
    low: float
    high: float
    duels: int


class DuelingOptimizer(ABC):
    """A search strategy that learns from pairwise preferences.

    The compile driver calls, in this order:

    1. :meth:`setup` once: build the candidates (bootstrapping demos from the program's own
       outputs and proposing instructions may spend LM requests through ``space``); index 0 of
       the returned list must be ``{}``, the uncompiled program;
    2. :meth:`ask` for the next :class:`Duel`, or ``None`` to end the search;
    3. :meth:`tell` with the outcome for ``duel.first``: ``1.0`` it won, ``0.0`` it lost,
       ``0.5`` a tie (a skipped question is never told); then back to 2.

    Then :meth:`ranking` for the report and :meth:`best` for the artifact. The driver chooses
    the input each duel is asked on, runs both candidates on it, and enforces both budgets
    (LM requests and feedback queries).
    """

    name: ClassVar[str] = "dueling"

    @abstractmethod
    def setup(self, space: SearchSpace) -> list[Candidate]:
        """Build and return the candidates, the uncompiled program (``{}``) first."""

    @abstractmethod
    def ask(self) -> Duel | None:
        """The next pair to compare, or ``None`` when done."""

    @abstractmethod
    def tell(self, duel: Duel, outcome: float) -> None:
        """Learn from one comparison: 1.0 ``first`` preferred, 0.0 ``second``, 0.5 a tie."""

    @abstractmethod
    def ranking(self) -> list[Utility]:
        """Every candidate's estimated utility, best first."""

    def best(self) -> int:
        """The index of the strategy's pick; by default the top of :meth:`ranking`."""
        return self.ranking()[0].index

    def config(self) -> dict[str, Any]:
        """The strategy's settings (its constructor parameters), recorded in the provenance."""
        config: dict[str, Any] = {}
        for name in _init_parameters(type(self), DuelingOptimizer):
            value = getattr(self, name)
            config[name] = value if _plain(value) else type(value).__name__
        return config
