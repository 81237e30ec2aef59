"""The ``promptc`` command line."""

from promptc.cli.app import main

__all__ = ["main"]
