"""The built-in backend for OpenAI-compatible Chat Completions endpoints, on httpx.

One backend reaches OpenAI, Azure OpenAI (v1 API), vLLM, llama.cpp's server, Ollama, LM Studio,
TGI, Groq, Together and any other server that speaks ``POST {base}/chat/completions``: it is what
``LM("openai/<name>", api_base=...)`` uses, with no provider SDK installed.

Connections are pooled and kept alive: one ``httpx.Client`` for sync calls, one
``httpx.AsyncClient`` per event loop for async ones (a client cannot outlive its loop). httpx is
imported on the first call, so ``import promptc`` stays light.
"""

from __future__ import annotations

import json
import os
import threading
import time
import urllib.parse
import weakref
from collections.abc import AsyncGenerator
from typing import TYPE_CHECKING, Any

from promptc._lm.backend import Backend, LMRequest, LMResponse, blank_out, public_base
from promptc.exceptions import (
    ConfigurationError,
    LMConfigurationError,
    LMError,
    LMRequestError,
    LMTimeoutError,
    RateLimitError,
    ServerError,
)

if TYPE_CHECKING:
    import asyncio  # at run time only in async code: it costs ~20 ms at import time

    import httpx

__all__ = ["DEFAULT_BASE_URL", "MAX_REPLY_BYTES", "OpenAIBackend"]

DEFAULT_BASE_URL = "https://api.openai.com/v1"
_KEY_VAR, _BASE_VAR = "OPENAI_API_KEY", "OPENAI_BASE_URL"
_USER_AGENT = "promptc"
# A reply body is read up to this size, counted after decompression (a 4 MB gzip body can
# inflate to 4 GiB): replies are kilobytes, a server sending more is broken or hostile.
MAX_REPLY_BYTES = 16 * 2**20
# Token counts a reply may report; anything else is a malformed body, not a huge bill.
_MAX_TOKENS_REPORTED = 2**31
# What reading a body that is not a chat completion raises (1e999 tokens: OverflowError).
_MALFORMED = (
    ValueError, KeyError, IndexError, TypeError, AttributeError, OverflowError, RecursionError
)  # fmt: skip


def _httpx() -> Any:
    import httpx

    return httpx


def _split_base(base: str) -> tuple[str, str]:
    """The chat-completions URL to post to, and the endpoint to show and key the cache by.

    The endpoint drops any user:password, query and fragment: it enters cache keys and messages,
    which must never carry a credential.
    """
    parts = urllib.parse.urlsplit(base.strip())
    endpoint = public_base(base)
    if parts.scheme not in ("http", "https") or endpoint is None:
        shown = base if "@" not in base and "?" not in base else "a string with '@' or '?'"
        raise ConfigurationError(
            f"api_base must be an http(s) URL such as 'http://localhost:8000/v1', got {shown!r}"
        )
    path = parts.path.rstrip("/")
    url = urllib.parse.urlunsplit(parts._replace(path=path + "/chat/completions", fragment=""))
    return url, endpoint


def _url_secrets(url: str) -> list[str]:
    """What in ``url`` may be a credential: its password and its query values (a server that
    echoes the URL it was asked for must not put them into an error message)."""
    parts = urllib.parse.urlsplit(url)
    found = [parts.password or ""]
    found += [v for _, v in urllib.parse.parse_qsl(parts.query, keep_blank_values=False)]
    return [s for s in found if len(s) >= 4]


async def _closed_with_loop(client: httpx.AsyncClient) -> AsyncGenerator[None, None]:
    """Started once and left suspended: ``asyncio.run`` closes every open async generator when
    its loop ends (``shutdown_asyncgens``), and so closes ``client`` on the loop that owns it."""
    try:
        yield
    finally:
        await client.aclose()


