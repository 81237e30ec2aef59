"""The ``promptc`` command line.

The commands load on first use: ``import promptc`` reaches this package (metrics resolve
``MODULE:FUNCTION`` names through :mod:`promptc.cli.entry`) and need not load every command.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``promptc`` command (:func:`promptc.cli.app.main`)."""
    from promptc.cli.app import main as run

    return run(argv)
