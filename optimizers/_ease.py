"""EASE: ordering-aware exemplar selection with a neural bandit (Wu et al., 2024).

Per predictor, the candidates are ordered ``k``-shot demo sequences drawn from its demo pool
(labeled training rows and, when ``bootstrap`` > 0, demos from passing traces of the program
itself), optionally paired with APE-proposed instructions:

1. Sample up to ``num_sets`` distinct demo sets. The optimal-transport filter
   (:mod:`promptc.optimizers._transport`) keeps the ``keep_sets`` whose inputs are closest to
   the validation inputs (embedded the same way); each kept set is laid out in up to
   ``num_orders`` distinct orders.
2. Each sequence is rendered as text (instruction, then each demo's fields in signature order)
   and embedded by the embedder (default: all-MiniLM-L6-v2 in numpy), so a different order is a
   different vector. The constant parts of the chat prompt (field descriptions, tags) are left
   out of the text: they carry no information and would eat the encoder's 256-token window.
3. Joint candidates of a multi-predictor program are sampled from the product of the
   per-predictor sequences; a joint candidate's vector is the concatenation of its predictors'
   vectors scaled by ``1/sqrt(P)`` (unit norm again), so the surrogate sees which predictor's
   prompt changed.

Each step fits the NeuralUCB surrogate (:mod:`promptc.optimizers._neural_ucb`) on every
observation so far (embedding -> the candidate's paired gain over the uncompiled program on that
minibatch) and scores the open candidate with the highest upper confidence bound on its next
``minibatch`` rows; the first ``warmup`` steps pick at random. Every candidate walks one shared
shuffled row order, so first looks are paired on the same rows (as in Thompson sampling). The
search stops when ``num_trials`` is reached, every candidate is fully scored, or the budget left
only pays for the driver's full evaluation of the pick.
"""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Sequence
from itertools import permutations
from typing import Any

import numpy as np
import numpy.typing as npt
from threadpoolctl import threadpool_limits

from promptc import Params, Predict
from promptc.compiler import (
    BoardView,
    Candidate,
    Optimizer,
    PlanShape,
    SearchSpace,
    Trial,
    format_value,
)

from ._candidates import sample_joint
from ._embed import DEFAULT_EMBEDDER, Embedder, resolve_embedder
from ._flags import DEMOS
from ._neural_ucb import NeuralUCB
from ._transport import ot_filter

__all__ = ["EASE"]

# BLAS sums in an order that depends on its thread count, and the surrogate's training amplifies
# those last bits: embeddings, the pre-filter and the surrogate run on one BLAS thread, so the
# same seed picks the same candidates on any machine.
_ONE_THREAD = 1

logger = logging.getLogger(__name__)

Demos = tuple[dict[str, Any], ...]


def render_fields(values: dict[str, Any], names: Sequence[str]) -> str:
    """``name: value`` lines for the ``names`` that ``values`` has."""
    return "\n".join(f"{n}: {format_value(values[n])}" for n in names if n in values)


def render_candidate(predictor: Predict, params: Params) -> str:
    """The text EASE embeds: the instruction, then each demo's fields in signature order."""
    names = list(predictor.signature.fields())
    return "\n\n".join([params.instruction, *(render_fields(d, names) for d in params.demos)])


def _key(demo: dict[str, Any]) -> str:
    return repr(sorted((k, repr(v)) for k, v in demo.items()))


