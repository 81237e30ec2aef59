"""User programs type-check under ``mypy --strict`` as users write them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
USER_CODE = """
import promptc


class QA(promptc.Module):
    def __init__(self) -> None:
        self.answer = promptc.ChainOfThought("question -> answer")

    def forward(self, question: str) -> promptc.Prediction:
        result: promptc.Prediction = self.answer(question=question)
        return result


class Pair(promptc.Module):
    def forward(self, question: str, context: list[str] | None = None) -> str:
        return question


promptc.Predict(42)  # the one error mypy must report
"""


def test_a_forward_with_named_inputs_is_a_valid_override_under_mypy_strict(
    tmp_path: Path,
) -> None:
    (tmp_path / "user.py").write_text(USER_CODE, "utf-8")
    # Only promptc is analysed (its own errors silenced: they are not the user's); the libraries
    # it imports are skipped, which keeps this run short.
    (tmp_path / "mypy.ini").write_text(
        "[mypy]\nstrict = True\nfollow_imports = skip\n[mypy-promptc.*]\nfollow_imports = silent\n",
        "utf-8",
    )
    # promptc is given by path: setuptools' default editable install is an import hook, which
    # mypy does not run (see README, "Type checkers").
    env = {**os.environ, "MYPYPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--cache-dir", str(tmp_path / "cache"), "user.py"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    errors = [line for line in done.stdout.splitlines() if ": error:" in line]
    assert len(errors) == 1, done.stdout
    assert errors[0].startswith('user.py:19: error: Argument 1 to "Predict"')
