"""Test doubles for LMs: a fake driven by a handler function, fault injection, record/replay.

``FakeBackend`` is to promptc what ``httpx.MockTransport`` is to httpx: plug it into an
:class:`~promptc.LM` and every call goes to your function, with no network::

    def handler(request: LMRequest) -> str:
        return "<answer>4</answer>"

    lm = LM("fake/model", backend=FakeBackend(handler), cache=False)

``FaultyBackend`` wraps a backend (or a handler) and makes a seeded share of its calls fail the
ways hosted APIs do — timeouts, 429, 5xx, empty, truncated or garbage replies — and counts what
it injected, so a test can check that promptc survived and reported every one::

    backend = FaultyBackend(FakeBackend(handler), rate=0.2, seed=0)
    lm = LM("fake/model", backend=backend, cache=False, backoff=0.0)

``OpenAIStubServer`` is a real OpenAI-compatible Chat Completions server on 127.0.0.1 (a random
port), answering each request with a handler; use it to test the HTTP path end to end, e.g. the
CLI in a subprocess pointed at ``server.base_url``::

    with OpenAIStubServer(lambda body: "<answer>4</answer>") as server:
        ...  # requests to server.base_url + "/chat/completions"; server.requests records them
"""

from __future__ import annotations

import hashlib
import http.server
import json
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from types import TracebackType
from typing import Any

from promptc._lm.backend import Backend, LMRequest, LMResponse
from promptc.exceptions import (
    ConfigurationError,
    LMRequestError,
    LMTimeoutError,
    RateLimitError,
    ServerError,
    TransientLMError,
)

__all__ = [
    "FAULT_KINDS",
    "FakeBackend",
    "FaultyBackend",
    "OpenAIStubServer",
    "RecordingBackend",
    "ReplayBackend",
    "StubRequest",
]

Handler = Callable[[LMRequest], "str | LMResponse"]
Latency = float | Callable[[], float]

TRANSIENT_FAULTS = ("timeout", "rate_limit", "server_error")
REPLY_FAULTS = ("empty", "truncated", "garbage")
FAULT_KINDS = TRANSIENT_FAULTS + REPLY_FAULTS


def _count_tokens(text: str) -> int:
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
    """

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
            prompt_tokens=_count_tokens(prompt),
            completion_tokens=_count_tokens(out),
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
            response, text=text, completion_tokens=_count_tokens(text), finish_reason="length"
        )
    junk = "".join(rng.choice("<>/{}[]\"':,. abcxyz0123456789\n\u00e9\u2028") for _ in range(40))
    return replace(response, text=junk, completion_tokens=_count_tokens(junk))


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


StubHandler = Callable[[dict[str, Any]], "str | tuple[int, dict[str, Any]]"]


@dataclass(frozen=True)
class StubRequest:
    """One request the stub server received.

    Attributes:
        method: ``"POST"``, ``"GET"``, ...
        path: the request path, e.g. ``"/v1/chat/completions"``.
        headers: the request headers, names lower-cased.
        body: the JSON body (``{}`` when there was none or it was not JSON).
    """

    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


def _echo(body: dict[str, Any]) -> str:
    messages = body.get("messages") or [{}]
    return str(messages[-1].get("content", ""))


class OpenAIStubServer:
    """An OpenAI-compatible Chat Completions endpoint on 127.0.0.1, for tests and benchmarks.

    ``POST <base_url>/chat/completions`` calls ``handler(body)`` with the parsed JSON body. The
    handler returns the completion text, or ``(status, json_body)`` to answer with an error (or
    any raw reply). Usage is counted in whitespace words. Every request is recorded in
    :attr:`requests`. Connections are kept alive (HTTP/1.1), as a real server's are.

    Args:
        handler: answers each request; default: echo the last message's content.
        max_recorded: requests kept in :attr:`requests` (oldest dropped), so a long benchmark
            does not grow without bound.

    Attributes:
        requests: the requests received (the last ``max_recorded``), in arrival order.
        connections: TCP connections accepted so far (a pooled client reuses them).
    """

    def __init__(self, handler: StubHandler | None = None, *, max_recorded: int = 10_000) -> None:
        self.handler: StubHandler = handler or _echo
        self.max_recorded = max_recorded
        self.requests: list[StubRequest] = []
        self.connections = 0
        self._lock = threading.Lock()
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The port the server listens on."""
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        """The API base URL, e.g. ``http://127.0.0.1:54321/v1``."""
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> OpenAIStubServer:
        """Serve in a daemon thread (idempotent)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
            self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving and release the port."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> OpenAIStubServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _record(self, request: StubRequest) -> None:
        with self._lock:
            self.requests.append(request)
            if len(self.requests) > self.max_recorded:
                del self.requests[0]

    def _reply(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        answer = self.handler(body)
        if isinstance(answer, tuple):
            return answer
        prompt = sum(_count_tokens(str(m.get("content", ""))) for m in body.get("messages", []))
        completion = _count_tokens(answer)
        return 200, {
            "id": "chatcmpl-stub",
            "object": "chat.completion",
            "created": 0,
            "model": body.get("model", "stub"),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": answer},
                    "finish_reason": "stop",
                }
            ],
            "usage": {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
            },
        }

    def _handler_class(self) -> type[http.server.BaseHTTPRequestHandler]:
        stub = self

        class _Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in separate writes: with Nagle's algorithm on, the body
            # waits for the client's delayed ACK (~40 ms per request on Linux).
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

            def setup(self) -> None:
                super().setup()
                with stub._lock:
                    stub.connections += 1

            def _answer(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _body(self) -> dict[str, Any]:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw) if raw else {}
                except ValueError:
                    return {}
                return body if isinstance(body, dict) else {}

            def do_POST(self) -> None:
                body = self._body()
                headers = {k.lower(): v for k, v in self.headers.items()}
                stub._record(StubRequest("POST", self.path, headers, body))
                if not self.path.rstrip("/").endswith("/chat/completions"):
                    self._answer(404, {"error": {"message": f"no route {self.path}"}})
                    return
                self._answer(*stub._reply(body))

            def do_GET(self) -> None:
                headers = {k.lower(): v for k, v in self.headers.items()}
                stub._record(StubRequest("GET", self.path, headers, {}))
                if self.path.rstrip("/").endswith("/models"):
                    self._answer(200, {"object": "list", "data": [{"id": "stub"}]})
                else:
                    self._answer(404, {"error": {"message": f"no route {self.path}"}})

        return _Handler
