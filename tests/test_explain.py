"""The report explains the compile: trial differences, failing rows, the rendered prompt, label
coverage, train/validation overlap, why the uncompiled program was kept; and the result's save
and summary."""

from __future__ import annotations

import json
import logging
import zlib
from pathlib import Path
from typing import Any

import pytest
from conftest import reply

import promptc
from promptc import LM, LMRequest, Predict
from promptc._compile.explain import label_coverage, overlapping_rows
from promptc._report.html import format_table, render_html
from promptc._report.models import OverlapRow
from promptc.compiler import CompileReport
from promptc.metrics import exact_match
from promptc.testing import FakeBackend, WordTask

SIGNATURE = "word -> label: Literal['a', 'b']"
WORDS = [f"{c}{i}x" for i in range(9) for c in "aeiobcdfg"][:48]
ROWS = WordTask.rows(WORDS)
TRAIN, VAL = ROWS[:16], ROWS[16:40]


def mostly(request: LMRequest) -> str:
    """Right with demos, except on words whose crc says 'hard'; wrong without demos."""
    word = WordTask.word(request)
    right, wrong = WordTask.label(word), "b" if WordTask.label(word) == "a" else "a"
    demos = any(m["role"] == "assistant" for m in request.message_list)
    hard = zlib.crc32(word.encode()) % 5 == 0
    return reply(label=right if demos and not hard else wrong)


def compile_(handler: Any = mostly, **kwargs: Any) -> promptc.CompileResult:
    lm = LM("fake/explain", backend=FakeBackend(handler), cache=False)
    train = kwargs.pop("train", TRAIN)
    options: dict[str, Any] = {"optimizer": "random", "lm": lm, "valset": VAL, **kwargs}
    return promptc.compile(Predict(SIGNATURE), train, exact_match, **options)


def test_each_trial_says_what_differs_from_the_uncompiled_program() -> None:
    result = compile_()
    report = result.report
    assert report.uncompiled["self"].demos == 0
    candidate = result.trials[1].candidate
    assert not isinstance(candidate, str)
    trial = candidate["self"]
    assert trial.instruction_changed is False and trial.demos == 4
    rows = trial.demo_rows or []
    assert result.artifact.provenance.trials == result.trials == report.trials
    assert all(isinstance(r, int) for r in rows) and len(set(rows)) == 4
    page = render_html(report)
    assert "instruction unchanged" in page and f"train #{rows[0]}" in page
    assert "instruction unchanged [train #" in format_table(report)


def test_an_instruction_change_is_shown_as_a_word_diff() -> None:
    data = compile_().report.model_dump(mode="json")
    data["trials"][1]["candidate"]["self"].update(
        instruction="Label the word by its first letter.", instruction_changed=True
    )
    data["uncompiled"]["self"]["instruction"] = "Label the word, please"
    page = render_html(CompileReport.model_validate(data))
    assert "Label the <del>word, please</del> <ins>word by its first letter.</ins>" in page


def test_the_winners_failing_rows_carry_input_expected_got_and_raw_reply() -> None:
    result = compile_()
    failures = result.report.failures
    wrong = [r.index for r in result.best.results if r.score < 1]
    assert wrong and [f.row for f in failures] == wrong[:5]
    first = failures[0]
    row = VAL[first.row]
    assert first.inputs == {"word": row["word"]} and first.expected == {"label": row["label"]}
    got = "b" if row["label"] == "a" else "a"
    assert first.got == {"label": got} and first.raw == f"<label>{got}</label>"
    page = render_html(result.report)
    assert "Failing validation rows" in page and "&lt;label&gt;" in page


def test_the_final_prompt_is_the_compiled_programs_rendered_messages() -> None:
    result = compile_()
    (prompt,) = result.report.prompt
    assert prompt.predictor == "self"
    messages = [m.model_dump() for m in prompt.messages]
    assert messages == result.program.messages(word=VAL[0]["word"])  # type: ignore[attr-defined]


