"""DSPy baselines for benchmarks/compile_tasks.py: the same program, model, splits and metric.

``--system dspy-bfrs`` compiles the DSPy twin of the task's promptc program with
``BootstrapFewShotWithRandomSearch``, ``--system dspy-mipro`` with ``MIPROv2``; the compiled
DSPy program is then scored on the task's test rows with the task's promptc metric.

Same model, same backend, exact counts: DSPy calls ``dspy.LM("promptc/<n>")``, which goes
through litellm, as every DSPy program does, to a litellm custom provider registered here
(``promptc``) that hands each request to the run's :class:`promptc.LM`. So both systems reach the
same backend object (the embedded model, a hosted model through litellm, or a fake in tests),
with the same sampling settings and the same on-disk cache, and every DSPy request, cache hits
included, is counted in the LM's usage exactly as promptc's are. DSPy's own response cache is
off. DSPy does not enforce a budget: its settings are sized from ``--budget`` (see
:func:`bfrs_settings` and :func:`mipro_settings`) and the requests it really made are reported.

Needs ``pip install -e '.[dspy,compile]'`` (MIPROv2 uses optuna).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

import promptc
from promptc._compile.evaluate import bootstrap_ci, program_inputs
from promptc._lm.usage import Usage
from promptc._local.backend import fill_model_response, plain_messages
from promptc.metrics import Metric
from promptc.programs import MultiHopQA

__all__ = [
    "DSPY_SYSTEMS",
    "DSPyCompiled",
    "DSPyEvaluation",
    "bfrs_settings",
    "compile_dspy",
    "dspy_lm",
    "dspy_program",
    "evaluate_dspy",
    "mipro_settings",
]

#: ``--system`` names -> the DSPy optimizer they run.
DSPY_SYSTEMS = {
    "dspy-bfrs": "BootstrapFewShotWithRandomSearch",
    "dspy-mipro": "MIPROv2",
}
PROVIDER = "promptc"
K_DEMOS = 4  # as promptc's labeled / random strategies
_LMS: dict[str, promptc.LM] = {}
_LOCK = threading.Lock()


def _dspy() -> Any:
    try:
        import dspy
    except ImportError as exc:
        raise SystemExit("the dspy-* systems need DSPy: pip install -e '.[dspy,compile]'") from exc
    return dspy


# -- the bridge: dspy.LM -> litellm -> promptc.LM ------------------------------------------------


def _register_provider() -> None:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm
    from litellm.llms.custom_llm import CustomLLM

    class _PromptcProvider(CustomLLM):
        def completion(self, *, model: str, messages: list[Any], **kwargs: Any) -> Any:  # type: ignore[override]
            lm = _LMS[model.removeprefix(f"{PROVIDER}/")]
            opts = kwargs.get("optional_params") or {}
            overrides = {
                k: opts[k] for k in ("temperature", "max_tokens") if opts.get(k) is not None
            }
            response = lm(plain_messages(messages), tag="dspy", **overrides)
            return fill_model_response(kwargs["model_response"], response)

    with _LOCK:
        if not any(item.get("provider") == PROVIDER for item in litellm.custom_provider_map):
            entry = {"provider": PROVIDER, "custom_handler": _PromptcProvider()}
            litellm.custom_provider_map = [*litellm.custom_provider_map, entry]


def dspy_lm(lm: promptc.LM) -> Any:
    """A ``dspy.LM`` whose every request is answered by ``lm`` (through litellm)."""
    dspy = _dspy()
    _register_provider()
    dspy.configure_cache(enable_disk_cache=False, enable_memory_cache=False)
    with _LOCK:
        key = str(len(_LMS))
        _LMS[key] = lm
    return dspy.LM(
        f"{PROVIDER}/{key}",
        cache=False,
        temperature=lm.temperature,
        max_tokens=lm.max_tokens,
        num_retries=0,  # promptc.LM retries transient errors itself
    )


# -- programs and metrics ------------------------------------------------------------------------


def _twin_signature(predictor: promptc.Predict, *, drop_reasoning: bool = False) -> Any:
    """The DSPy signature with the fields, types and instruction of a promptc predictor."""
    dspy = _dspy()
    sig = predictor.signature
    fields: dict[str, Any] = {
        n: (f.annotation, dspy.InputField(desc=f.desc or None)) for n, f in sig.input_fields.items()
    }
    for n, f in sig.output_fields.items():
        if not (drop_reasoning and n == "reasoning"):
            fields[n] = (f.annotation, dspy.OutputField(desc=f.desc or None))
    return dspy.Signature(fields, sig.instruction)


def _twin_predictor(predictor: promptc.Predict) -> Any:
    dspy = _dspy()
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
    dspy = _dspy()
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


def _passages(found: Sequence[str]) -> str:
    return "\n".join(f"[{i}] {p}" for i, p in enumerate(found, start=1)) or "(nothing found)"


def dspy_program(program: promptc.Module) -> Any:
    """The DSPy twin of a benchmark program: same prompts (fields, types, instruction, demos).

    ``promptc.Predict`` -> ``dspy.Predict``; ``promptc.ChainOfThought`` -> ``dspy.ChainOfThought``
    (which adds its own ``reasoning`` field, so promptc's is left out); the multi-hop program
    (``MultiHopQA`` on ``input`` / ``target`` rows) -> a ``dspy.Module`` with the same three
    prompts and the same retriever object.

    Raises:
        NotImplementedError: another multi-predictor program (its ``forward`` is code to port).
    """
    if isinstance(program, MultiHopQA):
        return _multihop_twin(program)
    if not isinstance(program, promptc.Predict):
        raise NotImplementedError(
            f"no DSPy twin for {type(program).__name__}: only one-prompt programs and the "
            "multi-hop program are converted"
        )
    return _twin_predictor(program)


def _outputs(prediction: Any) -> dict[str, Any]:
    values = prediction.toDict() if hasattr(prediction, "toDict") else dict(prediction)
    return {k: v for k, v in values.items() if k != "reasoning"}


def dspy_metric(metric: Metric) -> Callable[..., float]:
    """A DSPy metric ``(example, prediction, trace=None)`` that scores with a promptc metric."""

    def score(example: Any, prediction: Any, trace: Any = None) -> float:
        return float(metric(example.toDict(), _outputs(prediction)))

    score.__name__ = getattr(metric, "__name__", "metric")
    return score


def _examples(rows: Sequence[Mapping[str, Any]], inputs: Sequence[str]) -> list[Any]:
    dspy = _dspy()
    return [dspy.Example(**dict(row)).with_inputs(*inputs) for row in rows]


# -- sizing to the budget ------------------------------------------------------------------------


def _bootstrap_cost(n_train: int) -> int:
    """Program runs one bootstrapped demo set costs, estimated: ``k`` passing runs of ~2 tried."""
    return min(n_train, 2 * K_DEMOS)


def bfrs_settings(budget: int, n_train: int, n_val: int) -> dict[str, Any]:
    """BootstrapFewShotWithRandomSearch sized to about ``budget`` requests.

    It scores 3 fixed candidates (zero-shot, labeled demos, one bootstrapped set) and
    ``num_candidate_programs`` shuffled bootstrapped sets on every validation row, so it costs
    about ``(c + 3) * n_val + (c + 1) * bootstrap`` requests for ``c`` candidates.
    """
    boot = _bootstrap_cost(n_train)
    fixed = 3 * n_val + boot
    candidates = max(1, (budget - fixed) // (n_val + boot))
    return {
        "max_bootstrapped_demos": K_DEMOS,
        "max_labeled_demos": K_DEMOS,
        "num_candidate_programs": candidates,
        "estimated_requests": fixed + candidates * (n_val + boot),
    }


def mipro_settings(budget: int, n_train: int, n_val: int) -> dict[str, Any]:
    """MIPROv2 with explicit sizes (``auto=None``) for about ``budget`` requests.

    Costs, estimated: ``num_candidates - 2`` bootstrapped demo sets, about ``6 + num_candidates``
    proposer requests (data and program summaries, one instruction per candidate), the baseline
    on every validation row, then ``num_trials`` full validation passes (no minibatches: the
    validation split is small). ``auto="light"`` alone asks for about 650 task-model calls.
    """
    candidates = 4
    fixed = (candidates - 2) * _bootstrap_cost(n_train) + 6 + candidates + n_val
    trials = max(1, (budget - fixed) // n_val)
    return {
        "max_bootstrapped_demos": K_DEMOS,
        "max_labeled_demos": K_DEMOS,
        "num_candidates": candidates,
        "num_trials": trials,
        "minibatch": False,
        "estimated_requests": fixed + trials * n_val,
    }


# -- compile and evaluate ------------------------------------------------------------------------


def _usage_since(lm: promptc.LM, before: Usage) -> dict[str, Any]:
    now = lm.usage.total()
    diff = {k: v - getattr(before, k) for k, v in asdict(now).items()}
    diff["cost"] = round(diff["cost"], 6)
    return diff


def requests(usage: Mapping[str, Any]) -> int:
    """Requests answered: fresh calls plus cache hits."""
    return int(usage.get("calls", 0)) + int(usage.get("cache_hits", 0))


@dataclass
class DSPyCompiled:
    """A compiled DSPy program and what compiling it cost."""

    program: Any
    settings: dict[str, Any]
    usage: dict[str, Any]
    wall_s: float
    val_score: float | None
    demos: dict[str, int] = field(default_factory=dict)


def _val_score(program: Any) -> float | None:
    score = getattr(program, "score", None)  # MIPROv2
    if score is None:
        candidates = getattr(program, "candidate_programs", None) or []  # BFRS, best first
        score = candidates[0]["score"] if candidates else None
    return None if score is None else float(score) / 100.0  # DSPy reports percentages


def _optimizer(
    system: str, metric: Any, twin: Any, budget: int, task: Any, seed: int, threads: int
) -> Any:
    dspy = _dspy()
    n_train, n_val = len(task.train), len(task.val)
    if system == "dspy-bfrs":
        settings = bfrs_settings(budget, n_train, n_val)
        kwargs = {k: v for k, v in settings.items() if k != "estimated_requests"}
        optimizer = dspy.BootstrapFewShotWithRandomSearch(
            metric=metric, num_threads=threads, **kwargs
        )
        return optimizer, settings, {}
    if system == "dspy-mipro":
        settings = mipro_settings(budget, n_train, n_val)
        optimizer = dspy.MIPROv2(
            metric=metric,
            prompt_model=twin,
            task_model=twin,
            auto=None,
            num_candidates=settings["num_candidates"],
            max_bootstrapped_demos=K_DEMOS,
            max_labeled_demos=K_DEMOS,
            num_threads=threads,
            seed=seed,
            verbose=False,
        )
        extra = {"num_trials": settings["num_trials"], "minibatch": False, "seed": seed}
        return optimizer, settings, extra
    raise ValueError(f"unknown DSPy system {system!r}; known: {sorted(DSPY_SYSTEMS)}")


def compile_dspy(
    system: str,
    program: promptc.Module,
    task: Any,
    metric: Metric,
    lm: promptc.LM,
    *,
    budget: int,
    seed: int,
    threads: int,
) -> DSPyCompiled:
    """Compile the DSPy twin of ``program`` on ``task``'s train and val rows.

    Every DSPy request goes to ``lm``; the usage reported is ``lm``'s usage during the compile.
    """
    dspy = _dspy()
    inputs = list(program_inputs(program)[0])
    student = dspy_program(program)
    twin = dspy_lm(lm)
    optimizer, settings, extra = _optimizer(
        system, dspy_metric(metric), twin, budget, task, seed, threads
    )
    before, started = lm.usage.total(), time.perf_counter()
    with dspy.context(lm=twin):
        compiled = optimizer.compile(
            student,
            trainset=_examples(task.train, inputs),
            valset=_examples(task.val, inputs),
            **extra,
        )
    wall = time.perf_counter() - started
    demos = {name: len(p.demos) for name, p in compiled.named_predictors()}
    return DSPyCompiled(
        compiled, settings, _usage_since(lm, before), wall, _val_score(compiled), demos
    )


@dataclass
class DSPyEvaluation:
    """Per-row outcomes of a DSPy program on a split, shaped like ``promptc.evaluate``'s."""

    scores: list[float]
    predictions: list[Any]
    errors: list[str | None]
    usage: dict[str, Any]
    wall_s: float

    @property
    def mean(self) -> float:
        return sum(self.scores) / len(self.scores) if self.scores else 0.0

    @property
    def ci(self) -> tuple[float, float]:
        return bootstrap_ci(self.scores)


def evaluate_dspy(
    program: Any,
    rows: Sequence[Mapping[str, Any]],
    inputs: Sequence[str],
    metric: Metric,
    lm: promptc.LM,
    *,
    threads: int,
) -> DSPyEvaluation:
    """Run a DSPy program on every row (``threads`` at once) and score it with ``metric``.

    A row whose run raises scores 0 and keeps its error, as in ``promptc.evaluate``.
    """
    dspy = _dspy()
    twin = dspy_lm(lm)

    def run(row: Mapping[str, Any]) -> tuple[float, Any, str | None]:
        try:
            with dspy.context(lm=twin):
                prediction = program(**{n: row[n] for n in inputs})
        except Exception as exc:  # a failing row scores 0; the run goes on
            return 0.0, None, f"{type(exc).__name__}: {exc}"
        outputs = _outputs(prediction)
        return float(metric(dict(row), outputs)), outputs, None

    before, started = lm.usage.total(), time.perf_counter()
    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        outcomes = list(pool.map(run, rows))
    return DSPyEvaluation(
        scores=[o[0] for o in outcomes],
        predictions=[o[1] for o in outcomes],
        errors=[o[2] for o in outcomes],
        usage=_usage_since(lm, before),
        wall_s=time.perf_counter() - started,
    )
