"""Racing: APE instructions x demo sets, raced on paired minibatches under a budget.

Candidates are built per predictor from proposed instructions (APE forward generation plus
Monte-Carlo variants of the seed) and demo sets (labeled and bootstrapped), combined jointly
across predictors. Each round scores every surviving candidate on the same fresh minibatch of
validation rows (paired samples); after a round, a candidate whose upper confidence bound on its
paired gain over the uncompiled program falls below zero can no longer beat the incumbent and
stops, and successive halving keeps the better ``1/eta`` of the rest. The race ends when one
candidate is left or the rows run out; the driver then scores the leader on every row.
"""

from __future__ import annotations

import json
import math
import random
from itertools import product
from typing import Any

from promptc import Params
from promptc.compiler import Board, Candidate, Optimizer, SearchSpace, Trial

__all__ = ["Racing"]


def _distinct(sets: list[tuple[dict[str, Any], ...]]) -> list[tuple[dict[str, Any], ...]]:
    """Demo sets without repeats (same demos in the same order), first kept."""
    seen: dict[str, tuple[dict[str, Any], ...]] = {}
    for demos in sets:
        seen.setdefault(json.dumps(demos, sort_keys=True, default=str), demos)
    return list(seen.values())


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
        minibatch: validation rows per round.
        eta: successive-halving rate (keep the best ``1/eta`` each round).
        confidence: the z-value of the elimination bound (about 1.64 for 95% one-sided).
    """

    name = "racing"

    def __init__(
        self,
        num_instructions: int = 3,
        num_variants: int = 1,
        num_demo_sets: int = 3,
        k: int = 4,
        bootstrap: int = 8,
        num_candidates: int = 12,
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
        self.minibatch = minibatch
        self.eta = eta
        self.confidence = confidence
        self._alive: list[Candidate] = []
        self._queue: list[Candidate] = []
        self._rows: tuple[int, ...] = ()
        self._seen: list[int] = []
        self._order: list[int] = []
        self._board: Board | None = None
        self.eliminated: list[tuple[Candidate, str]] = []

    def config(self) -> dict[str, Any]:
        return {
            "num_instructions": self.num_instructions,
            "num_variants": self.num_variants,
            "num_demo_sets": self.num_demo_sets,
            "k": self.k,
            "bootstrap": self.bootstrap,
            "num_candidates": self.num_candidates,
            "minibatch": self.minibatch,
            "eta": self.eta,
            "confidence": self.confidence,
        }

    def setup(self, space: SearchSpace) -> None:
        rng = random.Random(space.seed)
        demo_sets = self._demo_sets(space, rng)
        instructions = self._instructions(space, demo_sets, rng)
        choices = {
            name: [Params(i, d) for i, d in product(instructions[name], demo_sets[name])]
            for name in space.predictors
        }
        self._alive = self._joint(space, choices, rng)
        self._board = space.board
        self._order = list(range(space.n_val))
        rng.shuffle(self._order)
        self._seen = []
        self._next_round()

    def _demo_sets(
        self, space: SearchSpace, rng: random.Random
    ) -> dict[str, list[tuple[dict[str, Any], ...]]]:
        sets = {name: [space.base[name].demos] for name in space.predictors}
        booted = space.bootstrap(self.bootstrap, rng) if self.bootstrap else {}
        for name in space.predictors:
            pool = booted.get(name, [])
            for i in range(self.num_demo_sets):
                if pool and i % 2 == 1:
                    sets[name].append(tuple(rng.sample(pool, min(self.k, len(pool)))))
                elif space.demo_pool(name):
                    sets[name].append(space.sample_demos(name, self.k, rng))
        return {name: _distinct(s) for name, s in sets.items()}

    def _instructions(
        self,
        space: SearchSpace,
        demo_sets: dict[str, list[tuple[dict[str, Any], ...]]],
        rng: random.Random,
    ) -> dict[str, list[str]]:
        out = {}
        for name in space.predictors:
            seed = space.base[name].instruction
            shown = [d for d in demo_sets[name] if d] or [space.sample_demos(name, self.k, rng)]
            pool = [shown[i % len(shown)] for i in range(self.num_instructions)]
            proposals = space.propose_instructions(name, pool) if any(pool) else []
            variants = space.resample_instructions(seed, self.num_variants)
            out[name] = list(dict.fromkeys([seed, *proposals, *variants]))
        return out

    def _joint(
        self, space: SearchSpace, choices: dict[str, list[Params]], rng: random.Random
    ) -> list[Candidate]:
        """Sample distinct joint candidates (never the uncompiled program itself)."""
        total = math.prod(len(c) for c in choices.values())
        wanted = min(self.num_candidates, total - 1)
        found: dict[str, Candidate] = {}
        attempts = 0
        while len(found) < wanted and attempts < 50 * max(1, wanted):
            attempts += 1
            cand = {name: rng.choice(options) for name, options in choices.items()}
            changed = {n: p for n, p in cand.items() if p != space.base[n]}
            if changed:
                found.setdefault(space.board.key(changed), changed)
        return list(found.values())

    def _next_round(self) -> None:
        start = len(self._seen)
        self._rows = tuple(self._order[start : start + self.minibatch])
        racing = len(self._alive) > 1 or not self._seen  # a lone candidate still runs once
        self._queue = list(self._alive) if self._rows and racing else []

    def ask(self) -> Trial | None:
        if not self._queue:
            return None
        return Trial(self._queue.pop(0), self._rows)

    def tell(self, trial: Trial, scores: list[float]) -> None:
        if self._queue:
            return
        self._seen.extend(self._rows)
        self._eliminate()
        self._next_round()

    def best(self, board: Board) -> Candidate:
        """The survivor with the largest paired gain, if it gains at all."""
        ranked = sorted(self._alive, key=board.gain, reverse=True)
        return ranked[0] if ranked and board.gain(ranked[0]) > 0 else {}

    def _bound(self, cand: Candidate) -> tuple[float, float]:
        """(mean paired gain, its upper confidence bound) over the rows seen so far."""
        assert self._board is not None
        mine, base = self._board.scores(cand), self._board.scores({})
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