class EASE(Optimizer):
    """Ordered exemplar sequences, an OT pre-filter, and a NeuralUCB surrogate.

    Args:
        k: demos per sequence.
        bootstrap: training rows the program is run on to bootstrap demos (0: labeled only).
        num_instructions: APE proposals per predictor paired with every sequence (0: keep the
            current instruction; proposals cost LM requests).
        num_sets: distinct demo sets sampled per predictor before filtering.
        keep_sets: sets the optimal-transport filter keeps per predictor.
        num_orders: orders of each kept set (all ``k!`` when fewer).
        num_candidates: joint candidates (all of them when the product is smaller).
        minibatch: validation rows per step.
        warmup: random steps before the surrogate picks.
        num_trials: stop after this many steps (``None``: only the budget and the rows stop it).
        embedder: ``"minilm"`` (default), ``"litellm/<model>"``, or any object with
            ``embed(texts) -> array``.
        width: hidden units of the surrogate's two layers.
        lam: NeuralUCB's ``lambda``.
        nu: NeuralUCB's exploration scale ``nu``.
        epochs: Adam steps per surrogate fit.
    """

    name = "ease"
    cli_options = (DEMOS,)
    final_reserve = "pick"

    def __init__(
        self,
        k: int = 4,
        bootstrap: int = 8,
        num_instructions: int = 0,
        num_sets: int = 400,
        keep_sets: int = 16,
        num_orders: int = 6,
        num_candidates: int = 96,
        minibatch: int = 4,
        warmup: int = 4,
        num_trials: int | None = None,
        embedder: Embedder | str = DEFAULT_EMBEDDER,
        width: int = 32,
        lam: float = 0.1,
        nu: float = 0.1,
        epochs: int = 300,
    ) -> None:
        self.k = k
        self.bootstrap = bootstrap
        self.num_instructions = num_instructions
        self.num_sets = num_sets
        self.keep_sets = keep_sets
        self.num_orders = num_orders
        self.num_candidates = num_candidates
        self.minibatch = minibatch
        self.warmup = warmup
        self.num_trials = num_trials
        self.embedder = embedder
        self.width = width
        self.lam = lam
        self.nu = nu
        self.epochs = epochs
        self.surrogate = NeuralUCB(width=width, lam=lam, nu=nu, epochs=epochs)
        self._space: SearchSpace | None = None
        self._rng = random.Random(0)
        self._order: list[int] = []
        self.candidates: list[Candidate] = []
        self.vectors: npt.NDArray[np.float32] = np.zeros((0, 0), np.float32)
        self.observations: list[tuple[int, float]] = []
        self._index: dict[str, int] = {}

    def plan(self, shape: PlanShape) -> dict[str, int | None]:
        """At most every candidate on every row (or ``num_trials`` minibatches and the pick)."""
        search = self.num_candidates * shape.n_val
        if self.num_trials is not None:
            search = min(search, self.num_trials * self.minibatch + shape.n_val)
        return {
            "bootstrap": min(self.bootstrap, shape.n_train),
            "propose": self.num_instructions * len(shape.predictors),
            "search": search,
        }

    def setup(self, space: SearchSpace) -> None:
        with threadpool_limits(limits=_ONE_THREAD, user_api="blas"):
            self._setup(space)

    def _setup(self, space: SearchSpace) -> None:
        rng = random.Random(space.seed)
        embedder = resolve_embedder(self.embedder)
        booted = space.bootstrap(self.bootstrap, rng) if self.bootstrap else {}
        options: dict[str, list[Params]] = {}
        for name in space.predictors:
            demos = [*space.demo_pool(name), *booted.get(name, [])]
            pool = list({_key(d): d for d in demos}.values())
            if pool:
                sequences = self._sequences(space, name, pool, embedder, rng)
                instructions = self._instructions(space, name, sequences)
                options[name] = [Params(i, s) for i in instructions for s in sequences]
        self._space, self._rng = space, rng
        self.candidates = sample_joint(space, options, self.num_candidates, rng) if options else []
        self.vectors = _vectors(space, self.candidates, list(options), embedder)
        self._index = {space.board.key(c): i for i, c in enumerate(self.candidates)}
        self.observations = []
        self._order = list(range(space.n_val))
        rng.shuffle(self._order)

    def _sequences(
        self,
        space: SearchSpace,
        name: str,
        pool: list[dict[str, Any]],
        embedder: Embedder,
        rng: random.Random,
    ) -> list[Demos]:
        """Ordered demo sequences for one predictor: sampled sets, OT-filtered, then ordered."""
        k = min(self.k, len(pool))
        sets = _sample_sets(len(pool), k, self.num_sets, rng)
        inputs = list(space.predictors[name].signature.input_fields)
        val = space.val_inputs()
        # An inner predictor's inputs are not program inputs: compare with the whole row then.
        names = inputs if any(n in row for row in val for n in inputs) else sorted(val[0])
        vectors = embedder.embed(
            [render_fields(d, inputs) for d in pool] + [render_fields(r, names) for r in val]
        )
        kept = ot_filter(sets, vectors[: len(pool)], vectors[len(pool) :], self.keep_sets)
        out = []
        for i in kept:
            for order in _orders(sets[i], self.num_orders, rng):
                out.append(tuple(pool[j] for j in order))
        return out

    def _instructions(self, space: SearchSpace, name: str, sequences: list[Demos]) -> list[str]:
        base = space.base[name].instruction
        if not self.num_instructions:
            return [base]
        shown = [sequences[i % len(sequences)] for i in range(self.num_instructions)]
        return list(dict.fromkeys([base, *space.propose_instructions(name, shown)]))

    def ask(self) -> Trial | None:
        space = self._space
        if space is None or len(self.observations) == self.num_trials:
            return None
        board = space.board
        open_ = [i for i, c in enumerate(self.candidates) if len(board.scores(c)) < space.n_val]
        if not open_:
            return None
        pick = self._pick(open_)
        cand = self.candidates[pick]
        done = len(board.scores(cand))
        return Trial(cand, tuple(self._order[done : done + self.minibatch]))

    def _pick(self, open_: list[int]) -> int:
        """Random during warm-up, then the open candidate with the highest UCB."""
        if len(self.observations) < self.warmup:
            tried = {i for i, _ in self.observations}
            return self._rng.choice([i for i in open_ if i not in tried] or open_)
        seen = [i for i, _ in self.observations]
        with threadpool_limits(limits=_ONE_THREAD, user_api="blas"):
            self.surrogate.fit(self.vectors[seen], [g for _, g in self.observations])
            ucb = self.surrogate.ucb(self.vectors[open_])
        return open_[int(np.argmax(ucb))]

    def tell(self, trial: Trial, scores: list[float]) -> None:
        assert self._space is not None and trial.rows is not None
        base = self._space.board.scores({})
        gain = sum(scores) / len(scores) - sum(base[r] for r in trial.rows) / len(trial.rows)
        self.observations.append((self._index[self._space.board.key(trial.candidate)], gain))

    def best(self, board: BoardView) -> Candidate:
        """The candidate with the largest paired gain, shrunk towards 0 by ``minibatch`` rows."""
        best: Candidate = {}
        top = 0.0
        for cand in self.candidates:
            n = len(board.scores(cand))
            value = board.gain(cand) * n / (n + self.minibatch) if n else 0.0
            if value > top:
                best, top = cand, value
        return best


