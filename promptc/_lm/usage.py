"""Usage accounting: LM calls, cache hits, tokens and cost, per predictor and in total."""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass, field
from typing import Any

from promptc._lm.backend import LMResponse
from promptc.exceptions import BudgetExhaustedError, ConfigurationError

__all__ = ["Budget", "Usage", "UsageTracker"]


@dataclass
class Usage:
    """Counters for one scope (a predictor, or everything).

    Tokens and cost cover every response served, fresh or cached (a cached response counts what
    it cost when it was made), so they describe the work a run needs whatever the cache holds;
    ``calls`` says how many of those responses were fresh calls paid for now.

    Attributes:
        calls: requests sent to a backend (each retry counts; cache hits do not).
        cache_hits: requests answered from the LM cache.
        errors: backend calls that failed.
        cache_errors: LM cache reads and writes that failed (read as a miss, or the answer
            left uncached; the answer is served either way).
        parse_errors: replies that could not be parsed into the signature's outputs (each one
            is shown back to the model, or ends the call with ``OutputParseError``).
        prompt_tokens: prompt tokens of the responses served.
        completion_tokens: completion tokens of the responses served.
        cost: US dollars of the responses served, where the provider's price is known.
    """

    calls: int = 0
    cache_hits: int = 0
    errors: int = 0
    cache_errors: int = 0
    parse_errors: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0

    @classmethod
    def served(cls, response: LMResponse) -> Usage:
        """The usage of one served response (a cache hit or a fresh call)."""
        return cls(
            calls=0 if response.cached else 1,
            cache_hits=1 if response.cached else 0,
            prompt_tokens=response.prompt_tokens,
            completion_tokens=response.completion_tokens,
            cost=response.cost or 0.0,
        )

    @property
    def requests(self) -> int:
        """Requests answered: fresh calls (failed ones included) plus cache hits."""
        return self.calls + self.cache_hits

    def add(self, other: Usage) -> None:
        """Add ``other``'s counters into this one."""
        self.calls += other.calls
        self.cache_hits += other.cache_hits
        self.errors += other.errors
        self.cache_errors += other.cache_errors
        self.parse_errors += other.parse_errors
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens
        self.cost += other.cost

    def to_dict(self) -> dict[str, Any]:
        """The counters as a plain dict."""
        return asdict(self)


@dataclass
class UsageTracker:
    """Thread-safe usage totals, kept per tag (the predictor's name) and overall."""

    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _by_tag: dict[str, Usage] = field(default_factory=dict)

    def record(self, tag: str, usage: Usage) -> None:
        """Add ``usage`` under ``tag``."""
        with self._lock:
            self._by_tag.setdefault(tag, Usage()).add(usage)

    def total(self) -> Usage:
        """The sum over all tags."""
        with self._lock:
            out = Usage()
            for u in self._by_tag.values():
                out.add(u)
            return out

    def by_tag(self) -> dict[str, Usage]:
        """A copy of the per-tag counters."""
        with self._lock:
            return {k: Usage(**asdict(v)) for k, v in sorted(self._by_tag.items())}

    def reset(self) -> None:
        """Forget all counts."""
        with self._lock:
            self._by_tag.clear()


class Budget:
    """A hard cap on LM requests, shared by every LM that holds it (thread-safe).

    Each request counts once, whether it is answered by a fresh call or from the cache, and each
    retry of a failed call counts again: so a compile under a budget takes the same path with a
    cold or a warm cache, and never makes more calls than the budget.

    Optional caps on tokens (prompt + completion) and on dollars count what each served response
    used (cache hits count what they cost when made). Their use is known only after a response,
    so they stop the next request once reached: the last request may overshoot them by its own
    size, the request cap never.

    Args:
        limit: LM requests allowed.
        tokens: prompt + completion tokens allowed (``None``: no cap).
        cost: US dollars allowed, where the provider's price is known (``None``: no cap).
    """

    def __init__(self, limit: int, *, tokens: int | None = None, cost: float | None = None) -> None:
        if limit < 1:
            raise ConfigurationError(f"a budget must allow at least 1 LM request, got {limit}")
        if tokens is not None and tokens < 1:
            raise ConfigurationError(f"a token budget must be at least 1 token, got {tokens}")
        if cost is not None and not cost > 0:
            raise ConfigurationError(f"a cost budget must be above 0 dollars, got {cost}")
        self.limit = limit
        self.used = 0
        self.tokens = tokens
        self.cost = cost
        self.tokens_used = 0
        self.cost_used = 0.0
        self._lock = threading.Lock()

    def take(self) -> None:
        """Count one request, or raise :class:`BudgetExhaustedError` if none is left."""
        with self._lock:
            if self.used >= self.limit:
                raise BudgetExhaustedError(
                    f"the budget of {self.limit} LM requests is spent", limit=self.limit
                )
            if self.tokens is not None and self.tokens_used >= self.tokens:
                raise BudgetExhaustedError(
                    f"the token budget of {self.tokens} is spent ({self.tokens_used} used)",
                    limit=self.limit,
                )
            if self.cost is not None and self.cost_used >= self.cost:
                raise BudgetExhaustedError(
                    f"the cost budget of ${self.cost:g} is spent (${self.cost_used:.4f} used)",
                    limit=self.limit,
                )
            self.used += 1

    def charge(self, usage: Usage) -> None:
        """Count the tokens and dollars of a served response."""
        with self._lock:
            self.tokens_used += usage.prompt_tokens + usage.completion_tokens
            self.cost_used += usage.cost

    @property
    def remaining(self) -> int:
        """Requests still allowed."""
        with self._lock:
            return self.limit - self.used

    def caps(self) -> dict[str, Any]:
        """The optional caps that are set, by their ``compile`` argument name
        (``token_budget``, ``cost_budget``); ``{}`` when neither is."""
        caps: dict[str, Any] = {}
        if self.tokens is not None:
            caps["token_budget"] = self.tokens
        if self.cost is not None:
            caps["cost_budget"] = self.cost
        return caps
