"""The DSPy twin of a benchmark program, and the bridge from ``dspy.LM`` to a ``promptc.LM``.

Same model, same backend, exact counts: DSPy calls ``dspy.LM("promptc_lm/<n>")``
(:func:`promptc.interop.dspy.dspy_lm`), which goes through litellm, as every DSPy program does,
to a litellm custom provider that hands each request to the run's :class:`promptc.LM`. So both
systems reach the
same backend object (the embedded model, a hosted model through litellm, or a fake in tests),
with the same sampling settings and the same on-disk cache, and every DSPy request, cache hits
included, is counted in the LM's usage exactly as promptc's are. DSPy's own response cache is
off. The twin of a program has the same prompts (fields, types, instruction, demos).

Needs ``pip install -e '.[dspy,compile]'``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import promptc
from benchmarks.task_programs import InputTarget
from promptc.metrics import Metric
from promptc.programs import MultiHopQA  # type: ignore[import-not-found,unused-ignore]

__all__ = [
    "dspy_examples",
    "dspy_lm",
    "dspy_metric",
    "dspy_program",
    "import_dspy",
    "outputs",
    "program_inputs",
    "twin_problem",
]


def import_dspy() -> Any:
    """The ``dspy`` module, or exit with the install command."""
    try:
        import dspy
    except ImportError as exc:
        raise SystemExit("the dspy-* systems need DSPy: pip install -e '.[dspy,compile]'") from exc
    return dspy


# -- the bridge: dspy.LM -> litellm -> promptc.LM ------------------------------------------------


def dspy_lm(lm: promptc.LM) -> Any:
    """A ``dspy.LM`` whose every request is answered by ``lm`` (through litellm), with DSPy's
    own caches off, so every DSPy request reaches ``lm`` and is counted there."""
    import_dspy().configure_cache(enable_disk_cache=False, enable_memory_cache=False)
    from promptc.interop.dspy import dspy_lm as bridge

    return bridge(lm)


# -- programs and metrics ------------------------------------------------------------------------


def _twin_signature(predictor: promptc.Predict, *, drop_reasoning: bool = False) -> Any:
    """The DSPy signature with the fields, types and instruction of a promptc predictor."""
    dspy = import_dspy()
    sig = predictor.signature
    fields: dict[str, Any] = {
        n: (f.annotation, dspy.InputField(desc=f.desc or None)) for n, f in sig.input_fields.items()
    }
    for n, f in sig.output_fields.items():
        if not (drop_reasoning and n == "reasoning"):
            fields[n] = (f.annotation, dspy.OutputField(desc=f.desc or None))
    return dspy.Signature(fields, sig.instruction)


def _twin_predictor(predictor: promptc.Predict) -> Any:
    dspy = import_dspy()
    cot = isinstance(predictor, promptc.ChainOfThought)
    module = (dspy.ChainOfThought if cot else dspy.Predict)(
        _twin_signature(predictor, drop_reasoning=cot)
    )
    if predictor.demos:
        inputs = list(predictor.signature.input_fields)
        demos = [dspy.Example(**d).with_inputs(*inputs) for d in predictor.demos]
        for inner in module.predictors():
            inner.demos = demos
    return module


def _multihop_twin(program: MultiHopQA) -> Any:
    """DSPy's version of the benchmark's multi-hop program: same prompts, same retriever."""
    dspy = import_dspy()
    retriever, per_hop = program.retriever, program.passages_per_hop
    queries = [_twin_predictor(p) for p in program.generate_query]
    answer = _twin_predictor(program.answer)

    class MultiHop(dspy.Module):  # type: ignore[misc,name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.generate_query = queries
            self.answer = answer

        def forward(self, input: str) -> Any:
            found: list[str] = []
            for hop, generate in enumerate(self.generate_query):
                context = {"context": _passages(found)} if hop else {}
                query = generate(question=input, **context).query
                found += [p for p in retriever(query, per_hop) if p not in found]
            reply = self.answer(question=input, context=_passages(found))
            return dspy.Prediction(target=reply.answer)

    return MultiHop()


def _input_target_twin(program: InputTarget) -> Any:
    """DSPy's version of :class:`~benchmarks.task_programs.InputTarget`: the twin predictor,
    with the row's ``input`` and ``target`` mapped to its fields the same way."""
    dspy = import_dspy()
    solve = _twin_predictor(program.solve)
    source, target = program.input_field, program.target_field

    class OnRows(dspy.Module):  # type: ignore[misc,name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.solve = solve

        def forward(self, input: str) -> Any:
            reply = self.solve(**{source: input})
            return dspy.Prediction(target=reply[target], reasoning=reply.get("reasoning"))

    return OnRows()


