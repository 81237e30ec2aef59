from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import last_field, reply

import promptc
from promptc import LM, LMRequest, Module, Params, Predict
from promptc.artifact import artifact_from_program, save_artifact
from promptc.exceptions import ArtifactError, ConfigurationError

MakeLM = Callable[..., LM]
SETTINGS = {"model": "openai/gpt-4o-mini", "temperature": 0.0, "max_tokens": 32}


def sentiment_handler(request: LMRequest) -> str:
    return reply(label="negative" if "bad" in last_field(request, "review") else "positive")


def saved_predict(tmp_path: Path) -> Path:
    program = Predict("review -> label: Literal['positive', 'negative']").with_params(
        {"self": Params("Label the review.", ({"review": "bad", "label": "negative"},))}
    )
    art = artifact_from_program(program, name="sentiment", lm_settings=SETTINGS)
    return save_artifact(art, tmp_path / "sentiment.yaml")


def test_load_call_render_parse(tmp_path: Path, fake_lm: MakeLM) -> None:
    path = saved_predict(tmp_path)
    lm = fake_lm(sentiment_handler)
    compiled = promptc.load(path, lm=lm)
    assert compiled(review="a bad film").label == "negative"
    messages = compiled.render(review="fine")
    assert messages[0]["content"].startswith("Label the review.")
    assert messages[1:] == [
        {"role": "user", "content": "<review>\nbad\n</review>"},
        {"role": "assistant", "content": "<label>negative</label>"},
        {"role": "user", "content": "<review>\nfine\n</review>"},
    ]
    assert lm.backend.requests[0].message_list[1:3] == messages[1:3]  # type: ignore[attr-defined]
    assert compiled.parse("<label>positive</label>").label == "positive"
    assert asyncio.run(compiled.acall(review="great")).label == "positive"


def test_lm_settings_come_from_the_artifact(tmp_path: Path) -> None:
    compiled = promptc.load(saved_predict(tmp_path))
    lm = compiled.lm()
    assert (lm.model, lm.temperature, lm.max_tokens) == ("openai/gpt-4o-mini", 0.0, 32)
    assert lm.cache is None


class TwoStep(Module):
    def __init__(self) -> None:
        self.first = Predict("text -> summary")
        self.second = Predict("summary -> label: Literal['positive', 'negative']")

    def forward(self, text: str) -> Any:
        return self.second(summary=self.first(text=text).summary)


def test_multi_predictor_artifact_binds_onto_user_program(tmp_path: Path, fake_lm: MakeLM) -> None:
    tuned = TwoStep().with_params({"first": Params("Summarize in three words.")})
    path = save_artifact(artifact_from_program(tuned, name="two"), tmp_path / "two.yaml")
    with pytest.raises(ConfigurationError, match="your code"):
        promptc.load(path, lm=fake_lm(lambda r: "x"))(text="t")

    def handler(request: LMRequest) -> str:
        if "- summary (text)" in request.message_list[0]["content"]:
            return reply(summary="bad stuff")
        return reply(label="negative")

    lm = fake_lm(handler)
    compiled = promptc.load(path, lm=lm, program=TwoStep())
    assert compiled(text="whatever").label == "negative"
    first_system = lm.backend.requests[0].message_list[0]["content"]  # type: ignore[attr-defined]
    assert first_system.startswith("Summarize in three words.")
    with pytest.raises(ArtifactError, match="predictors"):
        promptc.load(path, program=Predict("a -> b"))


def test_loading_and_running_imports_no_compiler_dependencies(tmp_path: Path) -> None:
    path = saved_predict(tmp_path)
    code = f"""
import sys, json

class Uninstalled:
    \"\"\"Acts as if the compiler's dependencies were not installed at all.\"\"\"
    BLOCKED = ("optuna", "numpy", "torch", "sentence_transformers")
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in self.BLOCKED:
            raise ImportError(f"{{name}} is not installed")
        return None

sys.meta_path.insert(0, Uninstalled())
import promptc
from promptc.testing import FakeBackend
lm = promptc.LM("fake/m", backend=FakeBackend(lambda r: "<label>positive</label>"), cache=False)
p = promptc.load({str(path)!r}, lm=lm)
out = p(review="good")
p.render(review="x")
heavy = [m for m in ("optuna", "numpy", "torch", "sentence_transformers", "litellm", "xllamacpp")
         if m in sys.modules]
print(json.dumps({{"label": out.label, "heavy": heavy}}))
"""
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert json.loads(result.stdout) == {"label": "positive", "heavy": []}


def test_an_artifact_names_no_litellm_provider_on_its_own_word(
    tmp_path: Path, fake_lm: MakeLM
) -> None:
    program = Predict("review -> label")
    settings = {"model": "groq/llama-3.1-8b-instant", "temperature": 0.0, "max_tokens": 8}
    path = save_artifact(
        artifact_from_program(program, name="evil", lm_settings=settings), tmp_path / "evil.yaml"
    )
    with pytest.raises(ConfigurationError, match=r"'groq/llama-3.1-8b-instant', which litellm"):
        promptc.load(path).lm()
    with pytest.raises(ConfigurationError, match=r"load\(path, lm=LM\('groq/llama-3.1-8b-inst"):
        promptc.load(path, api_base="http://127.0.0.1:9/v1")
    compiled = promptc.load(path, lm=fake_lm(lambda request: reply(label="ok")))
    assert compiled(review="fine").label == "ok"
