from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import reply

import promptc
from promptc import LM, Cache, LiteLLMBackend, LMRequest, Predict
from promptc.exceptions import (
    ConfigurationError,
    LMError,
    LMRequestError,
    LMTimeoutError,
    RateLimitError,
    RetriesExhaustedError,
    ServerError,
)
from promptc.testing import FakeBackend, OpenAIStubServer, RecordingBackend, ReplayBackend

MakeLM = Callable[..., LM]
MSG = [{"role": "user", "content": "hi"}]


def flaky(failures: list[Exception], answer: str = "ok") -> Callable[[LMRequest], str]:
    pending = list(failures)

    def handler(request: LMRequest) -> str:
        if pending:
            raise pending.pop(0)
        return answer

    return handler


def test_transient_errors_are_retried_then_succeed(fake_lm: MakeLM) -> None:
    lm = fake_lm(
        flaky([LMTimeoutError("slow"), RateLimitError("429"), ServerError("503")]),
        num_retries=3,
        backoff=0.001,
    )
    assert lm(MSG).text == "ok"
    usage = lm.usage.total()
    assert (usage.calls, usage.errors) == (4, 3)


def test_bad_requests_are_never_retried(fake_lm: MakeLM) -> None:
    lm = fake_lm(flaky([LMRequestError("bad param")]), num_retries=3, backoff=0.001)
    with pytest.raises(LMRequestError, match="bad param"):
        lm(MSG)
    assert lm.backend.calls == 1  # type: ignore[attr-defined]


def test_exhausted_retries_carry_attempts_and_last_error(fake_lm: MakeLM) -> None:
    lm = fake_lm(flaky([ServerError(f"503 #{i}") for i in range(5)]), num_retries=2, backoff=0.001)
    with pytest.raises(RetriesExhaustedError, match="after 3 attempts") as info:
        lm(MSG)
    assert info.value.attempts == 3
    assert str(info.value.last_error) == "503 #2"
    assert lm.backend.calls == 3  # type: ignore[attr-defined]


def test_async_retries(fake_lm: MakeLM) -> None:
    lm = fake_lm(flaky([ServerError("503")]), backoff=0.001)
    assert asyncio.run(lm.acall(MSG)).text == "ok"
    assert lm.usage.total().errors == 1


def test_cache_hit_makes_no_call_and_is_reported(tmp_path: Path) -> None:
    backend = FakeBackend(lambda r: "cached answer")
    lm = LM("fake/m", backend=backend, cache=tmp_path / "c.db")
    first = lm(MSG)
    second = LM("fake/m", backend=backend, cache=tmp_path / "c.db")(MSG)
    assert (first.cached, second.cached) == (False, True)
    assert second.text == "cached answer"
    assert backend.calls == 1
    assert lm.usage.total().calls == 1
    other = LM("fake/m", backend=backend, cache=tmp_path / "c.db", temperature=0.7)
    other(MSG)
    assert backend.calls == 2  # a different temperature is a different request


def test_rollouts_are_cached_apart(tmp_path: Path) -> None:
    counter = iter(range(100))
    lm = LM("fake/m", backend=FakeBackend(lambda r: str(next(counter))), cache=tmp_path / "c.db")
    assert [lm(MSG, rollout=i).text for i in range(3)] == ["0", "1", "2"]
    assert [lm(MSG, rollout=i).text for i in range(3)] == ["0", "1", "2"]


def test_explicit_zero_temperature_is_sent_as_zero(fake_lm: MakeLM) -> None:
    lm = fake_lm(lambda r: "x", temperature=0.0)
    lm(MSG)
    assert lm.backend.requests[0].temperature == 0.0  # type: ignore[attr-defined]
    assert lm.settings() == {"model": "fake/test", "temperature": 0.0, "max_tokens": 512}


def test_concurrency_limit_is_respected() -> None:
    in_flight, peak = 0, 0
    lock = threading.Lock()

    def handler(request: LMRequest) -> str:
        nonlocal in_flight, peak
        with lock:
            in_flight += 1
            peak = max(peak, in_flight)
        time.sleep(0.01)
        with lock:
            in_flight -= 1
        return "x"

    lm = LM("fake/m", backend=FakeBackend(handler), cache=False, max_concurrency=3)
    threads = [threading.Thread(target=lm, args=(MSG,), kwargs={"rollout": i}) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert peak == 3


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"temperature": -1}, "temperature"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"max_concurrency": 0}, "max_concurrency"),
        ({"num_retries": -1}, "num_retries"),
        ({"cache": 3}, "cache must be"),
    ],
)
def test_bad_settings_are_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        LM("fake/m", backend=FakeBackend(lambda r: "x"), **kwargs)  # type: ignore[arg-type]


