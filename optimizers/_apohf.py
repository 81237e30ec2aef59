"""APOHF: prompt optimization from pairwise preferences with a neural dueling bandit.

Lin et al., 2024, "Prompt Optimization with Human Feedback". The candidates are the uncompiled
program and instruction x demo-set candidates from the shared pool
(:mod:`promptc.optimizers._candidates`); in a preference compile the rows carry inputs only, so
the demo sets are bootstrapped from the program's own outputs. Each candidate is embedded as EASE
embeds it (:mod:`promptc.optimizers._ease`: the instruction then each demo's fields; a joint
candidate's predictor vectors concatenated and scaled to unit norm).

After every comparison the utility model (:mod:`promptc.optimizers._dueling_net`: an MLP fitted
to all duels so far with the Bradley-Terry loss) is refitted from its seeded initial weights.
The next duel pits the candidate of highest estimated utility against the one maximizing
utility plus ``nu`` times the model's uncertainty about their difference; the pick is the
candidate of highest estimated utility. Which of the two is shown as output A is a coin flip,
so a judge's position bias does not favour either side of the rule.

:class:`RandomPairs` asks uniformly random pairs with the same model, ranking and pick: the
reference a benchmark compares the pair selection with.
"""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

import numpy as np
import numpy.typing as npt
from threadpoolctl import threadpool_limits

from promptc.compiler import Candidate, Duel, DuelingOptimizer, SearchSpace, Utility
from promptc.exceptions import ConfigurationError

from ._candidates import Pool, build_options, sample_joint
from ._dueling_net import DuelingNet
from ._ease import _vectors
from ._embed import DEFAULT_EMBEDDER, Embedder, resolve_embedder

__all__ = ["APOHF", "RandomPairs"]

# One BLAS thread, as in EASE: the same seed then asks the same duels on any machine.
_ONE_THREAD = 1

#: The normal quantile of a two-sided 95% interval.
Z_95 = 1.96


