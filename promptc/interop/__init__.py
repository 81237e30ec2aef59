"""Bridges to other LM-program frameworks.

:mod:`promptc.interop.dspy`: bring a DSPy program into promptc (``promptc.from_dspy``), hand a
compile back to DSPy (``promptc.to_dspy``), and let DSPy call a :class:`promptc.LM`
(``dspy_lm``). Nothing here is imported by ``import promptc``, and DSPy itself is imported only
when one of these functions is called.
"""

from __future__ import annotations

__all__: list[str] = []
