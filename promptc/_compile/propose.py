"""Candidate generation: bootstrapped demos and LM-proposed instructions (APE).

Bootstrapping runs the program on training inputs and keeps the full trace of every run whose
final output passes the metric, so each predictor of a multi-step program gets demos of its own
step. Instruction proposals follow APE (Zhou et al., 2023): a proposer LM induces an instruction
from sampled input/output demos (forward generation), and resamples semantically similar variants
of the best ones (iterative Monte Carlo search).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextvars import copy_context
from typing import Any

from pydantic_core import to_jsonable_python

from promptc._compile.data import Row
from promptc._lm.context import context, trace
from promptc._lm.lm import LM
from promptc._program.adapter import ChatAdapter, ParseFailure
from promptc._program.module import Module, Predict
from promptc._program.signature import InputField, OutputField, Signature
from promptc._program.types import format_value
from promptc.exceptions import BudgetExhaustedError, PromptcError
from promptc.metrics import Metric

__all__ = ["bootstrap_demos", "propose_instructions", "resample_instructions"]


class ProposeInstruction(Signature):
    """You write instructions for one step of a language-model program. Read the program's
    steps and the examples of this step's inputs and correct outputs, then write one clear,
    specific instruction (one to three sentences) that would lead a model to produce exactly
    such outputs from such inputs. State the task and the expected output form; do not copy
    the examples."""

    program: str = InputField(desc="the steps of the program, in order")
    step: str = InputField(desc="the step the instruction is for")
    examples: str = InputField(desc="inputs and correct outputs of this step")
    proposed_instruction: str = OutputField(desc="the instruction")


class ProposeFromExamples(Signature):
    """You write instructions for a language model. Read the examples of inputs and correct
    outputs, then write one clear, specific instruction (one to three sentences) that would
    lead a model to produce exactly such outputs from such inputs. State the task and the
    expected output form; do not copy the examples."""

    examples: str = InputField(desc="inputs and correct outputs")
    proposed_instruction: str = OutputField(desc="the instruction")


class ResampleInstruction(Signature):
    """Write a variation of the instruction that keeps its meaning: same task, same expected
    output form, different wording, possibly more precise."""

    original: str = InputField(desc="the instruction to vary")
    variation: str = OutputField(desc="the varied instruction")


def _describe_program(predictors: Mapping[str, Predict]) -> str:
    lines = []
    for i, (name, p) in enumerate(predictors.items(), 1):
        ins = ", ".join(p.signature.input_fields)
        outs = ", ".join(p.signature.output_fields)
        lines.append(f"Step {i} ({name}) reads {ins} and writes {outs}.")
    return "\n".join(lines)


def _plausible(text: str) -> bool:
    """Reject degenerate proposals (signature echoes, runaway repetition) from weak proposers."""
    words = text.split()
    return (
        "->" not in text
        and 2 <= len(words) <= 80
        and len(set(words)) >= len(words) / 3
        and any(c.isalpha() for c in text)
    )


def proposal_prompt(
    name: str, predictors: Mapping[str, Predict], demos: Sequence[Mapping[str, Any]]
) -> tuple[type[Signature], dict[str, Any]]:
    """The proposer's signature and inputs for step ``name`` shown ``demos``.

    A one-step program gets the examples alone: told "Step 1 (self) reads input and writes
    target", small proposers (Qwen2.5-Coder-1.5B) describe that plumbing instead of the task.
    """
    examples = _show_examples(predictors[name], demos)
    if len(predictors) == 1:
        return ProposeFromExamples, {"examples": examples}
    inputs = {"program": _describe_program(predictors), "step": name, "examples": examples}
    return ProposeInstruction, inputs


def _show_examples(predictor: Predict, demos: Sequence[Mapping[str, Any]]) -> str:
    blocks = []
    for i, demo in enumerate(demos, 1):
        parts = [
            f"{name}: {format_value(demo[name])}"
            for name in predictor.signature.fields()
            if name in demo
        ]
        blocks.append(f"Example {i}:\n" + "\n".join(parts))
    return "\n\n".join(blocks)


def _sample(
    lm: LM, signature: type[Signature], inputs: dict[str, Any], *, rollout: int, temperature: float
) -> str | None:
    """One sampled output text; ``None`` when the proposer's reply cannot be parsed."""
    adapter = ChatAdapter()
    messages = adapter.format(signature, [], inputs)
    response = lm(messages, tag="proposer", rollout=rollout, temperature=temperature)
    try:
        value = next(iter(adapter.parse(signature, response.text).values()))
    except ParseFailure:
        return None
    text = " ".join(str(value).split()).strip("\"'")
    return text if _plausible(text) else None


