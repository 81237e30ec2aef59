"""Racing: APE instructions x demo sets, raced on paired minibatches under a budget.

Candidates come from :mod:`promptc.optimizers._candidates` (APE forward proposals, Monte-Carlo
variants of the seed instruction, labeled and bootstrapped demo sets, joined across predictors).
Each round scores every surviving candidate on the same fresh minibatch of validation rows
(paired samples); after a round, a candidate whose upper confidence bound on its paired gain
over the uncompiled program falls below zero can no longer beat the incumbent and stops, and
successive halving keeps the better ``1/eta`` of the rest. After the first round, APE's
iterative Monte-Carlo step resamples variants of the leader's instructions; they join the race
and first catch up on the rows the others have seen. The race ends when one candidate is left or
the rows run out; the driver then scores the leader on every row.
"""

from __future__ import annotations

import math
import random

from promptc import Params
from promptc.compiler import BoardView, Candidate, Optimizer, PlanShape, SearchSpace, Trial

from ._candidates import Pool, build_options, sample_joint
from ._flags import CANDIDATES, DEMOS

__all__ = ["APE", "Racing"]


class Racing(Optimizer):
    """Successive halving with UCB elimination over instruction x demo-set candidates.

    Args:
        num_instructions: APE proposals per predictor (besides its current instruction).
        num_variants: Monte-Carlo variants of the current instruction per predictor.
        num_demo_sets: demo sets per predictor (besides its current demos): half labeled,
            half bootstrapped when bootstrapping finds passing traces.
        k: demos per set.
        bootstrap: training rows the program is run on to bootstrap demos (0: labeled only).
        num_candidates: joint candidates raced (sampled from all combinations).
        num_resample: variants of the leader's instructions added after the first round
            (APE's iterative Monte-Carlo step; 0 turns it off).
        minibatch: validation rows per round.
        eta: successive-halving rate (keep the best ``1/eta`` each round).
        confidence: the z-value of the elimination bound (about 1.64 for 95% one-sided).
    """

    name = "racing"
    cli_options = (DEMOS, CANDIDATES)

    def __init__(
        self,
        num_instructions: int = 3,
        num_variants: int = 1,
        num_demo_sets: int = 3,
        k: int = 4,
        bootstrap: int = 8,
        num_candidates: int = 12,
        num_resample: int = 2,
        minibatch: int = 8,
        eta: int = 2,
        confidence: float = 1.64,
    ) -> None:
        self.num_instructions = num_instructions
        self.num_variants = num_variants
        self.num_demo_sets = num_demo_sets
        self.k = k
        self.bootstrap = bootstrap
        self.num_candidates = num_candidates
        self.num_resample = num_resample
        self.minibatch = minibatch
        self.eta = eta
        self.confidence = confidence
        self._space: SearchSpace | None = None
        self._alive: list[Candidate] = []
        self._queue: list[Trial] = []
        self._rows: tuple[int, ...] = ()
        self._seen: list[int] = []
        self._order: list[int] = []
        self.resampled: list[Candidate] = []
        self.eliminated: list[tuple[Candidate, str]] = []

    @property
    def _pool(self) -> Pool:
        """The candidate pool these settings build."""
        return Pool(
            self.num_instructions, self.num_variants, self.num_demo_sets, self.k, self.bootstrap
        )

    def plan(self, shape: PlanShape) -> dict[str, int | None]:
        """An upper bound: the race with no candidate eliminated early (halving only)."""
        resample = self.num_resample * len(shape.predictors)
        alive = self._pool.max_candidates(shape, self.num_candidates)
        worst = rounds = 0
        # The leader's variants join after the first round in which resampling finds any (it
        # is asked again each round until then): try every round and keep the costliest.
        for join in range(1, math.ceil(shape.n_val / self.minibatch) + 1):
            runs, ran = _race(alive, shape.n_val, self.minibatch, self.eta, resample, join)
            worst, rounds = max(worst, runs), max(rounds, ran)
        proposals = self._pool.plan(shape)
        extra = resample * rounds
        return {
            "bootstrap": proposals["bootstrap"],
            "propose": proposals["propose"] + extra,
            "search": worst,
        }

    def setup(self, space: SearchSpace) -> None:
        rng = random.Random(space.seed)
        options = build_options(self._pool, space, rng)
        self._space = space
        self._alive = sample_joint(space, options, self.num_candidates, rng)
        self._order = list(range(space.n_val))
        rng.shuffle(self._order)
        self._seen = []
        self.resampled = []
        self.eliminated = []
        self._next_round()

    def _next_round(self) -> None:
        start = len(self._seen)
        self._rows = tuple(self._order[start : start + self.minibatch])
        racing = len(self._alive) > 1 or not self._seen  # a lone candidate still runs once
        # Every candidate is scored on the seen rows too: the board skips rows it already has,
        # so only a newcomer catches up, and each trial's score is over all rows seen so far.
        rows = (*self._seen, *self._rows)
        self._queue = [Trial(c, rows) for c in self._alive] if self._rows and racing else []

    def ask(self) -> Trial | None:
        return self._queue.pop(0) if self._queue else None

    def tell(self, trial: Trial, scores: list[float]) -> None:
        if self._queue:
            return
        self._seen.extend(self._rows)
        self._eliminate()
        if self.num_resample and not self.resampled and self._alive:
            self._resample()
        self._next_round()

    def best(self, board: BoardView) -> Candidate:
        """The survivor with the largest paired gain, if it gains at all."""
        ranked = sorted(self._alive, key=board.gain, reverse=True)
        return ranked[0] if ranked and board.gain(ranked[0]) > 0 else {}

    def _resample(self) -> None:
        """APE's Monte-Carlo step: variants of the leader's instructions join the race."""
        space = self._space
        assert space is not None
        leader = max(self._alive, key=space.board.gain)
        known = {space.board.key(c) for c in self._alive}
        for name in space.predictors:
            params = leader.get(name, space.base[name])
            for text in space.resample_instructions(params.instruction, self.num_resample):
                cand = {**leader, name: Params(text, params.demos)}
                if space.board.key(cand) not in known:
                    known.add(space.board.key(cand))
                    self.resampled.append(cand)
        self._alive.extend(self.resampled)

    def _bound(self, cand: Candidate) -> tuple[float, float]:
        """(mean paired gain, its upper confidence bound) over the rows seen so far."""
        assert self._space is not None
        mine, base = self._space.board.scores(cand), self._space.board.scores({})
        diffs = [mine[r] - base[r] for r in self._seen if r in mine]
        n = len(diffs)
        mean = sum(diffs) / n
        var = sum((d - mean) ** 2 for d in diffs) / (n - 1) if n > 1 else 1.0
        return mean, mean + self.confidence * math.sqrt(max(var, 1e-12) / n) + 1e-9

    def _eliminate(self) -> None:
        gains = {id(c): self._bound(c) for c in self._alive}
        keep = []
        for cand in self._alive:
            _, upper = gains[id(cand)]
            if upper < 0:
                self.eliminated.append((cand, "cannot beat the incumbent"))
            else:
                keep.append(cand)
        keep.sort(key=lambda c: gains[id(c)][0], reverse=True)
        survivors = max(1, math.ceil(len(keep) / self.eta)) if keep else 0
        self.eliminated.extend((c, "halving") for c in keep[survivors:])
        self._alive = keep[:survivors]


