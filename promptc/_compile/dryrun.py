"""A dry run: the plan of a compile, estimated without a single LM request.

The strategy sizes its own phases (:meth:`~promptc.compiler.Optimizer.plan`); this module caps
them by the budget as the driver would, and estimates tokens from the prompts the uncompiled
program renders on the rows.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from promptc._compile.plan import (
    CompilePlan,
    PhasePlan,
    PlanShape,
    demo_pools,
    holdout_reserve,
    model_price,
)
from promptc._compile.propose import proposal_prompt
from promptc._lm.backend import Message
from promptc._program.adapter import ChatAdapter
from promptc._program.module import Module, Predict
from promptc.exceptions import PromptcError

__all__ = ["CHARS_PER_TOKEN", "make_plan", "prompt_sizes", "tokens"]

#: Characters per token assumed for estimates (OpenAI's rule of thumb for English text); the
#: plan does not load a tokenizer.
CHARS_PER_TOKEN = 4
#: Completion tokens assumed for one proposed instruction (one to three sentences).
PROPOSAL_TOKENS = 60


def tokens(messages: Sequence[Message]) -> int:
    """Estimated tokens of chat messages (characters / :data:`CHARS_PER_TOKEN`, plus a few per
    message for the chat format)."""
    chars = sum(len(m.get("content", "")) for m in messages)
    return math.ceil(chars / CHARS_PER_TOKEN) + 4 * len(messages)


def _render(predictor: Predict, row: Mapping[str, Any], extra: list[dict[str, Any]]) -> int:
    fields = predictor.signature.input_fields
    values = {f: row[f] if f in row else f"<{f}>" for f in fields}
    demos = [*predictor.demos, *extra]
    try:
        return tokens(predictor.adapter.format(predictor.signature, demos, values))
    except (PromptcError, ValueError, TypeError):
        raw = {f: str(v) for f, v in values.items()}
        return tokens(predictor.adapter.format(predictor.signature, demos, raw))


def _reply(predictor: Predict, row: Mapping[str, Any]) -> int | None:
    outs = predictor.signature.output_fields
    if not all(f in row for f in outs):
        return None
    demo = {f: row[f] for f in predictor.signature.fields() if f in row}
    messages = predictor.adapter.format(predictor.signature, [demo], {})
    return tokens([messages[2]]) if len(messages) > 2 else None


@dataclass(frozen=True)
class PromptSizes:
    """Mean estimated tokens per LM request of a program, on some rows."""

    prompt: float
    prompt_with_demos: float
    completion: float


def prompt_sizes(
    program: Module,
    rows: Sequence[Mapping[str, Any]],
    train: Sequence[Mapping[str, Any]],
    k: int,
) -> PromptSizes:
    """Mean prompt tokens per request on ``rows`` (as is, and with ``k`` more demos drawn from
    ``train``), and mean reply tokens of a correct reply (the training labels)."""
    predictors = [p for _, p in program.named_predictors()]
    plain, with_demos, replies = [], [], []
    for p in predictors:
        fields = list(p.signature.fields())
        extra = [{f: r[f] for f in fields if f in r} for r in train[:k]]
        for row in rows:
            plain.append(_render(p, row, []))
            with_demos.append(_render(p, row, extra) if k else plain[-1])
        replies += [n for row in train if (n := _reply(p, row)) is not None]
    return PromptSizes(
        prompt=sum(plain) / max(1, len(plain)),
        prompt_with_demos=sum(with_demos) / max(1, len(with_demos)),
        completion=sum(replies) / len(replies) if replies else 16.0,
    )


def _proposal_prompt(program: Module, train: Sequence[Mapping[str, Any]], k: int) -> float:
    """Mean estimated tokens of one instruction proposal's prompt (APE's), per predictor."""
    predictors = dict(program.named_predictors())
    sizes = []
    for name, p in predictors.items():
        demos = [{f: r[f] for f in p.signature.fields() if f in r} for r in train[: max(1, k)]]
        signature, inputs = proposal_prompt(name, predictors, demos)
        sizes.append(tokens(ChatAdapter().format(signature, [], inputs)))
    return sum(sizes) / max(1, len(sizes))


class _Strategy(Protocol):
    name: ClassVar[str]
    plan_exact: ClassVar[bool]

    def plan(self, shape: PlanShape) -> dict[str, int | None]: ...

    def config(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class Models:
    """The model and ``max_tokens`` of the compile's LM, teacher and proposer."""

    lm: tuple[str, int]
    teacher: tuple[str, int]
    proposer: tuple[str, int]

    def of(self, phase: str) -> tuple[str, int]:
        """The model serving ``phase``."""
        return {"bootstrap": self.teacher, "propose": self.proposer}.get(phase, self.lm)