class OpenAIBackend(Backend):
    """Calls an OpenAI-compatible ``/chat/completions`` endpoint (retries are left to ``LM``).

    Settings resolve as the OpenAI SDK resolves them: ``api_base``, else ``$OPENAI_BASE_URL``,
    else ``https://api.openai.com/v1``; ``api_key``, else ``$OPENAI_API_KEY``. The key is sent
    only as ``Authorization: Bearer <key>`` to that base; without one no such header is sent
    (self-hosted servers often need none), and calling OpenAI's own API without one fails at
    once with :class:`~promptc.exceptions.LMConfigurationError`.

    The model name sent is the model string without its ``openai/`` prefix. Costs are reported
    as ``None`` (unknown): the endpoint's prices are not known here.

    Args:
        api_base: the base URL, e.g. ``http://localhost:8000/v1`` (vLLM) or
            ``http://localhost:11434/v1`` (Ollama).
        api_key: the API key; it stays in this object (never shown, logged or cached).

    Attributes:
        endpoint: the base URL without credentials or query (part of every cache key).
    """

    prices_requests = False  # an OpenAI-compatible reply has tokens, not dollars

    def __init__(self, *, api_base: str | None = None, api_key: str | None = None) -> None:
        base = api_base or os.environ.get(_BASE_VAR) or DEFAULT_BASE_URL
        self._url, self.endpoint = _split_base(base)
        self._secrets = _url_secrets(self._url)  # a key in the query, a user:password
        self._needs_key = urllib.parse.urlsplit(self._url).hostname == "api.openai.com"
        key = api_key if api_key is not None else os.environ.get(_KEY_VAR)
        self._headers = {"Content-Type": "application/json", "User-Agent": _USER_AGENT}
        if key:
            self._headers["Authorization"] = f"Bearer {key}"
        self._lock = threading.Lock()
        self._client: httpx.Client | None = None
        self._async: dict[
            asyncio.AbstractEventLoop, tuple[httpx.AsyncClient, AsyncGenerator[None, None]]
        ] = {}

    def __repr__(self) -> str:
        return f"OpenAIBackend(api_base={self.endpoint!r})"

    def _sync_client(self) -> httpx.Client:
        with self._lock:
            if self._client is None:
                client: httpx.Client = _httpx().Client(
                    headers=self._headers, follow_redirects=False
                )
                # Closes the pooled sockets when this backend is dropped, not at exit.
                weakref.finalize(self, client.close)
                self._client = client
            return self._client

    async def _async_client(self) -> httpx.AsyncClient:
        import asyncio

        loop = asyncio.get_running_loop()
        found = self._async.get(loop)
        if found is not None:
            return found[0]
        client: httpx.AsyncClient = _httpx().AsyncClient(
            headers=self._headers, follow_redirects=False
        )
        closer = _closed_with_loop(client)
        with self._lock:
            for old in [other for other in self._async if other.is_closed()]:
                del self._async[old]
            self._async[loop] = (client, closer)
        await closer.__anext__()  # registers the generator with this loop's shutdown
        return client

    def _body(self, request: LMRequest) -> bytes:
        if self._needs_key and "Authorization" not in self._headers:
            raise LMConfigurationError(
                f"{request.model}: the environment variable {_KEY_VAR} is not set. Export it "
                f"(export {_KEY_VAR}=...), pass LM(..., api_key=...), or point api_base= (or "
                f"${_BASE_VAR}) at a server that needs no key.",
                model=request.model,
            )
        payload = {
            **request.param_dict,
            "model": request.model.removeprefix("openai/"),
            "messages": request.message_list,
            "temperature": request.temperature,
            "max_tokens": request.max_tokens,
        }
        return json.dumps(payload, ensure_ascii=False).encode("utf-8")

    def complete(self, request: LMRequest) -> LMResponse:
        body = self._body(request)
        client = self._client or self._sync_client()
        httpx = _httpx()
        deadline = _deadline(request)
        try:
            with client.stream("POST", self._url, content=body, timeout=request.timeout) as reply:
                reader = _BoundedBody(self, request, deadline)
                for chunk in reply.iter_bytes():
                    reader.add(chunk)
                return self._response(request, reply.status_code, reader.content())
        except httpx.TimeoutException as exc:
            raise self._timeout(request) from exc
        except httpx.HTTPError as exc:
            raise self._unreachable(request, exc) from exc

    async def acomplete(self, request: LMRequest) -> LMResponse:
        body = self._body(request)
        client = await self._async_client()
        httpx = _httpx()
        deadline = _deadline(request)
        try:
            async with client.stream(
                "POST", self._url, content=body, timeout=request.timeout
            ) as reply:
                reader = _BoundedBody(self, request, deadline)
                async for chunk in reply.aiter_bytes():
                    reader.add(chunk)
                return self._response(request, reply.status_code, reader.content())
        except httpx.TimeoutException as exc:
            raise self._timeout(request) from exc
        except httpx.HTTPError as exc:
            raise self._unreachable(request, exc) from exc

    def close(self) -> None:
        """Close the sync client's connections; async clients close when their loop ends."""
        with self._lock:
            client, self._client = self._client, None
            self._async.clear()
        if client is not None:
            client.close()

    async def aclose(self) -> None:
        """Close the running loop's async client now (``asyncio.run`` does it at its end)."""
        import asyncio

        found = self._async.pop(asyncio.get_running_loop(), None)
        if found is not None:
            await found[1].aclose()

    def _timeout(self, request: LMRequest) -> LMTimeoutError:
        return LMTimeoutError(
            f"{request.model}: no answer from {self.endpoint} within {request.timeout}s",
            model=request.model,
        )

    def _too_large(self, request: LMRequest) -> ServerError:
        return ServerError(
            f"{request.model}: {self.endpoint} sent a reply over {MAX_REPLY_BYTES // 2**20} MiB "
            "(decompressed); a chat completion is far smaller, so the reply was dropped",
            model=request.model,
        )

    def _unreachable(self, request: LMRequest, exc: Exception) -> ServerError:
        return ServerError(
            f"{request.model}: cannot reach {self.endpoint}: {type(exc).__name__}: "
            f"{self._redact(str(exc))[:300]}",
            model=request.model,
        )

    def _redact(self, text: str) -> str:
        """``text`` with the API key blanked out (a server may echo what it was sent)."""
        auth = self._headers.get("Authorization")
        return blank_out(text, [*self._secrets, auth.removeprefix("Bearer ") if auth else ""])

    def _response(self, request: LMRequest, status: int, content: bytes) -> LMResponse:
        if status != 200:
            raise self._status_error(request, status, content)
        try:
            data = json.loads(content)
            choice = data["choices"][0]
            text = choice["message"].get("content") or ""
            finish, model = choice.get("finish_reason"), data.get("model")
            if not all(isinstance(v, str | None) for v in (text, finish, model)):
                raise TypeError("content, finish_reason and model must be strings")
            usage = data.get("usage") or {}
            prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
            return LMResponse(
                text=text,
                prompt_tokens=_token_count(prompt),
                completion_tokens=_token_count(completion),
                cost=None,
                finish_reason=finish,
                model=model or request.model,
            )
        except _MALFORMED:
            shown = self._redact(content[:200].decode("utf-8", "replace"))
            raise ServerError(
                f"{request.model}: {self.endpoint} answered 200 with a body that is not a chat "
                f"completion: {shown!r}",
                model=request.model,
            ) from None

    def _status_error(self, request: LMRequest, status: int, content: bytes) -> LMError:
        model = request.model
        message = f"{model}: {self.endpoint} answered {status}: {self._detail(content)}"
        if status in (401, 403):
            return LMConfigurationError(
                f"{message}. Check the key: set {_KEY_VAR} (or pass LM(..., api_key=...)) to a "
                "key this endpoint accepts.",
                model=model,
            )
        if status == 404:
            return LMConfigurationError(
                f"{message}. Check the model name and api_base (it usually ends in /v1).",
                model=model,
            )
        if status == 408:
            return LMTimeoutError(message, model=model)
        if status == 429:
            return RateLimitError(message, model=model)
        if status >= 500:
            return ServerError(message, model=model)
        return LMRequestError(message, model=model)

    def _detail(self, content: bytes) -> str:
        """The server's error message (OpenAI's ``{"error": {"message": ...}}``) or raw text."""
        try:
            error = json.loads(content)["error"]
            detail = str(error.get("message") if isinstance(error, dict) else error)
        except (ValueError, KeyError, TypeError):
            detail = content[:300].decode("utf-8", "replace")
        return self._redact(detail)[:300]