def _race(alive: int, n: int, minibatch: int, eta: int, joining: int, join: int) -> tuple[int, int]:
    """Rows scored (and rounds run) by a race in which only halving removes candidates and
    ``joining`` candidates join after round ``join``, catching up on the rows seen so far; the
    pick then catches up on the rows the race never reached."""
    seen = runs = rounds = 0
    while seen < n and alive and (alive > 1 or not seen):
        new = min(minibatch, n - seen)
        runs += alive * new
        seen += new
        rounds += 1
        alive = max(1, math.ceil(alive / eta))
        if rounds == join and joining:
            alive += joining
            runs += joining * seen
    return runs + (n - seen if alive else 0), rounds


class APE(Racing):
    """APE (Zhou et al., 2023): instruction search alone, the demos left as they are.

    A proposer LM induces instructions from demos (forward generation), the candidates are
    raced on paired minibatches (APE's adaptive evaluation), and the leader's instruction is
    resampled (APE's iterative Monte-Carlo step). Racing with no demo sets.

    Args:
        num_instructions: APE proposals per predictor.
        num_variants: Monte-Carlo variants of the current instruction per predictor.
        k: demos shown to the proposer per proposal.
        num_candidates: joint candidates raced.
        num_resample: variants of the leader's instructions added after the first round.
        minibatch: validation rows per round.
    """

    name = "ape"

    def __init__(
        self,
        num_instructions: int = 6,
        num_variants: int = 2,
        k: int = 4,
        num_candidates: int = 8,
        num_resample: int = 2,
        minibatch: int = 8,
    ) -> None:
        super().__init__(
            num_instructions=num_instructions,
            num_variants=num_variants,
            num_demo_sets=0,
            k=k,
            bootstrap=0,
            num_candidates=num_candidates,
            num_resample=num_resample,
            minibatch=minibatch,
        )
