from __future__ import annotations

import copy
import json
import os
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from promptc._report import chart as _report_chart
from promptc._report import html as _report
from promptc._report.html import format_table as _format_table
from promptc._report.html import render_html as _render_html
from promptc._report.html import write_report as _write_report
from promptc.compiler import CompileReport

SCRIPT = "<script>alert(1)</script>"
VOID = {"meta", "br", "hr", "img", "input", "link"}


def usage(requests: int) -> dict[str, Any]:
    return {
        "requests": requests,
        "calls": requests - 2,
        "cache_hits": 2,
        "errors": 0,
        "cache_errors": 0,
        "parse_errors": 0,
        "prompt_tokens": 100 * requests,
        "completion_tokens": 10 * requests,
        "cost": 0.0001 * requests,
    }


def trial(i: int, score: float | None, requests: int, best: float | None) -> dict[str, Any]:
    candidate: Any = "baseline"
    if i:
        candidate = {"classify": {"instruction": f"Label the review, take {i}.", "demos": i % 5}}
    return {
        "id": i,
        "candidate": candidate,
        "rows": 8,
        "score": score,
        "requests": requests,
        "best": best,
    }


def make_trials(scores: list[float | None], start: int = 20) -> list[dict[str, Any]]:
    out, best = [], None
    for i, score in enumerate(scores):
        if score is not None:
            best = score if best is None else max(best, score)
        out.append(trial(i, score, start + 10 * (i + 1), best))
    return out


def make_report(scores: list[float | None] | None = None, **changes: Any) -> dict[str, Any]:
    trials = make_trials([0.5, 0.375, 0.625, 0.75, 0.5] if scores is None else scores)
    report: dict[str, Any] = {
        "program": "sentiment",
        "optimizer": {"name": "racing", "config": {"rounds": 3, "eta": 2}},
        "seed": 0,
        "metric": "exact_match",
        "budget": 300,
        "spent": {
            "total": usage(120),
            "by_phase": {"bootstrap": usage(20), "search": usage(80), "holdout": usage(20)},
        },
        "trials": trials,
        "result": {
            "search": {
                "baseline": {"mean": 0.5, "ci95": [0.3, 0.7], "n": 24, "errors": 0},
                "compiled": {"mean": 0.75, "ci95": [0.55, 0.9], "n": 24, "errors": 0},
                "gain": {"mean": 0.25, "ci95": [0.125, 0.375], "n": 24},
            },
            "holdout": {
                "baseline": {"mean": 0.45, "ci95": [0.3, 0.6], "n": 40, "errors": 0},
                "compiled": {"mean": 0.7, "ci95": [0.55, 0.85], "n": 40, "errors": 1},
                "gain": {"mean": 0.25, "ci95": [0.1, 0.4], "n": 40},
            },
            "gap": 0.05,
        },
        "credit": {"classify": 0.25},
        "outcome": {"kept": "compiled", "reason": "the compiled program scored higher"},
        "uncompiled": {"classify": {"instruction": "Label the review.", "demos": 0}},
        "failures": [],
        "prompt": [],
        "coverage": [],
        "overlap": [],
    }
    report.update(changes)
    return report


