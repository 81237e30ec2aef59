"""TPE: optuna's Tree-structured Parzen Estimator over per-predictor prompt choices.

Per predictor the categorical choices are the instruction (the current one, APE proposals,
Monte-Carlo variants), the demo set (the current one, labeled and bootstrapped sets), the demo
order (as drawn, reversed, rotated by one) and the prompt format (XML tags, markdown sections,
plain sentences: ``promptc._program.adapter.PROMPT_FORMATS``).
Each trial is scored on a minibatch of
validation rows taken from one shuffled row order, and TPE maximizes the *paired* gain over the
uncompiled program on those rows, so an easy or hard minibatch does not mislead it. Every
``full_eval_every`` trials the most promising candidate is scored on every row (MIPROv2's
periodic full evaluation).

The trials live in an optuna storage, through :class:`promptc.compiler.TrialStore` (which owns the
fingerprint check, stale trials and restoring scores). Given ``storage``, a compile that is killed
(even with ``kill -9``) and started again with the same command resumes its study: finished trials
are read back with their per-row scores and never evaluated again, and a trial the dead process was
running is handed out again. Several worker processes started on one storage share the study: each
asks for the next trial, so no trial is evaluated twice, and each ends with the best candidate over
every worker's trials. The candidate choices (instructions and demo sets) are stored with the study
on first use, so every worker and every resume searches the same space. So is the compile's
fingerprint (:meth:`SearchSpace.fingerprint`: program structure, prompts, train and validation
data, metric, LM settings) and the search settings: a compile that differs in any of them is
refused, naming the parts, instead of adopting trials that mean something else (two compiles given
the same ``--storage`` and ``--study``). The compile's budget caps each process's run (restored
trials cost nothing); ``num_trials`` caps the study.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from typing import Any

from promptc import Params
from promptc.compiler import (
    PROMPT_FORMATS,
    BoardView,
    Candidate,
    Optimizer,
    PlanShape,
    SearchSpace,
    Trial,
    TrialStore,
)
from promptc.exceptions import ConfigurationError

from ._candidates import Demos, Pool, build_choices
from ._flags import DEMOS, STORAGE, STUDY, TRIALS

__all__ = ["TPE"]

ORDERS = ("drawn", "reversed", "rotated")
_PARAMS_WAIT = 2.0  # seconds: how long an earlier trial's params may take to be written


def _ordered(demos: Demos, order: str) -> Demos:
    if order == "reversed":
        return demos[::-1]
    if order == "rotated" and demos:
        return (*demos[1:], demos[0])
    return demos


def _optuna() -> Any:
    try:
        import optuna
    except ImportError:
        raise ConfigurationError(
            "the 'tpe' optimizer needs optuna; install it with: pip install 'promptc[compile]'"
        ) from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


class TPE(Optimizer):
    """Optuna TPE over (instruction, demo set, order, format) per predictor, on paired minibatches.

    Args:
        num_instructions: APE proposals per predictor (besides its current instruction).
        num_variants: Monte-Carlo variants of the current instruction per predictor.
        num_demo_sets: demo sets per predictor (besides its current demos).
        k: demos per set.
        bootstrap: training rows run to bootstrap demos (0: labeled only).
        num_trials: trials in the study, over every worker and every resume.
        minibatch: validation rows per trial.
        full_eval_every: score the most promising candidate on every row after this many
            trials (0: only the driver's final evaluation).
        storage: where the study lives (see :func:`promptc.compiler.open_storage`); ``None``
            keeps it in memory.
        study_name: the study's name; by default derived from the program, the data, the seed
            and these settings (all but ``num_trials``, so a study can be extended), so the same
            compile command finds its own study again.
        stale_after: seconds after which a running trial of a worker on another machine is
            taken as dead and handed out again (a dead worker on this machine is seen at once).
    """

    name = "tpe"
    cli_options = (DEMOS, TRIALS, STORAGE, STUDY)
    # The pick may be a candidate another worker scored on a few rows only.
    final_reserve = "all_rows"
    # Where the study lives is not how it searched.
    unrecorded = ("storage", "study_name", "stale_after")

    def __init__(
        self,
        num_instructions: int = 3,
        num_variants: int = 1,
        num_demo_sets: int = 3,
        k: int = 4,
        bootstrap: int = 8,
        num_trials: int = 20,
        minibatch: int = 8,
        full_eval_every: int = 5,
        storage: str | None = None,
        study_name: str | None = None,
        stale_after: float = 3600.0,
    ) -> None:
        if num_trials < 1 or minibatch < 1:
            raise ConfigurationError(
                f"num_trials and minibatch must be at least 1, got {num_trials} and {minibatch}"
            )
        self.num_instructions = num_instructions
        self.num_variants = num_variants
        self.num_demo_sets = num_demo_sets
        self.k = k
        self.bootstrap = bootstrap
        self.num_trials = num_trials
        self.minibatch = minibatch
        self.full_eval_every = full_eval_every
        self.storage = storage
        self.study_name = study_name
        self.stale_after = stale_after
        self._space: SearchSpace | None = None
        self._study: Any = None
        self._opened: TrialStore | None = None
        self._instructions: dict[str, list[str]] = {}
        self._demo_sets: dict[str, list[Demos]] = {}
        self._order: list[int] = []
        self._running: tuple[Any, tuple[int, ...]] | None = None
        self._full: Trial | None = None
        self._told = 0
        self.restored = 0
        self.evaluated = 0

    @property
    def _pool(self) -> Pool:
        """The candidate pool these settings build."""
        return Pool(
            self.num_instructions, self.num_variants, self.num_demo_sets, self.k, self.bootstrap
        )

    def plan(self, shape: PlanShape) -> dict[str, int | None]:
        """``num_trials`` minibatches, the periodic full evaluations and the pick's (at most)."""
        fulls = (self.num_trials // self.full_eval_every if self.full_eval_every else 0) + 1
        search = self.num_trials * min(self.minibatch, shape.n_val) + fulls * shape.n_val
        return {**self._pool.plan(shape), "search": search}

    # -- setup ----------------------------------------------------------------------------------

    def _default_name(self, space: SearchSpace) -> str:
        identity = {
            "base": space.board.key({}),
            "train": space.trainset,
            "val": space.val_inputs(),
            "seed": space.seed,
            "config": {k: v for k, v in self.config().items() if k != "num_trials"},
        }
        text = json.dumps(identity, sort_keys=True, default=str)
        return "promptc-" + hashlib.sha256(text.encode()).hexdigest()[:16]

    def setup(self, space: SearchSpace) -> None:
        optuna = _optuna()
        self._space = space
        rng = random.Random(space.seed)
        self._order = list(range(space.n_val))
        rng.shuffle(self._order)
        sampler = optuna.samplers.TPESampler(seed=space.seed, n_startup_trials=5)
        self._opened = TrialStore.open(
            self.storage,
            self.study_name or self._default_name(space),
            self._fingerprint(space),
            sampler,
            owner="TPE",
        )
        self._study = self._opened.study
        self._load_choices(space, rng)
        self._store.requeue_stale(self._whole, self.stale_after)
        self.restored = self._restore()
        self._running, self._full, self._told = None, None, 0

    def _fingerprint(self, space: SearchSpace) -> dict[str, str]:
        config = sorted((k, v) for k, v in self.config().items() if k != "num_trials")
        search = ", ".join(f"{k}={v}" for k, v in config)
        search += f"; orders {'/'.join(ORDERS)}; formats {'/'.join(PROMPT_FORMATS)}"
        return {**space.fingerprint().to_dict(), "search": search}

    def _load_choices(self, space: SearchSpace, rng: random.Random) -> None:
        """The study's stored choices, or new ones (stored for every later worker)."""

        def make() -> dict[str, Any]:
            instructions, demo_sets = build_choices(self._pool, space, rng)
            return {"instructions": instructions, "demo_sets": demo_sets}

        stored = self._store.shared("choices", make)
        self._instructions = {n: list(v) for n, v in stored["instructions"].items()}
        self._demo_sets = {n: [tuple(d) for d in sets] for n, sets in stored["demo_sets"].items()}
        if set(self._instructions) != set(space.predictors):
            raise ConfigurationError(
                f"the study {self._study.study_name!r} was made for predictors "
                f"{sorted(self._instructions)}, not {sorted(space.predictors)}; "
                "use another study name or storage"
            )

    def _distributions(self) -> dict[str, Any]:
        dist = _optuna().distributions.CategoricalDistribution
        out: dict[str, Any] = {}
        for name in sorted(self._instructions):
            out[f"{name}.instruction"] = dist(list(range(len(self._instructions[name]))))
            out[f"{name}.demos"] = dist(list(range(len(self._demo_sets[name]))))
            out[f"{name}.order"] = dist(list(ORDERS))
            out[f"{name}.format"] = dist(list(PROMPT_FORMATS))
        return out

    def _whole(self, params: dict[str, Any]) -> bool:
        """Whether a stored trial has every parameter (a killed worker can leave some out)."""
        return all(
            f"{name}.{part}" in params
            for name in self._instructions
            for part in ("instruction", "demos", "order", "format")
        )

    def _candidate(self, params: dict[str, Any]) -> Candidate:
        assert self._space is not None
        cand: Candidate = {}
        for name in sorted(self._instructions):
            demos = self._demo_sets[name][params[f"{name}.demos"]]
            fmt = params[f"{name}.format"]
            base = self._space.base[name]
            chosen = Params(
                self._instructions[name][params[f"{name}.instruction"]],
                _ordered(demos, params[f"{name}.order"]),
                None if fmt == base.format else fmt,  # the predictor's own format: no change
            )
            if (
                chosen.instruction != base.instruction
                or chosen.demos != base.demos
                or chosen.format
            ):
                cand[name] = chosen
        return cand

    @property
    def _store(self) -> TrialStore:
        assert self._opened is not None, "setup() opens the trial store"
        return self._opened

    def _decoded(self, params: dict[str, Any]) -> Candidate | None:
        return self._candidate(params) if self._whole(params) else None

    def _restore(self) -> int:
        """Put every finished trial's per-row scores on the board; how many were read back."""
        assert self._space is not None
        return self._store.restore(self._space, self._decoded)

    # -- ask / tell -----------------------------------------------------------------------------

    def _counted(self) -> int:
        """Trials finished or being run by a worker (orphans of dead workers do not count)."""
        state = _optuna().trial.TrialState
        trials = self._study.get_trials(deepcopy=False, states=(state.COMPLETE, state.RUNNING))
        return sum(t.state == state.COMPLETE or "worker" in t.user_attrs for t in trials)

    def ask(self) -> Trial | None:
        space = self._space
        if space is None:
            return None
        if self._full is not None:
            trial, self._full = self._full, None
            return trial
        if self._counted() >= self.num_trials:
            return None
        state = _optuna().trial.TrialState
        for _ in range(self.num_trials):
            trial = self._study.ask(self._distributions())
            cand = self._candidate(trial.params)
            same = self._earlier_twin(trial.number, space.board.key(cand))
            if same is None:
                break
            # TPE proposed a configuration already scored, or being scored by another worker
            # (the earlier trial wins, whichever worker asks first): reuse the score, or leave
            # it to that worker, and spend nothing.
            trial.set_user_attr("duplicate_of", same.number)
            if same.state == state.COMPLETE:
                self._study.tell(trial, same.value)
            else:
                self._study.tell(trial, state=state.PRUNED)
            if self._counted() >= self.num_trials:
                return None
        else:
            return None
        self._store.tag(trial)
        start = (trial.number * self.minibatch) % space.n_val
        rows = tuple(self._order[(start + i) % space.n_val] for i in range(self.minibatch))
        rows = tuple(dict.fromkeys(rows))  # fewer rows than a minibatch: each once
        self._running = (trial, rows)
        return Trial(cand, rows)

    def _earlier_twin(self, number: int, key: str) -> Any:
        """The earliest other finished or running trial with the same candidate, if any.

        Asked after the new trial's params are stored, so of two workers that drew the same
        configuration at once, exactly one (the earlier trial) goes on. An earlier trial whose
        params are still being written is waited for (briefly: its worker may have died).
        """
        state = _optuna().trial.TrialState
        assert self._space is not None
        deadline = time.monotonic() + _PARAMS_WAIT
        while True:
            earlier = [
                t
                for t in self._study.get_trials(
                    deepcopy=False, states=(state.COMPLETE, state.RUNNING)
                )
                if t.number < number and "duplicate_of" not in t.user_attrs
            ]
            if all(self._whole(t.params) for t in earlier) or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        for t in earlier:
            if self._whole(t.params) and self._space.board.key(self._candidate(t.params)) == key:
                return t
        return None

    def tell(self, trial: Trial, scores: list[float]) -> None:
        if self._running is None or trial.rows is None:
            return  # a full evaluation: its scores are on the board
        assert self._space is not None
        running, rows = self._running
        self._running = None
        base = self._space.board.scores({})
        gain = sum(s - base[r] for r, s in zip(rows, scores, strict=True)) / len(rows)
        self._store.finish(running, rows, scores, gain)
        self.evaluated += 1
        self._told += 1
        if self.full_eval_every and self._told % self.full_eval_every == 0:
            pick = self._promising(self._space.board)
            if pick and len(self._space.board.scores(pick)) < self._space.n_val:
                self._full = Trial(pick)

    def _promising(self, board: BoardView) -> Candidate:
        """The candidate with the largest paired gain, shrunk toward 0 on few rows."""
        best: Candidate = {}
        best_value = 0.0
        for key_cand in board.candidates():
            n = len(board.scores(key_cand))
            value = board.gain(key_cand) * n / (n + self.minibatch)
            if key_cand and value > best_value:
                best, best_value = key_cand, value
        return best

    def best(self, board: BoardView) -> Candidate:
        """The most promising candidate over every worker's finished trials."""
        if self._study is not None:
            if self._running is not None:  # the budget ran out mid-trial: hand it out again
                self._store.release(self._running[0])
                self._running = None
            self._restore()
        return self._promising(board)
