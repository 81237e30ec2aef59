"""Atomic file writes: readers see the old file or the new one, never half of either."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["write_atomic"]


def write_atomic(target: Path, data: bytes) -> Path:
    """Write ``data`` to a temp file beside ``target``, fsync it, then rename it over ``target``.

    A crash at any point leaves ``target`` as it was (or absent) and no temp file behind,
    except after a hard kill, which can leave a ``.<name>.*.tmp`` file but never a torn target.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target
