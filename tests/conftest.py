from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from promptc import LM
from promptc._backend import LMRequest
from promptc.testing import FakeBackend

DATA_DIR = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(autouse=True)
def _isolated_cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No test writes into the user's real cache directory."""
    monkeypatch.setenv("PROMPTC_CACHE_DIR", str(tmp_path / "promptc-cache"))
    yield


def reply(**fields: object) -> str:
    """A well-formed completion for the given output fields."""
    return "\n".join(
        f"<{k}>{v if isinstance(v, str) else json.dumps(v)}</{k}>" for k, v in fields.items()
    )


def last_field(request: LMRequest, name: str) -> str:
    """The value of input field ``name`` in the request's last user message."""
    text = request.message_list[-1]["content"]
    m = re.search(rf"<{name}>\n(.*?)\n</{name}>", text, re.DOTALL)
    assert m, f"field {name} not in {text!r}"
    return m.group(1)


@pytest.fixture
def fake_lm() -> Callable[..., LM]:
    """Build an LM backed by a handler function (no network, no cache)."""

    def make(handler: Callable[[LMRequest], object], **kwargs: object) -> LM:
        kwargs.setdefault("cache", False)
        return LM("fake/test", backend=FakeBackend(handler), **kwargs)  # type: ignore[arg-type]

    return make
