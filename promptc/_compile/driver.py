"""The compile driver: search a program's prompts on a dev set under an LM-request budget.

Strategies (``promptc.optimizers``) only propose trials; this driver owns the run state: the
splits, the budget, phase accounting, the paired score board, the incumbent, the held-out
re-score, and the artifact with its provenance.
"""

from __future__ import annotations

import json
import logging
import random
import sys
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar, Literal, overload

from promptc._artifact.artifact import artifact_from_program
from promptc._compile.data import check_labels, data_hash, split_dataset
from promptc._compile.dryrun import Models, make_plan
from promptc._compile.evaluate import (
    EvalResult,
    ExampleResult,
    bootstrap_ci,
    evaluate,
    program_inputs,
)
from promptc._compile.fingerprint import Fingerprint
from promptc._compile.plan import CompilePlan, PlanShape, check_cost_budget
from promptc._compile.progress import CompileProgress
from promptc._compile.propose import bootstrap_demos, propose_instructions, resample_instructions
from promptc._compile.result import CompileResult
from promptc._context import current_lm, metering
from promptc._lm.lm import LM, default_lm
from promptc._lm.usage import Budget, Usage, UsageTracker
from promptc._program.module import Module, Params, Predict
from promptc._report.explain import TrialDescriber, explain, overlapping_rows
from promptc.exceptions import BudgetExhaustedError, ConfigurationError, OutputParseError
from promptc.metrics import Metric, resolve_metric

__all__ = [
    "Board",
    "Candidate",
    "CompileResult",
    "Optimizer",
    "PlanShape",
    "SearchSpace",
    "Trial",
    "compile_program",
    "resolve_optimizer",
]

logger = logging.getLogger(__name__)

Candidate = dict[str, Params]


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


class Board:
    """Per-row validation scores of every candidate evaluated so far (the paired record).

    Candidates are keyed by their full parameters, so a candidate that equals the uncompiled
    program on every predictor *is* the baseline.
    """

    def __init__(self, base: Mapping[str, Params], n_rows: int) -> None:
        self.base = dict(base)
        self.n_rows = n_rows
        self._results: dict[str, dict[int, ExampleResult]] = {}
        self._candidates: dict[str, Candidate] = {}

    def key(self, candidate: Candidate) -> str:
        """A canonical key of the candidate's full parameters."""
        full = {**self.base, **candidate}
        return json.dumps(
            {n: [p.instruction, list(p.demos), p.format] for n, p in sorted(full.items())},
            sort_keys=True,
            default=str,
        )

    def record(self, candidate: Candidate, rows: Sequence[int], result: EvalResult) -> None:
        """Store the per-example results of ``candidate`` on validation ``rows``."""
        stored = self._rows_of(candidate)
        for row, example in zip(rows, result.results, strict=True):
            stored[row] = replace(example, index=row)

    def restore(self, candidate: Candidate, scores: Mapping[int, float]) -> None:
        """Store per-row scores known from elsewhere (a resumed or parallel compile's storage).

        Rows already on the board keep their results; restored rows carry no prediction.
        """
        stored = self._rows_of(candidate)
        for row, score in scores.items():
            stored.setdefault(
                row, ExampleResult(index=row, inputs={}, prediction=None, score=score)
            )

    def _rows_of(self, candidate: Candidate) -> dict[int, ExampleResult]:
        """The stored per-row results of ``candidate``, registering it if new."""
        key = self.key(candidate)
        self._candidates.setdefault(key, dict(candidate))
        return self._results.setdefault(key, {})

    def scores(self, candidate: Candidate) -> dict[int, float]:
        """Row index -> score for ``candidate`` (empty if never evaluated)."""
        return {r: e.score for r, e in self._results.get(self.key(candidate), {}).items()}

    def mean(self, candidate: Candidate, rows: Sequence[int] | None = None) -> float:
        """Mean score over ``rows`` (default: all rows it was evaluated on)."""
        scores = self.scores(candidate)
        picked = [scores[r] for r in (rows if rows is not None else scores) if r in scores]
        return sum(picked) / len(picked) if picked else float("nan")

    def result(self, candidate: Candidate) -> EvalResult:
        """The candidate's results on every validation row, as one evaluation."""
        stored = self._results.get(self.key(candidate), {})
        results = [stored[r] for r in range(self.n_rows)]
        scores = [r.score for r in results]
        return EvalResult(
            results=results,
            mean=sum(scores) / len(scores),
            ci=bootstrap_ci(scores),
            errors=sum(r.error is not None for r in results),
        )

    def candidates(self) -> list[Candidate]:
        """Every candidate on the board, in the order first seen (the baseline first)."""
        return list(self._candidates.values())

    def complete(self) -> list[Candidate]:
        """Candidates scored on every validation row, in the order first seen."""
        return [self._candidates[k] for k, s in self._results.items() if len(s) == self.n_rows]

    def gain(self, candidate: Candidate) -> float:
        """Mean score minus the uncompiled program's, paired on the rows ``candidate`` has."""
        rows = list(self.scores(candidate))
        return self.mean(candidate, rows) - self.mean({}, rows) if rows else float("-inf")

    def leader(self) -> Candidate:
        """The candidate with the largest paired gain (more rows scored wins ties)."""
        best: Candidate = {}
        best_key = (0.0, self.n_rows)
        for cand in self._candidates.values():
            key = (self.gain(cand), len(self.scores(cand)))
            if key > best_key:
                best, best_key = cand, key
        return best

    def incumbent(self) -> Candidate:
        """The best candidate among those scored on every row (the earliest wins ties)."""
        best: Candidate = {}
        for cand in self.complete():
            if self.mean(cand) > self.mean(best) + 1e-12:
                best = cand
        return best


