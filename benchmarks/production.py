"""What production pays: a call over HTTP, and what ``pip install promptc`` installs.

``http_per_call``: a loaded artifact called through promptc's OpenAI-compatible backend against
``promptc.testing.OpenAIStubServer`` on 127.0.0.1 (in a process of its own, as a real server
is), and a raw pooled ``httpx.Client.post`` of the same messages, alternating call by call so
both see the same machine load (median per call), in a fresh interpreter holding promptc and
httpx only.

``core_install``: builds a throw-away venv with this interpreter, notes its site-packages (pip,
setuptools), installs promptc from this checkout without extras, and reports the growth (MiB of
files, distributions added, promptc included) and ``import promptc`` in that venv (median of 7
fresh interpreters). Needs the package index (or a pip cache); takes a minute or so.

:mod:`benchmarks.overhead` calls both once per run; alone, the install:

    python -m benchmarks.production
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import promptc

REPO_ROOT = Path(__file__).resolve().parents[1]
REPLY = "<target>x</target>"
_PURELIB = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
# In the core venv: nothing optional is imported with promptc, and a litellm-only model string
# fails with the install command rather than an ImportError.
_PROBE = """
import json, sys
import promptc
eager = sorted(m for m in ("httpx", "litellm", "tqdm") if m in sys.modules)
try:
    promptc.LM("anthropic/claude-3-5-haiku", cache=False)
    hint = None
except promptc.exceptions.ConfigurationError as exc:
    hint = str(exc)
print(json.dumps({"eager_imports": eager, "litellm_missing_error": hint}))
"""
_IMPORT = "import time; t = time.perf_counter(); import promptc; print(time.perf_counter() - t)"


def _paired_us(
    first: Callable[[], Any], second: Callable[[], Any], calls: int, repeats: int
) -> tuple[float, float]:
    """Median µs of single calls of ``first`` and ``second``, alternating call by call (in
    turn first or second), so both meet the same machine load; a preempted call is an outlier
    the median ignores."""
    for _ in range(max(3, calls // 20)):
        first(), second()
    times: tuple[list[int], list[int]] = ([], [])
    clock = time.perf_counter_ns
    for i in range(calls * repeats):
        order = ((first, times[0]), (second, times[1]))
        for call, out in order if i % 2 else order[::-1]:
            started = clock()
            call()
            out.append(clock() - started)
    return statistics.median(times[0]) / 1e3, statistics.median(times[1]) / 1e3


# The stub server in a process of its own, as a real server is: it does not compete with the
# client for this interpreter's GIL. It prints its base URL once listening; stdin closed stops it.
_SERVE = (
    "import sys; from promptc.testing import OpenAIStubServer; "
    "server = OpenAIStubServer(lambda body: sys.argv[1], max_recorded=1).start(); "
    "print(server.base_url, flush=True); sys.stdin.read(); server.close()"
)


@contextmanager
def _stub_server(reply: str) -> Iterator[str]:
    command = [sys.executable, "-c", _SERVE, reply]
    with subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) as p:
        assert p.stdin is not None and p.stdout is not None
        try:
            yield p.stdout.readline().strip()  # returns once the server listens
        finally:
            p.stdin.close()
            p.wait(timeout=30)


def http_per_call(artifact: Path, calls: int, repeats: int) -> list[dict[str, Any]]:
    """µs per call: ``artifact`` (one ``input -> target`` predictor, an ``openai/`` model)
    loaded and called over loopback HTTP, and a raw pooled httpx POST of the same messages.

    Measured in a fresh interpreter that imports promptc and httpx only, as a production
    process would: not in one that also holds DSPy and litellm (their background threads and
    large heaps slow every Python call down).
    """
    command = [sys.executable, "-m", "benchmarks.production", "http", str(artifact)]
    command += [str(calls), str(repeats)]
    done = subprocess.run(
        command, capture_output=True, text=True, check=True, timeout=1800, cwd=REPO_ROOT
    )
    rows: list[dict[str, Any]] = json.loads(done.stdout)
    for row in rows:
        print(f"  {row['system']} / {row['lm']}: {row['us_per_call']:,.0f} µs", file=sys.stderr)
    return rows


def _http_rows(artifact: Path, calls: int, repeats: int) -> list[dict[str, Any]]:
    import httpx

    with _stub_server(REPLY) as base_url:
        compiled = promptc.load(artifact, api_base=base_url)
        lm = compiled.lm()
        body = {
            "model": lm.model.removeprefix("openai/"),
            "messages": compiled.render(input="warm"),
            "temperature": lm.temperature,
            "max_tokens": lm.max_tokens,
        }
        url = f"{base_url}/chat/completions"
        with httpx.Client() as client:

            def raw() -> Any:
                return client.post(url, json=body).json()["choices"][0]["message"]["content"]

            assert raw() == REPLY and compiled(input="warm").target == "x"
            raw_us, via_us = _paired_us(raw, lambda: compiled(input="warm"), calls, repeats)
        lm.backend.close()
    rows: list[dict[str, Any]] = [
        {"system": "httpx.Client.post", "lm": "loopback HTTP stub", "us_per_call": raw_us},
        {"system": "promptc load()", "lm": "loopback HTTP stub", "us_per_call": via_us},
    ]
    for row in rows:
        row.update(us_per_call=round(row["us_per_call"], 1), calls=calls)
    return rows


def _tree(site: Path) -> tuple[int, set[str]]:
    """Bytes of every file under ``site``, and the distributions installed there."""
    size = sum(p.stat().st_size for p in site.rglob("*") if p.is_file() and not p.is_symlink())
    dists = {p.name.split("-")[0].lower() for p in site.glob("*.dist-info")}
    return size, dists


def core_install(repo: Path = REPO_ROOT) -> dict[str, Any]:
    """Install ``repo`` (core only) into a fresh venv; return its size and distributions."""
    with tempfile.TemporaryDirectory(prefix="promptc-core-") as tmp:
        venv = Path(tmp) / "venv"
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        python = str(venv / "bin" / "python")
        site = Path(subprocess.check_output([python, "-c", _PURELIB], text=True).strip())
        before, base = _tree(site)
        started = time.perf_counter()
        pip = [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        done = subprocess.run([*pip, str(repo)], capture_output=True, text=True, timeout=1800)
        if done.returncode != 0:
            raise RuntimeError(f"pip install {repo} failed:\n{done.stderr[-2000:]}")
        seconds = time.perf_counter() - started
        after, dists = _tree(site)
        probe = subprocess.run([python, "-c", _PROBE], capture_output=True, text=True, check=True)
        # With compiled bytecode, as after any install; the first import is not counted.
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        runs = [
            float(subprocess.check_output([python, "-c", _IMPORT], text=True, env=env))
            for _ in range(8)
        ][1:]
    added = sorted(dists - base)
    return {
        "mib": round((after - before) / 2**20, 1),
        "packages": len(added),
        "distributions": added,
        "install_s": round(seconds, 1),
        "import_promptc_s": round(statistics.median(runs), 3),  # median of 7 fresh interpreters
        **json.loads(probe.stdout),
    }


if __name__ == "__main__":
    if sys.argv[1:2] == ["http"]:  # http ARTIFACT CALLS REPEATS: what http_per_call runs
        rows = _http_rows(Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
        print(json.dumps(rows))
    else:
        print(json.dumps(core_install(), indent=1))
