"""Test doubles for LMs: a fake driven by a handler function, fault injection, record/replay,
a stub OpenAI-compatible server, and a fake task to compile against.

``FakeBackend`` is to promptc what ``httpx.MockTransport`` is to httpx: plug it into an
:class:`~promptc.LM` and every call goes to your function, with no network. promptc's adapter
asks for each output field inside its XML tag, so a handler answers with those tags::

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

``WordTask`` is a ready-made handler for compile tests: a word-labeling task whose fake model
is right only with enough demos (or only under the right instruction), so a compile has
something to find::

    lm = LM("fake/words", backend=FakeBackend(WordTask(needs="demos")), cache=False)
"""

from promptc.testing.fakes import (
    FAULT_KINDS,
    FakeBackend,
    FaultyBackend,
    RecordingBackend,
    ReplayBackend,
)
from promptc.testing.server import OpenAIStubServer, StubRequest
from promptc.testing.tasks import WordTask

__all__ = [
    "FAULT_KINDS",
    "FakeBackend",
    "FaultyBackend",
    "OpenAIStubServer",
    "RecordingBackend",
    "ReplayBackend",
    "StubRequest",
    "WordTask",
]