@dataclass(frozen=True)
class SearchSpace:
    """What a strategy may tune and use, handed to :meth:`Optimizer.setup`.

    Attributes:
        predictors: the program's predictors by name (read-only: do not call or change them).
        base: the program's current parameters by name.
        trainset: rows demos may be drawn from (never the validation rows).
        n_val: how many validation rows trials may index.
        seed: the compile's seed; derive every random choice from it.
        board: per-row validation scores so far (the baseline's are there from the start).
    """

    predictors: dict[str, Predict]
    base: dict[str, Params]
    trainset: list[dict[str, Any]]
    n_val: int
    seed: int
    board: Board
    _run: _Run = field(repr=False)

    def demo_pool(self, name: str) -> list[dict[str, Any]]:
        """Training rows that carry every field of predictor ``name``, reduced to those fields."""
        fields = list(self.predictors[name].signature.fields())
        return [
            {f: row[f] for f in fields} for row in self.trainset if all(f in row for f in fields)
        ]

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

    def row_cost(self) -> float:
        """LM requests the uncompiled program took per validation row (at least 1).

        Strategies that stop on their own use it to keep enough budget for the driver's full
        evaluation of their pick.
        """
        return max(1.0, self._run.baseline_requests / max(1, self.n_val))


class Optimizer(ABC):
    """A search strategy over predictor parameters (instructions and ordered demos).

    :func:`compile_program` first scores the uncompiled program on every validation row
    (``space.board`` holds those scores), then calls, in this order:

    1. :meth:`setup` once, with the :class:`SearchSpace` (proposing candidates may spend LM
       requests here, through the space's ``bootstrap`` / ``propose_instructions``);
    2. :meth:`ask` for the next :class:`Trial`, or ``None`` to end the search;
    3. :meth:`tell` with that trial's per-row scores (in ``trial.rows`` order); then back to 2.

    When the search ends (or the budget runs out), the driver scores :meth:`best` on every
    validation row it has not seen yet and keeps it only if it beats the uncompiled program on
    the same rows. A ~70-line :class:`~promptc.optimizers.RandomSearch` is the reference.
    """

    name: ClassVar[str] = "optimizer"
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

    def best(self, board: Board) -> Candidate:
        """The strategy's pick; by default the board's :meth:`Board.leader`."""
        return board.leader()

    def config(self) -> dict[str, Any]:
        """The strategy's settings, recorded in the artifact's provenance."""
        return {}

    def plan(self, shape: PlanShape) -> dict[str, int | None]:
        """The most work each phase of this strategy asks for, before the budget caps it.

        Used by a dry run (``compile(..., dry_run=True)``); makes no LM request. Keys:
        ``bootstrap`` (program runs on training rows), ``propose`` (proposer LM requests),
        ``search`` (program runs on validation rows, the driver's full evaluation of the pick
        included). ``None`` means as much as the budget allows. The default says nothing
        about ``bootstrap`` and ``propose`` (none) and leaves ``search`` to the budget.
        """
        return {"search": None}


