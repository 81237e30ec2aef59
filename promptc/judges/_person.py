"""A person as a feedback provider: a local web page shows each question and takes the answer.

The page is served by the standard library (``http.server``) from a daemon thread, on a loopback
address only. Its URL carries a random token: a request without it is refused (403), and so is one
whose ``Host`` header is not the server's own address (which blocks DNS rebinding). The page has
no external resources, a strict Content-Security-Policy, and shows model outputs as text only.

The page talks to a small JSON API under the token's path:

``GET api/question?after=N``
    The current state: ``{"state": "question", "id", "inputs", "a", "b", "progress"}``,
    ``{"state": "waiting", ...}`` or ``{"state": "done", ...}``. With ``after``, the request
    waits (up to :data:`HOLD_SECONDS`) until a question newer than ``N`` is open or the session
    is done, so the page learns of a new question at once without polling in a loop.
``POST api/answer`` with ``{"id": N, "verdict": "A" | "B" | "tie" | "skip"}``
    Answers question ``N``: 200; 409 if ``N`` is not the open question (already answered, or
    stale); 400 for a malformed body.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import secrets
import socket
import sys
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from promptc.exceptions import ConfigurationError
from promptc.judges._types import Question, Verdict, check_verdict

__all__ = ["HOLD_SECONDS", "Person"]

logger = logging.getLogger(__name__)

#: How long ``GET api/question?after=N`` waits for a newer question before answering anyway.
HOLD_SECONDS = 20.0
_MAX_BODY = 4096
_STATIC = {"": "person.html", "person.js": "person.js", "person.css": "person.css"}
_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
}
_SECURITY_HEADERS = {
    # Scripts and styles from this server only (no inline code), fetches to it only.
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Cache-Control": "no-store",
}


class Person:
    """Ask a person through a local web page; a feedback provider (``Question -> Verdict``).

    The page shows the input and the two outputs side by side, with buttons (and keys ``a``,
    ``b``, ``t``, ``s``) for A better, B better, tie, and skip. Calling the person publishes a
    question and blocks until it is answered::

        with Person() as person:
            print("answer at", person.url)
            verdict = person(question)  # blocks until the page answers
            person.finish()  # the page shows "done"

    Args:
        host: the loopback address to serve on (``127.0.0.1``, ``::1`` or ``localhost``).
        port: the port; 0 picks a free one (read it back from :attr:`url`).
        open_browser: open the page in the default browser on :meth:`start`.

    Raises:
        ConfigurationError: ``host`` is not a loopback address. (The token in the URL is the
            only credential, so the page is never served on a network; to answer from another
            machine, forward the port: ``ssh -L PORT:127.0.0.1:PORT host``.)
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, open_browser: bool = False) -> None:
        self._bind, self._family = _loopback(host)
        self.host = host
        self.port = port
        self.open_browser = open_browser
        self._token = secrets.token_urlsafe(24)
        self._cond = threading.Condition()
        self._asking = threading.Lock()  # one question open at a time, whichever thread asks
        self._open: tuple[int, Question] | None = None
        self._verdict: Verdict | None = None
        self._last_id = 0
        self._progress: tuple[int, int] | None = None
        self._done = False
        self._closed = False
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The page's address, secret token included (available once started)."""
        if self._server is None:
            raise ConfigurationError("the Person is not started; call start() or use `with`")
        name = f"[{self._bind}]" if self._family == socket.AF_INET6 else self._bind
        return f"http://{name}:{self._server.server_port}/{self._token}/"

    def start(self) -> Person:
        """Serve the page (a no-op if already serving); return ``self``.

        Raises:
            ConfigurationError: the person was closed.
            OSError: the port cannot be bound (e.g. already in use).
        """
        if self._closed:
            raise ConfigurationError("this Person is closed; create a new one to ask again")
        if self._server is not None:
            return self
        server_class = type("_BoundServer", (_Server,), {"address_family": self._family})
        self._server = server_class((self._bind, self.port), _Handler, self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="promptc-person", daemon=True
        )
        self._thread.start()
        logger.info("answer the preference questions at %s", self.url)
        if self.open_browser:
            import webbrowser

            webbrowser.open(self.url)
        return self

    def set_progress(self, answered: int, budget: int) -> None:
        """Show "``answered`` of ``budget`` answered" on the page."""
        with self._cond:
            self._progress = (answered, budget)
            self._cond.notify_all()

    def finish(self) -> None:
        """Tell the page there are no more questions (it shows "done"); keep serving it."""
        with self._cond:
            self._done = True
            self._cond.notify_all()

    def close(self) -> None:
        """Finish and stop serving. A question still waiting for its answer raises."""
        with self._cond:
            self._done = self._closed = True
            self._cond.notify_all()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join()

    def __enter__(self) -> Person:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        where = self.url if self._server is not None else "not started"
        return f"Person({where})"

    def __call__(self, question: Question) -> Verdict:
        """Show ``question`` on the page and wait for the person's verdict.

        Starts serving first if :meth:`start` was not called (and logs the URL as a warning,
        since nobody else will know where to answer).

        Raises:
            ConfigurationError: the person was closed before (or while) the question was open.
        """
        if self._server is None:
            self.start()
            logger.warning("answer the preference questions at %s", self.url)
        with self._asking, self._cond:
            if self._closed:
                raise ConfigurationError("this Person is closed; create a new one to ask again")
            self._last_id += 1
            ident = self._last_id
            self._open, self._verdict, self._done = (ident, question), None, False
            self._cond.notify_all()
            try:
                self._cond.wait_for(lambda: self._verdict is not None or self._closed)
            finally:
                if self._open is not None and self._open[0] == ident:
                    self._open = None  # e.g. Ctrl-C while waiting: the page stops showing it
            if self._verdict is None:
                raise ConfigurationError(
                    f"the Person was closed while question {ident} waited for its answer"
                )
            return self._verdict

    def _state(self, after: int | None) -> dict[str, Any]:
        """What the page shows; with ``after``, wait until a newer question or the end."""
        with self._cond:
            if after is not None:
                self._cond.wait_for(
                    lambda: self._done or (self._open is not None and self._open[0] > after),
                    timeout=HOLD_SECONDS,
                )
            progress = self._progress
            state: dict[str, Any] = {
                "state": "done" if self._done else "waiting",
                "progress": None
                if progress is None
                else {"answered": progress[0], "budget": progress[1]},
            }
            if self._open is not None and not self._done:
                ident, question = self._open
                state.update(state="question", id=ident, inputs=question.inputs)
                state.update(a=question.a, b=question.b)
            return state

    def _answer(self, ident: int, verdict: Verdict) -> tuple[HTTPStatus, str]:
        with self._cond:
            if self._open is None or self._open[0] != ident:
                now = "none is" if self._open is None else f"question {self._open[0]} is"
                return HTTPStatus.CONFLICT, (
                    f"question {ident} is not open ({now}): it was answered already or is "
                    "stale; the page shows the open question"
                )
            self._open, self._verdict = None, verdict
            self._cond.notify_all()
            return HTTPStatus.OK, ""


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], person: Person
    ) -> None:
        self.person = person
        super().__init__(address, handler)
        port = self.server_port
        name = f"[{person._bind}]" if person._family == socket.AF_INET6 else person._bind
        self.hosts = {f"{name}:{port}", f"localhost:{port}"}
        self.origins = {f"http://{host}" for host in self.hosts}
        self.files = {
            route: (resources.files("promptc") / "templates" / name).read_bytes()
            for route, name in _STATIC.items()
        }

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A tab closed or reloaded mid-request is routine, not a traceback on the terminal.
        error = sys.exc_info()[1]
        if isinstance(error, (BrokenPipeError, ConnectionResetError)):
            logger.debug("the page went away mid-request: %s", error)
            return
        logger.exception("the page's request from %s failed", client_address)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.0"  # one request a connection: simple, and enough for a page

    def do_GET(self) -> None:
        route = self._route()
        if route is None:
            return
        path, query = route
        if path in _STATIC:
            name = _STATIC[path]
            self._send(HTTPStatus.OK, self.server.files[path], _TYPES[name[name.rfind(".") :]])
        elif path == "api/question":
            after = query.get("after", [None])[-1]
            if after is not None and not (after.isascii() and after.isdigit() and len(after) < 19):
                self._error(HTTPStatus.BAD_REQUEST, f"after must be a question id, got {after!r}")
                return
            state = self.server.person._state(None if after is None else int(after))
            self._json(HTTPStatus.OK, state)
        else:
            self._error(HTTPStatus.NOT_FOUND, f"no page {path!r}")

    def do_POST(self) -> None:
        route = self._route()
        if route is None:
            return
        if route[0] != "api/answer":
            self._error(HTTPStatus.NOT_FOUND, f"no endpoint {route[0]!r}")
            return
        body = self._body()
        if isinstance(body, str):
            self._error(HTTPStatus.BAD_REQUEST, body)
            return
        status, message = self.server.person._answer(*body)
        if status == HTTPStatus.OK:
            self._json(status, {"ok": True})
        else:
            self._error(status, message)

    def _route(self) -> tuple[str, dict[str, list[str]]] | None:
        """The path after the token and the query; ``None`` (403 sent) for a refused request."""
        host = self.headers.get("Host", "")
        if host not in self.server.hosts:
            self._error(HTTPStatus.FORBIDDEN, f"wrong Host header {host[:100]!r}")
            return None
        origin = self.headers.get("Origin")
        if origin is not None and origin not in self.server.origins:
            self._error(HTTPStatus.FORBIDDEN, "requests from other sites are refused")
            return None
        parts = urlsplit(self.path)
        token, _, path = parts.path.lstrip("/").partition("/")
        if not hmac.compare_digest(token.encode(), self.server.person._token.encode()):
            self._error(HTTPStatus.FORBIDDEN, "the URL's token is missing or wrong")
            return None
        return path, parse_qs(parts.query)

    def _body(self) -> tuple[int, Verdict] | str:
        """The answer's question id and verdict, or what is wrong with the body."""
        if self.headers.get_content_type() != "application/json":
            return "expected Content-Type: application/json"
        length = self.headers.get("Content-Length", "")
        if not (length.isascii() and length.isdigit() and int(length) <= _MAX_BODY):
            return f"expected a Content-Length of at most {_MAX_BODY} bytes, got {length[:20]!r}"
        try:
            body = json.loads(self.rfile.read(int(length)))
        except (ValueError, RecursionError) as exc:
            return f"the body is not JSON ({exc})"
        if not isinstance(body, dict) or set(body) != {"id", "verdict"}:
            return 'expected {"id": <question id>, "verdict": "A" | "B" | "tie" | "skip"}'
        ident = body["id"]
        if not isinstance(ident, int) or isinstance(ident, bool):
            return f"id must be an integer, got {ident!r}"
        try:
            return ident, check_verdict(body["verdict"], source="the page")
        except ConfigurationError as exc:
            return str(exc)

    def _json(self, status: HTTPStatus, data: dict[str, Any]) -> None:
        body = json.dumps(data, ensure_ascii=False, default=str).encode()
        self._send(status, body, "application/json; charset=utf-8")

    def _error(self, status: HTTPStatus, message: str) -> None:
        logger.debug("%s %s: %s", status.value, self.path[:100], message)
        self._json(status, {"error": message})

    def _send(self, status: HTTPStatus, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in _SECURITY_HEADERS.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s %s", self.address_string(), format % args)


def _loopback(host: str) -> tuple[str, socket.AddressFamily]:
    """The address to bind for ``host`` and its family; only loopback addresses are allowed."""
    if host == "localhost":
        return "127.0.0.1", socket.AF_INET
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if address is None or not address.is_loopback:
        raise ConfigurationError(
            f"Person serves its page on a loopback address only (127.0.0.1, ::1, localhost), "
            f"got host={host!r}: the URL's token is its only credential. To answer from "
            "another machine, forward the port instead: ssh -L PORT:127.0.0.1:PORT this-host"
        )
    family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
    return address.compressed, family
