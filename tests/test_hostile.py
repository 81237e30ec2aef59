"""The hostile-artifact corpus (tests/hostile/): each file is refused, quickly and cheaply.

Every file is a whole artifact with a valid content hash (an unkeyed sha256 anyone can
recompute), so what is refused is the attack itself. ``tests/hostile/index.json`` records what
each file tries and the text its refusal must contain; ``tests/hostile/make_corpus.py`` writes
them.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from promptc import Predict
from promptc.artifact import artifact_from_program, load_artifact, save_artifact
from promptc.exceptions import ArtifactError

HOSTILE = Path(__file__).resolve().parent / "hostile"
INDEX: dict[str, dict[str, str]] = json.loads((HOSTILE / "index.json").read_text("utf-8"))
MEMORY_LIMIT = 1024**3  # RLIMIT_AS of the process that loads them all
SECONDS_PER_FILE = 2.0


def test_the_corpus_and_its_index_agree() -> None:
    assert sorted(p.name for p in HOSTILE.glob("*.yaml")) == sorted(INDEX)
    assert len(INDEX) >= 50


@pytest.mark.parametrize("name", sorted(INDEX))
def test_each_hostile_artifact_is_refused_with_its_reason(name: str) -> None:
    with pytest.raises(ArtifactError) as info:
        load_artifact(HOSTILE / name)
    message = str(info.value)
    assert INDEX[name]["refused_with"] in message
    assert message.startswith(str(HOSTILE / name))


def _good(tmp_path: Path) -> Path:
    program = Predict("review -> label: Literal['positive', 'negative']")
    art = artifact_from_program(
        program,
        name="sentiment",
        lm_settings={"model": "openai/gpt-4o-mini", "temperature": 0.0, "max_tokens": 32},
    )
    return save_artifact(art, tmp_path / "good.yaml")


def test_validate_refuses_each_on_one_line_and_goes_on(tmp_path: Path) -> None:
    names = sorted(INDEX)
    files = [str(HOSTILE / n) for n in names]
    good = _good(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "promptc.cli", "validate", *files, str(good)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 3, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == len(files) + 1  # one line each, the good one last: nothing stopped it
    for name, path, line in zip(names, files, lines[:-1], strict=True):
        assert line.startswith(f"INVALID {path}: "), line
        assert INDEX[name]["refused_with"] in line, line
    assert lines[-1].startswith(f"ok      {good}")
    assert result.stderr == ""


LOADER = textwrap.dedent(
    """
    import json, resource, sys, time
    resource.setrlimit(resource.RLIMIT_AS, ({limit}, {limit}))
    from promptc.artifact import load_artifact
    from promptc.exceptions import ArtifactError
    for path in sys.argv[1:]:
        start = time.perf_counter()
        try:
            load_artifact(path)
            outcome = "loaded"
        except ArtifactError:
            outcome = "refused"
        except BaseException as exc:  # MemoryError, RecursionError, ...: the test fails
            outcome = type(exc).__name__
        print(json.dumps([path, outcome, time.perf_counter() - start]), flush=True)
    """
)


def test_refusal_fits_a_small_memory_and_time_envelope() -> None:
    # One process under a 1 GiB address-space limit loads them all: a memory bomb (e.g. the
    # ~900 MB constant Jinja2 would fold if the template were compiled) fails the test, not
    # the machine; a CPU bomb shows as a slow file or a timeout.
    files = [str(HOSTILE / n) for n in sorted(INDEX)]
    result = subprocess.run(
        [sys.executable, "-c", LOADER.format(limit=MEMORY_LIMIT), *files],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r[0] for r in rows] == files
    for path, outcome, seconds in rows:
        assert outcome == "refused", path
        assert seconds < SECONDS_PER_FILE, (path, seconds)