@dataclass
class _Run:
    """Run state shared by the driver and the search space."""

    program: Module
    metric: Metric
    lm: LM
    teacher: LM
    proposer: LM
    inputs: list[str]
    val: list[dict[str, Any]]
    threads: int
    progress: CompileProgress
    budget: Budget
    describer: TrialDescriber
    baseline_requests: int = 0
    phases: dict[str, UsageTracker] = field(default_factory=dict)
    trials: list[dict[str, Any]] = field(default_factory=list)

    def add_trial(self, record: dict[str, Any]) -> None:
        """Keep a trial's record and report it (a log line, the progress bar)."""
        self.trials.append(record)
        self.progress.trial(record)

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        with metering() as meter:
            try:
                yield
            finally:
                self.phases.setdefault(name, UsageTracker()).record(name, meter.usage.total())

    def score(self, program: Module, rows: Sequence[int], phase: str = "search") -> EvalResult:
        with self.phase(phase):
            return evaluate(
                program,
                [self.val[i] for i in rows],
                self.metric,
                lm=self.lm,
                num_threads=self.threads,
                on_result=lambda _: self.progress.tick(),
                keep_raw=True,
            )


def _evaluate_trial(
    run: _Run, board: Board, trial: Trial, phase: str = "search"
) -> list[float] | None:
    """Score a trial (skipping rows already scored); ``None`` if the budget ran out."""
    rows = list(trial.rows if trial.rows is not None else range(len(run.val)))
    known = board.scores(trial.candidate)
    todo = [r for r in rows if r not in known]
    record: dict[str, Any] = {
        "id": len(run.trials),
        "candidate": run.describer.describe(trial.candidate),
    }
    if phase != "search":
        record["phase"] = phase
    errors = 0  # examples that failed in this trial's fresh evaluations (each counted once)
    try:
        if todo:
            result = run.score(run.program.with_params(trial.candidate), todo, phase)
            board.record(trial.candidate, todo, result)
            errors = result.errors
    except BudgetExhaustedError:
        run.add_trial({**record, "rows": len(rows), "score": None, "stopped": "budget"})
        return None
    scores = [board.scores(trial.candidate)[r] for r in rows]
    best = board.mean(board.incumbent())
    run.add_trial(
        {
            **record,
            "rows": len(rows),
            "score": round(sum(scores) / len(scores), 6) if scores else None,
            "errors": errors,
            "requests": run.budget.used,
            "best": round(best, 6),
        }
    )
    return scores


def _search(run: _Run, optimizer: Optimizer, space: SearchSpace) -> Candidate:
    """The ask/tell loop, then a full-row check of the strategy's pick."""
    board = space.board
    try:
        optimizer.setup(space)
    except BudgetExhaustedError:  # proposing candidates spent the budget: nothing to race
        run.add_trial({"id": len(run.trials), "candidate": "setup", "stopped": "budget"})
        return board.incumbent()
    while (trial := optimizer.ask()) is not None:
        scores = _evaluate_trial(run, board, trial)
        if scores is None:
            break
        try:
            optimizer.tell(trial, scores)
        except BudgetExhaustedError:  # a strategy that proposes mid-search (APE's resampling)
            run.add_trial({"id": len(run.trials), "candidate": "tell", "stopped": "budget"})
            break
    pick = optimizer.best(board)
    if pick and len(board.scores(pick)) < board.n_rows:
        _evaluate_trial(run, board, Trial(pick))  # the full evaluation of the winner
    return board.incumbent()


