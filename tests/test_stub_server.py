"""The OpenAI-compatible stub server that HTTP-path tests and benchmarks run against."""

from __future__ import annotations

import http.client
import json
from typing import Any

from promptc.testing import OpenAIStubServer


def _post(port: int, path: str, body: dict[str, Any], **headers: str) -> tuple[int, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request(
            "POST", path, json.dumps(body), {"Content-Type": "application/json", **headers}
        )
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def test_answers_chat_completions_and_records_requests() -> None:
    with OpenAIStubServer(lambda body: f"<answer>{body['model']}</answer>") as server:
        assert server.base_url == f"http://127.0.0.1:{server.port}/v1"
        status, reply = _post(
            server.port,
            "/v1/chat/completions",
            {"model": "m1", "messages": [{"role": "user", "content": "two words"}]},
            Authorization="Bearer k",
        )
    assert status == 200
    assert reply["choices"][0]["message"]["content"] == "<answer>m1</answer>"
    assert reply["usage"] == {"prompt_tokens": 2, "completion_tokens": 1, "total_tokens": 3}
    (seen,) = server.requests
    assert (seen.method, seen.path) == ("POST", "/v1/chat/completions")
    assert seen.headers["authorization"] == "Bearer k"
    assert seen.body["model"] == "m1"


def test_handler_can_answer_with_an_error_status_and_unknown_routes_are_404() -> None:
    with OpenAIStubServer(lambda body: (429, {"error": {"message": "slow down"}})) as server:
        status, reply = _post(server.port, "/v1/chat/completions", {"messages": []})
        assert (status, reply["error"]["message"]) == (429, "slow down")
        status, _ = _post(server.port, "/v1/embeddings", {})
        assert status == 404


def test_keeps_at_most_max_recorded_requests() -> None:
    with OpenAIStubServer(max_recorded=2) as server:
        for i in range(3):
            _post(server.port, "/v1/chat/completions", {"messages": [{"content": str(i)}]})
    assert [r.body["messages"][0]["content"] for r in server.requests] == ["1", "2"]
