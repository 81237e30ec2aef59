"""Dry runs: the plan of a compile (requests per phase, tokens, dollars) and no LM request."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import zlib
from pathlib import Path
from typing import Any

import pytest
from conftest import reply

import promptc
from promptc import LM, LMRequest, Predict
from promptc._compile.plan import CompilePlan, check_cost_budget, model_price
from promptc.exceptions import ConfigurationError
from promptc.metrics import exact_match
from promptc.testing import FakeBackend, WordTask

SIGNATURE = "word -> label: Literal['a', 'b']"
WORDS = [f"{c}{i}x" for i in range(9) for c in "aeiobcdfg"][:56]
ROWS = WordTask.rows(WORDS)
TRAIN, VAL, HELD = ROWS[:16], ROWS[16:40], ROWS[40:48]


def world(request: LMRequest) -> str:
    """Every reply parses: proposals, variations, and labels right on about 60% of words
    (all of them once a prompt has demos), so adaptive strategies have something to race."""
    system = request.message_list[0]["content"]
    if system.startswith("You write instructions"):
        return reply(proposed_instruction=f"Label the word, take {request.rollout}.")
    if system.startswith("Write a variation"):
        return reply(variation=f"Give the word's label, take {request.rollout}.")
    word = WordTask.word(request)
    right, wrong = WordTask.label(word), "b" if WordTask.label(word) == "a" else "a"
    demos = sum(m["role"] == "assistant" for m in request.message_list)
    return reply(label=right if demos or zlib.crc32(word.encode()) % 10 < 6 else wrong)


def fake(model: str = "fake/plan") -> tuple[LM, FakeBackend]:
    backend = FakeBackend(world)
    return LM(model, backend=backend, cache=False), backend


def plan_and_run(optimizer: str, **kwargs: Any) -> tuple[CompilePlan, dict[str, int], int]:
    """The dry run's plan, then the real run's requests per phase (same seed, same settings)."""
    lm, backend = fake()
    common: dict[str, Any] = {"optimizer": optimizer, "lm": lm, "valset": VAL, **kwargs}
    plan = promptc.compile(Predict(SIGNATURE), TRAIN, exact_match, dry_run=True, **common)
    assert backend.calls == 0
    result = promptc.compile(Predict(SIGNATURE), TRAIN, exact_match, **common)
    spent = {p: u.requests for p, u in result.report.spent.by_phase.items()}
    return plan, spent, backend.calls


def test_a_dry_run_makes_no_lm_call_and_returns_the_plan() -> None:
    lm, backend = fake()
    plan = promptc.compile(
        Predict(SIGNATURE), TRAIN, exact_match, optimizer="racing", lm=lm, valset=VAL,
        holdout=HELD, budget=150, dry_run=True,
    )  # fmt: skip
    assert backend.calls == 0
    assert isinstance(plan, CompilePlan)
    assert [p.phase for p in plan.phases] == [
        "baseline", "bootstrap", "propose", "search", "holdout"
    ]  # fmt: skip
    assert plan.requests <= 150 and plan.by_phase["baseline"] == len(VAL)
    assert plan.by_phase["holdout"] == 2 * len(HELD)
    assert all(p.prompt_tokens > 0 and p.completion_tokens > 0 for p in plan.phases)
    assert all(p.max_completion_tokens == p.requests * lm.max_tokens for p in plan.phases)
    text = plan.text()
    assert "no LM was called" in text and "at most" in text
    assert "price unknown for fake/plan" in text
    assert plan.to_dict()["requests"] == plan.requests


@pytest.mark.parametrize("optimizer", ["labeled", "random"])
def test_the_plan_of_a_fixed_schedule_is_what_the_run_spends(optimizer: str) -> None:
    plan, spent, calls = plan_and_run(optimizer, holdout=HELD, budget=400, seed=3)
    assert plan.exact
    assert plan.by_phase == spent
    assert plan.requests == calls


def test_the_plan_shows_the_budget_cutting_a_fixed_schedule() -> None:
    plan, spent, calls = plan_and_run("random", budget=100, seed=1)
    assert plan.by_phase == {"baseline": 24, "search": 76}  # 8 candidates x 24 rows wanted
    assert plan.phases[1].wanted == 8 * len(VAL)
    assert spent["search"] <= plan.by_phase["search"] and calls <= 100


@pytest.mark.parametrize("optimizer", ["racing", "ape", "thompson", "tpe"])
@pytest.mark.parametrize("budget", [None, 120])
def test_the_plan_of_an_adaptive_strategy_bounds_every_phase(
    optimizer: str, budget: int | None
) -> None:
    if optimizer == "tpe" and importlib.util.find_spec("optuna") is None:
        pytest.skip("tpe needs optuna (the [compile] extra)")
    plan, spent, calls = plan_and_run(optimizer, budget=budget, seed=2)
    assert not plan.exact
    for phase, requests in spent.items():
        assert requests <= plan.by_phase[phase], (phase, requests, plan.by_phase)
    assert calls <= plan.requests


def test_a_budget_too_small_for_the_baseline_is_a_problem_in_the_plan() -> None:
    lm, backend = fake()
    plan = promptc.compile(
        Predict(SIGNATURE), TRAIN, exact_match, lm=lm, valset=VAL, budget=10, dry_run=True
    )
    assert backend.calls == 0
    assert any("cannot score the uncompiled program" in p for p in plan.problems)
    assert "problem:" in plan.text()


def test_dollars_come_from_litellms_price_map() -> None:
    if importlib.util.find_spec("litellm") is None:
        pytest.skip("litellm is not installed: prices are unknown")
    price = model_price("openai/gpt-4o-mini")
    assert price is not None and price[0] > 0 and price[1] > 0
    lm, backend = fake("openai/gpt-4o-mini")
    plan = promptc.compile(
        Predict(SIGNATURE), TRAIN, exact_match, optimizer="random", lm=lm, valset=VAL,
        dry_run=True,
    )  # fmt: skip
    assert backend.calls == 0
    expected = sum(p.prompt_tokens * price[0] + p.completion_tokens * price[1] for p in plan.phases)
    dollars = plan.dollars()
    assert dollars is not None and dollars == pytest.approx(expected) and dollars > 0
    assert plan.dollars(worst=True) > dollars
    assert "cost: ~$" in plan.text()


def test_a_local_model_costs_nothing_per_request() -> None:
    assert model_price("local/smollm2-135m") == (0.0, 0.0)


@pytest.mark.parametrize("model", ["fake/unpriced", "local/smollm2-135m"])
def test_a_cost_budget_is_refused_for_a_model_without_a_price(model: str) -> None:
    backend = FakeBackend(world)
    lm = LM(model, backend=backend, cache=False)
    with pytest.raises(ConfigurationError, match="--budget") as caught:
        promptc.compile(Predict(SIGNATURE), TRAIN, exact_match, lm=lm, valset=VAL, cost_budget=1)
    assert model in str(caught.value) and "\n" not in str(caught.value)
    assert backend.calls == 0


def test_a_cost_budget_is_refused_when_the_backend_reports_no_dollars() -> None:
    # Priced in litellm's map, but the built-in OpenAI-compatible backend reports tokens only:
    # its requests would count as $0 and the budget would never stop the run.
    from promptc import OpenAIBackend

    lm = LM("openai/gpt-4o-mini", backend=OpenAIBackend(api_base="http://127.0.0.1:9/v1"))
    with pytest.raises(ConfigurationError, match="reports tokens, not dollars") as caught:
        promptc.compile(Predict(SIGNATURE), TRAIN, exact_match, lm=lm, valset=VAL, cost_budget=1)
    assert "'openai/gpt-4o-mini'" in str(caught.value) and "--budget" in str(caught.value)
    assert lm.usage.total().calls == 0


def test_a_cost_budget_is_accepted_for_a_priced_model() -> None:
    if importlib.util.find_spec("litellm") is None:
        pytest.skip("litellm is not installed: prices are unknown")
    check_cost_budget(1.0, ["openai/gpt-4o-mini"])  # no error


PROGRAM = """
from pathlib import Path
from promptc import LM, Predict
from promptc.testing import FakeBackend