def _deadline(request: LMRequest) -> float | None:
    """When the whole call must be over: ``timeout`` bounds each read, so a server trickling a
    byte at a time would otherwise hold the call for ever."""
    return None if request.timeout is None else time.monotonic() + request.timeout


class _BoundedBody:
    """A reply body gathered chunk by chunk, refused past :data:`MAX_REPLY_BYTES` or the
    call's deadline."""

    def __init__(self, backend: OpenAIBackend, request: LMRequest, deadline: float | None):
        self._backend, self._request, self._deadline = backend, request, deadline
        self._chunks: list[bytes] = []
        self._size = 0

    def add(self, chunk: bytes) -> None:
        self._size += len(chunk)
        if self._size > MAX_REPLY_BYTES:
            raise self._backend._too_large(self._request)
        if self._deadline is not None and time.monotonic() > self._deadline:
            raise self._backend._timeout(self._request)
        self._chunks.append(chunk)

    def content(self) -> bytes:
        return b"".join(self._chunks)


def _token_count(value: Any) -> int:
    """A reported token count: a whole number in [0, 2**31); missing means 0."""
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        raise ValueError(f"token count {value!r}")
    count = int(value)
    if not 0 <= count < _MAX_TOKENS_REPORTED:
        raise ValueError(f"token count {value!r}")
    return count
