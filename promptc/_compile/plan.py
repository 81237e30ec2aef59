"""A compile's plan: what it will spend, phase by phase, before it spends anything.

``compile(..., dry_run=True)`` and ``promptc compile --dry-run`` return or print a
:class:`CompilePlan` and make no LM request: LM requests per phase (bootstrap, propose,
baseline, search, credit, holdout) under the budget, estimated prompt and completion tokens
(from the prompts the uncompiled program renders on the rows) and dollars where the model's
price is known (litellm's cost map, when litellm is installed).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from promptc.exceptions import ConfigurationError

__all__ = [
    "CompilePlan",
    "PhasePlan",
    "PlanShape",
    "check_cost_budget",
    "holdout_reserve",
    "model_price",
]


@dataclass(frozen=True)
class PlanShape:
    """What a strategy's :meth:`~promptc.compiler.Optimizer.plan` may size its work by.

    Attributes:
        n_val: validation rows.
        n_train: training rows.
        predictors: the program's predictor names.
        demo_pools: per predictor, the training rows usable as its demos.
    """

    n_val: int
    n_train: int
    predictors: tuple[str, ...]
    demo_pools: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class PhasePlan:
    """One phase of the plan.

    Attributes:
        phase: ``baseline``, ``bootstrap``, ``propose``, ``search``, ``credit`` or ``holdout``.
        requests: LM requests the phase may spend under the budget (at most).
        wanted: what the strategy would spend without a budget (``None``: as much as the
            budget allows).
        prompt_tokens: estimated prompt tokens of those requests.
        completion_tokens: estimated completion tokens (replies as long as the labels).
        max_completion_tokens: completion tokens if every reply ran to ``max_tokens``.
        model: the model that serves the phase.
    """

    phase: str
    requests: int
    wanted: int | None
    prompt_tokens: int
    completion_tokens: int
    max_completion_tokens: int
    model: str


@dataclass(frozen=True)
class CompilePlan:
    """What a compile will spend, phase by phase (a dry run's result; no LM was called).

    Attributes:
        program: the program's name.
        optimizer: the strategy's name.
        budget: the LM-request budget, if any.
        phases: the phases, in the order they run.
        exact: whether the request counts are what a run spends (a fixed-schedule strategy
            whose replies all parse on the first attempt) rather than upper bounds.
        prices: per model, US dollars per prompt and per completion token (``None``: unknown).
        assumptions: how the figures were estimated.
        problems: reasons the compile would fail or waste its budget (e.g. a budget that
            cannot score the uncompiled program).
    """

    program: str
    optimizer: str
    budget: int | None
    phases: tuple[PhasePlan, ...]
    exact: bool
    prices: dict[str, tuple[float, float] | None]
    assumptions: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()

    @property
    def requests(self) -> int:
        """LM requests of the whole compile (the phases' sum, or the budget if smaller)."""
        total = sum(p.requests for p in self.phases)
        return total if self.budget is None else min(total, self.budget)

    @property
    def by_phase(self) -> dict[str, int]:
        """LM requests per phase."""
        return {p.phase: p.requests for p in self.phases}

    def dollars(self, *, worst: bool = False) -> float | None:
        """Estimated US dollars (``worst``: every reply at ``max_tokens``); None if unknown."""
        total = 0.0
        for p in self.phases:
            price = self.prices.get(p.model)
            if p.requests and price is None:
                return None
            if price is not None:
                completion = p.max_completion_tokens if worst else p.completion_tokens
                total += p.prompt_tokens * price[0] + completion * price[1]
        return total

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict of the plan."""
        return {
            "program": self.program,
            "optimizer": self.optimizer,
            "budget": self.budget,
            "exact": self.exact,
            "requests": self.requests,
            "phases": [vars(p).copy() for p in self.phases],
            "dollars": self.dollars(),
            "max_dollars": self.dollars(worst=True),
            "prices": {m: list(p) if p else None for m, p in self.prices.items()},
            "assumptions": list(self.assumptions),
            "problems": list(self.problems),
        }

    def text(self) -> str:
        """The plan as a few lines for a terminal."""
        bound = "exactly" if self.exact else "at most"
        cap = "no budget" if self.budget is None else f"budget {self.budget}"
        lines = [
            f"plan: compile {self.program} with {self.optimizer!r} ({cap}); no LM was called",
            f"{'phase':<10} {'requests':>9} {'wanted':>8} {'prompt tok':>11} "
            f"{'completion tok':>15}  model",
        ]
        for p in self.phases:
            wanted = "budget" if p.wanted is None else str(p.wanted)
            lines.append(
                f"{p.phase:<10} {p.requests:>9,} {wanted:>8} {p.prompt_tokens:>11,} "
                f"{p.completion_tokens:>7,} (<={p.max_completion_tokens:,})  {p.model}"
            )
        lines.append(
            f"total      {self.requests:>9,} LM requests ({bound}), ~"
            f"{sum(p.prompt_tokens for p in self.phases):,} prompt + ~"
            f"{sum(p.completion_tokens for p in self.phases):,} completion tokens"
        )
        lines.append(self._cost_line())
        lines += [f"problem: {p}" for p in self.problems]
        lines += [f"note: {a}" for a in self.assumptions]
        return "\n".join(lines)

    def _cost_line(self) -> str:
        unknown = sorted(m for m, p in self.prices.items() if p is None)
        if unknown:
            return f"cost: price unknown for {', '.join(unknown)}"
        return f"cost: ~${self.dollars():.4f} (at most ${self.dollars(worst=True):.4f})"

    def __str__(self) -> str:
        return self.text()


def _litellm() -> Any:
    from promptc._lm.litellm import import_litellm

    return import_litellm()


def model_price(model: str) -> tuple[float, float] | None:
    """US dollars per prompt token and per completion token, or ``None`` when unknown.

    ``local/...`` models run on this machine: (0, 0). Others are looked up in litellm's cost
    map (imported lazily; ``None`` when litellm is not installed).
    """
    if model.startswith("local/"):
        return (0.0, 0.0)
    try:
        litellm = _litellm()
    except ImportError:
        return None
    costs: Mapping[str, Any] = litellm.model_cost
    for key in (model, model.split("/", 1)[-1]):
        entry = costs.get(key)
        if entry and entry.get("input_cost_per_token") is not None:
            return float(entry["input_cost_per_token"]), float(entry["output_cost_per_token"])
    return None


def labeled_demos(predictor: Any, rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The rows that carry every field of ``predictor``'s signature, reduced to those fields:
    the labeled demos it can be shown. A step inside a pipeline whose fields the rows do not
    carry (a multi-hop query) has none; its demos can only be bootstrapped."""
    fields = list(predictor.signature.fields())
    return [{f: row[f] for f in fields} for row in rows if all(f in row for f in fields)]


def demo_pools(
    predictors: Sequence[tuple[str, Any]], train: Sequence[Mapping[str, Any]]
) -> dict[str, int]:
    """Per predictor (``program.named_predictors()``), how many labeled demos ``train`` gives
    it (:func:`labeled_demos`)."""
    return {name: len(labeled_demos(p, train)) for name, p in predictors}


def holdout_reserve(held_rows: int, predictors: int) -> int:
    """LM requests a compile keeps back for re-scoring the uncompiled and the compiled program
    on ``held_rows`` held-out rows (a request per predictor per row; at least one)."""
    return 2 * held_rows * max(1, predictors)


def check_cost_budget(
    cost_budget: float | None, models: Sequence[str], *, unpriced: Sequence[str] = ()
) -> None:
    """Refuse a cost budget that could not stop the run: a model with no known price would
    count as $0 per request, and so would one whose backend reports no cost (``unpriced``:
    model strings served by such a backend, e.g. the built-in OpenAI-compatible one).

    Raises:
        ConfigurationError: one line naming the model and what to use instead.
    """
    if cost_budget is None:
        return
    if unpriced:
        raise ConfigurationError(
            f"a cost budget cannot stop {unpriced[0]!r}: its backend reports tokens, not "
            "dollars, so its requests would count as $0; cap the run with --budget (LM "
            "requests) or --token-budget instead"
        )
    for model in dict.fromkeys(models):
        price = model_price(model)
        if price is None:
            where = "litellm's cost map" if _has_litellm() else "litellm (not installed)"
            raise ConfigurationError(
                f"a cost budget needs each model's price, and {where} has none for "
                f"{model!r}, so its requests would count as $0; cap the run with --budget "
                "(LM requests) or --token-budget instead"
            )
        if price == (0.0, 0.0):
            raise ConfigurationError(
                f"a cost budget cannot stop {model!r}: it has no per-request price (it runs on "
                "this machine or is free); cap the run with --budget or --token-budget instead"
            )


def _has_litellm() -> bool:
    try:
        _litellm()
    except ImportError:
        return False
    return True