class APOHF(DuelingOptimizer):
    """A neural dueling bandit over instruction x demo-set candidates (APOHF).

    The first ``warmup`` duels (none by default) each pit a not yet compared candidate (in a
    seeded random order) against the uncompiled program, before the model chooses. APOHF needs
    no warm-up to start: before any duel every utility is 0, so its first duel is already the
    uncompiled program (index 0 wins the tie) against the candidate the model knows least
    about. A covering warm-up only delayed it on the synthetic benchmark of ``tests/test_apohf.py``
    (20 candidates, 100 Bradley-Terry comparisons, 20 seeds): best() settled on the best
    candidate after 22.6 comparisons on average without warm-up and 31.7 with one duel per
    candidate (linear utility; 39.4 and 46.1 non-linear). Set it when every candidate should be
    compared with the uncompiled program at least once, whatever the model prefers.

    Args:
        k: demos per set.
        bootstrap: training rows the program is run on to bootstrap demos.
        num_demo_sets: demo sets per predictor (besides its current demos); without labeled
            rows, every one is bootstrapped.
        num_instructions: APE proposals per predictor (0: keep the current instruction;
            proposals cost LM requests and need a capable proposer).
        num_candidates: candidates besides the uncompiled program.
        embedder: ``"minilm"`` (default), ``"litellm/<model>"``, or any object with
            ``embed(texts) -> array``.
        width: hidden units of the utility model's two layers.
        lam: the model's prior precision (see :mod:`promptc.optimizers._dueling_net`).
        nu: the exploration scale of the second candidate.
        epochs: Adam steps per fit.
        warmup: duels of one candidate each against the uncompiled program before the model
            chooses (at most one per candidate).
    """

    name = "apohf"

    def __init__(
        self,
        k: int = 4,
        bootstrap: int = 8,
        num_demo_sets: int = 16,
        num_instructions: int = 0,
        num_candidates: int = 16,
        embedder: Embedder | str = DEFAULT_EMBEDDER,
        width: int = 32,
        lam: float = 30.0,
        nu: float = 10.0,
        epochs: int = 100,
        warmup: int = 0,
    ) -> None:
        self.k = k
        self.bootstrap = bootstrap
        self.num_demo_sets = num_demo_sets
        self.num_instructions = num_instructions
        self.num_candidates = num_candidates
        self.embedder = embedder
        self.width = width
        self.lam = lam
        self.nu = nu
        self.epochs = epochs
        self.warmup = warmup
        self.candidates: list[Candidate] = []
        self.vectors: npt.NDArray[np.float64] = np.zeros((0, 0))
        self.duels: list[tuple[int, int, float]] = []
        self._net = DuelingNet(width=width, lam=lam, nu=nu, epochs=epochs)
        self._rng = random.Random(0)
        self._warm: list[int] = []
        self._asked = 0

    def setup(self, space: SearchSpace) -> list[Candidate]:
        """Bootstrap demo sets, build and embed the candidates, the uncompiled program first."""
        rng = random.Random(space.seed)
        pool = Pool(self.num_instructions, 0, self.num_demo_sets, self.k, self.bootstrap, True)
        options = build_options(pool, space, rng)
        candidates: list[Candidate] = [{}, *sample_joint(space, options, self.num_candidates, rng)]
        vectors: npt.NDArray[Any] = np.zeros((len(candidates), 1))
        if len(candidates) > 1:  # one candidate needs no model, nor the embedder
            with threadpool_limits(limits=_ONE_THREAD, user_api="blas"):
                embedder = resolve_embedder(self.embedder)
                vectors = _vectors(space, candidates, list(space.predictors), embedder)
        self.start(candidates, vectors, seed=space.seed)
        return candidates

    def start(self, candidates: list[Candidate], vectors: npt.ArrayLike, seed: int = 0) -> None:
        """Start on given candidates and their embeddings (what :meth:`setup` does after
        building them; tests call it directly).

        Args:
            candidates: the candidates, the uncompiled program (``{}``) first.
            vectors: one embedding per candidate, shape ``(len(candidates), dim)``.
            seed: seeds the model's initial weights, the warm-up order and the sides.

        Raises:
            ConfigurationError: the first candidate is not ``{}``, or the shapes disagree.
        """
        x = np.asarray(vectors, np.float64)
        if not candidates or candidates[0] != {}:
            raise ConfigurationError(
                "the first candidate must be {} (the uncompiled program), got "
                f"{candidates[:1]!r}; put the uncompiled program first"
            )
        if x.ndim != 2 or len(x) != len(candidates) or x.shape[1] == 0:
            raise ConfigurationError(
                f"expected one non-empty embedding row per candidate ({len(candidates)}), got "
                f"an array of shape {x.shape}; embed every candidate"
            )
        self.candidates, self.vectors, self.duels = list(candidates), x, []
        self._rng, self._asked = random.Random(seed), 0
        self._warm = self._rng.sample(range(1, len(candidates)), len(candidates) - 1)
        self._net.seed = seed
        self._fit()

    def _fit(self) -> None:
        with threadpool_limits(limits=_ONE_THREAD, user_api="blas"):
            self._net.fit(self.vectors, self.duels)

    def ask(self) -> Duel | None:
        """The next pair: warm-up duels against the uncompiled program, then APOHF's rule.

        ``None`` with fewer than two candidates. A duel that is never told (a skipped
        question) is not repeated during the warm-up; after it the same pair comes again until
        an outcome changes the model.
        """
        if len(self.candidates) < 2:
            return None
        first, second = self._pair()
        self._asked += 1
        if self._rng.random() < 0.5:
            first, second = second, first
        return Duel(first, second)

    def _pair(self) -> tuple[int, int]:
        if self._asked < min(self.warmup, len(self._warm)):
            return self._warm[self._asked], 0
        with threadpool_limits(limits=_ONE_THREAD, user_api="blas"):
            return self._net.pick()

    def tell(self, duel: Duel, outcome: float) -> None:
        """Record one comparison and refit the model on every comparison so far.

        Raises:
            ConfigurationError: the duel names unknown or equal candidates, or the outcome is
                not a number in [0, 1].
        """
        n = len(self.candidates)
        if not (0 <= duel.first < n and 0 <= duel.second < n and duel.first != duel.second):
            raise ConfigurationError(
                f"expected a duel of two different candidates in 0..{n - 1}, got {duel}"
            )
        if not (isinstance(outcome, int | float) and 0.0 <= outcome <= 1.0):
            raise ConfigurationError(
                f"expected an outcome in [0, 1] (1: first preferred, 0.5: tie), got {outcome!r}"
            )
        self.duels.append((duel.first, duel.second, float(outcome)))
        self._fit()

    def ranking(self) -> list[Utility]:
        """Every candidate's utility relative to the uncompiled program, best first.

        ``mean`` is ``f(x_i) - f(x_0)``, so the uncompiled program is 0. The interval is
        ``mean +- 1.96 * se``, ``se`` the model's own standard error of that difference (the
        Laplace approximation of its output layer: APOHF's width with each duel weighted by
        its Bradley-Terry variance; see :mod:`promptc.optimizers._dueling_net`), not a
        bootstrap over the comparisons, and blind to the uncertainty in the hidden layers.
        Ties rank the lower index first.
        """
        if not self.candidates:
            return []
        f = self._net.utility()
        mean = f - f[0]
        width = self._net.std_errors(0)
        counts = Counter(i for a, b, _ in self.duels for i in (a, b))
        out = [
            Utility(i, float(m), float(m - Z_95 * w), float(m + Z_95 * w), counts[i])
            for i, (m, w) in enumerate(zip(mean, width, strict=True))
        ]
        return sorted(out, key=lambda u: (-u.mean, u.index))

    def best(self) -> int:
        """The candidate of highest estimated utility (APOHF's pick); the lower index on ties."""
        ranked = self.ranking()
        return ranked[0].index if ranked else 0


class RandomPairs(APOHF):
    """Uniformly random pairs of distinct candidates, with APOHF's model, ranking and pick.

    The reference for APOHF's pair selection: a benchmark of the two differs only in which
    pairs are asked. Takes APOHF's arguments; ``nu`` and ``warmup`` are unused.
    """

    name = "random_pairs"

    def _pair(self) -> tuple[int, int]:
        first, second = self._rng.sample(range(len(self.candidates)), 2)
        return first, second
