"""Files promptc writes (artifacts, reports) get the umask's permissions, atomically."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from promptc import Predict
from promptc._files import open_atomic, write_atomic
from promptc._report.html import write_report
from promptc.artifact import artifact_from_program, save_artifact
from promptc.compiler import CompileReport

USAGE = dict.fromkeys(
    ("requests", "calls", "cache_hits", "errors", "cache_errors", "parse_errors"), 0
) | {"prompt_tokens": 0, "completion_tokens": 0, "cost": 0.0}
SCORE = {"mean": 0.0, "ci95": [0.0, 0.0], "n": 1, "errors": 0}
#: A compile report with no trials and nothing to explain.
EMPTY_REPORT = CompileReport.model_validate(
    {
        "program": "p",
        "optimizer": {"name": "labeled"},
        "seed": 0,
        "metric": "exact_match",
        "budget": None,
        "spent": {"total": USAGE, "by_phase": {}},
        "trials": [],
        "result": {"search": {"baseline": SCORE, "compiled": SCORE}},
        "credit": {},
        "outcome": {"kept": "baseline", "reason": "nothing to try"},
        "uncompiled": {},
        "failures": [],
        "prompt": [],
        "coverage": [],
        "overlap": [],
    }
)


@pytest.fixture(params=[(0o022, 0o644), (0o077, 0o600), (0o027, 0o640)], ids=["022", "077", "027"])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    """Run under a umask; yield the mode a new file gets under it."""
    mask, mode = request.param
    old = os.umask(mask)
    try:
        yield mode
    finally:
        os.umask(old)


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_artifacts_and_reports_get_the_umask_mode(tmp_path: Path, umask: int) -> None:
    art = artifact_from_program(Predict("q -> a"), name="p")
    saved = save_artifact(art, tmp_path / "new" / "p.yaml")
    json_path, html_path = write_report(EMPTY_REPORT, tmp_path / "p.report")
    assert [mode_of(p) for p in (saved, json_path, html_path)] == [umask] * 3
    assert sorted(p.name for p in tmp_path.rglob("*.tmp")) == []


def test_a_replaced_file_gets_the_umask_mode_too(tmp_path: Path, umask: int) -> None:
    target = tmp_path / "a.yaml"
    target.write_text("old")
    target.chmod(0o600 if umask != 0o600 else 0o644)
    write_atomic(target, b"new")
    assert (target.read_bytes(), mode_of(target)) == (b"new", umask)


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "a.yaml"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="disk on fire"), open_atomic(target) as fh:
        fh.write(b"half")
        raise RuntimeError("disk on fire")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.yaml"]
