"""The built-in OpenAI-compatible backend, over real HTTP to a stub server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import hashlib
import json
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import reply

import promptc
from promptc import LM, Cache, LMRequest, OpenAIBackend, Predict
from promptc.artifact import artifact_from_program, save_artifact
from promptc.exceptions import (
    ConfigurationError,
    LMConfigurationError,
    LMError,
    LMRequestError,
    LMTimeoutError,
    RateLimitError,
    RetriesExhaustedError,
    ServerError,
)
from promptc.metrics import exact_match
from promptc.optimizers import RandomSearch
from promptc.testing import OpenAIStubServer, WordTask

MSG = [{"role": "user", "content": "two words"}]
KEY = "sk-secret-0123456789"
SIGNATURE = "word -> label: Literal['a', 'b']"


@pytest.fixture(autouse=True)
def _no_openai_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)


@pytest.fixture
def server() -> Iterator[OpenAIStubServer]:
    with OpenAIStubServer(lambda body: "<answer>4</answer>") as stub:
        yield stub


def stub_lm(server: OpenAIStubServer, **kwargs: Any) -> LM:
    kwargs.setdefault("cache", False)
    return LM("openai/stub-model", api_base=server.base_url, **kwargs)


def test_sync_call_sends_a_chat_completion_and_reads_usage(server: OpenAIStubServer) -> None:
    lm = stub_lm(server, temperature=0.3, max_tokens=20, params={"top_p": 0.5, "seed": 7})
    response = lm(MSG)
    assert (response.text, response.finish_reason, response.cost) == (
        "<answer>4</answer>",
        "stop",
        None,
    )
    assert (response.prompt_tokens, response.completion_tokens) == (2, 1)
    (seen,) = server.requests
    assert (seen.method, seen.path) == ("POST", "/v1/chat/completions")
    assert seen.body == {
        "model": "stub-model",
        "messages": MSG,
        "temperature": 0.3,
        "max_tokens": 20,
        "top_p": 0.5,
        "seed": 7,
    }
    usage = lm.usage.total()
    assert (usage.calls, usage.prompt_tokens, usage.completion_tokens) == (1, 2, 1)
    lm.backend.close()


def test_async_call_and_a_predictor_through_it(server: OpenAIStubServer) -> None:
    lm = stub_lm(server)
    assert asyncio.run(lm.acall(MSG)).text == "<answer>4</answer>"
    prediction = asyncio.run(Predict("question -> answer: int", lm=lm).acall(question="2+2?"))
    assert prediction.answer == 4
    assert len(server.requests) == 2


def test_sync_calls_reuse_one_kept_alive_connection(server: OpenAIStubServer) -> None:
    lm = stub_lm(server)
    for _ in range(5):
        lm(MSG)
    assert (len(server.requests), server.connections) == (5, 1)
    lm.backend.close()


def test_many_async_calls_share_one_pool(server: OpenAIStubServer) -> None:
    lm = stub_lm(server, max_concurrency=8)
    backend = lm.backend
    assert isinstance(backend, OpenAIBackend)

    async def waves() -> tuple[int, int]:
        texts = await asyncio.gather(*(lm.acall(MSG, rollout=i) for i in range(24)))
        assert {r.text for r in texts} == {"<answer>4</answer>"}
        first = server.connections
        await asyncio.gather(*(lm.acall(MSG, rollout=i) for i in range(8)))
        return first, server.connections

    first, after = asyncio.run(waves())
    assert len(server.requests) == 32
    assert 1 <= first <= 8  # never more connections than calls in flight
    assert after == first  # the second wave reused the pooled connections
    assert asyncio.run(lm.acall(MSG)).text  # a new loop gets a client of its own


@pytest.mark.parametrize(
    ("status", "body", "error", "text"),
    [
        (401, {"error": {"message": "bad key"}}, LMConfigurationError, "OPENAI_API_KEY"),
        (403, {"error": {"message": "forbidden"}}, LMConfigurationError, "OPENAI_API_KEY"),
        (404, {"error": {"message": "no model"}}, LMConfigurationError, "ends in /v1"),
        (400, {"error": {"message": "max_tokens too large"}}, LMRequestError, "too large"),
        (422, {"detail": "unprocessable"}, LMRequestError, "unprocessable"),
        (408, {"error": "request timeout"}, LMTimeoutError, "408"),
        (429, {"error": {"message": "slow down"}}, RateLimitError, "slow down"),
        (500, {"error": {"message": "boom"}}, ServerError, "boom"),
        (503, {"error": {"message": "overloaded"}}, ServerError, "overloaded"),
        (200, {"choices": []}, ServerError, "not a chat completion"),
        (200, {"unexpected": True}, ServerError, "not a chat completion"),
    ],
)
def test_each_failure_maps_onto_a_promptc_error(
    status: int, body: dict[str, Any], error: type[LMError], text: str
) -> None:
    with OpenAIStubServer(lambda b: (status, body)) as stub:
        backend = OpenAIBackend(api_base=stub.base_url)
        with pytest.raises(error, match=text) as info:
            backend.complete(LMRequest.build("openai/m", MSG))
        backend.close()
    if error is LMRequestError:
        assert not isinstance(info.value, LMConfigurationError)
    assert stub.base_url in str(info.value) and info.value.model == "openai/m"


def test_an_unreachable_server_is_a_transient_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, never listening: connections are refused
        backend = OpenAIBackend(api_base=f"http://127.0.0.1:{port}/v1")
        with pytest.raises(ServerError, match="cannot reach"):
            backend.complete(LMRequest.build("openai/m", MSG))


def test_lm_retries_429_and_5xx_then_succeeds() -> None:
    answers: list[Any] = [(429, {"error": "slow"}), (503, {"error": "busy"}), "<answer>4</answer>"]
    answers.append("<answer>4</answer>")
    with OpenAIStubServer(lambda body: answers.pop(0)) as stub:
        lm = stub_lm(stub, num_retries=2, backoff=0.0)
        assert lm(MSG).text == "<answer>4</answer>"
        assert asyncio.run(stub_lm(stub, num_retries=0).acall(MSG)).text == "<answer>4</answer>"
    usage = lm.usage.total()
    assert (len(stub.requests), usage.calls, usage.errors) == (4, 3, 2)


def test_retries_exhausted_keeps_the_last_error() -> None:
    with OpenAIStubServer(lambda body: (500, {"error": {"message": "down"}})) as stub:
        lm = stub_lm(stub, num_retries=1, backoff=0.0)
        with pytest.raises(RetriesExhaustedError) as info:
            lm(MSG)
    assert isinstance(info.value.last_error, ServerError) and info.value.attempts == 2
    assert len(stub.requests) == 2


def test_a_401_is_not_retried() -> None:
    with OpenAIStubServer(lambda body: (401, {"error": {"message": "bad key"}})) as stub:
        lm = stub_lm(stub, num_retries=3, backoff=0.0)
        with pytest.raises(LMConfigurationError):
            lm(MSG)
    assert len(stub.requests) == 1


def test_a_slow_server_times_out() -> None:
    release = threading.Event()

    def slow(body: dict[str, Any]) -> str:
        release.wait(30)
        return "late"

    with OpenAIStubServer(slow) as stub:
        lm = stub_lm(stub, timeout=0.2, num_retries=0)
        try:
            with pytest.raises(RetriesExhaustedError) as info:
                lm(MSG)
            with pytest.raises(LMTimeoutError, match=r"within 0\.2s"):
                asyncio.run(lm.backend.acomplete(lm.request(MSG)))
        finally:
            release.set()
    assert isinstance(info.value.last_error, LMTimeoutError)


def test_the_key_goes_only_as_a_bearer_header_to_the_configured_base(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with OpenAIStubServer() as elsewhere, OpenAIStubServer() as chosen:
        monkeypatch.setenv("OPENAI_BASE_URL", elsewhere.base_url)
        lm = LM("openai/m", api_base=chosen.base_url, api_key=KEY, cache=False)
        lm(MSG)
        asyncio.run(lm.acall(MSG))
    assert elsewhere.requests == []
    for seen in chosen.requests:
        assert seen.headers["authorization"] == f"Bearer {KEY}"
        others = {k: v for k, v in seen.headers.items() if k != "authorization"}
        assert KEY not in json.dumps([seen.path, seen.body, others])


def test_environment_variables_are_honoured(
    server: OpenAIStubServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env")
    lm = LM("openai/m", cache=False)
    assert lm.endpoint == server.base_url
    lm(MSG)
    assert server.requests[0].headers["authorization"] == "Bearer sk-from-env"
    lm.backend.close()


def test_a_self_hosted_server_needs_no_key(server: OpenAIStubServer) -> None:
    lm = stub_lm(server)
    lm(MSG)
    assert "authorization" not in server.requests[0].headers
    lm.backend.close()


def test_openai_itself_without_a_key_fails_before_any_request() -> None:
    lm = LM("openai/gpt-4o-mini", cache=False)
    assert lm.endpoint == "https://api.openai.com/v1"
    with pytest.raises(LMConfigurationError, match="OPENAI_API_KEY is not set"):
        lm(MSG)
    with pytest.raises(LMConfigurationError, match="OPENAI_API_KEY is not set"):
        asyncio.run(lm.acall(MSG))


@pytest.mark.parametrize("base", ["localhost:8000/v1", "ftp://host/v1", "http:///v1", ""])
def test_a_malformed_api_base_is_refused(base: str) -> None:
    with pytest.raises(ConfigurationError, match="api_base must be an http"):
        OpenAIBackend(api_base=base or " ")


def test_the_endpoint_never_carries_credentials_or_a_query() -> None:
    backend = OpenAIBackend(api_base="https://user:pw@example.com:8443/openai/v1/?api-version=1")
    assert backend.endpoint == "https://example.com:8443/openai/v1"
    assert "pw" not in repr(backend)


@pytest.mark.parametrize(
    "key", ["api_key", "api_base", "base_url", "extra_headers", "cache_prompt"]
)
def test_params_refuse_anything_but_sampling_settings(key: str) -> None:
    with pytest.raises(ConfigurationError, match=rf"'{key}'.*api_base=\.\.\., api_key=\.\.\."):
        LM("openai/m", params={key: "x"}, cache=False)
    lm = LM("openai/m", params={"top_p": 0.9, "stop": ["\n"]}, cache=False)
    with pytest.raises(ConfigurationError, match=f"'{key}'"):
        lm(MSG, **{key: "x"})


@pytest.mark.parametrize(
    ("kwargs", "refusal"),
    [
        ({"params": {"response_format": {"type": "json_schema", "schema": {"a": 1}}}}, "short"),
        ({"params": {"stop": ["x" * 300]}}, "short plain data"),
        ({"model": "openai/http://evil.example/v1"}, "URL"),
        ({"model": "openai/m x"}, "characters"),
    ],
)
def test_lm_refuses_at_construction_what_an_artifact_could_not_store(
    kwargs: dict[str, Any], refusal: str
) -> None:
    settings = {"model": "openai/m", "cache": False, **kwargs}
    with pytest.raises(ConfigurationError, match=refusal):  # not at the end of a paid compile
        LM(**settings)


def test_endpoint_and_key_are_refused_where_they_cannot_apply(
    server: OpenAIStubServer, tmp_path: Path
) -> None:
    with pytest.raises(ConfigurationError, match="no api_base or api_key"):
        LM("local/qwen2.5-coder-0.5b", api_base=server.base_url)
    with pytest.raises(ConfigurationError, match="give the endpoint and key to the backend"):
        LM("openai/m", backend=OpenAIBackend(), api_key=KEY)
    path = _saved_artifact(tmp_path)
    with pytest.raises(ConfigurationError, match="both lm= and api_base="):
        promptc.load(path, lm=stub_lm(server), api_base=server.base_url)


def _saved_artifact(folder: Path) -> Path:
    program = Predict("question -> answer: int")
    settings = {"model": "openai/stub-model", "temperature": 0.0, "max_tokens": 16}
    artifact = artifact_from_program(program, name="qa", lm_settings=settings)
    folder.mkdir(parents=True, exist_ok=True)
    return save_artifact(artifact, folder / "qa.yaml")


def test_a_loaded_artifact_reaches_the_endpoint_given_at_load(
    server: OpenAIStubServer, tmp_path: Path
) -> None:
    compiled = promptc.load(_saved_artifact(tmp_path), api_base=server.base_url, api_key=KEY)
    assert compiled(question="2+2?").answer == 4
    assert server.requests[0].body["model"] == "stub-model"
    assert server.requests[0].headers["authorization"] == f"Bearer {KEY}"


def test_the_cache_key_holds_the_endpoint_only_when_there_is_one() -> None:
    request = LMRequest.build("local/m", MSG, params={"seed": 1})
    legacy = {
        "model": "local/m",
        "messages": MSG,
        "temperature": 0.0,
        "max_tokens": 512,
        "params": {"seed": 1},
        "rollout": 0,
    }
    blob = json.dumps(legacy, sort_keys=True, ensure_ascii=False, default=str)
    assert request.cache_key() == hashlib.sha256(blob.encode("utf-8")).hexdigest()
    a = LMRequest.build("openai/m", MSG, endpoint="http://a/v1")
    b = LMRequest.build("openai/m", MSG, endpoint="http://b/v1")
    assert len({request.cache_key(), a.cache_key(), b.cache_key()}) == 3


def test_two_servers_behind_one_model_name_never_share_answers(tmp_path: Path) -> None:
    cache = Cache(tmp_path / "shared.db")
    with OpenAIStubServer(lambda b: "from A") as a, OpenAIStubServer(lambda b: "from B") as b:
        lm_a = LM("openai/same", api_base=a.base_url, cache=cache)
        lm_b = LM("openai/same", api_base=b.base_url, cache=cache)
        assert lm_a(MSG).text == "from A"
        assert lm_b(MSG).text == "from B"
        assert lm_a(MSG).cached and lm_a(MSG).text == "from A"
        assert (len(a.requests), len(b.requests), len(cache)) == (1, 1, 2)
    cache.close()


def test_the_key_and_endpoint_are_never_written(tmp_path: Path) -> None:
    words = ["apple", "bread", "cloud", "eagle", "flute", "igloo"]
    rows = WordTask.rows(words)

    def answer(body: dict[str, Any]) -> str:
        word = body["messages"][-1]["content"].split("<word>\n")[1].split("\n")[0]
        return reply(label=WordTask.label(word))

    cache = Cache(tmp_path / "cache.db")
    with OpenAIStubServer(answer) as stub:
        lm = LM("openai/stub-model", api_base=stub.base_url, api_key=KEY, cache=cache)
        result = promptc.compile(
            Predict(SIGNATURE),
            rows,
            exact_match,
            optimizer=RandomSearch(k=2, num_candidates=2),
            lm=lm,
            valset=rows[:3],
        )
        assert lm.usage.total().calls > 0
    artifact = save_artifact(result.artifact, tmp_path / "out.yaml")
    written = [artifact, *result.write_report(tmp_path / "out.report")]
    cache.close()
    written += list(tmp_path.glob("cache.db*"))
    host = f"127.0.0.1:{stub.port}"
    for path in written:
        data = path.read_bytes()
        assert KEY.encode() not in data and host.encode() not in data, path
    shown = [repr(lm), repr(lm.backend), str(lm.settings()), str(vars(lm))]
    assert not any(KEY in text for text in shown)
    assert "openai/stub-model" in artifact.read_text("utf-8")


def test_a_server_echoing_the_key_does_not_put_it_in_errors() -> None:
    def echo_auth(body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        return 401, {"error": {"message": f"key {KEY} is not valid"}}

    with OpenAIStubServer(echo_auth) as stub:
        with pytest.raises(LMConfigurationError) as info:
            stub_lm(stub, api_key=KEY, num_retries=0)(MSG)
    assert KEY not in str(info.value) and "***" in str(info.value)


def test_a_server_echoing_its_url_does_not_put_a_query_key_or_password_in_errors() -> None:
    def echo_url(body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        return 404, {"error": {"message": f"no route {base}/chat/completions"}}

    with OpenAIStubServer(echo_url) as stub:
        host = stub.base_url.removeprefix("http://")
        base = f"http://me:pa55word@{host}?api-version=1&api-key={KEY}"
        with pytest.raises(LMConfigurationError) as info:
            LM("openai/m", api_base=base, cache=False, num_retries=0)(MSG)
    text = str(info.value)
    assert KEY not in text and "pa55word" not in text and "api-key=***" in text
    with pytest.raises(ConfigurationError) as bad:
        OpenAIBackend(api_base=f"me:pa55word@{host}")
    assert "pa55word" not in str(bad.value)


def test_a_provider_without_litellm_gives_the_install_command(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "litellm" else real(name, *a)
    )
    with pytest.raises(ConfigurationError, match=r"pip install 'promptc\[litellm\]'"):
        LM("anthropic/claude-3-5-haiku", cache=False)
    monkeypatch.setitem(sys.modules, "litellm", None)
    backend = promptc.LiteLLMBackend(api_key=KEY)
    with pytest.raises(LMConfigurationError, match=r"pip install 'promptc\[litellm\]'"):
        backend.complete(LMRequest.build("anthropic/claude-3-5-haiku", MSG))


RUNTIME_IMPORTS = """
import json, sys
import promptc
compiled = promptc.load(sys.argv[1], api_base=sys.argv[2])
assert compiled(question="2+2?").answer == 4
heavy = ("litellm", "optuna", "numpy", "tqdm", "torch", "sentence_transformers", "xllamacpp")
print(json.dumps(sorted(m for m in heavy if m in sys.modules)))
"""


def test_load_and_call_over_http_imports_nothing_heavy(
    server: OpenAIStubServer, tmp_path: Path
) -> None:
    path = _saved_artifact(tmp_path)
    done = subprocess.run(
        [sys.executable, "-c", RUNTIME_IMPORTS, str(path), server.base_url],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []
    assert len(server.requests) == 1


def test_an_lm_serves_one_event_loop_after_another(server: OpenAIStubServer) -> None:
    lm = stub_lm(server, max_concurrency=1)

    async def two() -> list[str]:  # the second call waits on this loop's semaphore
        return [r.text for r in await asyncio.gather(lm.acall(MSG), lm.acall(MSG, rollout=1))]

    for _ in range(4):  # each asyncio.run is a new loop, which may reuse a closed one's id
        assert asyncio.run(two()) == ["<answer>4</answer>"] * 2
    assert len(lm._async_sems) == 1  # closed loops' semaphores are dropped


class RawServer:
    """A hostile HTTP server on 127.0.0.1: answers every request with ``write(socket)``."""

    def __init__(self, write: Any) -> None:
        self._write = write
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen()
        self.base_url = f"http://127.0.0.1:{self._sock.getsockname()[1]}/v1"
        self._stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(65536)
            head, _, body = data.partition(b"\r\n\r\n")
            length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
            while len(body) < length:
                body += conn.recv(65536)
            try:
                self._write(conn, self._stop)
            except OSError:
                pass  # the client hung up, as it should

    def close(self) -> None:
        self._stop.set()
        self._sock.close()


def _head(extra: str = "") -> bytes:
    return f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n{extra}".encode()


def _trickle(conn: socket.socket, stop: threading.Event) -> None:
    conn.sendall(_head("Content-Length: 100000\r\n\r\n"))
    while not stop.wait(0.05):
        conn.sendall(b" ")  # each read well within the timeout, the whole call never ending


def _endless(conn: socket.socket, stop: threading.Event) -> None:
    conn.sendall(_head("Transfer-Encoding: chunked\r\n\r\n"))
    chunk = b"x" * 2**20
    while not stop.is_set():
        conn.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))


def _gzip_bomb(conn: socket.socket, stop: threading.Event) -> None:
    import gzip

    bomb = gzip.compress(b"\0" * (64 * 2**20))  # 64 KiB on the wire, 64 MiB inflated
    conn.sendall(_head(f"Content-Encoding: gzip\r\nContent-Length: {len(bomb)}\r\n\r\n") + bomb)


def _body(content: bytes) -> Any:
    def write(conn: socket.socket, stop: threading.Event) -> None:
        conn.sendall(_head(f"Content-Length: {len(content)}\r\n\r\n") + content)

    return write


def _completion(usage: str) -> bytes:
    return b'{"choices": [{"message": {"content": "hi"}}], "usage": {%s}}' % usage.encode()


@pytest.mark.parametrize(
    ("write", "error", "text"),
    [
        (_trickle, LMTimeoutError, r"within 0\.5s"),
        (_endless, ServerError, "over 16 MiB"),
        (_gzip_bomb, ServerError, r"over 16 MiB \(decompressed\)"),
        (_body(b"[" * 200_000 + b"]" * 200_000), ServerError, "not a chat completion"),
        (_body(_completion('"prompt_tokens": 1e999')), ServerError, "not a chat completion"),
        (_body(_completion('"prompt_tokens": -50')), ServerError, "not a chat completion"),
        (_body(_completion('"completion_tokens": 2.5')), ServerError, "not a chat completion"),
        (_body(b'{"choices": [{"message": {"content": {"a": 1}}}]}'), ServerError, "not a chat"),
        (_body(b'{"choices": [{"message": {}, "finish_reason": [1]}]}'), ServerError, "not a"),
        (
            _body(b'{"choices": [{"message": {"content": "x"}}], "model": ["m"]}'),
            ServerError,
            "not",
        ),
    ],
)
def test_a_hostile_endpoint_cannot_hang_flood_or_crash_a_call(
    write: Any, error: type[LMError], text: str
) -> None:
    server = RawServer(write)
    backend = OpenAIBackend(api_base=server.base_url)
    try:
        request = LMRequest.build("openai/m", MSG, timeout=0.5)
        with pytest.raises(error, match=text):
            backend.complete(request)
        with pytest.raises(error, match=text):
            asyncio.run(backend.acomplete(request))
    finally:
        backend.close()
        server.close()


def test_a_well_formed_reply_keeps_its_token_counts() -> None:
    server = RawServer(_body(_completion('"prompt_tokens": 7, "completion_tokens": 3.0')))
    backend = OpenAIBackend(api_base=server.base_url)
    try:
        got = backend.complete(LMRequest.build("openai/m", MSG))
        assert (got.text, got.prompt_tokens, got.completion_tokens) == ("hi", 7, 3)
    finally:
        backend.close()
        server.close()
