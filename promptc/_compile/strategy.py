"""The strategy contract: what a search strategy is handed (the search space) and what it
implements (ask, tell, best)."""

from __future__ import annotations

import inspect
import random
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from promptc._compile.board import Board, BoardView, Candidate
from promptc._compile.fingerprint import Fingerprint
from promptc._compile.plan import PlanShape, labeled_demos
from promptc._compile.propose import bootstrap_demos, propose_instructions, resample_instructions
from promptc._program.module import Params, Predict

if TYPE_CHECKING:
    from promptc._compile.run import Run

__all__ = ["Optimizer", "SearchSpace", "StrategyOption", "Trial"]

_PLAIN = (str, int, float, bool, type(None))


@dataclass(frozen=True)
class StrategyOption:
    """A command-line option of ``promptc compile`` that a strategy takes.

    Declared in :attr:`Optimizer.cli_options`.

    Attributes:
        flag: the flag, e.g. ``"--candidates"``.
        param: the constructor parameter the flag's value goes to.
        help: what the flag sets (the CLI adds which strategies take it).
        type: converts the flag's text (``int``, ``float``, ``str``).
        default: the value the CLI passes when the flag is not given (``None``: pass nothing,
            so the constructor's default applies).
        hint: said when the flag is given to a strategy that does not take it.
    """

    flag: str
    param: str
    help: str
    type: Callable[[str], Any] = int
    default: Any = None
    hint: str = ""


@dataclass(frozen=True)
class Trial:
    """One evaluation a strategy asks for.

    Attributes:
        candidate: parameters for some predictors (the others keep their current ones);
            ``{}`` is the uncompiled program.
        rows: indices into the validation rows to score on; ``None`` for all of them.
            Strategies that race give every candidate of a round the same rows (paired).
    """

    candidate: Candidate
    rows: tuple[int, ...] | None = None


@dataclass(frozen=True)
class SearchSpace:
    """What a strategy may tune and use, handed to :meth:`Optimizer.setup`.

    Attributes:
        predictors: the program's predictors by name (read-only: do not call or change them).
        base: the program's current parameters by name.
        trainset: rows demos may be drawn from (never the validation rows).
        n_val: how many validation rows trials may index.
        seed: the compile's seed; derive every random choice from it.
        board: per-row validation scores so far (the baseline's are there from the start),
            read-only.
    """

    predictors: dict[str, Predict]
    base: dict[str, Params]
    trainset: list[dict[str, Any]]
    n_val: int
    seed: int
    _board: Board = field(repr=False)
    _run: Run = field(repr=False)

    @property
    def board(self) -> BoardView:
        """Per-row validation scores so far, read-only."""
        return self._board

    def _restore(self, candidate: Candidate, scores: Mapping[int, float]) -> None:
        """Put scores read from a trial store on the board (:class:`TrialStore`)."""
        self._board.restore(candidate, scores)

    def demo_pool(self, name: str) -> list[dict[str, Any]]:
        """Training rows that carry every field of predictor ``name``, reduced to those fields."""
        return labeled_demos(self.predictors[name], self.trainset)

    def sample_demos(self, name: str, k: int, rng: random.Random) -> tuple[dict[str, Any], ...]:
        """``k`` distinct labeled demos for predictor ``name``, in random order."""
        pool = self.demo_pool(name)
        return tuple(rng.sample(pool, min(k, len(pool))))

    def bootstrap(self, n: int, rng: random.Random) -> dict[str, list[dict[str, Any]]]:
        """Demos from full traces of passing runs on ``n`` random training rows, per predictor.

        Costs up to ``n`` program runs (LM requests count against the budget, phase
        ``bootstrap``). Uses the teacher LM when the compile has one.
        """
        rows = rng.sample(self.trainset, min(n, len(self.trainset)))
        run = self._run
        with run.phase("bootstrap"):
            return bootstrap_demos(
                run.program, rows, run.metric, run.inputs, run.teacher, num_threads=run.threads
            )

    def propose_instructions(
        self, name: str, demo_sets: Sequence[Sequence[Mapping[str, Any]]]
    ) -> list[str]:
        """APE: one proposed instruction for predictor ``name`` per demo set (phase ``propose``)."""
        with self._run.phase("propose"):
            return propose_instructions(name, self.predictors, demo_sets, self._run.proposer)

    def resample_instructions(self, instruction: str, n: int) -> list[str]:
        """APE's Monte Carlo step: ``n`` variants of a good instruction (phase ``propose``)."""
        with self._run.phase("propose"):
            return resample_instructions(instruction, n, self._run.proposer)

    def fingerprint(self) -> Fingerprint:
        """What this compile's trial scores mean (program, data, metric, LM): a strategy that
        stores trials keeps it with them and refuses to mix trials of another fingerprint."""
        run = self._run
        return Fingerprint.of(
            self.predictors, self.base, self.trainset, run.val, run.metric, run.lm.settings()
        )

    def val_inputs(self) -> list[dict[str, Any]]:
        """The program's inputs of every validation row, in row order (never the labels)."""
        names = self._run.inputs
        return [{n: row[n] for n in names if n in row} for row in self._run.val]

    def remaining(self) -> int:
        """LM requests left in the search's budget (a huge number when there is no cap)."""
        return self._run.budget.remaining