def _passages(found: Sequence[str]) -> str:
    return "\n".join(f"[{i}] {p}" for i, p in enumerate(found, start=1)) or "(nothing found)"


def twin_problem(program: promptc.Module) -> str | None:
    """Why ``program`` has no DSPy twin, or ``None`` when :func:`dspy_program` converts it."""
    if isinstance(program, (promptc.Predict, MultiHopQA)):
        return None
    if isinstance(program, InputTarget) and isinstance(program.solve, promptc.Predict):
        return None
    return (
        f"no DSPy twin for {type(program).__name__}: only one-prompt programs and the multi-hop "
        "program are converted (a one-prompt program may sit in an InputTarget)"
    )


def dspy_program(program: promptc.Module) -> Any:
    """The DSPy twin of a benchmark program: same prompts (fields, types, instruction, demos).

    ``promptc.Predict`` -> ``dspy.Predict``; ``promptc.ChainOfThought`` -> ``dspy.ChainOfThought``
    (which adds its own ``reasoning`` field, so promptc's is left out); the multi-hop program
    (``MultiHopQA`` on ``input`` / ``target`` rows) -> a ``dspy.Module`` with the same three
    prompts and the same retriever object; an :class:`~benchmarks.task_programs.InputTarget`
    (MathCoT on GSM8K rows) -> its predictor's twin with the same field mapping.

    Raises:
        NotImplementedError: another multi-predictor program (its ``forward`` is code to port);
            :func:`twin_problem` says so without raising.
    """
    problem = twin_problem(program)
    if problem is not None:
        raise NotImplementedError(problem)
    if isinstance(program, MultiHopQA):
        return _multihop_twin(program)
    if isinstance(program, InputTarget):
        return _input_target_twin(program)
    assert isinstance(program, promptc.Predict)  # twin_problem said so
    return _twin_predictor(program)


def outputs(prediction: Any) -> dict[str, Any]:
    values = prediction.toDict() if hasattr(prediction, "toDict") else dict(prediction)
    return {k: v for k, v in values.items() if k != "reasoning"}


def dspy_metric(metric: Metric) -> Callable[..., float]:
    """A DSPy metric ``(example, prediction, trace=None)`` that scores with a promptc metric."""

    def score(example: Any, prediction: Any, trace: Any = None) -> float:
        return float(metric(example.toDict(), outputs(prediction)))

    score.__name__ = getattr(metric, "__name__", "metric")
    return score


def dspy_examples(rows: Sequence[Mapping[str, Any]], inputs: Sequence[str]) -> list[Any]:
    dspy = import_dspy()
    return [dspy.Example(**dict(row)).with_inputs(*inputs) for row in rows]


def program_inputs(program: promptc.Module) -> list[str]:
    """The row columns a benchmark program (and its twin) reads: a predictor's input fields,
    or ``input`` for the multi-hop program and an ``InputTarget``."""
    problem = twin_problem(program)
    if problem is not None:
        raise NotImplementedError(problem)
    if isinstance(program, promptc.Predict):
        return list(program.signature.input_fields)
    return ["input"]


# -- the litellm provider: OpenAI-style messages in, a filled ModelResponse out -----------------
