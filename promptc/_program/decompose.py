"""Decomposed Prompting: a controller prompt splits a task into calls to a library of sub-tasks.

After Khot et al., "Decomposed Prompting" (2023). The controller is a predictor that, given the
task inputs and the steps so far, names the next sub-task and its input, or finishes with the
answer. Each sub-task is a module with its own prompt (tunable like any other), or plain Python
code; with ``recursive=True`` the decomposition may call itself on a smaller input.
"""

from __future__ import annotations

import contextvars
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from promptc._program.module import Module, Predict, Prediction
from promptc._program.signature import Field, Signature, derive_signature
from promptc._program.types import format_value, parse_value
from promptc.exceptions import ConfigurationError, DecompositionError

__all__ = ["Decompose", "Subtask"]

FINISH = "finish"
RECURSE = "recurse"
_DEPTH: contextvars.ContextVar[int] = contextvars.ContextVar("promptc_decompose_depth", default=0)


@dataclass(frozen=True)
class Subtask:
    """A sub-task the controller may call.

    Attributes:
        handler: a :class:`Predict` whose signature has one input field, another module (called
            as ``handler(input=...)``), or a function ``str -> Any``.
        description: what the sub-task does, shown to the controller (default: the handler's
            instruction or docstring).
    """

    handler: Module | Callable[[str], Any]
    description: str = ""


def _describe(name: str, sub: Subtask) -> str:
    if sub.description:
        return sub.description
    if isinstance(sub.handler, Predict):
        return sub.handler.signature.instruction
    return (getattr(sub.handler, "__doc__", None) or f"the sub-task {name}").strip()


def _check_handler(name: str, handler: object) -> None:
    if isinstance(handler, Predict) and len(handler.signature.input_fields) != 1:
        raise ConfigurationError(
            f"sub-task {name!r}: its signature must have exactly one input field, has "
            f"{list(handler.signature.input_fields)}"
        )
    if not (isinstance(handler, Module) or callable(handler)):
        raise ConfigurationError(
            f"sub-task {name!r}: expected a Module or a function, got {handler!r}"
        )


def _controller_signature(task: type[Signature], descriptions: dict[str, str]) -> type[Signature]:
    actions = (*descriptions, FINISH)
    answer = next(iter(task.output_fields.values()))
    instruction = (
        f"{task.instruction}\n\nSolve the task one step at a time by calling "
        "sub-tasks. Each turn, choose the next `action` and its `action_input`. When the "
        f"answer is known, choose `{FINISH}` with the final `{answer.name}` "
        f"({answer.type_name}) as `action_input`."
    )
    inputs = {
        **task.input_fields,
        "subtasks": Field("subtasks", "input", str, "the sub-tasks you can call"),
        "steps": Field("steps", "input", str, "the calls made so far and their results"),
    }
    outputs = {
        "action": Field(
            "action", "output", Literal[actions], "the sub-task to call next, or finish"
        ),
        "action_input": Field(
            "action_input", "output", str, "the input for that sub-task, or the final answer"
        ),
    }
    return derive_signature(
        task, instruction=instruction, input_fields=inputs, output_fields=outputs
    )


class Decompose(Module):
    """A controller prompt that delegates to sub-task handlers, step by step.

    Args:
        signature: the task; it must have exactly one output field (the final answer).
        subtasks: sub-tasks by name; values are :class:`Subtask`, modules or functions.
        recursive: add a ``recurse`` sub-task that runs this decomposition on a smaller input
            (for tasks with a single input field).
        max_steps: sub-task calls allowed per run before :class:`DecompositionError`.
        max_depth: nesting allowed for ``recurse`` before :class:`DecompositionError`.
        lm: passed to the controller predictor.
    """

    def __init__(
        self,
        signature: type[Signature],
        subtasks: dict[str, Subtask | Module | Callable[[str], Any]],
        *,
        recursive: bool = False,
        max_steps: int = 10,
        max_depth: int = 3,
        lm: Any = None,
    ) -> None:
        if len(signature.output_fields) != 1:
            raise ConfigurationError(
                f"Decompose needs a task signature with one output field, {signature.__name__} "
                f"has {list(signature.output_fields)}"
            )
        if recursive and len(signature.input_fields) != 1:
            raise ConfigurationError("recursive=True needs a task signature with one input field")
        reserved = {FINISH, RECURSE} & set(subtasks)
        if reserved:
            raise ConfigurationError(f"sub-task names {sorted(reserved)} are reserved")
        handlers = {n: (s.handler if isinstance(s, Subtask) else s) for n, s in subtasks.items()}
        for name, handler in handlers.items():
            _check_handler(name, handler)
        descriptions = {
            n: _describe(n, s if isinstance(s, Subtask) else Subtask(s))
            for n, s in subtasks.items()
        }
        if recursive:
            descriptions[RECURSE] = "solve the same task on a smaller input"
        self.task = signature
        self.controller = Predict(_controller_signature(signature, descriptions), lm=lm)
        self.subtasks = handlers
        self.descriptions = descriptions
        self.recursive = recursive
        self.max_steps = max_steps
        self.max_depth = max_depth

    def forward(self, /, **inputs: Any) -> Prediction:
        depth = _DEPTH.get()
        if depth >= self.max_depth:
            raise DecompositionError(
                f"{self.task.__name__}: recursion deeper than max_depth={self.max_depth}"
            )
        token = _DEPTH.set(depth + 1)
        try:
            return self._run(inputs)
        finally:
            _DEPTH.reset(token)

    def _run(self, inputs: dict[str, Any]) -> Prediction:
        catalog = "\n".join(f"- {n}: {d}" for n, d in self.descriptions.items())
        catalog += f"\n- {FINISH}: give the final answer"
        steps: list[str] = []
        answer = next(iter(self.task.output_fields.values()))
        for _ in range(self.max_steps + 1):
            step = self.controller(
                **inputs, subtasks=catalog, steps="\n".join(steps) or "(none yet)"
            )
            if step.action == FINISH:
                try:
                    value = parse_value(step.action_input, answer.annotation)
                except ValueError as exc:
                    raise DecompositionError(f"final answer does not fit: {exc}") from None
                return Prediction({answer.name: value})
            result = self._call(step.action, step.action_input)
            steps.append(
                f"{len(steps) + 1}. {step.action}({json.dumps(step.action_input)}) -> "
                f"{format_value(result)}"
            )
        raise DecompositionError(
            f"{self.task.__name__}: no answer after max_steps={self.max_steps} sub-task calls; "
            "raise max_steps or improve the controller's instruction and demos"
        )

    def _call(self, name: str, arg: str) -> Any:
        if name == RECURSE:
            field = next(iter(self.task.input_fields))
            return next(iter(self(**{field: arg}).values()))
        handler = self.subtasks[name]
        if isinstance(handler, Predict):
            field = next(iter(handler.signature.input_fields))
            return next(iter(handler(**{field: arg}).values()))
        if isinstance(handler, Module):
            result = handler(**{"input": arg})
            return next(iter(result.values())) if isinstance(result, Prediction) else result
        return handler(arg)