class Optimizer(ABC):
    """A search strategy over predictor parameters (instructions and ordered demos).

    :func:`compile_program` first scores the uncompiled program on every validation row
    (``space.board`` holds those scores), then calls, in this order:

    1. :meth:`setup` once, with the :class:`SearchSpace` (proposing candidates may spend LM
       requests here, through the space's ``bootstrap`` / ``propose_instructions``);
    2. :meth:`ask` for the next :class:`Trial`, or ``None`` to end the search;
    3. :meth:`tell` with that trial's per-row scores (in ``trial.rows`` order); then back to 2.

    While the search runs, the driver keeps back what :attr:`final_reserve` says: a trial it
    cannot pay for next to that reserve ends the search. When the search ends (or the budget
    runs out), the driver scores :meth:`best` on every validation row it has not seen yet and
    keeps it only if it beats the uncompiled program on the same rows. A ~70-line
    :class:`~promptc.optimizers.RandomSearch` is the reference.
    """

    name: ClassVar[str] = "optimizer"
    #: Constructor parameters left out of :meth:`config` (where a run lives, not how it
    #: searches: e.g. a storage location).
    unrecorded: ClassVar[tuple[str, ...]] = ()
    #: The ``promptc compile`` flags this strategy takes.
    cli_options: ClassVar[tuple[StrategyOption, ...]] = ()
    #: What the driver keeps back for its full evaluation of the pick while this strategy
    #: searches (a trial that would not leave it ends the search before it starts):
    #: ``"none"``: nothing (the search itself scores candidates on every row, or ends when the
    #: rows run out); ``"pick"``: what the pick will lack, the pick being the strategy's current
    #: :meth:`best` or the trial's candidate (the driver then calls :meth:`best` before each
    #: trial: it must change nothing); ``"all_rows"``: a full evaluation (the pick may be any
    #: candidate, e.g. one another worker scored).
    final_reserve: ClassVar[Literal["none", "pick", "all_rows"]] = "none"
    #: Whether :meth:`plan` is what a run spends (a fixed schedule: its trials do not depend
    #: on scores) rather than an upper bound.
    plan_exact: ClassVar[bool] = False

    @abstractmethod
    def setup(self, space: SearchSpace) -> None:
        """Receive the search space before the first :meth:`ask`."""

    @abstractmethod
    def ask(self) -> Trial | None:
        """The next trial to evaluate, or ``None`` when done."""

    def tell(self, trial: Trial, scores: list[float]) -> None:  # noqa: B027 - optional
        """Learn from a trial's per-row scores (stateless strategies ignore them)."""

    def best(self, board: BoardView) -> Candidate:
        """The strategy's pick; by default the board's :meth:`Board.leader`."""
        return board.leader()

    def config(self) -> dict[str, Any]:
        """The strategy's settings, recorded in the artifact's provenance.

        Derived from the constructors' signatures (as scikit-learn's ``get_params``): each
        ``__init__`` parameter is stored as an attribute of the same name, read back here, in
        signature order (a base class's parameters first), except those in ``unrecorded``. A
        value that is not a plain ``str``, ``int``, ``float``, ``bool`` or ``None`` is
        recorded as its type's name (e.g. an embedder object).

        Raises:
            TypeError: a constructor parameter is not stored as a same-named attribute.
        """
        config: dict[str, Any] = {}
        for name in _init_parameters(type(self)):
            if name in self.unrecorded:
                continue
            if not hasattr(self, name):
                raise TypeError(
                    f"{type(self).__name__}.__init__ takes {name!r} but does not store it as "
                    f"self.{name}; store every constructor parameter under its own name (its "
                    "config() is read from them), or override config()"
                )
            value = getattr(self, name)
            config[name] = value if _plain(value) else type(value).__name__
        return config

    def plan(self, shape: PlanShape) -> dict[str, int | None]:
        """The most work each phase of this strategy asks for, before the budget caps it.

        Used by a dry run (``compile(..., dry_run=True)``); makes no LM request. Keys:
        ``bootstrap`` (program runs on training rows), ``propose`` (proposer LM requests),
        ``search`` (program runs on validation rows, the driver's full evaluation of the pick
        included). ``None`` means as much as the budget allows. The default says nothing
        about ``bootstrap`` and ``propose`` (none) and leaves ``search`` to the budget.
        """
        return {"search": None}


def _init_parameters(cls: type, root: type | None = None) -> list[str]:
    """The named parameters of every ``__init__`` in ``cls``'s strategy classes (subclasses of
    ``root``, default :class:`Optimizer`), base first."""
    names: dict[str, None] = {}
    for klass in reversed(cls.__mro__):
        init = klass.__dict__.get("__init__")
        if init is None or not issubclass(klass, root or Optimizer):
            continue
        for p in inspect.signature(init).parameters.values():
            if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                names.setdefault(p.name, None)
    return list(names)


def _plain(value: object) -> bool:
    return isinstance(value, _PLAIN)