def _splits(
    trainset: Sequence[Mapping[str, Any]], valset: Sequence[Mapping[str, Any]] | None, seed: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    rows = [dict(r) for r in trainset]
    if valset is not None:
        train, val = rows, [dict(r) for r in valset]
    elif len(rows) < 4:
        raise ConfigurationError(
            f"trainset has {len(rows)} rows; give at least 4, or a separate valset"
        )
    else:
        train, val = split_dataset(rows, [0.5, 0.5], seed=seed)
    if not train or not val:
        raise ConfigurationError("trainset and valset must both be non-empty")
    return train, val


def _score_record(result: EvalResult) -> dict[str, Any]:
    return {
        "mean": round(result.mean, 6),
        "ci95": [round(result.ci[0], 6), round(result.ci[1], 6)],
        "n": len(result.results),
        "errors": result.errors,
    }


def resolve_optimizer(spec: Optimizer | str, **kwargs: Any) -> Optimizer:
    """An optimizer instance from an instance or a name (``"labeled"``, ``"random"``, ...)."""
    if isinstance(spec, Optimizer):
        return spec
    # Lazy: promptc never imports promptc.optimizers at module level (arrows point one way).
    from promptc.optimizers import OPTIMIZERS  # type: ignore[import-not-found,unused-ignore]

    if spec not in OPTIMIZERS:
        raise ConfigurationError(f"unknown optimizer {spec!r}; choose one of {sorted(OPTIMIZERS)}")
    optimizer: Optimizer = OPTIMIZERS[spec](**kwargs)
    return optimizer


@overload
def compile_program(
    program: Module,
    trainset: Sequence[Mapping[str, Any]],
    metric: Metric | str,
    *,
    optimizer: Optimizer | str = "labeled",
    lm: LM | None = None,
    valset: Sequence[Mapping[str, Any]] | None = None,
    holdout: Sequence[Mapping[str, Any]] | None = None,
    budget: int | None = None,
    token_budget: int | None = None,
    cost_budget: float | None = None,
    seed: int = 0,
    teacher: LM | None = None,
    proposer: LM | None = None,
    name: str | None = None,
    entry: str | None = None,
    num_threads: int = 4,
    progress: bool = False,
    dry_run: Literal[False] = False,
) -> CompileResult: ...


@overload
def compile_program(
    program: Module,
    trainset: Sequence[Mapping[str, Any]],
    metric: Metric | str,
    *,
    optimizer: Optimizer | str = "labeled",
    lm: LM | None = None,
    valset: Sequence[Mapping[str, Any]] | None = None,
    holdout: Sequence[Mapping[str, Any]] | None = None,
    budget: int | None = None,
    token_budget: int | None = None,
    cost_budget: float | None = None,
    seed: int = 0,
    teacher: LM | None = None,
    proposer: LM | None = None,
    name: str | None = None,
    entry: str | None = None,
    num_threads: int = 4,
    progress: bool = False,
    dry_run: Literal[True],
) -> CompilePlan: ...


def compile_program(
    program: Module,
    trainset: Sequence[Mapping[str, Any]],
    metric: Metric | str,
    *,
    optimizer: Optimizer | str = "labeled",
    lm: LM | None = None,
    valset: Sequence[Mapping[str, Any]] | None = None,
    holdout: Sequence[Mapping[str, Any]] | None = None,
    budget: int | None = None,
    token_budget: int | None = None,
    cost_budget: float | None = None,
    seed: int = 0,
    teacher: LM | None = None,
    proposer: LM | None = None,
    name: str | None = None,
    entry: str | None = None,
    num_threads: int = 4,
    progress: bool = False,
    dry_run: bool = False,
) -> CompileResult | CompilePlan:
    """Search ``program``'s prompts and return a new program plus its artifact.

    Args:
        program: the program to compile; it is never changed.
        trainset: rows to draw demos from; also split for validation when ``valset`` is None.
        metric: ``metric(row, prediction) -> float | bool``, or a built-in metric's name.
        optimizer: the search strategy, or its name in ``promptc.optimizers.OPTIMIZERS``.
        lm: the LM to compile with (default: the one in context, else :func:`default_lm`).
        valset: rows candidates are scored on.
        holdout: rows the search never sees; the uncompiled and compiled programs are re-scored
            on them at the end and the gap to the search score is reported.
        budget: hard cap on LM requests by any LM in the run, held-out re-score included (a
            cache hit counts too, so a warm-cache recompile takes the same path); ``None`` for
            no cap.
        token_budget: optional cap on prompt + completion tokens of every response served;
            no request starts once it is reached (so the last one may overshoot it).
        cost_budget: optional cap in US dollars, counted like ``token_budget``. Refused for
            a model whose price is unknown (litellm's cost map) or zero (local models): its
            requests would count as $0 and the cap could never stop the run.
        seed: makes the compile reproducible.
        teacher: the LM that runs the program when bootstrapping demos (default: ``lm``).
        proposer: the LM that proposes instructions (default: ``lm``).
        name: the program name stored in the artifact.
        entry: where the program lives (``file.py:object``), stored for reference.
        num_threads: examples evaluated at once.
        progress: show one progress bar for the whole compile on stderr (needs tqdm). Each
            trial is also logged at INFO level (logger ``promptc.progress``), bar or not.
        dry_run: make no LM request; return the :class:`~promptc._compile.plan.CompilePlan` (LM
            requests per phase under the budget, estimated tokens and dollars).

    Raises:
        ConfigurationError: a setting is invalid, or a training row's output value is not valid
            for its field's type (checked before any LM call).
        BudgetExhaustedError: the budget cannot even score the uncompiled program.
        ConfigurationError: bad settings, e.g. a cost budget for a model with no known price.
    """
    if budget is not None and budget < 1:
        raise ConfigurationError(f"budget must be a positive number of LM requests, got {budget}")
    optimizer = resolve_optimizer(optimizer)
    metric = resolve_metric(metric)
    check_labels(trainset, _output_types(program))
    lm = lm or current_lm() or default_lm()
    train, val = _splits(trainset, valset, seed)
    held = [dict(r) for r in holdout or []]
    required, optional = program_inputs(program)
    name = name or _program_name(program)
    spend = Budget(
        budget if budget is not None else sys.maxsize, tokens=token_budget, cost=cost_budget
    )
    teacher, proposer = teacher or lm, proposer or lm
    lms = (lm, teacher, proposer)
    check_cost_budget(
        cost_budget,
        [m.model for m in lms],
        unpriced=[m.model for m in lms if not m.backend.prices_requests],
    )
    if dry_run:
        models = Models(*((m.model, m.max_tokens) for m in (lm, teacher, proposer)))
        return make_plan(
            program,
            optimizer,
            name=name,
            models=models,
            train=train,
            val=val,
            held=held,
            budget=budget,
        )
    inputs = [*required, *optional]
    _warn_overlap(train, val, inputs)
    label = f"{name} ({optimizer.name})"
    run = _Run(
        program,
        metric,
        lm,
        teacher,
        proposer,
        inputs,
        val,
        num_threads,
        CompileProgress(spend, total=budget, bar=progress, label=label),
        spend,
        TrialDescriber(dict(program.named_predictors()), program.get_params(), train),
    )
    try:
        return _compile(run, optimizer, program, train, held, budget, seed, name, entry)
    finally:
        run.progress.close()


def _compile(
    run: _Run,
    optimizer: Optimizer,
    program: Module,
    train: list[dict[str, Any]],
    held: list[dict[str, Any]],
    budget: int | None,
    seed: int,
    name: str,
    entry: str | None,
) -> CompileResult:
    val, spend = run.val, run.budget
    reserve = 2 * len(held) * max(1, len(program.named_predictors()))
    with metering(spend) as meter:
        board = Board(program.get_params(), len(val))
        _baseline(run, board, budget)
        space = SearchSpace(
            dict(program.named_predictors()),
            program.get_params(),
            train,
            len(val),
            seed,
            board,
            run,
        )
        if held:
            spend.limit = max(spend.used, spend.limit - reserve)
        winner = _search(run, optimizer, space)
        credit = _credit(run, board, winner)
        if held:
            spend.limit += reserve
            holdout_results = _score_holdout(run, winner, held)
        else:
            holdout_results = {}
    compiled = program.with_params(winner)
    baseline, best = board.result({}), board.result(winner)
    return _finish(
        run,
        optimizer,
        compiled,
        baseline,
        best,
        holdout_results,
        meter.usage.total(),
        train=train,
        budget=budget,
        seed=seed,
        name=name,
        entry=entry,
        credit=credit,
        winner=winner,
        partial=_partial(board),
    )


def _output_types(program: Module) -> dict[str, Any]:
    predictors = program.named_predictors()
    return {n: f.annotation for _, p in predictors for n, f in p.signature.output_fields.items()}


def _partial(board: Board) -> list[tuple[int, float]]:
    """(rows scored, paired gain) of each candidate scored on only part of the rows."""
    return [
        (len(board.scores(c)), board.gain(c))
        for c in board.candidates()
        if c and 0 < len(board.scores(c)) < board.n_rows
    ]


def _warn_overlap(
    train: list[dict[str, Any]], val: list[dict[str, Any]], inputs: list[str]
) -> None:
    shared = overlapping_rows(train, val, inputs)
    if shared:
        pairs = ", ".join(f"val {p['val']} = train {p['train']}" for p in shared[:5])
        logger.warning(
            "%d of %d validation rows also occur in the training rows (%s%s): demos may copy "
            "them, so scores on them overstate how the program does on new inputs",
            len(shared),
            len(val),
            pairs,
            ", ..." if len(shared) > 5 else "",
        )


def _program_name(program: Module) -> str:
    return program.signature.__name__ if isinstance(program, Predict) else type(program).__name__


def _baseline(run: _Run, board: Board, budget: int | None) -> None:
    scores = _evaluate_trial(run, board, Trial({}), phase="baseline")
    run.baseline_requests = run.budget.used
    if scores is None:
        caps = [f"{budget} LM requests" if budget is not None else ""]
        caps += [f"{k.replace('_', ' ')} {v}" for k, v in _optional_caps(run.budget).items()]
        raise BudgetExhaustedError(
            f"a budget of {', '.join(c for c in caps if c)} cannot even score the uncompiled "
            f"program on {len(run.val)} validation rows; raise the budget or use fewer "
            "validation rows",
            limit=budget or 0,
        )
    failed = [r.error for r in board.result({}).results if r.error]
    # Replies that do not parse are what compiling fixes (demos teach the format); a program
    # that raises on every row is a bug no prompt can fix.
    unparsed = sum(e.startswith(OutputParseError.__name__) for e in failed)
    if len(failed) == len(run.val) and unparsed < len(failed):
        raise ConfigurationError(
            f"the uncompiled program failed on all {len(failed)} validation rows, e.g. "
            f"{failed[0]}; fix the program (try one row: `promptc eval FILE.py:OBJECT --data "
            "VAL --limit 1`) before compiling it"
        )


def _score_holdout(
    run: _Run, winner: Candidate, held: list[dict[str, Any]]
) -> dict[str, EvalResult]:
    """Re-score both programs on the held-out rows; ``{}`` if parse retries outran the reserve."""
    try:
        return _holdout_results(run, winner, held)
    except BudgetExhaustedError:
        logger.warning("the budget ran out during the held-out re-score; no held-out figures")
        return {}


def _holdout_results(
    run: _Run, winner: Candidate, held: list[dict[str, Any]]
) -> dict[str, EvalResult]:
    with run.phase("holdout"):
        return {
            label: evaluate(
                run.program.with_params(cand), held, run.metric, lm=run.lm, num_threads=run.threads
            )
            for label, cand in (("baseline", {}), ("compiled", winner))
        }


def _credit(run: _Run, board: Board, winner: Candidate) -> dict[str, float]:
    """Leave-one-out credit: how far the winner's validation score falls when one predictor's
    change is undone.

    With one changed predictor that is the winner's gain over the uncompiled program (no LM
    requests). With several, each ablation is scored on every validation row (phase
    ``credit``, inside the search budget); an ablation the budget cannot pay for is left out.
    """
    credit: dict[str, float] = {}
    for name in winner:
        rest = {n: p for n, p in winner.items() if n != name}
        scored = len(board.scores(rest)) == board.n_rows
        if not scored and _evaluate_trial(run, board, Trial(rest), phase="credit") is None:
            logger.warning("the budget ran out before the credit of %r was scored", name)
            break
        credit[name] = round(board.mean(winner) - board.mean(rest), 6)
    return credit


def _finish(
    run: _Run,
    optimizer: Optimizer,
    compiled: Module,
    baseline: EvalResult,
    best: EvalResult,
    holdout: dict[str, EvalResult],
    usage: Usage,
    *,
    train: list[dict[str, Any]],
    budget: int | None,
    seed: int,
    name: str,
    entry: str | None,
    credit: dict[str, float],
    winner: Candidate,
    partial: list[tuple[int, float]],
) -> CompileResult:
    scores: dict[str, Any] = {
        "metric": getattr(run.metric, "__name__", "metric"),
        "baseline": _score_record(baseline),
        "compiled": _score_record(best),
    }
    if holdout:
        scores["holdout"] = {k: _score_record(v) for k, v in holdout.items()}
        scores["gap"] = round(best.mean - holdout["compiled"].mean, 6)
    spent = {
        "budget": budget,
        **_optional_caps(run.budget),
        "lm_requests": run.budget.used,
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "cost_usd": round(usage.cost, 6),
        "by_phase": {p: {"requests": t.total().requests} for p, t in sorted(run.phases.items())},
    }
    provenance = {
        "optimizer": {"name": optimizer.name, "config": optimizer.config()},
        "seed": seed,
        "data": {
            "train": {"rows": len(train), "hash": data_hash(train)},
            "val": {"rows": len(run.val), "hash": data_hash(run.val)},
        },
        "scores": scores,
        "spent": spent,
        "trials": run.trials,
    }
    artifact = artifact_from_program(
        compiled, name=name, entry=entry, lm_settings=run.lm.settings(), provenance=provenance
    )
    run_usage = {
        "lm_calls": usage.calls,
        "cache_hits": usage.cache_hits,
        "errors": usage.errors,
        "cache_errors": usage.cache_errors,
        "parse_errors": usage.parse_errors,
    }
    report = _report(run, optimizer, name, seed, budget, usage, scores)
    if credit:
        report["credit"] = credit
    report.update(
        explain(
            program=run.program,
            compiled=compiled,
            winner=winner,
            baseline=baseline,
            best=best,
            train=train,
            val=run.val,
            inputs=run.inputs,
            trials=run.trials,
            partial=partial,
            budget=budget,
            used=run.budget.used,
        )
    )
    return CompileResult(compiled, artifact, baseline, best, run.trials, report, run_usage, holdout)


def _optional_caps(spend: Budget) -> dict[str, Any]:
    caps: dict[str, Any] = {}
    if spend.tokens is not None:
        caps["token_budget"] = spend.tokens
    if spend.cost is not None:
        caps["cost_budget"] = spend.cost
    return caps


def _usage_dict(usage: Usage) -> dict[str, Any]:
    return {"requests": usage.requests, **usage.to_dict()}


def _report(
    run: _Run,
    optimizer: Optimizer,
    name: str,
    seed: int,
    budget: int | None,
    usage: Usage,
    scores: dict[str, Any],
) -> dict[str, Any]:
    result: dict[str, Any] = {
        "search": {"baseline": scores["baseline"], "compiled": scores["compiled"]}
    }
    if "holdout" in scores:
        result["holdout"] = scores["holdout"]
        result["gap"] = scores["gap"]
    return {
        "program": name,
        "optimizer": {"name": optimizer.name, "config": optimizer.config()},
        "seed": seed,
        "metric": scores["metric"],
        "budget": budget,
        "spent": {
            "total": _usage_dict(usage),
            "by_phase": {p: _usage_dict(t.total()) for p, t in sorted(run.phases.items())},
        },
        "trials": run.trials,
        "result": result,
    }
