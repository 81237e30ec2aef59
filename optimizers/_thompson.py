"""Thompson sampling: spend each minibatch on the candidate most likely to be the best.

The same candidate pool as racing (:mod:`promptc.optimizers._candidates`). Each candidate's mean
score has a Beta posterior (scores in [0, 1] count as fractional successes). Every step draws
once from each posterior and scores the candidate with the largest draw on its next minibatch of
validation rows; every candidate walks the same shuffled row order, so any two are paired on the
rows both have seen. Unlike racing's fixed rounds, evaluations flow to promising candidates as
soon as evidence arrives, and the search runs until the budget it may use is spent (the driver
keeps back what its full evaluation of the pick needs: ``final_reserve = "pick"``).
"""

from __future__ import annotations

import random

from promptc.compiler import BoardView, Candidate, Optimizer, PlanShape, SearchSpace, Trial

from ._candidates import Pool, build_options, sample_joint
from ._flags import CANDIDATES, DEMOS

__all__ = ["ThompsonSampling"]


class ThompsonSampling(Optimizer):
    """Thompson sampling over instruction x demo-set candidates on paired minibatches.

    Args:
        num_instructions: APE proposals per predictor (besides its current instruction).
        num_variants: Monte-Carlo variants of the current instruction per predictor.
        num_demo_sets: demo sets per predictor (besides its current demos).
        k: demos per set.
        bootstrap: training rows the program is run on to bootstrap demos (0: labeled only).
        num_candidates: joint candidates (sampled from all combinations).
        minibatch: validation rows per step.
        num_trials: stop after this many steps (``None``: only the budget and the rows stop it).
    """

    name = "thompson"
    cli_options = (DEMOS, CANDIDATES)
    final_reserve = "pick"

    def __init__(
        self,
        num_instructions: int = 3,
        num_variants: int = 1,
        num_demo_sets: int = 3,
        k: int = 4,
        bootstrap: int = 8,
        num_candidates: int = 12,
        minibatch: int = 4,
        num_trials: int | None = None,
    ) -> None:
        self.num_instructions = num_instructions
        self.num_variants = num_variants
        self.num_demo_sets = num_demo_sets
        self.k = k
        self.bootstrap = bootstrap
        self.num_candidates = num_candidates
        self.minibatch = minibatch
        self.num_trials = num_trials
        self._space: SearchSpace | None = None
        self._candidates: list[Candidate] = []
        self._order: list[int] = []
        self._rng = random.Random(0)
        self._asked = 0

    @property
    def _pool(self) -> Pool:
        """The candidate pool these settings build."""
        return Pool(
            self.num_instructions, self.num_variants, self.num_demo_sets, self.k, self.bootstrap
        )

    def plan(self, shape: PlanShape) -> dict[str, int | None]:
        """At most every candidate on every row (or ``num_trials`` minibatches and the pick)."""
        search = self._pool.max_candidates(shape, self.num_candidates) * shape.n_val
        if self.num_trials is not None:
            search = min(search, self.num_trials * self.minibatch + shape.n_val)
        return {**self._pool.plan(shape), "search": search}

    def setup(self, space: SearchSpace) -> None:
        rng = random.Random(space.seed)
        options = build_options(self._pool, space, rng)
        self._space = space
        self._candidates = sample_joint(space, options, self.num_candidates, rng)
        self._order = list(range(space.n_val))
        rng.shuffle(self._order)
        self._rng = rng
        self._asked = 0

    def _posterior(self, cand: Candidate) -> tuple[float, float]:
        assert self._space is not None
        scores = self._space.board.scores(cand).values()
        wins = sum(min(1.0, max(0.0, s)) for s in scores)
        return 1.0 + wins, 1.0 + len(scores) - wins

    def _posterior_mean(self, cand: Candidate) -> float:
        a, b = self._posterior(cand)
        return a / (a + b)

    def ask(self) -> Trial | None:
        space = self._space
        if space is None or (self.num_trials is not None and self._asked >= self.num_trials):
            return None
        board = space.board
        open_ = [c for c in self._candidates if len(board.scores(c)) < space.n_val]
        if not open_:
            return None
        draws = [self._rng.betavariate(*self._posterior(c)) for c in open_]
        pick = open_[max(range(len(open_)), key=draws.__getitem__)]
        done = len(board.scores(pick))
        self._asked += 1
        return Trial(pick, tuple(self._order[done : done + self.minibatch]))

    def best(self, board: BoardView) -> Candidate:
        """The candidate with the largest posterior mean, if it has been scored at all."""
        scored = [c for c in self._candidates if board.scores(c)]
        return max(scored, key=self._posterior_mean) if scored else {}