def test_record_then_replay(tmp_path: Path) -> None:
    path = tmp_path / "rec.jsonl"
    live = LM(
        "fake/m",
        backend=RecordingBackend(FakeBackend(lambda r: reply(answer=4)), path),
        cache=False,
    )
    Predict("question -> answer: int", lm=live)(question="2+2?")
    replayed = LM("fake/m", backend=ReplayBackend(path), cache=False)
    assert Predict("question -> answer: int", lm=replayed)(question="2+2?").answer == 4
    with pytest.raises(LMRequestError, match="no recorded response"):
        Predict("question -> answer: int", lm=replayed)(question="3+3?")


def test_litellm_backend_real_call_with_mock_response() -> None:
    lm = LM(
        "openai/gpt-4o-mini",
        cache=False,
        backend=LiteLLMBackend(mock_response=reply(answer=7), api_key="unused"),
    )
    assert Predict("question -> answer: int", lm=lm)(question="3+4?").answer == 7
    usage = lm.usage.total()
    assert usage.calls == 1 and usage.prompt_tokens > 0


@pytest.mark.parametrize(
    ("mock", "error"),
    [
        ("litellm.RateLimitError", RetriesExhaustedError),
        ("litellm.InternalServerError", RetriesExhaustedError),
    ],
)
def test_litellm_transient_errors_are_mapped_and_retried(mock: str, error: type[Exception]) -> None:
    lm = LM(
        "openai/gpt-4o-mini",
        cache=False,
        num_retries=1,
        backoff=0.001,
        backend=LiteLLMBackend(mock_response=mock, api_key="unused"),
    )
    with pytest.raises(error) as info:
        lm(MSG)
    assert isinstance(info.value.last_error, (RateLimitError, ServerError))  # type: ignore[attr-defined]
    assert lm.usage.total().calls == 2


def test_unknown_model_string_gives_a_clear_error() -> None:
    lm = LM("nonexistent-provider-xyz/model", cache=False, num_retries=0)
    with pytest.raises(LMRequestError, match="unknown model"):
        lm(MSG)


def test_default_lm_reads_promptc_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROMPTC_MODEL", "openai/gpt-4o-mini")
    assert promptc.default_lm(cache=False).model == "openai/gpt-4o-mini"
    monkeypatch.delenv("PROMPTC_MODEL")
    assert promptc.default_lm(cache=False).model == "local/qwen2.5-coder-0.5b"


def test_lm_uses_given_cache_object(tmp_path: Path) -> None:
    cache = Cache(tmp_path / "shared.db")
    lm = LM("fake/m", backend=FakeBackend(lambda r: "x"), cache=cache)
    lm(MSG)
    assert len(cache) == 1


def _no_base_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.endswith(("_API_BASE", "_BASE_URL")):
            monkeypatch.delenv(name)


def test_a_litellm_base_from_the_environment_keys_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _no_base_variables(monkeypatch)
    assert LiteLLMBackend().endpoint is None  # a plain setup keeps the keys it always had
    cache = tmp_path / "c.db"
    first = LM("gpt-4o-mini", cache=cache, backend=LiteLLMBackend(mock_response="first"))
    assert first(MSG).text == "first"
    monkeypatch.setenv("OPENAI_BASE_URL", "http://user:pw@127.0.0.1:1/v1?api-key=s3cret")
    backend = LiteLLMBackend(mock_response="second")
    assert backend.endpoint == "env OPENAI_BASE_URL=http://127.0.0.1:1/v1"
    assert LM("gpt-4o-mini", cache=cache, backend=backend)(MSG).text == "second"
    given = LiteLLMBackend(api_base="http://user:pw@host:8/v1?api-key=s3cret", api_key="sk-x")
    assert given.endpoint == "http://host:8/v1"
    assert "pw" not in repr(given) and "s3cret" not in repr(given) and "sk-x" not in repr(given)


def test_a_fakes_answers_never_come_back_for_a_real_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _no_base_variables(monkeypatch)
    cache = tmp_path / "c.db"
    fake = LM("gpt-4o-mini", cache=cache, backend=FakeBackend(lambda request: "from a test"))
    assert fake(MSG).text == "from a test"
    real = LM("gpt-4o-mini", cache=cache, backend=LiteLLMBackend(mock_response="real"))
    assert real(MSG).text == "real"


def test_a_providers_error_quoting_the_key_never_shows_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    key, other = "sk-given-0123456789", "sk-environment-0123456789"
    monkeypatch.setenv("SOME_PROVIDER_API_KEY", other)
    message = f"Incorrect API key provided: {key} (also tried {other})"
    with OpenAIStubServer(lambda body: (401, {"error": {"message": message}})) as stub:
        lm = LM("hosted_vllm/m", api_base=stub.base_url, api_key=key, cache=False, num_retries=0)
        with pytest.raises(LMError) as info:
            lm(MSG)
    text = str(info.value)
    assert "Incorrect API key provided: ***" in text, text
    assert key not in text and other not in text and info.value.__cause__ is None
