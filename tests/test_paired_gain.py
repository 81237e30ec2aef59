"""The compiled-minus-baseline gain is reported with a *paired* 95% interval: in provenance, in
the report, in ``print(result)``, in the outcome's reason and on the HTML page. Here the two
unpaired intervals overlap, yet the paired one excludes 0 (the compiled program is right on
every row the baseline is right on, and on six more)."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest
from conftest import reply

import promptc
from promptc import LM, Predict
from promptc._lm.backend import LMRequest
from promptc._report.html import render_html
from promptc.cli.show import show_artifact
from promptc.compiler import CompileResult, Provenance, paired_bootstrap_ci
from promptc.exceptions import ArtifactError
from promptc.metrics import exact_match
from promptc.testing import FakeBackend, WordTask

WORDS = [f"{c}{i}x" for i in range(9) for c in "aeiobcdfg"][:54]
ROWS = [{"word": w, "label": WordTask.label(w)} for w in WORDS]
TRAIN, VAL, HELD = ROWS[:12], ROWS[12:36], ROWS[36:54]
EASY = {r["word"] for r in VAL[:12]} | {r["word"] for r in HELD[:9]}  # right without demos
LEARNED = {r["word"] for r in VAL[12:18]} | {r["word"] for r in HELD[9:14]}  # right with demos


def right_on_more_rows_with_demos(request: LMRequest) -> str:
    word = WordTask.word(request)
    demos = any(m["role"] == "assistant" for m in request.message_list)
    right = word in EASY or (demos and word in LEARNED) or word in {r["word"] for r in TRAIN}
    return reply(
        label=WordTask.label(word) if right else ("b" if WordTask.label(word) == "a" else "a")
    )


@pytest.fixture(scope="module")
def result() -> CompileResult:
    lm = LM("fake/paired", backend=FakeBackend(right_on_more_rows_with_demos), cache=False)
    options = {"optimizer": "labeled", "lm": lm, "valset": VAL, "holdout": HELD}
    return promptc.compile(
        Predict("word -> label: Literal['a', 'b']"), TRAIN, exact_match, **options
    )


def test_unpaired_intervals_overlap_but_the_paired_gain_excludes_zero(
    result: CompileResult,
) -> None:
    base, best = result.baseline, result.best
    assert (base.mean, best.mean) == (0.5, 0.75)
    assert best.ci[0] < base.ci[1]  # the two unpaired intervals overlap
    gain = result.report.result.search.gain
    assert gain is not None and gain.mean == 0.25 and gain.n == len(VAL)
    expected = paired_bootstrap_ci([r.score for r in best.results], [r.score for r in base.results])
    assert gain.ci95 == tuple(round(x, 6) for x in expected)
    assert gain.ci95[0] > 0  # paired: the gain is real
    assert result.artifact.provenance.scores is not None
    assert result.artifact.provenance.scores.gain == gain


def test_the_held_out_gain_is_paired_on_the_held_out_rows(result: CompileResult) -> None:
    held = result.report.result.holdout
    assert held is not None and held.gain is not None and held.gain.n == len(HELD)
    base, compiled = result.holdout["baseline"], result.holdout["compiled"]
    expected = paired_bootstrap_ci(
        [r.score for r in compiled.results], [r.score for r in base.results]
    )
    assert held.gain.ci95 == tuple(round(x, 6) for x in expected) and held.gain.ci95[0] > 0
    assert result.artifact.provenance.scores is not None
    assert result.artifact.provenance.scores.holdout == held


def test_the_summary_the_reason_and_the_page_show_the_paired_gain(result: CompileResult) -> None:
    gain = result.report.result.search.gain
    assert gain is not None
    lo, hi = gain.ci95
    text = f"+0.250 [95% paired CI {lo:+.3f}, {hi:+.3f}]"
    summary = str(result)
    assert f"  gain        {text}" in summary.splitlines()
    assert re.search(r"^  gain        \+0\.\d{3} \[95% paired CI .*\(held-out\)$", summary, re.M)
    assert len(summary.splitlines()) <= 9
    assert (
        result.report.outcome.kept == "compiled"
        and f"(gain {text})" in result.report.outcome.reason
    )
    shown = show_artifact(result.artifact).splitlines()
    assert f"  gain      {text}" in shown
    assert any(line.startswith("  held-out  gain +0.") for line in shown)
    page = render_html(result.report)
    assert f"+0.250 [{lo:+.3f}, {hi:+.3f}]" in page and "paired 95% CI" in page


def test_spent_is_the_provenances_and_needs_it(result: CompileResult) -> None:
    assert result.spent == result.artifact.provenance.spent
    assert result.spent.lm_requests == result.report.spent.total.requests
    bare = replace(result, artifact=result.artifact.model_copy(update={"provenance": Provenance()}))
    with pytest.raises(ArtifactError, match="expected the compiled artifact's provenance"):
        _ = bare.spent