def propose_instructions(
    name: str,
    predictors: Mapping[str, Predict],
    demo_sets: Sequence[Sequence[Mapping[str, Any]]],
    lm: LM,
    *,
    temperature: float = 0.9,
) -> list[str]:
    """APE forward generation: one proposal per demo set, each a distinct cached rollout.

    Returns the distinct proposals in order (unparsable ones are dropped).
    """
    predictor = predictors[name]
    out: list[str] = []
    for rollout, demos in enumerate(demo_sets):
        signature, inputs = proposal_prompt(name, predictors, demos)
        text = _sample(lm, signature, inputs, rollout=rollout, temperature=temperature)
        if text and text not in out and text != predictor.signature.instruction:
            out.append(text)
    return out


def resample_instructions(
    instruction: str, n: int, lm: LM, *, temperature: float = 0.9
) -> list[str]:
    """APE's iterative Monte Carlo step: ``n`` semantically similar variants of ``instruction``."""
    out: list[str] = []
    for rollout in range(n):
        text = _sample(
            lm,
            ResampleInstruction,
            {"original": instruction},
            rollout=rollout,
            temperature=temperature,
        )
        if text and text != instruction and text not in out:
            out.append(text)
    return out


def bootstrap_demos(
    program: Module,
    rows: Sequence[Mapping[str, Any]],
    metric: Metric,
    inputs: Sequence[str],
    lm: LM,
    *,
    threshold: float = 1.0,
    num_threads: int = 4,
) -> dict[str, list[dict[str, Any]]]:
    """Run ``program`` on ``rows`` and keep each passing run's trace as demos, per predictor.

    Args:
        program: the program (or a copy with a teacher's settings).
        rows: training rows only (never validation rows).
        metric: a run passes when ``metric(row, prediction) >= threshold``.
        inputs: the program's input names, taken from each row.
        lm: the LM to run with (a stronger teacher LM, or the student's).
        threshold: the passing score.
        num_threads: rows run at once.

    Returns:
        For each predictor name, the demos (its inputs and outputs) from passing runs, in row
        order; a predictor called several times in one run contributes each call.
    """
    names = {id(p): n for n, p in program.named_predictors()}

    def run(row: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        try:
            with context(lm=lm), trace() as recorded:
                prediction = program(**{n: row[n] for n in inputs if n in row})
            if float(metric(Row(row), prediction)) < threshold:
                return []
        except BudgetExhaustedError:
            raise
        except (PromptcError, ValueError, TypeError, KeyError):
            return []  # a failing run teaches nothing; bootstrapping goes on
        return [(e.predictor, {**e.inputs, **e.outputs}) for e in recorded if e.error is None]

    ctx = copy_context()
    with ThreadPoolExecutor(max_workers=max(1, num_threads)) as pool:
        results = list(pool.map(lambda r: ctx.copy().run(run, r), rows))
    demos: dict[str, list[dict[str, Any]]] = {n: [] for n in names.values()}
    for entries in results:
        for predictor, demo in entries:
            if predictor in demos:
                demos[predictor].append(to_jsonable_python(demo))
    return demos
