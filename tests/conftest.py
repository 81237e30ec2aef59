from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from promptc import LM, LMRequest
from promptc._local.models import model_status, models_dir
from promptc._local.registry import LOCAL_MODELS
from promptc.compiler import SearchSpace, Trial
from promptc.testing import FakeBackend

DATA_DIR = Path(__file__).resolve().parents[2] / "shared" / "data"
#: The pulled models (``./scripts/test`` pulls what the tests need), read where the user keeps
#: them; tests that pull fake models point ``PROMPTC_MODELS_DIR`` at a temporary folder instead.
MODELS_DIR = models_dir()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "requires_model(name): skip unless the local model NAME is pulled (promptc models list)",
    )


def missing_model(name: str) -> str | None:
    """Why the tests cannot use local model ``name`` here (None when they can)."""
    if LOCAL_MODELS[name].gguf is not None and importlib.util.find_spec("xllamacpp") is None:
        return f"{name} needs xllamacpp: run `pip install 'promptc[local]'`"
    if model_status(name).state == "missing":
        return f"{name} is not pulled: run `promptc models pull {name}`"
    return None


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Skip a test marked ``requires_model(NAME)`` when NAME's weights are not in the cache."""
    for marker in item.iter_markers("requires_model"):
        reason = missing_model(marker.args[0])
        if reason is not None:
            pytest.skip(reason)


@pytest.fixture(autouse=True)
def _isolated_cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No test writes into the user's real LM cache; the pulled models are read in place."""
    monkeypatch.setenv("PROMPTC_CACHE_DIR", str(tmp_path / "promptc-cache"))
    monkeypatch.setenv("PROMPTC_MODELS_DIR", str(MODELS_DIR))
    yield


def run_cli(
    *args: str | Path,
    cwd: Path,
    env: dict[str, str] | None = None,
    stdin: str | None = None,
    umask: int = -1,
    timeout: float = 600,
) -> subprocess.CompletedProcess[str]:
    """Run ``promptc ARGS`` in a real subprocess, as a user's shell would."""
    return subprocess.run(
        [sys.executable, "-m", "promptc.cli", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        input=stdin,
        timeout=timeout,
        umask=umask,
    )


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


class Watch:
    """Mixin for a strategy under test (``class Watching(Watch, Racing)``): keeps the search
    space it was given and every trial it asked for."""

    space: SearchSpace
    asked: list[Trial]

    def setup(self, space: SearchSpace) -> None:
        self.space, self.asked = space, []
        super().setup(space)  # type: ignore[misc]

    def ask(self) -> Trial | None:
        trial: Trial | None = super().ask()  # type: ignore[misc]
        if trial is not None:
            self.asked.append(trial)
        return trial


@pytest.fixture
def fake_lm() -> Callable[..., LM]:
    """Build an LM backed by a handler function (no network, no cache)."""

    def make(handler: Callable[[LMRequest], object], **kwargs: object) -> LM:
        kwargs.setdefault("cache", False)
        return LM("fake/test", backend=FakeBackend(handler), **kwargs)  # type: ignore[arg-type]

    return make
