"""The backend interface: one request in, one completion out (sync, with an async twin).

A backend only transports a request to a model and maps the model's failures onto
:mod:`promptc.exceptions`; caching, retries, concurrency limits and usage accounting live in
:class:`promptc.LM`, above every backend (as httpx keeps them above its transports).
"""

from __future__ import annotations

import hashlib
import json
import urllib.parse
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["SAMPLING_PARAMS", "Backend", "LMRequest", "LMResponse", "Message"]

Message = dict[str, str]

#: The only settings an :class:`~promptc.LM`'s ``params`` and an artifact's ``lm.params`` may
#: carry: sampling settings. Nothing that routes a request or carries a credential (``api_base``,
#: ``api_key``, headers, ...) is ever a parameter; those are explicit ``LM`` arguments that stay
#: in the process and are never written anywhere.
SAMPLING_PARAMS = frozenset(
    {
        "frequency_penalty",
        "logit_bias",
        "min_p",
        "presence_penalty",
        "reasoning_effort",
        "repetition_penalty",
        "response_format",
        "seed",
        "stop",
        "top_k",
        "top_p",
    }
)


def _freeze(message: Message) -> tuple[tuple[str, str], ...]:
    """A message as its sorted (key, value) string pairs (hashable, order-independent)."""
    if len(message) == 2:  # the usual {"role", "content"} of strings, without sorting
        role, content = message.get("role"), message.get("content")
        if type(role) is str and type(content) is str:
            return (("content", content), ("role", role))
    return tuple(sorted([(str(k), str(v)) for k, v in message.items()]))


@dataclass(frozen=True)
class LMRequest:
    """Everything that can change a completion.

    Attributes:
        model: the model string, e.g. ``"local/qwen2.5-coder-0.5b"`` or ``"openai/gpt-4o-mini"``.
        messages: the chat messages, frozen so the request is hashable: a tuple with one
            tuple of sorted ``(key, value)`` string pairs per message, e.g.
            ``(("content", "Hi"), ("role", "user"))``. Build a request with :meth:`build` from
            plain ``{"role": ..., "content": ...}`` dicts; read them back as dicts with
            :attr:`message_list`.
        temperature: sampling temperature; ``0.0`` is honoured as greedy, never as "unset".
        max_tokens: the completion length cap.
        params: further sampling parameters (``top_p``, ``seed``, ``stop``, ...).
        rollout: distinguishes repeated samples of the same prompt, so each is cached apart.
        timeout: seconds the backend may spend on this call (not part of the cache key).
        endpoint: where the backend sends the request (its :attr:`Backend.endpoint`, e.g. a
            server's base URL), so two servers behind one model name never share cached
            answers; ``None`` for backends with one fixed destination. Never a credential.
    """

    model: str
    messages: tuple[tuple[tuple[str, str], ...], ...]
    temperature: float = 0.0
    max_tokens: int = 512
    params: tuple[tuple[str, Any], ...] = ()
    rollout: int = 0
    timeout: float | None = None
    endpoint: str | None = None

    @classmethod
    def build(
        cls,
        model: str,
        messages: list[Message],
        *,
        temperature: float = 0.0,
        max_tokens: int = 512,
        params: dict[str, Any] | None = None,
        rollout: int = 0,
        timeout: float | None = None,
        endpoint: str | None = None,
    ) -> LMRequest:
        """Build a request from plain chat messages."""
        return cls(
            model=model,
            messages=tuple([_freeze(m) for m in messages]),
            temperature=float(temperature),
            max_tokens=int(max_tokens),
            params=tuple(sorted((params or {}).items())),
            rollout=rollout,
            timeout=timeout,
            endpoint=endpoint,
        )

    @property
    def message_list(self) -> list[Message]:
        """The messages as plain dicts, as providers expect them."""
        return [dict(m) for m in self.messages]

    @property
    def param_dict(self) -> dict[str, Any]:
        """The extra sampling parameters as a dict."""
        return dict(self.params)

    def cache_key(self) -> str:
        """A sha256 over everything that changes the completion (not the timeout).

        The endpoint enters only when set, so requests to backends without one (the embedded
        model, fakes) keep the keys they always had.
        """
        payload: dict[str, Any] = {
            "model": self.model,
            "messages": self.message_list,
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "params": self.param_dict,
            "rollout": self.rollout,
        }
        if self.endpoint is not None:
            payload["endpoint"] = self.endpoint
        blob = json.dumps(payload, sort_keys=True, ensure_ascii=False, default=str)
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class LMResponse:
    """One completion and what it cost.

    Attributes:
        text: the completion text.
        prompt_tokens: tokens in the prompt, as the provider counted them.
        completion_tokens: tokens generated.
        cost: cost in US dollars where known (``None`` where the provider's price is unknown).
        finish_reason: ``"stop"``, ``"length"``, ... as the provider reported it.
        model: the model that answered.
        cached: ``True`` when this response came from the LM cache (no call was made).
    """

    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float | None = None
    finish_reason: str | None = None
    model: str | None = None
    cached: bool = False
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict (what the cache stores)."""
        return {
            "text": self.text,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "cost": self.cost,
            "finish_reason": self.finish_reason,
            "model": self.model,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, cached: bool = False) -> LMResponse:
        """Rebuild a response stored by :meth:`to_dict`."""
        return cls(
            text=str(data["text"]),
            prompt_tokens=int(data.get("prompt_tokens") or 0),
            completion_tokens=int(data.get("completion_tokens") or 0),
            cost=None if data.get("cost") is None else float(data["cost"]),
            finish_reason=data.get("finish_reason"),
            model=data.get("model"),
            cached=cached,
        )


class Backend(ABC):
    """Transports one request to a model.

    Subclasses implement :meth:`complete`; :meth:`acomplete` defaults to running it in a worker
    thread. A backend raises :class:`~promptc.exceptions.TransientLMError` subclasses for failures
    worth retrying and :class:`~promptc.exceptions.LMRequestError` for the rest; it never retries
    itself (the :class:`~promptc.LM` above it does).

    Attributes:
        endpoint: where requests go when a backend can be pointed at different servers (a base
            URL without credentials); it enters every cache key. ``None`` (the default) for a
            backend with one fixed destination.
        prices_requests: whether responses carry their cost in dollars; a cost budget needs it.
    """

    endpoint: str | None = None
    prices_requests: bool = True

    @abstractmethod
    def complete(self, request: LMRequest) -> LMResponse:
        """Return one completion for ``request``."""

    async def acomplete(self, request: LMRequest) -> LMResponse:
        """Async twin of :meth:`complete`."""
        import asyncio  # imported by async code only: it costs ~20 ms at import time

        return await asyncio.to_thread(self.complete, request)

    def close(self) -> None:  # noqa: B027 - optional hook, most backends hold nothing
        """Release resources held by the backend."""


def public_base(base: str) -> str | None:
    """``base`` as backends show it and key the cache by: scheme, host, port and path, without
    user:password, query or fragment (which may carry credentials); None if it names no host."""
    try:
        parts = urllib.parse.urlsplit(base.strip())
        host, port = parts.hostname, parts.port
    except ValueError:
        return None
    if not parts.scheme or not host:
        return None
    host = host if ":" not in host else f"[{host}]"
    netloc = host if port is None else f"{host}:{port}"
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))


def blank_out(text: str, secrets: Iterable[str]) -> str:
    """``text`` with each secret replaced by ``***`` (longest first, so none is left half)."""
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text