class TagChecker(HTMLParser):
    """Records start tags and every nesting error (a close tag that does not match the open one)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.starts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.starts.append(tag)
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.starts.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
        else:
            self.stack.pop()


def check_html(page: str) -> TagChecker:
    checker = TagChecker()
    checker.feed(page)
    checker.close()
    assert checker.errors == []
    assert checker.stack == []
    return checker


def svg_of(page: str) -> str:
    start, end = page.index("<svg"), page.index("</svg>")
    assert page.count("<svg") == 1 and page.count("</svg>") == 1
    return page[start : end + len("</svg>")]


def polyline_points(page: str) -> list[tuple[float, float]]:
    found = re.search(r'<polyline class="best"[^>]* points="([^"]*)"', svg_of(page))
    if found is None:
        return []
    pairs = (p.split(",") for p in found.group(1).split())
    return [(float(x), float(y)) for x, y in pairs]


def dots(page: str) -> list[tuple[float, float]]:
    group = re.search(r'<g class="scores"[^>]*>(.*?)</g>', svg_of(page), re.S)
    assert group is not None
    return [(float(x), float(y)) for x, y in re.findall(r'cx="([-\d.]+)" cy="([-\d.]+)"', group[1])]


EDGE_CASES = {
    "zero trials": make_report([]),
    "all scores null": make_report([None, None, None]),
    "single trial": make_report([0.5]),
    "scores above 1": make_report([1.25, 2.5, 1.75]),
    "negative scores": make_report([-0.5, 0.25]),
    "1000 trials": make_report([(i * 37 % 101) / 100 for i in range(1000)]),
    "no optional keys": make_report()
    | {"credit": {}, "result": {"search": make_report()["result"]["search"]}, "budget": None},
}


def render_html(report: dict[str, Any]) -> str:
    return _render_html(CompileReport.model_validate(report))


def format_table(report: dict[str, Any], top: int | None = None) -> str:
    return _format_table(CompileReport.model_validate(report), top)


def write_report(report: dict[str, Any], path: str | Path) -> tuple[Path, Path]:
    return _write_report(CompileReport.model_validate(report), path)


# -- escaping -----------------------------------------------------------------------------------


def test_text_from_the_report_is_escaped_everywhere() -> None:
    report = make_report(program=SCRIPT, metric=SCRIPT)
    report["optimizer"] = {"name": SCRIPT, "config": {"prefix": SCRIPT}}
    long_instruction = "Classify carefully. " * 6 + SCRIPT  # cut at 80 chars: lands in title=""
    report["trials"][1]["candidate"] = {SCRIPT: {"instruction": SCRIPT, "demos": 1}}
    report["trials"][2]["candidate"] = {"classify": {"instruction": long_instruction, "demos": 0}}
    report["trials"][3]["stopped"] = SCRIPT
    report["trials"][4]["candidate"] = SCRIPT
    report["spent"]["by_phase"][SCRIPT] = usage(1)
    report["credit"] = {SCRIPT: 0.1}
    page = render_html(report)
    assert SCRIPT not in page
    assert "<script" not in page.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "script" not in check_html(page).starts
    assert 'title="Classify carefully.' in page  # the full instruction, escaped, as a tooltip


def test_the_page_is_self_contained() -> None:
    page = render_html(make_report())
    tags = set(check_html(page).starts)
    assert tags.isdisjoint({"script", "link", "img", "iframe", "object", "embed"})
    assert re.findall(r"https?://", page) == ["http://"]  # only the SVG namespace
    assert " src=" not in page and " href=" not in page and "@import" not in page


# -- determinism and files ----------------------------------------------------------------------


def test_output_is_deterministic(tmp_path: Path) -> None:
    report = make_report()
    page = render_html(report)
    assert render_html(copy.deepcopy(report)) == page
    assert format_table(copy.deepcopy(report)) == format_table(report)
    first = [p.read_bytes() for p in write_report(report, tmp_path / "a" / "run")]
    second = [p.read_bytes() for p in write_report(copy.deepcopy(report), tmp_path / "b" / "run")]
    assert first == second
    assert first[1] == page.encode("utf-8")


def test_json_round_trips_to_the_same_dict(tmp_path: Path) -> None:
    report = make_report(program="caf\u00e9 \u2192 review")
    json_path, _ = write_report(report, tmp_path / "run")
    text = json_path.read_text(encoding="utf-8")
    assert json.loads(text) == report
    assert text == json.dumps(report, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    assert "caf\u00e9 \u2192 review" in text  # ensure_ascii=False keeps the text readable


@pytest.mark.parametrize(
    ("given", "stem"),
    [
        ("run", "run"),
        ("run.json", "run"),
        ("run.html", "run"),
        ("run.HTML", "run"),
        ("nested/deeper/run", "nested/deeper/run"),
        ("run.v2", "run.v2"),
    ],
)
def test_write_report_paths(tmp_path: Path, given: str, stem: str) -> None:
    paths = write_report(make_report(), str(tmp_path / given))
    expected = (tmp_path / f"{stem}.json", tmp_path / f"{stem}.html")
    assert paths == expected
    assert all(p.is_file() for p in expected)
    assert sorted(os.listdir(expected[0].parent)) == sorted(p.name for p in expected)


def test_files_are_replaced_from_a_temp_file_in_the_same_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    moves: list[tuple[Path, Path]] = []
    real_replace = os.replace

    def replace(src: str, dst: str | os.PathLike[str]) -> None:
        moves.append((Path(src), Path(dst)))
        assert Path(src).is_file() and Path(src).read_bytes()  # fully written before the move
        real_replace(src, dst)

    monkeypatch.setattr(_report.os, "replace", replace)
    json_path, html_path = write_report(make_report(), tmp_path / "out" / "run.json")
    assert [dst for _, dst in moves] == [json_path, html_path]
    for src, dst in moves:
        assert src.parent == dst.parent and src != dst and not src.exists()


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    json_path, _ = write_report(make_report(), tmp_path / "run")
    old = json_path.read_bytes()

    def broken(src: str, dst: str | os.PathLike[str]) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(_report.os, "replace", broken)
    with pytest.raises(OSError, match="disk full"):
        write_report(make_report(seed=7), tmp_path / "run")
    assert json_path.read_bytes() == old
    assert sorted(os.listdir(tmp_path)) == ["run.html", "run.json"]


# -- content ------------------------------------------------------------------------------------


def test_page_shows_the_header_scores_and_spend() -> None:
    page = render_html(make_report())
    for text in (
        "sentiment",
        "racing",
        "&#34;eta&#34;: 2, &#34;rounds&#34;: 3",  # config, keys sorted (Jinja2 escapes quotes)
        "exact_match",
        "300 LM requests",
        "120 LM requests",
        "[0.300, 0.700]",
        "+0.250 [+0.125, +0.375]",  # search: compiled minus baseline, paired interval
        "+0.250 [+0.100, +0.400]",  # held-out
        "+0.050",  # the gap
        "bootstrap",
        "holdout",
        "12,000",  # prompt tokens of the whole run
    ):
        assert text in page, text


def test_polyline_has_one_vertex_per_trial_with_a_best() -> None:
    scores: list[float | None] = [None, 0.5, 0.25, None, 0.75, 0.5, 1.0]
    report = make_report(scores)
    report["trials"][0]["best"] = None  # the baseline was stopped: no best yet
    page = render_html(report)
    with_best = [t for t in report["trials"] if t["best"] is not None]
    points = polyline_points(page)
    # A step line: each trial's vertex, preceded (after the first) by the corner where it rises.
    assert len(points) == 2 * len(with_best) - 1
    vertices, corners = points[0::2], points[1::2]
    assert len(vertices) == len(with_best)
    assert all(c[0] == v[0] for c, v in zip(corners, vertices[1:], strict=True))  # vertical rise
    assert all(c[1] == v[1] for c, v in zip(corners, vertices[:-1], strict=True))  # flat run
    assert [x for x, _ in vertices] == sorted(x for x, _ in vertices)
    assert [y for _, y in vertices] == sorted((y for _, y in vertices), reverse=True)
    assert len(dots(page)) == sum(s is not None for s in scores)


def y_labels(page: str) -> list[float]:
    pattern = rf'<text x="{_report_chart.LEFT - 8}" y="[-\d.]+">([^<]*)</text>'
    return [float(v.replace(",", "")) for v in re.findall(pattern, svg_of(page))]


def test_score_axis_is_0_to_1_unless_scores_exceed_it() -> None:
    assert y_labels(render_html(make_report([0.2, 0.4]))) == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    wide = render_html(make_report([1.5, 2.3]))
    labels = y_labels(wide)
    assert labels[0] == 0.0 and 2.3 <= labels[-1] <= 3.0
    top = min(y for _, y in polyline_points(wide))
    assert all(y >= top for _, y in dots(wide)) and top >= _report_chart.TOP


@pytest.mark.parametrize("name", sorted(EDGE_CASES))
def test_edge_cases_render(name: str) -> None:
    report = EDGE_CASES[name]
    page = render_html(report)
    check_html(page)
    svg = svg_of(page)
    trials = report.get("trials", [])
    assert len(polyline_points(page)) == max(0, 2 * sum(t["best"] is not None for t in trials) - 1)
    assert len(dots(page)) == sum(t["score"] is not None for t in trials)
    if not any(t["score"] is not None for t in trials):
        assert "no scored trials" in svg or polyline_points(page)
    table = format_table(report).splitlines()
    assert len(table) == 2 + max(len(trials), 1)


def test_many_trials_keep_the_chart_small() -> None:
    page = render_html(EDGE_CASES["1000 trials"])
    svg = svg_of(page)
    assert len(svg) < 150_000
    assert "<title>trial" not in svg  # per-point tooltips are dropped past a few hundred points


def test_trials_table_marks_improvements_and_shortens_instructions() -> None:
    report = make_report()
    report["trials"][2]["candidate"] = {"classify": {"instruction": "x" * 500, "demos": 1}}
    page = render_html(report)
    trials_section = page[page.index("<h2>Trials</h2>") :]
    assert trials_section.count('<tr class="improved">') == 3  # 0.5, then 0.625, then 0.75
    assert (
        "x" * 79 + "\u2026" in trials_section and "x" * 81 not in trials_section.split('title="')[0]
    )
    assert "(1 demo)" in trials_section and "(3 demos)" in trials_section


# -- terminal table -----------------------------------------------------------------------------


def test_text_table_has_a_row_per_trial() -> None:
    report = make_report([0.5, None, 0.75])
    report["trials"][1]["stopped"] = "budget"
    report["trials"][2]["candidate"] = {"classify": {"instruction": "y" * 300, "demos": 2}}
    lines = format_table(report).splitlines()
    assert lines[0].split() == ["id", "rows", "score", "requests", "best", "stopped", "candidate"]
    assert set(lines[1].replace(" ", "")) == {"-"}
    rows = lines[2:]
    assert len(rows) == 3
    assert [r.split()[0] for r in rows] == ["0", "1", "2"]
    assert rows[1].split()[1:6] == ["8", "-", "40", "0.500", "budget"]
    assert rows[2].split()[2] == "0.750"
    # Fixed-width columns: each cell of the score column ends at the same offset.
    end = lines[0].index("score") + len("score")
    assert all(r[end - 5 : end] in ("0.500", "0.750", "    -") for r in rows)
    assert max(len(line) for line in lines) <= 120


def test_text_table_top_keeps_the_best_trials_in_trial_order() -> None:
    report = make_report([0.5, None, 0.0, 0.75, 0.625])
    rows = format_table(report, top=3).splitlines()[2:]
    assert [r.split()[0] for r in rows] == ["0", "3", "4"]
    assert len(format_table(report, top=10).splitlines()) == 2 + 5


def test_text_table_without_trials() -> None:
    assert format_table(make_report([])).splitlines()[-1] == "(no trials)"


def test_all_is_sorted_and_complete() -> None:
    assert _report.__all__ == sorted(_report.__all__)
    public = {n for n, v in vars(_report).items() if callable(v) and not n.startswith("_")}
    imported = {
        "Any",
        "CompileReport",
        "Path",
        "Sequence",
        "TrialRecord",
        "candidate_text",
        "page_view",
        "write_atomic",
    }
    assert public - imported == set(_report.__all__)