def test_label_coverage_of_demos_train_and_validation() -> None:
    program = Predict("text -> label: Literal['pos', 'neg', 'neutral']")
    demos = [{"text": "good", "label": "pos"}, {"text": "bad", "label": "neg"}]
    compiled = program.with_params(
        {"self": promptc.Params(program.params.instruction, tuple(demos))}
    )
    train = [*demos, {"text": "meh", "label": "neutral"}]
    val = [{"text": "fine", "label": "pos"}, {"text": "ok", "label": "neutral"}] * 2
    (coverage,) = label_coverage(compiled, train, val)
    assert coverage.labels == ["pos", "neg", "neutral"]
    assert coverage.demos == {"pos": 1, "neg": 1, "neutral": 0}
    assert coverage.train == {"pos": 1, "neg": 1, "neutral": 1}
    assert coverage.val == {"pos": 2, "neg": 0, "neutral": 2}
    assert coverage.missing_in_demos == ["neutral"]


def test_a_compile_reports_label_coverage_and_renders_it() -> None:
    report = compile_().report
    (coverage,) = report.coverage
    assert sum(coverage.val.values()) == len(VAL)
    assert coverage.val["a"] == sum(r["label"] == "a" for r in VAL)
    assert "label counts" in render_html(report)


def test_rows_in_both_train_and_validation_are_flagged(caplog: pytest.LogCaptureFixture) -> None:
    train = [*TRAIN, {"word": "  " + VAL[3]["word"].upper() + " ", "label": VAL[3]["label"]}]
    assert overlapping_rows(train, VAL, ["word"]) == [OverlapRow(val=3, train=len(TRAIN))]
    with caplog.at_level(logging.WARNING, logger="promptc"):
        result = compile_(train=train)
    assert result.report.overlap == [OverlapRow(val=3, train=len(TRAIN))]
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("1 of 24 validation rows also occur in the training rows" in w for w in warned)
    assert "also occur in the training rows" in render_html(result.report)


def test_racing_out_of_budget_says_why_it_kept_the_baseline() -> None:
    def proposals_and_labels(request: LMRequest) -> str:
        system = request.message_list[0]["content"]
        if system.startswith("You write instructions"):
            return reply(proposed_instruction=f"Label the word, take {request.rollout}.")
        if system.startswith("Write a variation"):
            return reply(variation=f"Label it, take {request.rollout}.")
        return mostly(request)

    result = compile_(proposals_and_labels, optimizer="racing", budget=80)
    outcome = result.report.outcome
    assert outcome.kept == "baseline"
    reason = outcome.reason
    assert "budget (80 LM requests) ran out" in reason
    assert "never confirmed on all 24" in reason and "paired gain +" in reason
    assert reason in str(result)
    assert "kept the uncompiled program" in render_html(result.report)


def test_a_compile_with_no_demo_rows_says_so() -> None:
    train = [{"word": r["word"]} for r in TRAIN]  # no labels: nothing can be a demo
    result = compile_(train=train)
    assert "no training row has every field of self" in result.report.outcome.reason


def test_save_writes_the_report_beside_the_artifact(tmp_path: Path) -> None:
    result = compile_()
    out = result.save(tmp_path / "out" / "words.yaml")
    assert out == tmp_path / "out" / "words.yaml" and out.is_file()
    report = json.loads((tmp_path / "out" / "words.report.json").read_text(encoding="utf-8"))
    assert report == json.loads(json.dumps(result.report.model_dump(mode="json")))
    assert CompileReport.model_validate(report) == result.report
    assert "<svg" in (tmp_path / "out" / "words.report.html").read_text(encoding="utf-8")
    bare = result.save(tmp_path / "bare.yaml", report=False)
    assert bare.is_file() and not (tmp_path / "bare.report.json").exists()


def test_print_gives_a_short_summary() -> None:
    result = compile_()
    text = str(result)
    lines = text.splitlines()
    assert 4 <= len(lines) <= 8 and len(text) < 1_000
    assert "'random'" in lines[0]
    assert f"{result.baseline.mean:.3f} [" in text and f"-> {result.best.mean:.3f} [" in text
    assert "LM requests" in text and result.artifact.content_hash[:19] in text
    assert repr(result).startswith("<CompileResult ") and len(repr(result)) < 200