def answer(request):
    Path(__file__).with_name("called").write_text("an LM was called")
    return "<label>a</label>"

lm = LM("fake/cli", backend=FakeBackend(answer))
program = Predict("word -> label: Literal['a', 'b']", lm=lm)
"""


def write_data(tmp_path: Path) -> tuple[Path, Path]:
    import json

    (tmp_path / "prog.py").write_text(PROGRAM, encoding="utf-8")
    paths = []
    for name, rows in (("train", TRAIN), ("val", VAL)):
        path = tmp_path / f"{name}.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        paths.append(path)
    return paths[0], paths[1]


def test_cli_dry_run_prints_the_plan_and_calls_nothing(tmp_path: Path) -> None:
    train, val = write_data(tmp_path)
    command = [sys.executable, "-m", "promptc.cli", "compile", f"{tmp_path / 'prog.py'}:program"]
    command += ["--train", str(train), "--val", str(val), "--optimizer", "random"]
    command += ["--budget", "100", "--model", "fake/cli", "--dry-run"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "plan: compile" in done.stdout and "baseline" in done.stdout
    assert "100 LM requests (exactly)" in done.stdout
    assert not (tmp_path / "called").exists()
    assert not list(tmp_path.glob("*.yaml"))


def test_cli_refuses_a_cost_budget_for_an_unpriced_model_in_one_line(tmp_path: Path) -> None:
    train, val = write_data(tmp_path)
    command = [sys.executable, "-m", "promptc.cli", "compile", f"{tmp_path / 'prog.py'}:program"]
    command += ["--train", str(train), "--val", str(val), "--model", "fake/cli"]
    command += ["--cost-budget", "0.5", "-o", str(tmp_path / "out.yaml")]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 2
    error = [line for line in done.stderr.splitlines() if line.startswith("promptc: error")]
    assert len(error) == 1 and "'fake/cli'" in error[0] and "price" in error[0]
    assert not (tmp_path / "called").exists()
