"""Candidate pools shared by the bandit strategies: APE instructions x demo sets, joined.

Per predictor, the options are every pairing of an instruction (the current one, APE forward
proposals, Monte-Carlo variants of the current one) with a demo set (the current demos, labeled
sets and bootstrapped sets). Joint candidates for a multi-predictor program are sampled from the
product of the per-predictor options.
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass
from itertools import product
from typing import Any

from promptc import Params
from promptc.compiler import Candidate, PlanShape, SearchSpace

__all__ = ["Demos", "Pool", "build_choices", "build_options", "sample_joint"]

Demos = tuple[dict[str, Any], ...]


@dataclass(frozen=True)
class Pool:
    """How big a candidate pool to build.

    Attributes:
        num_instructions: APE proposals per predictor (besides its current instruction).
        num_variants: Monte-Carlo variants of the current instruction per predictor.
        num_demo_sets: demo sets per predictor (besides its current demos): half labeled,
            half bootstrapped when bootstrapping finds passing traces.
        k: demos per set.
        bootstrap: training rows the program is run on to bootstrap demos (0: labeled only).
        fill: a predictor without labeled demos gets a bootstrapped set in every slot, instead
            of leaving the labeled half empty (for compiles whose rows carry inputs only).
    """

    num_instructions: int = 3
    num_variants: int = 1
    num_demo_sets: int = 3
    k: int = 4
    bootstrap: int = 8
    fill: bool = False

    def plan(self, shape: PlanShape) -> dict[str, int]:
        """The most the pool costs to build: bootstrap runs and proposer requests."""
        per_predictor = self.num_instructions + self.num_variants
        return {
            "bootstrap": min(self.bootstrap, shape.n_train),
            "propose": per_predictor * len(shape.predictors),
        }

    def max_candidates(self, shape: PlanShape, wanted: int) -> int:
        """The most joint candidates :func:`sample_joint` can return (``wanted`` at most)."""
        options = (1 + self.num_instructions + self.num_variants) * (1 + self.num_demo_sets)
        return max(0, min(wanted, int(options ** len(shape.predictors)) - 1))


def _distinct(sets: list[Demos]) -> list[Demos]:
    """Demo sets without repeats (same demos in the same order), first kept."""
    seen: dict[str, Demos] = {}
    for demos in sets:
        seen.setdefault(json.dumps(demos, sort_keys=True, default=str), demos)
    return list(seen.values())


def _demo_sets(pool: Pool, space: SearchSpace, rng: random.Random) -> dict[str, list[Demos]]:
    sets = {name: [space.base[name].demos] for name in space.predictors}
    booted = space.bootstrap(pool.bootstrap, rng) if pool.bootstrap else {}
    for name in space.predictors:
        passing = booted.get(name, [])
        every = pool.fill and not space.demo_pool(name)
        for i in range(pool.num_demo_sets):
            if passing and (i % 2 == 1 or every):
                sets[name].append(tuple(rng.sample(passing, min(pool.k, len(passing)))))
            elif space.demo_pool(name):
                sets[name].append(space.sample_demos(name, pool.k, rng))
    return {name: _distinct(s) for name, s in sets.items()}


def _instructions(
    pool: Pool, space: SearchSpace, demo_sets: dict[str, list[Demos]], rng: random.Random
) -> dict[str, list[str]]:
    out = {}
    for name in space.predictors:
        seed = space.base[name].instruction
        # Without demo sets of its own (APE), each proposal gets its own sample of examples,
        # as in APE's forward generation: one sample shown to every proposal yields one
        # instruction from a greedy proposer, and near-copies from a sampling one.
        shown = [d for d in demo_sets[name] if d] or [
            space.sample_demos(name, pool.k, rng) for _ in range(pool.num_instructions)
        ]
        shown_sets = [shown[i % len(shown)] for i in range(pool.num_instructions)]
        proposals = space.propose_instructions(name, shown_sets) if any(shown_sets) else []
        variants = space.resample_instructions(seed, pool.num_variants)
        out[name] = list(dict.fromkeys([seed, *proposals, *variants]))
    return out


def build_choices(
    pool: Pool, space: SearchSpace, rng: random.Random
) -> tuple[dict[str, list[str]], dict[str, list[Demos]]]:
    """Instructions and demo sets per predictor (each list starts with the current one).

    Spends LM requests on bootstrapping and proposals.
    """
    demo_sets = _demo_sets(pool, space, rng)
    return _instructions(pool, space, demo_sets, rng), demo_sets


def build_options(pool: Pool, space: SearchSpace, rng: random.Random) -> dict[str, list[Params]]:
    """Every (instruction, demo set) option per predictor; spends LM requests on proposals."""
    instructions, demo_sets = build_choices(pool, space, rng)
    return {
        name: [Params(i, d) for i, d in product(instructions[name], demo_sets[name])]
        for name in space.predictors
    }


def sample_joint(
    space: SearchSpace, options: dict[str, list[Params]], n: int, rng: random.Random
) -> list[Candidate]:
    """Up to ``n`` distinct joint candidates, never the uncompiled program itself.

    A candidate names only the predictors it changes.
    """
    total = math.prod(len(c) for c in options.values())
    wanted = min(n, total - 1)
    found: dict[str, Candidate] = {}
    attempts = 0
    while len(found) < wanted and attempts < 50 * max(1, wanted):
        attempts += 1
        cand = {name: rng.choice(choices) for name, choices in options.items()}
        base = space.board.key({})
        changed = {n: p for n, p in cand.items() if space.board.key({n: p}) != base}
        if changed:
            found.setdefault(space.board.key(changed), changed)
    return list(found.values())