def _wanted(
    program: Module, strategy: _Strategy, shape: PlanShape, n_held: int
) -> tuple[dict[str, int | None], int]:
    """LM requests each phase asks for (``None``: the budget's rest), and requests per run."""
    per_run = 1 if isinstance(program, Predict) else max(1, len(shape.predictors))
    asked = strategy.plan(shape)
    search = asked.get("search")
    wanted: dict[str, int | None] = {
        "baseline": shape.n_val * per_run,
        "bootstrap": (asked.get("bootstrap") or 0) * per_run,
        "propose": asked.get("propose") or 0,
        "search": None if search is None else search * per_run,
        "credit": len(shape.predictors) * shape.n_val * per_run if len(shape.predictors) > 1 else 0,
        "holdout": 2 * n_held * per_run,
    }
    return wanted, per_run


def _cap(
    wanted: dict[str, int | None], budget: int | None, reserve: int
) -> tuple[dict[str, int], list[str]]:
    """Requests per phase under the budget, and the problems found.

    The uncompiled program is scored first, in full; each later phase may take at most what
    is left after it (a phase that spends less leaves more to the next), so each figure is a
    bound of its own and their sum may exceed the budget, which the run never does.
    """
    main = math.inf if budget is None else max(0, budget - reserve)
    baseline = wanted["baseline"] or 0
    problems = []
    if baseline > main:
        problems.append(
            f"the budget of {budget} LM requests cannot score the uncompiled program on the "
            f"validation rows ({baseline} requests"
            + (", after the held-out reserve" if reserve else "")
            + "); the compile would stop at once"
        )
    left = max(0.0, main - baseline)
    capped = {"baseline": int(min(baseline, main))}
    for phase in ("bootstrap", "propose", "search", "credit"):
        want = wanted[phase]
        amount = left if want is None else min(want, left)
        capped[phase] = int(amount) if math.isfinite(amount) else 0
    holdout = wanted["holdout"] or 0
    capped["holdout"] = holdout if budget is None else min(holdout, reserve)
    if wanted["search"] is None and budget is None:
        problems.append("the strategy searches until a budget stops it: give --budget")
    return capped, problems


def _assumptions(program: Module, exact: bool, k: int, models: Models) -> list[str]:
    notes = [
        f"tokens: about {CHARS_PER_TOKEN} characters per token, from the prompts the uncompiled "
        f"program renders on the rows (search and credit with {k} demos added); a reply as "
        "long as a training label, at most max_tokens "
        f"({models.lm[1]}) each",
        "every reply parses on its first attempt: parse retries and transport retries "
        "come out of the same budget, which is never exceeded",
        "cache hits count against the budget (so a rerun takes the same path) but cost nothing",
    ]
    if not isinstance(program, Predict):
        notes.append(
            f"each program run makes one request per predictor "
            f"({len(program.named_predictors())}); loops and branches change that"
        )
    notes.append(
        "request counts are exact: this strategy's trials do not depend on scores"
        if exact
        else "request counts are upper bounds: the search adapts to scores and may stop earlier"
    )
    return notes


def make_plan(
    program: Module,
    strategy: _Strategy,
    *,
    name: str,
    models: Models,
    train: Sequence[Mapping[str, Any]],
    val: Sequence[Mapping[str, Any]],
    held: Sequence[Mapping[str, Any]],
    budget: int | None,
) -> CompilePlan:
    """The plan of a compile: requests, tokens and dollars per phase; no LM request is made."""
    predictors = program.named_predictors()
    shape = PlanShape(
        len(val), len(train), tuple(n for n, _ in predictors), demo_pools(predictors, train)
    )
    wanted, _ = _wanted(program, strategy, shape, len(held))
    reserve = holdout_reserve(len(held), len(predictors))
    capped, problems = _cap(wanted, budget, reserve)
    k = int(strategy.config().get("k", 0) or 0)
    on_val = prompt_sizes(program, val, train, k)
    on_train = prompt_sizes(program, train, train, 0)
    per_request = {
        "baseline": on_val.prompt,
        "holdout": prompt_sizes(program, held, train, 0).prompt if held else on_val.prompt,
        "bootstrap": on_train.prompt,
        "propose": _proposal_prompt(program, train, k),
        "search": on_val.prompt_with_demos,
        "credit": on_val.prompt_with_demos,
    }
    phases = []
    for phase in ("baseline", "bootstrap", "propose", "search", "credit", "holdout"):
        n = capped[phase]
        if not n and phase in ("bootstrap", "propose", "credit", "holdout"):
            continue
        model, max_tokens = models.of(phase)
        reply = PROPOSAL_TOKENS if phase == "propose" else on_val.completion
        phases.append(
            PhasePlan(
                phase=phase,
                requests=n,
                wanted=wanted[phase],
                prompt_tokens=round(n * per_request[phase]),
                completion_tokens=round(n * min(reply, max_tokens)),
                max_completion_tokens=n * max_tokens,
                model=model,
            )
        )
    exact = strategy.plan_exact and isinstance(program, Predict) and not problems
    return CompilePlan(
        program=name,
        optimizer=strategy.name,
        budget=budget,
        phases=tuple(phases),
        exact=exact,
        prices={m: model_price(m) for m in dict.fromkeys(p.model for p in phases)},
        assumptions=tuple(_assumptions(program, exact, k, models)),
        problems=tuple(problems),
    )
