"""What ``pip install promptc`` (the core, no extras) puts into a fresh virtualenv.

Builds a throw-away venv with this interpreter, notes its site-packages (pip, setuptools), installs
promptc from this checkout without extras, and reports the growth (MiB of files, distributions
added, promptc included) and ``import promptc`` in that venv (median of 7 fresh interpreters).
Needs the package index (or a pip cache); takes a minute or so. ``benchmarks/overhead.py`` calls
it once per run; alone:

    python benchmarks/footprint.py
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
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
        runs = [
            float(subprocess.check_output([python, "-c", _IMPORT], text=True)) for _ in range(7)
        ]
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
    print(json.dumps(core_install(), indent=1))
