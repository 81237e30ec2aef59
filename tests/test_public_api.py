from __future__ import annotations

import ast
import importlib
import inspect
import json
import subprocess
import sys
import types
import typing
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
PUBLIC = [
    "promptc",
    "promptc.artifact",
    "promptc.compiler",
    "promptc.exceptions",
    "promptc.interop.dspy",
    "promptc.judges",
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
        "'promptc._local.backend', 'promptc.cli.app', 'dspy', 'promptc.interop.dspy') "
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


# What ``import promptc`` offers, pinned: a name added or removed here is an API change.
TOP_LEVEL = {
    "DEFAULT_MODEL", "LM", "Artifact", "Backend", "Cache", "CacheStats", "ChainOfThought",
    "ChatAdapter", "CompilePlan", "CompileResult", "CompiledProgram", "DataError", "Decompose",
    "EvalResult", "ExampleResult", "InputField", "LMRequest", "LMResponse", "LiteLLMBackend",
    "LocalBackend", "Module", "OpenAIBackend", "OutputField", "Params", "Predict", "Prediction",
    "PreferenceResult", "judges",
    "Signature", "Subtask", "Trace", "TraceEntry", "Usage", "__version__", "compile", "context",
    "default_lm", "evaluate", "exceptions", "from_dspy", "load", "load_dataset", "make_signature",
    "metrics", "to_dspy", "trace",
}  # fmt: skip


def test_top_level_names_are_pinned_and_each_resolves_in_a_fresh_process() -> None:
    import promptc

    assert set(promptc.__all__) == TOP_LEVEL
    code = (
        "import json, promptc\n"
        "print(json.dumps({n: getattr(getattr(promptc, n), '__module__', None) "
        "for n in promptc.__all__}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    modules = json.loads(out.stdout)
    assert set(modules) == TOP_LEVEL
    for name, (module, attr) in promptc._LAZY.items():
        assert name in TOP_LEVEL
        target = importlib.import_module(module)
        expected = getattr(target, attr) if attr else target  # "": the module itself
        assert getattr(promptc, name) is expected
        assert modules[name] == getattr(expected, "__module__", None)


@pytest.mark.parametrize("name", ["Field", "UsageTracker", "register_litellm_provider"])
def test_internals_are_not_exported(name: str) -> None:
    import promptc

    assert name not in promptc.__all__
    assert name not in dir(promptc)
    with pytest.raises(AttributeError, match=f"no attribute {name!r}"):
        getattr(promptc, name)


def _deferred_imports(module_name: str) -> dict[str, Any]:
    """The names a module imports under ``if TYPE_CHECKING:`` (its annotations use them)."""
    module = sys.modules[module_name]
    # The package context, so relative imports (optimizers/, programs/) resolve.
    names: dict[str, Any] = {"__name__": module_name, "__package__": module.__package__}
    for node in ast.parse(Path(str(module.__file__)).read_text("utf-8")).body:
        if isinstance(node, ast.If) and ast.unparse(node.test).endswith("TYPE_CHECKING"):
            block = ast.Module(body=node.body, type_ignores=[])
            exec(compile(block, str(module.__file__), "exec"), names)
    return {k: v for k, v in names.items() if k not in ("__name__", "__package__")}


def _public_callables() -> Iterator[tuple[str, Callable[..., Any]]]:
    """Every function in a public ``__all__``, and every public method and property of a class
    there (those promptc defines, not what a class inherits from pydantic or the stdlib)."""
    for module_name in PUBLIC:
        module = importlib.import_module(module_name)
        for name in module.__all__:
            obj = getattr(module, name)
            if inspect.isfunction(obj):
                yield f"{module_name}.{name}", obj
            elif inspect.isclass(obj) and not issubclass(obj, BaseException):
                for attr in dir(obj):
                    member = inspect.getattr_static(obj, attr)
                    member = getattr(member, "fget", None) or getattr(member, "__func__", member)
                    if (attr.startswith("_") and attr != "__call__") or not (
                        inspect.isfunction(member)
                        and member.__module__.startswith(("promptc.", "optimizers", "programs"))
                    ):
                        continue
                    yield f"{module_name}.{name}.{attr}", member


def _classes(hint: Any) -> Iterator[type]:
    """The classes a type hint names, at any depth (``dict[str, list[X]] | None`` -> X, ...)."""
    origin = typing.get_origin(hint)
    if isinstance(hint, type) and origin is None:
        yield hint
    if isinstance(origin, type):
        yield origin
    for arg in typing.get_args(hint):
        yield from _classes(list(arg) if isinstance(arg, list) else arg)
    if isinstance(hint, list):
        for item in hint:
            yield from _classes(item)


def test_every_public_callable_returns_a_type_a_user_can_import() -> None:
    """A value a public call returns has a type importable from a public module (so a user can
    annotate with it), never only from a private one like ``promptc._compile.plan``."""
    public = [importlib.import_module(m) for m in PUBLIC]
    exported = {id(getattr(m, n)) for m in public for n in m.__all__}
    checked, private = 0, []
    for qualname, func in _public_callables():
        unwrapped = inspect.unwrap(func)
        namespace = {**unwrapped.__globals__, **_deferred_imports(unwrapped.__module__)}
        hints = typing.get_type_hints(func, globalns=namespace)
        assert "return" in hints, f"{qualname} has no return annotation"
        checked += 1
        for cls in _classes(hints["return"]):
            ours = cls.__module__.split(".")[0] in ("promptc", "optimizers", "programs")
            if ours and id(cls) not in exported:
                private.append(f"{qualname} -> {cls.__module__}.{cls.__qualname__}")
    assert checked > 100  # the walk found the API, not an empty list
    assert private == []


def test_lm_request_messages_are_frozen_pairs_read_back_as_dicts() -> None:
    """As ``LMRequest``'s docstring says: hashable pairs inside, plain dicts out."""
    import promptc

    request = promptc.LMRequest.build("fake/m", [{"role": "user", "content": "Hi"}])
    assert request.messages == ((("content", "Hi"), ("role", "user")),)
    assert request.message_list == [{"role": "user", "content": "Hi"}]
    assert hash(request) == hash(promptc.LMRequest.build("fake/m", request.message_list))
