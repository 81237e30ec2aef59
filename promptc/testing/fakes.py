"""Fake LM backends: a handler-driven fake, fault injection, record and replay."""

from __future__ import annotations

import hashlib
import json
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

from promptc._lm.backend import Backend, LMRequest, LMResponse
from promptc.exceptions import (
    ConfigurationError,
    LMRequestError,
    LMTimeoutError,
    RateLimitError,
    ServerError,
    TransientLMError,
)

__all__ = ["FAULT_KINDS", "FakeBackend", "FaultyBackend", "RecordingBackend", "ReplayBackend"]

Handler = Callable[[LMRequest], "str | LMResponse"]
Latency = float | Callable[[], float]

TRANSIENT_FAULTS = ("timeout", "rate_limit", "server_error")
REPLY_FAULTS = ("empty", "truncated", "garbage")
FAULT_KINDS = TRANSIENT_FAULTS + REPLY_FAULTS


def count_tokens(text: str) -> int:
    """Tokens as the fakes count them: whitespace-separated words."""
    return len(text.split())


class FakeBackend(Backend):
    """Answers each request by calling ``handler(request)``.

    The handler returns the completion text (or a full :class:`LMResponse`), or raises a
    :mod:`promptc.exceptions` error to simulate a failure. Token counts are whitespace words.

    Args:
        handler: the function that answers.
        latency: seconds to sleep per call (simulates a slow model), or a function that returns
            them (e.g. ``lambda: random.uniform(0, 0.005)`` for a random latency per call).

    Attributes:
        requests: every request received, in arrival order.
        endpoint: ``"promptc.testing.FakeBackend"``: it keys the cache, so a fake's answers
            never come back from a shared cache for a real model of the same name.
    """

    endpoint = "promptc.testing.FakeBackend"

    def __init__(self, handler: Handler, *, latency: Latency = 0.0) -> None:
        self.handler = handler
        self.latency = latency
        self.requests: list[LMRequest] = []
        self._lock = threading.Lock()

    @property
    def calls(self) -> int:
        """How many requests reached the backend."""
        return len(self.requests)

    def complete(self, request: LMRequest) -> LMResponse:
        with self._lock:
            self.requests.append(request)
        delay = self.latency() if callable(self.latency) else self.latency
        if delay:
            time.sleep(delay)
        out = self.handler(request)
        if isinstance(out, LMResponse):
            return out
        prompt = " ".join(m["content"] for m in request.message_list)
        return LMResponse(
            text=out,
            prompt_tokens=count_tokens(prompt),
            completion_tokens=count_tokens(out),
            cost=0.0,
            finish_reason="stop",
            model=request.model,
        )


