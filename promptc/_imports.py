"""Import user code named as ``path/to/file.py:NAME`` or ``package.module:NAME``.

The one importer for what a user names on the command line or in settings (programs, metrics).
It decides nothing about trust: :mod:`promptc.cli.entry` decides which recorded entries of an
untrusted artifact may be imported at all, and then calls this.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from typing import Any

from promptc.exceptions import ConfigurationError, PromptcError

__all__ = ["import_object"]


def _split(target: str, what: str) -> tuple[str, str]:
    path, sep, attr = target.rpartition(":")
    if not sep or not path or not attr:
        raise ConfigurationError(
            f"{what} {target!r} is not of the form FILE.py:OBJECT or MODULE:OBJECT "
            "(e.g. examples/sentiment.py:program)"
        )
    return path, attr


def import_object(target: str, *, what: str = "object") -> Any:
    """The object ``NAME`` of ``path/to/file.py:NAME`` or ``package.module:NAME``.

    A file is imported under a private module name with its own directory on ``sys.path`` (so it
    can import its neighbours); a module is imported by name.

    Raises:
        ConfigurationError: the target is malformed, cannot be imported, or lacks ``NAME``.
    """
    path, attr = _split(target, what)
    if path.endswith(".py"):
        module = _import_file(Path(path))
    else:
        try:
            module = importlib.import_module(path)
        except ImportError as exc:
            raise ConfigurationError(f"cannot import module {path!r}: {exc}") from None
    if not hasattr(module, attr):
        names = sorted(n for n in vars(module) if not n.startswith("_"))
        raise ConfigurationError(
            f"{path} has no object {attr!r}; it defines: {', '.join(names[:20]) or 'nothing'}"
        )
    return getattr(module, attr)


def _import_file(path: Path) -> Any:
    if not path.is_file():
        raise ConfigurationError(f"file {path} does not exist")
    name = f"_promptc_user_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ConfigurationError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    sys.path.insert(0, str(path.resolve().parent))
    try:
        spec.loader.exec_module(module)
    except PromptcError:
        raise
    except Exception as exc:
        raise ConfigurationError(f"importing {path} failed: {type(exc).__name__}: {exc}") from None
    finally:
        sys.path.pop(0)
    return module
