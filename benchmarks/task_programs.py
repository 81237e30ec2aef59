"""The benchmark's programs that read ``input`` and write ``target``, whatever their prompts say.

Every benchmark row has an ``input`` and a ``target``; a program from ``promptc.programs``
names its fields for what they hold (``question``, ``answer``). These wrappers run such a
program on the rows, so each system compiles and scores the program as shipped:
:class:`HotpotMultiHop` (the three-prompt multi-hop program) and :class:`InputTarget` (one
predictor, such as :class:`promptc.programs.MathCoT`, with renamed fields).
:func:`benchmarks.tasks.program_for` picks one per task.
"""

from __future__ import annotations

from typing import Any

import promptc
from promptc.programs import MultiHopQA  # type: ignore[import-not-found,unused-ignore]

__all__ = ["HotpotMultiHop", "InputTarget"]


class HotpotMultiHop(MultiHopQA):  # type: ignore[misc,unused-ignore]
    """:class:`promptc.programs.MultiHopQA` on the benchmark's ``input`` / ``target`` rows."""

    def forward(self, input: str) -> promptc.Prediction:
        out = super().forward(question=input)
        return promptc.Prediction(
            {"target": out["answer"], "queries": out["queries"], "passages": out["passages"]}
        )


class InputTarget(promptc.Module):
    """One predictor on ``input`` / ``target`` rows: the row's ``input`` goes to the
    predictor's input field ``input_field``, its output field ``target_field`` comes back as
    ``target`` (with the ``reasoning`` of a chain of thought beside it, which metrics skip).

    The predictor is ``solve`` in ``named_predictors()``. Training rows carry ``input`` and
    ``target``, not the predictor's own fields, so they are no labeled demos for it: demos come
    from bootstrapped traces, as for the multi-hop program.

    Args:
        solve: the predictor (e.g. ``promptc.programs.MathCoT()``).
        input_field: the predictor's input field that takes the row's ``input``.
        target_field: the predictor's output field that is the row's ``target``.
    """

    def __init__(self, solve: promptc.Predict, *, input_field: str, target_field: str) -> None:
        self.solve = solve
        self.input_field = input_field
        self.target_field = target_field

    def forward(self, input: str) -> promptc.Prediction:
        out = self.solve(**{self.input_field: input})
        values: dict[str, Any] = {"target": out[self.target_field]}
        if "reasoning" in out:
            values["reasoning"] = out["reasoning"]
        return promptc.Prediction(values)
