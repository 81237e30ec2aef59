"""User code named as ``FILE.py:NAME`` or ``MODULE:NAME``: one loader for programs and metrics.

What the user types (``promptc compile FILE.py:OBJ``, ``--program``, ``--metric``) is imported as
given: it is their own code. An artifact's recorded ``program.entry`` is not: an artifact is
untrusted input, so :func:`entry_refusal` accepts a recorded entry only when it names a file of
the project the command runs in:

- the form ``DIR/.../FILE.py:NAME``, relative, each directory a plain name (letters, digits,
  ``_``, ``-``; so no ``..``, no hidden directory such as ``.venv``, no dotted one such as
  ``python3.12``), the object a Python identifier;
- resolving, symlinks followed, to a regular file inside the current directory and outside the
  interpreter's installed code (standard library, site-packages);
- a file that, read and parsed but not run, imports ``promptc`` or ``dspy`` at top level and
  defines ``NAME`` there as a class or an assignment: importing a file runs its top-level code,
  so an artifact must not be able to pick any script of the project (``scripts/reset_db.py``).

A recorded ``MODULE:NAME`` is never imported on the artifact's word: importing an installed module
runs its import-time code (``unittest.__main__`` starts a test run, ``antigravity`` opens a web
browser). Whatever is loaded as a program must be a :class:`Module` instance, or a ``Module``
subclass constructed without arguments; no other callable is called. A DSPy program (a
``dspy.Module`` instance, or a subclass constructed without arguments) is converted with
:func:`promptc.from_dspy`, under the same rules: the file is imported only as above, and DSPy is
never imported here (a file that defines a DSPy program has imported it).
"""

from __future__ import annotations

import ast
import re
import site
import sys
import sysconfig
from pathlib import Path, PurePosixPath

from promptc._imports import import_object
from promptc._program.module import Module
from promptc.exceptions import ConfigurationError

__all__ = ["entry_for", "entry_refusal", "import_object", "load_program"]

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_DIRECTORY = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]*")
_FILE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]*\.py")
_MAX_ENTRY = 500
_MAX_SOURCE = 1024 * 1024
_INSTALL_DIRS = frozenset({"site-packages", "dist-packages"})


def load_program(target: str) -> Module:
    """The program named by ``target``: a :class:`Module` instance, or a subclass built with ``()``;
    a DSPy program (instance, or subclass built with ``()``) is converted with ``from_dspy``.

    Raises:
        ConfigurationError: the target cannot be imported, or names something else (which is
            never called).
    """
    obj = import_object(target, what="program")
    dspy_module = _dspy_module_class()
    bases = (Module,) if dspy_module is None else (Module, dspy_module)
    if isinstance(obj, type) and issubclass(obj, bases):
        try:
            obj = obj()
        except TypeError as exc:
            raise ConfigurationError(
                f"{target} is a Module class whose constructor needs arguments ({exc}); "
                "name an instance instead (e.g. `program = MyProgram(...)` in the file)"
            ) from None
    if dspy_module is not None and isinstance(obj, dspy_module):
        from promptc.interop.dspy import from_dspy

        obj = from_dspy(obj)
    if not isinstance(obj, Module):
        raise ConfigurationError(
            f"{target} is a {type(obj).__name__}, not a promptc Module; name a Module instance "
            "or a Module subclass that takes no arguments (or a dspy.Module, converted)"
        )
    return obj


def _dspy_module_class() -> type | None:
    """``dspy.Module`` if DSPy is imported (a file defining a DSPy program imports it)."""
    dspy = sys.modules.get("dspy")
    cls = getattr(dspy, "Module", None)
    return cls if isinstance(cls, type) else None


def entry_for(target: str, root: Path | None = None) -> str:
    """How to record ``target`` in an artifact: a ``.py`` file inside ``root`` (default: the
    current directory) relative to it, in POSIX form, so the recorded entry works from there."""
    path, sep, attr = target.rpartition(":")
    if not sep or not path.endswith(".py"):
        return target
    base = (root or Path.cwd()).resolve()
    try:
        relative = Path(path).resolve().relative_to(base)
    except (OSError, ValueError):
        return target
    return f"{relative.as_posix()}:{attr}"


def entry_refusal(entry: str | None, root: Path | None = None) -> str | None:
    """Why a recorded entry may not be imported on an artifact's word, or None if it may.

    Args:
        entry: the artifact's ``program.entry``.
        root: the project directory the entry must stay inside (default: the current one).
    """
    if not entry:
        return "the artifact records no entry"
    if len(entry) > _MAX_ENTRY:
        return "it is too long"
    path, sep, attr = entry.rpartition(":")
    if not sep or not _IDENTIFIER.fullmatch(attr):
        return "it is not of the form FILE.py:OBJECT"
    if not path.endswith(".py"):
        return "it names a module, and only a .py file inside the current directory is imported"
    pure = PurePosixPath(path)
    if pure.is_absolute() or path.startswith(("/", "\\")):
        return "it is an absolute path"
    *dirs, name = path.split("/")
    if ".." in dirs or any(not _DIRECTORY.fullmatch(d) for d in dirs):
        return "its directories must be plain names (no '..', hidden or dotted directories)"
    if _INSTALL_DIRS.intersection(dirs):
        return "it lies in installed code (site-packages), not in a project file"
    if not _FILE.fullmatch(name):
        return "its file name is not a plain NAME.py"
    return _location_refusal(path, attr, (root or Path.cwd()).resolve())


def _location_refusal(path: str, attr: str, base: Path) -> str | None:
    resolved = (base / path).resolve()
    if not resolved.is_relative_to(base):
        return f"it resolves outside the current directory ({base})"
    if not resolved.is_file():
        return f"there is no file {path} in the current directory"
    if any(resolved.is_relative_to(d) for d in _installed_code()):
        return "it is installed code (standard library or site-packages), not a project file"
    return _source_refusal(resolved, attr)


def _source_refusal(resolved: Path, attr: str) -> str | None:
    """Read, never run: importing a project file runs its top-level code, so the file must look
    like the program file a compile recorded (it imports promptc or DSPy, and defines ``attr``
    at top level as a class or an assignment) before it is imported."""
    try:
        if resolved.stat().st_size > _MAX_SOURCE:
            return f"the file is over {_MAX_SOURCE // 1024} KiB, larger than a program file"
        tree = ast.parse(resolved.read_bytes(), filename=resolved.name)
    except (OSError, SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        return f"the file cannot be read as Python ({type(exc).__name__})"
    imported: set[str] = set()
    defined: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            imported.update(a.name.partition(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            imported.add(node.module.partition(".")[0])
        elif isinstance(node, ast.ClassDef):
            defined.add(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            defined.update(t.id for t in targets if isinstance(t, ast.Name))
    if not imported & {"promptc", "dspy"}:
        return "the file does not import promptc or dspy, so it is not a program file"
    if attr not in defined:
        return f"the file defines no class or top-level assignment named {attr}"
    return None


def _installed_code() -> list[Path]:
    """Directories holding the interpreter's installed modules."""
    found = [sysconfig.get_paths().get(k) for k in ("stdlib", "platstdlib", "purelib", "platlib")]
    found += [*site.getsitepackages(), site.getusersitepackages()]
    return [Path(d).resolve() for d in found if d]
