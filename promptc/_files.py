"""Atomic file writes: readers see the old file or the new one, never half of either.

New files get the permissions the process's umask gives (``0o666 & ~umask``, e.g. ``0644`` under
umask 022, ``0600`` under 077), like any file a program creates: an artifact built as one user
can be served as another. (``tempfile.mkstemp`` would make every file ``0600``.)
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

__all__ = ["open_atomic", "write_atomic"]

_FLAGS = (
    os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
)
_ATTEMPTS = 100


def _create_temp(target: Path) -> tuple[int, Path]:
    """A new empty temp file beside ``target``, made ``0o666`` so the kernel applies the umask."""
    for _ in range(_ATTEMPTS):
        tmp = target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp")
        try:
            return os.open(tmp, _FLAGS, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"could not create a temp file beside {target} in {_ATTEMPTS} tries")


@contextlib.contextmanager
def open_atomic(target: Path) -> Iterator[BinaryIO]:
    """A binary file whose contents replace ``target`` when the block ends without an error.

    The data is fsynced, then renamed over ``target``. A crash at any point leaves ``target`` as it
    was (or absent) and no temp file behind, except after a hard kill, which can leave a
    ``.<name>.*.tmp`` file but never a torn target. Missing parent directories are created.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _create_temp(target)
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_atomic(target: Path, data: bytes) -> Path:
    """Write ``data`` to ``target`` atomically (see :func:`open_atomic`); return ``target``."""
    with open_atomic(target) as fh:
        fh.write(data)
    return target