def _sample_sets(n: int, k: int, wanted: int, rng: random.Random) -> list[tuple[int, ...]]:
    """Up to ``wanted`` distinct ``k``-subsets of ``range(n)`` (sorted tuples), seeded."""
    total = math.comb(n, k)
    found: dict[tuple[int, ...], None] = {}
    attempts = 0
    while len(found) < min(wanted, total) and attempts < 20 * wanted:
        attempts += 1
        found.setdefault(tuple(sorted(rng.sample(range(n), k))), None)
    return list(found)


def _orders(items: tuple[int, ...], wanted: int, rng: random.Random) -> list[tuple[int, ...]]:
    """Up to ``wanted`` distinct orders of ``items``: all of them when there are few."""
    if math.factorial(len(items)) <= wanted:
        return list(permutations(items))
    found: dict[tuple[int, ...], None] = {}
    while len(found) < wanted:
        found.setdefault(tuple(rng.sample(items, len(items))), None)
    return list(found)


def _vectors(
    space: SearchSpace, candidates: list[Candidate], names: list[str], embedder: Embedder
) -> npt.NDArray[np.float32]:
    """One row per candidate: its predictors' embeddings concatenated, scaled to unit norm."""
    texts: dict[str, int] = {}
    keys = []
    for cand in candidates:
        row = []
        for name in names:
            text = render_candidate(space.predictors[name], cand.get(name, space.base[name]))
            row.append(texts.setdefault(text, len(texts)))
        keys.append(row)
    if not candidates:
        return np.zeros((0, 0), np.float32)
    unique = embedder.embed(list(texts))
    out: npt.NDArray[np.float32] = unique[np.array(keys)].reshape(len(candidates), -1)
    return out / np.float32(math.sqrt(len(names)))
