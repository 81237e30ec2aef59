"""The compile report in a real headless browser (Debian's chromium): it loads, the plot is
visible, and the page logs nothing to the console. Skipped when chromium is not installed
(``./scripts/test`` installs it when run as root)."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from conftest import reply

import promptc
from promptc import LM, LMRequest, Predict
from promptc.metrics import exact_match
from promptc.testing import FakeBackend, WordTask

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="chromium is not installed (apt-get install -y chromium; ./scripts/test does it)",
)

# Measures what the browser drew and writes it into the title, which --dump-dom prints. Only
# the test's copy of the page carries it: the report itself has no JavaScript.
PROBE = """<script>
const svg = document.querySelector("svg");
const box = svg.getBoundingClientRect();
const line = document.querySelector("polyline.best");
const dots = [...document.querySelectorAll("g.scores circle")].filter(
  c => c.getBoundingClientRect().width > 0);
document.title = JSON.stringify({
  width: box.width, height: box.height, display: getComputedStyle(svg).display,
  line: line ? line.getTotalLength() : 0, lineBox: line ? line.getBoundingClientRect().height : 0,
  dots: dots.length, sections: document.querySelectorAll("section h2").length});
</script>"""


def chromium(page: Path, tmp_path: Path) -> tuple[str, list[str]]:
    """The DOM after load, and the console lines chromium logged for the page."""
    assert CHROMIUM is not None
    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]
    command += [f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0"]
    command += ["--dump-dom", page.as_uri()]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    console = [line for line in done.stderr.splitlines() if ":CONSOLE" in line]
    return done.stdout, console


def probed(page: Path, tmp_path: Path) -> tuple[dict[str, Any], list[str]]:
    copy = tmp_path / "probed.html"
    copy.write_text(page.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"))
    dom, console = chromium(copy, tmp_path)
    title = re.search(r"<title>(.*?)</title>", dom, re.S)
    assert title, dom[:500]
    return json.loads(html.unescape(title.group(1))), console


def labels(request: LMRequest) -> str:
    """Wrong without demos; with demos right, except on words ending "5x", whose replies also
    carry markup (the report must show it as text)."""
    word = WordTask.word(request)
    users = [m["content"] for m in request.message_list if m["role"] == "user"]
    demos = sum("<word>" in text for text in users) > 1
    right, wrong = WordTask.label(word), "b" if WordTask.label(word) == "a" else "a"
    if demos and not word.endswith("5x"):
        return reply(label=right)
    return reply(label=wrong) + "\n<script>alert(1)</script>"


def test_the_report_loads_shows_its_plot_and_logs_nothing(tmp_path: Path) -> None:
    rows = WordTask.rows(f"{c}{i}x" for i in range(6) for c in "aebc")
    lm = LM("fake/browser", backend=FakeBackend(labels), cache=False)
    result = promptc.compile(
        Predict("word -> label: Literal['a', 'b']"), rows[:12], exact_match,
        optimizer="random", lm=lm, valset=rows[12:], budget=80,
    )  # fmt: skip
    result.save(tmp_path / "words.yaml")
    page = tmp_path / "words.report.html"
    dom, console = chromium(page, tmp_path)
    assert console == []
    assert "<svg" in dom and "promptc report" in dom
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in dom  # a model's reply, shown as text
    assert "<script>alert(1)</script>" not in dom
    seen, console = probed(page, tmp_path)
    assert console == []
    assert seen["display"] != "none" and seen["width"] >= 700 and seen["height"] >= 300
    assert seen["line"] > 0 and seen["lineBox"] > 0, (seen, [t.best for t in result.trials])
    assert seen["dots"] == sum(t.score is not None for t in result.trials)
    assert seen["sections"] >= 6


def test_the_console_check_can_fail(tmp_path: Path) -> None:
    page = tmp_path / "broken.html"
    page.write_text("<!DOCTYPE html><html><body><script>notDefined()</script></body></html>")
    _, console = chromium(page, tmp_path)
    assert any("notDefined" in line for line in console)