class FaultyBackend(Backend):
    """Fails a seeded share of calls the ways hosted APIs fail; ``inner`` answers the rest.

    Transient faults raise what the real backends raise for them (:class:`LMTimeoutError`,
    :class:`RateLimitError` for 429, :class:`ServerError` for 5xx), so :class:`~promptc.LM`
    retries them; reply faults return a completion that is empty, cut in half (with
    ``finish_reason="length"``), or garbage, which the adapter must refuse or survive.

    Whether a call fails depends only on the seed, the request and how often that request was
    seen, not on thread timing: a compile under faults is as reproducible as one without.

    Args:
        inner: the backend that answers when no fault is injected, or a handler function
            (wrapped in a :class:`FakeBackend`).
        rate: the probability, in [0, 1], that a call fails.
        kinds: the faults to draw from, uniformly (default: all of :data:`FAULT_KINDS`).
        seed: seeds every draw.
        timeout_delay: seconds an injected timeout waits before raising.

    Attributes:
        injected: how many faults of each kind were injected.
        calls: requests received (faulty ones included).
    """

    def __init__(
        self,
        inner: Backend | Handler,
        *,
        rate: float = 0.2,
        kinds: Sequence[str] = FAULT_KINDS,
        seed: int = 0,
        timeout_delay: float = 0.0,
    ) -> None:
        unknown = sorted(set(kinds) - set(FAULT_KINDS))
        if unknown or not kinds:
            raise ConfigurationError(
                f"unknown fault kinds {unknown}; choose from {list(FAULT_KINDS)}"
                if unknown
                else f"kinds must name at least one of {list(FAULT_KINDS)}"
            )
        if not 0.0 <= rate <= 1.0:
            raise ConfigurationError(f"rate must be within [0, 1], got {rate!r}")
        self.inner = inner if isinstance(inner, Backend) else FakeBackend(inner)
        self.rate = rate
        self.kinds = tuple(kinds)
        self.seed = seed
        self.timeout_delay = timeout_delay
        self.injected: Counter[str] = Counter()
        self.calls = 0
        self._seen: Counter[str] = Counter()
        self._lock = threading.Lock()

    @property
    def transient(self) -> int:
        """Transient faults injected (the ones :class:`~promptc.LM` counts as errors)."""
        return sum(self.injected[k] for k in TRANSIENT_FAULTS)

    @property
    def total(self) -> int:
        """Faults injected, of every kind."""
        return sum(self.injected.values())

    def _draw(self, request: LMRequest) -> random.Random:
        key = request.cache_key()
        with self._lock:
            self.calls += 1
            nth = self._seen[key]
            self._seen[key] += 1
        digest = hashlib.sha256(f"{self.seed}:{key}:{nth}".encode()).digest()
        return random.Random(int.from_bytes(digest[:8], "big"))

    def _fault(self, rng: random.Random) -> str | None:
        if rng.random() >= self.rate:
            return None
        kind = rng.choice(self.kinds)
        with self._lock:
            self.injected[kind] += 1
        return kind

    def complete(self, request: LMRequest) -> LMResponse:
        rng = self._draw(request)
        kind = self._fault(rng)
        if kind in TRANSIENT_FAULTS:
            if kind == "timeout" and self.timeout_delay:
                time.sleep(self.timeout_delay)
            raise _transient(kind, request)
        response = self.inner.complete(request)
        return response if kind is None else _spoil(kind, response, rng)


def _transient(kind: str | None, request: LMRequest) -> TransientLMError:
    model = request.model
    if kind == "timeout":
        return LMTimeoutError(f"{model}: Timeout: no answer within {request.timeout}s", model=model)
    if kind == "rate_limit":
        return RateLimitError(f"{model}: RateLimitError: 429 Too Many Requests", model=model)
    return ServerError(f"{model}: InternalServerError: 503 Service Unavailable", model=model)


def _spoil(kind: str, response: LMResponse, rng: random.Random) -> LMResponse:
    if kind == "empty":
        return replace(response, text="", completion_tokens=0)
    if kind == "truncated":
        cut = rng.randrange(len(response.text)) if response.text else 0
        text = response.text[:cut]
        return replace(
            response, text=text, completion_tokens=count_tokens(text), finish_reason="length"
        )
    junk = "".join(rng.choice("<>/{}[]\"':,. abcxyz0123456789\n\u00e9\u2028") for _ in range(40))
    return replace(response, text=junk, completion_tokens=count_tokens(junk))


class RecordingBackend(Backend):
    """Passes requests to ``inner`` and appends each exchange to a JSONL file for replay."""

    def __init__(self, inner: Backend, path: str | Path) -> None:
        self.inner = inner
        self.path = Path(path)
        self._lock = threading.Lock()

    def complete(self, request: LMRequest) -> LMResponse:
        response = self.inner.complete(request)
        line = {
            "key": request.cache_key(),
            "model": request.model,
            "messages": request.message_list,
            "response": response.to_dict(),
        }
        with self._lock, self.path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(line, ensure_ascii=False, sort_keys=True) + "\n")
        return response


class ReplayBackend(Backend):
    """Answers from a file written by :class:`RecordingBackend`; unknown requests fail loudly."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._responses: dict[str, LMResponse] = {}
        for number, line in enumerate(self.path.read_text("utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                self._responses[row["key"]] = LMResponse.from_dict(row["response"])
            except (json.JSONDecodeError, KeyError, TypeError) as exc:
                raise ValueError(f"{self.path}:{number}: not a recorded exchange ({exc})") from None

    def complete(self, request: LMRequest) -> LMResponse:
        try:
            return self._responses[request.cache_key()]
        except KeyError:
            first = request.message_list[-1]["content"][:120] if request.messages else ""
            raise LMRequestError(
                f"{self.path}: no recorded response for this request to {request.model} "
                f"(last message starts {first!r}); re-record with RecordingBackend",
                model=request.model,
            ) from None
