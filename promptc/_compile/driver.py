"""The compile driver: search a program's prompts on a dev set under an LM-request budget.

Strategies (``promptc.optimizers``) only propose trials; the driver owns the run state: the
splits, the budget, phase accounting, the paired score board (:mod:`~promptc._compile.board`),
the incumbent, the held-out re-score, and the artifact with its provenance
(:mod:`~promptc._compile.records`). The ask/tell loop lives in :mod:`~promptc._compile.run`.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any, Literal, overload

from promptc._compile.auto import AUTO, choose_strategy
from promptc._compile.board import Board, Candidate
from promptc._compile.data import check_labels, split_train_val, validation_size
from promptc._compile.dryrun import Models, make_plan
from promptc._compile.duel import DuelingOptimizer
from promptc._compile.evaluate import program_inputs, program_name
from promptc._compile.explain import TrialDescriber, overlapping_rows
from promptc._compile.plan import (
    CompilePlan,
    PlanShape,
    check_cost_budget,
    demo_pools,
    holdout_reserve,
)
from promptc._compile.prefer import compile_from_preferences
from promptc._compile.progress import CompileProgress
from promptc._compile.records import finish
from promptc._compile.result import CompileResult, PreferenceResult
from promptc._compile.run import (
    Run,
    holding_back,
    leave_one_out_credit,
    partial_gains,
    score_baseline,
    score_holdout,
    search,
)
from promptc._compile.selection import winners_curse
from promptc._compile.strategy import Optimizer, SearchSpace, Trial
from promptc._lm.context import current_lm, metering
from promptc._lm.lm import LM, default_lm
from promptc._lm.usage import Budget
from promptc._program.module import Module
from promptc.exceptions import ConfigurationError
from promptc.judges._types import Feedback
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


def resolve_optimizer(spec: Optimizer | str, **kwargs: Any) -> Optimizer:
    """An optimizer instance from an instance or a name (``"labeled"``, ``"random"``, ...)."""
    if isinstance(spec, Optimizer):
        return spec
    # Lazy: promptc never imports promptc.optimizers at module level (arrows point one way).
    from promptc.optimizers import OPTIMIZERS  # type: ignore[import-not-found,unused-ignore]

    if spec not in OPTIMIZERS:
        raise ConfigurationError(
            f"unknown optimizer {spec!r}; choose one of {[AUTO, *sorted(OPTIMIZERS)]}"
        )
    optimizer: Optimizer = OPTIMIZERS[spec](**kwargs)
    return optimizer


@overload
def compile_program(
    program: Module,
    trainset: Sequence[Mapping[str, Any]],
    metric: Metric | str | None = None,
    *,
    optimizer: Optimizer | DuelingOptimizer | str | None = None,
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
    feedback: None = None,
    feedback_budget: int = 50,
    feedback_log: str | os.PathLike[str] | None = None,
) -> CompileResult: ...


@overload
def compile_program(
    program: Module,
    trainset: Sequence[Mapping[str, Any]],
    metric: Metric | str | None = None,
    *,
    optimizer: Optimizer | DuelingOptimizer | str | None = None,
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
    feedback: None = None,
    feedback_budget: int = 50,
    feedback_log: str | os.PathLike[str] | None = None,
) -> CompilePlan: ...


@overload
def compile_program(
    program: Module,
    trainset: Sequence[Mapping[str, Any]],
    metric: None = None,
    *,
    optimizer: Optimizer | DuelingOptimizer | str | None = None,
    lm: LM | None = None,
    valset: Sequence[Mapping[str, Any]] | None = None,
    holdout: None = None,
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
    feedback: Feedback,
    feedback_budget: int = 50,
    feedback_log: str | os.PathLike[str] | None = None,
) -> PreferenceResult: ...


def compile_program(
    program: Module,
    trainset: Sequence[Mapping[str, Any]],
    metric: Metric | str | None = None,
    *,
    optimizer: Optimizer | DuelingOptimizer | str | None = None,
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
    feedback: Feedback | None = None,
    feedback_budget: int = 50,
    feedback_log: str | os.PathLike[str] | None = None,
) -> CompileResult | CompilePlan | PreferenceResult:
    """Search ``program``'s prompts and return a new program plus its artifact.

    Either with labels and a metric (``compile(program, rows, "exact_match")``), or from
    preferences, with rows that need only the program's inputs and a judge
    (``compile(program, rows, feedback=promptc.judges.Pairwise(judge_lm))``): then a
    :class:`~promptc._compile.result.PreferenceResult` is returned (see
    :mod:`promptc._compile.prefer`).

    Args:
        program: the program to compile; it is never changed.
        trainset: rows to draw demos from; also split for validation when ``valset`` is None:
            validation takes all but a third of the rows (at least 8 stay for demos), at most
            200 and at most a fifth of what the budget pays for
            (:func:`~promptc._compile.data.validation_size`).
        metric: ``metric(row, prediction) -> float | bool``, or a built-in metric's name
            (not with ``feedback``).
        optimizer: the search strategy, or its name in ``promptc.optimizers.OPTIMIZERS``, or
            ``"auto"`` (the default): ``labeled`` when the budget pays for fewer than four
            evaluations of the validation rows, ``tpe`` when ``proposer`` is given, else
            ``random`` with as many candidates as the budget pays for (at most 8); the choice
            and why are in the artifact's ``provenance.optimizer.chosen_by`` (see
            ``promptc/_compile/auto.py``). With ``feedback``, a preference strategy or its
            name in ``PREFERENCE_OPTIMIZERS`` (default ``"apohf"``).
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
        feedback: compile from preferences: ``feedback(question) -> "A" | "B" | "tie" |
            "skip"`` for a :class:`promptc.judges.Question` (an input and two outputs); an LM
            judge (:class:`promptc.judges.Pairwise`, its requests count against ``budget``) or
            a person (:class:`promptc.judges.Person`) are feedback too.
        feedback_budget: hard cap on questions to ``feedback`` (answers read back from
            ``feedback_log`` count too, so a resumed run takes the same path).
        feedback_log: a JSONL file every answer is appended to at once (and read back from:
            a question answered there is never asked again, so a killed compile resumes).

    Raises:
        ConfigurationError: a setting is invalid, or a training row's output value is not valid
            for its field's type (checked before any LM call).
        BudgetExhaustedError: the budget cannot even score the uncompiled program.
        ConfigurationError: bad settings, e.g. a cost budget for a model with no known price.
    """
    if feedback is not None:
        if metric is not None or holdout is not None or dry_run:
            raise ConfigurationError(
                "a compile from preferences takes no metric, holdout or dry_run (its judge "
                "replaces the metric); drop them, or drop feedback= to compile with labels"
            )
        if isinstance(optimizer, Optimizer):
            raise ConfigurationError(
                f"feedback= needs a preference strategy (apohf, random_pairs), got the metric "
                f"strategy {optimizer.name!r}"
            )
        return compile_from_preferences(
            program, trainset, feedback, feedback_budget=feedback_budget,
            feedback_log=feedback_log, optimizer=optimizer, lm=lm, valset=valset, budget=budget,
            token_budget=token_budget, cost_budget=cost_budget, seed=seed, teacher=teacher,
            proposer=proposer, name=name, entry=entry, num_threads=num_threads,
            progress=progress,
        )  # fmt: skip
    if isinstance(optimizer, DuelingOptimizer):
        raise ConfigurationError(
            f"the preference strategy {optimizer.name!r} needs feedback= (a judge of two "
            "outputs); with a metric, use a metric strategy such as 'labeled' or 'ease'"
        )
    if metric is None:
        raise ConfigurationError(
            "compile needs a metric (e.g. 'exact_match' or metric(row, prediction) -> float) "
            "and labelled rows, or, without labels, feedback= (a judge of two outputs)"
        )
    if budget is not None and budget < 1:
        raise ConfigurationError(f"budget must be a positive number of LM requests, got {budget}")
    metric = resolve_metric(metric)
    check_labels(trainset, _output_types(program))
    lm = lm or current_lm() or default_lm()
    held = [dict(r) for r in holdout or []]
    per_row = max(1, len(program.named_predictors()))
    searchable = None if budget is None else max(0, budget - holdout_reserve(len(held), per_row))
    size = validation_size(len(trainset), searchable, per_row)
    train, val = split_train_val(trainset, valset, seed, val_rows=size)
    chosen_by = None
    if optimizer is None or optimizer == AUTO:
        choice = choose_strategy(
            n_val=len(val),
            budget=searchable,
            per_row=per_row,
            proposer_given=proposer is not None,
            labeled_demos=any(demo_pools(program.named_predictors(), train).values()),
        )
        optimizer, chosen_by = choice.optimizer, choice.reason
    optimizer = resolve_optimizer(optimizer)
    required, optional = program_inputs(program)
    name = name or program_name(program)
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
        plan = make_plan(
            program,
            optimizer,
            name=name,
            models=models,
            train=train,
            val=val,
            held=held,
            budget=budget,
        )
        chosen = () if chosen_by is None else (chosen_by,)
        return dataclasses.replace(plan, assumptions=(*chosen, *plan.assumptions))
    inputs = [*required, *optional]
    _warn_overlap(train, val, inputs)
    label = f"{name} ({optimizer.name})"
    run = Run(
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
        return _compile(run, optimizer, program, train, held, budget, seed, name, entry, chosen_by)
    finally:
        run.progress.close()


def _compile(
    run: Run,
    optimizer: Optimizer,
    program: Module,
    train: list[dict[str, Any]],
    held: list[dict[str, Any]],
    budget: int | None,
    seed: int,
    name: str,
    entry: str | None,
    chosen_by: str | None,
) -> CompileResult:
    val, spend = run.val, run.budget
    reserve = holdout_reserve(len(held), len(program.named_predictors()))
    with metering(spend) as meter:
        board = Board(program.get_params(), len(val))
        score_baseline(run, board, budget)
        space = SearchSpace(
            dict(program.named_predictors()),
            program.get_params(),
            train,
            len(val),
            seed,
            board,
            run,
        )
        with holding_back(spend, reserve):
            winner = search(run, optimizer, space, board)
            credit = leave_one_out_credit(run, board, winner)
        holdout_results = score_holdout(run, winner, held) if held else {}
    compiled = program.with_params(winner)
    baseline, best = board.result({}), board.result(winner)
    return finish(
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
        partial=partial_gains(board),
        selection=winners_curse(board, seed),
        chosen_by=chosen_by,
    )


def _output_types(program: Module) -> dict[str, Any]:
    predictors = program.named_predictors()
    return {n: f.annotation for _, p in predictors for n, f in p.signature.output_fields.items()}


def _warn_overlap(
    train: list[dict[str, Any]], val: list[dict[str, Any]], inputs: list[str]
) -> None:
    shared = overlapping_rows(train, val, inputs)
    if shared:
        pairs = ", ".join(f"val {p.val} = train {p.train}" for p in shared[:5])
        logger.warning(
            "%d of %d validation rows also occur in the training rows (%s%s): demos may copy "
            "them, so scores on them overstate how the program does on new inputs",
            len(shared),
            len(val),
            pairs,
            ", ..." if len(shared) > 5 else "",
        )
