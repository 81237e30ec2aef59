"""A real OpenAI-compatible Chat Completions server on 127.0.0.1, answering with a handler."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from promptc.testing.fakes import count_tokens

__all__ = ["OpenAIStubServer", "StubRequest"]

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
        prompt = sum(count_tokens(str(m.get("content", ""))) for m in body.get("messages", []))
        completion = count_tokens(answer)
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
