"""Test doubles for LMs: a fake driven by a handler function, and record/replay of responses.

``FakeBackend`` is to promptc what ``httpx.MockTransport`` is to httpx: plug it into an
:class:`~promptc.LM` and every call goes to your function, with no network::

    def handler(request: LMRequest) -> str:
        return "[[ ## answer ## ]]\\n4\\n\\n[[ ## completed ## ]]"

    lm = LM("fake/model", backend=FakeBackend(handler), cache=False)
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path

from promptc._backend import Backend, LMRequest, LMResponse
from promptc.exceptions import LMRequestError

__all__ = ["FakeBackend", "RecordingBackend", "ReplayBackend"]

Handler = Callable[[LMRequest], "str | LMResponse"]


def _count_tokens(text: str) -> int:
    return len(text.split())


class FakeBackend(Backend):
    """Answers each request by calling ``handler(request)``.

    The handler returns the completion text (or a full :class:`LMResponse`), or raises a
    :mod:`promptc.exceptions` error to simulate a failure. Token counts are whitespace words.

    Args:
        handler: the function that answers.
        latency: seconds to sleep per call (simulates a slow model).

    Attributes:
        requests: every request received, in arrival order.
    """

    def __init__(self, handler: Handler, *, latency: float = 0.0) -> None:
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
        if self.latency:
            time.sleep(self.latency)
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
