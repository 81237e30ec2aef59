from __future__ import annotations

import ast
import importlib
import json
import subprocess
import sys
import types
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PUBLIC = [
    "promptc",
    "promptc.compiler",
    "promptc.exceptions",
    "promptc.interop.dspy",
    "promptc.metrics",
    "promptc.testing",
    "promptc.optimizers",
    "promptc.programs",
]


def _isort_key(name: str) -> tuple[int, str]:
    """ruff's RUF022 order: CONSTANTS, then Classes, then functions and the rest."""
    if name.isupper() or (name.upper() == name and "_" in name):
        return (0, name)
    return (1, name) if name[:1].isupper() else (2, name)


@pytest.mark.parametrize("name", PUBLIC)
def test_all_is_sorted_and_complete(name: str) -> None:
    module = importlib.import_module(name)
    exported = list(module.__all__)
    assert exported == sorted(exported, key=_isort_key)
    for item in exported:
        assert hasattr(module, item), f"{name}.__all__ names missing {item}"
    is_package = hasattr(module, "__path__")
    defined = {
        n
        for n, v in vars(module).items()
        if not n.startswith("_")
        and not isinstance(v, types.ModuleType)
        and isinstance(getattr(v, "__module__", None), str)
        and (v.__module__.startswith(name + ".") if is_package else v.__module__ == name)
    }
    assert defined <= set(exported), f"{name} defines public names missing from __all__"


def test_import_is_light() -> None:
    code = (
        "import sys, json; import promptc; "
        "print(json.dumps(sorted(m for m in ('litellm', 'xllamacpp', 'optuna', 'numpy', 'torch', "
        "'sentence_transformers', 'promptc.optimizers', 'promptc.programs', 'tqdm', 'httpx', "
        "'asyncio', 'promptc._compile.driver', 'promptc._compile.evaluate', "
        "'promptc._local.backend', 'dspy', 'promptc.interop.dspy') "
        "if m in sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


def test_promptc_never_imports_optimizers_or_programs_at_module_level() -> None:
    for path in (ROOT / "promptc").rglob("*.py"):
        tree = ast.parse(path.read_text("utf-8"))
        for node in tree.body:  # module level only; lazy imports inside functions are allowed
            if isinstance(node, ast.ImportFrom) and node.module:
                assert not node.module.startswith(("promptc.optimizers", "promptc.programs")), path
            if isinstance(node, ast.Import):
                for alias in node.names:
                    assert not alias.name.startswith(("promptc.optimizers", "optimizers")), path


def test_lazy_names_load_on_first_use() -> None:
    code = (
        "import sys, promptc; before = 'promptc._compile.driver' in sys.modules; "
        "from promptc import compile, evaluate; "
        "print(before, compile.__module__, evaluate.__module__, 'compile' in dir(promptc))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == [
        "False",
        "promptc._compile.driver",
        "promptc._compile.evaluate",
        "True",
    ]
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = importlib.import_module("promptc").nope
