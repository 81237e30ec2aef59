"""DSPy baselines for the task table: the same program, model, splits and metric.

``--system dspy-bfrs`` compiles the DSPy twin of the task's promptc program
(:mod:`benchmarks.dspy_twin`) with ``BootstrapFewShotWithRandomSearch``, ``--system
dspy-mipro`` with ``MIPROv2``; the compiled DSPy program is then scored on the task's test rows
with the task's promptc metric, through the same ``promptc.LM`` (so the same model, settings and
cache, every request counted). DSPy does not enforce a budget: its settings are sized from
``--budget`` (see :func:`bfrs_settings` and :func:`mipro_settings`) and the requests it really
made are reported. :class:`DSPySystem` is the :class:`~benchmarks.systems.System` of both,
with DSPy's default adapter (``ChatAdapter``), another one, or the best of the three on the
validation rows (:func:`choose_adapter`; :mod:`benchmarks.dspy_adapters`). A program with no
DSPy twin (:func:`benchmarks.dspy_twin.twin_problem`) makes a DSPy system ``n/a`` on that task.

Needs ``pip install -e '.[dspy,compile]'`` (MIPROv2 uses optuna).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any, Literal

import promptc
from benchmarks.dspy_adapters import (
    ADAPTERS,
    AdapterRun,
    ValidationCurve,
    make_adapter,
    merge_choice,
)
from benchmarks.dspy_twin import (
    dspy_examples,
    dspy_lm,
    dspy_metric,
    dspy_program,
    import_dspy,
    outputs,
    program_inputs,
    twin_problem,
)
from benchmarks.metrics import metric_for
from benchmarks.records import DSPyCompile, ExampleOutcome, Scores, SystemResult, TestRecord
from benchmarks.systems import RunOptions, announce, announce_test, requests
from benchmarks.tasks import Task, program_for
from promptc.compiler import bootstrap_ci
from promptc.metrics import Metric

__all__ = [
    "DSPY_SYSTEMS",
    "DSPySystem",
    "bfrs_settings",
    "choose_adapter",
    "compile_dspy",
    "evaluate_dspy",
    "mipro_settings",
]

#: ``--system`` names -> the DSPy optimizer they run.
DSPY_SYSTEMS = {
    "dspy-bfrs": "BootstrapFewShotWithRandomSearch",
    "dspy-mipro": "MIPROv2",
}
K_DEMOS = 4  # as promptc's labeled / random strategies


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


def _usage_since(lm: promptc.LM, before: promptc.Usage) -> dict[str, Any]:
    now = lm.usage.total()
    diff = {k: v - getattr(before, k) for k, v in asdict(now).items()}
    diff["cost"] = round(diff["cost"], 6)
    return diff


def _usages_since(marks: Sequence[tuple[promptc.LM, promptc.Usage]]) -> dict[str, Any]:
    """The usage of every LM since its mark, summed (the task LM and the proposer)."""
    total: dict[str, Any] = {}
    for lm, before in marks:
        for key, value in _usage_since(lm, before).items():
            total[key] = total.get(key, 0) + value
    total["cost"] = round(total["cost"], 6)
    return total


def _val_score(program: Any) -> float | None:
    score = getattr(program, "score", None)  # MIPROv2
    if score is None:
        candidates = getattr(program, "candidate_programs", None) or []  # BFRS, best first
        score = candidates[0]["score"] if candidates else None
    return None if score is None else float(score) / 100.0  # DSPy reports percentages


def _optimizer(
    system: str,
    metric: Any,
    twins: tuple[Any, Any],
    budget: int,
    task: Task,
    seed: int,
    threads: int,
) -> Any:
    twin, prompt_twin = twins  # the task LM, and the LM that proposes MIPROv2's instructions
    dspy = import_dspy()
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
            prompt_model=prompt_twin,
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
    task: Task,
    lm: promptc.LM,
    *,
    budget: int,
    seed: int,
    threads: int,
    adapter: str = "chat",
    proposer: promptc.LM | None = None,
) -> tuple[Any, DSPyCompile]:
    """Compile the DSPy twin of ``task``'s program on its train and val rows, with the DSPy
    adapter ``adapter`` (``chat``: DSPy's default; ``xml``; ``json``).

    Every DSPy request goes to ``lm``, but MIPROv2's proposals (its ``prompt_model``) go to
    ``proposer`` when given; the usage reported is both LMs' usage during the compile. The
    record's curve has a point after each full validation pass.

    Returns:
        The compiled DSPy program, and its compile record.
    """
    dspy = import_dspy()
    program = program_for(task)
    inputs = program_inputs(program)
    twin = dspy_lm(lm)
    twins = (twin, twin if proposer is None else dspy_lm(proposer))
    optimizer, settings, extra = _optimizer(
        system, dspy_metric(metric_for(task.metric)), twins, budget, task, seed, threads
    )
    marks = [(m, m.usage.total()) for m in (lm, proposer) if m is not None]
    started = time.perf_counter()
    curve = ValidationCurve(len(task.val), lambda: requests(_usages_since(marks)))
    with dspy.context(lm=twin, adapter=make_adapter(adapter), callbacks=[curve.callback()]):
        compiled = optimizer.compile(
            dspy_program(program),
            trainset=dspy_examples(task.train, inputs),
            valset=dspy_examples(task.val, inputs),
            **extra,
        )
    wall = time.perf_counter() - started
    usage = _usages_since(marks)
    record = DSPyCompile(
        lm_requests=requests(usage),
        run_usage=usage,
        wall_s=round(wall, 2),
        val_best=_val_score(compiled),
        settings=settings,
        demos={name: len(p.demos) for name, p in compiled.named_predictors()},
        adapter=adapter,
        curve=curve.curve(),
    )
    return compiled, record


def choose_adapter(
    system: str,
    task: Task,
    lm: promptc.LM,
    *,
    budget: int,
    seed: int,
    threads: int,
    proposer: promptc.LM | None = None,
) -> tuple[Any, DSPyCompile]:
    """Compile with each DSPy adapter and keep the program that scored best on the validation
    rows (DSPy's own score of its pick; measured on the validation rows when it has none);
    ``proposer`` as in :func:`compile_dspy`.

    An adapter whose compile raises is left out (its error is in the record's ``adapters``).

    Returns:
        The chosen compiled program, and the record of the whole choice (its spend is every
        adapter's compile).
    """
    inputs = program_inputs(program_for(task))
    runs = []
    for adapter in ADAPTERS:
        try:
            program, record = compile_dspy(
                system,
                task,
                lm,
                budget=budget,
                seed=seed,
                threads=threads,
                adapter=adapter,
                proposer=proposer,
            )
        except Exception as exc:  # one adapter breaking leaves the others to choose from
            runs.append(AdapterRun(adapter, error=f"{type(exc).__name__}: {exc}"))
            continue
        if record.val_best is not None:
            runs.append(AdapterRun(adapter, program, record, record.val_best))
            continue
        val = evaluate_dspy(program, task, inputs, lm, threads=threads, adapter=adapter, rows="val")
        runs.append(
            AdapterRun(adapter, program, record, val.scores.mean, val.lm_requests, val.usage)
        )
    chosen, record = merge_choice(runs)
    return chosen.program, record


def evaluate_dspy(
    program: Any,
    task: Task,
    inputs: Sequence[str],
    lm: promptc.LM,
    *,
    threads: int,
    adapter: str = "chat",
    rows: Literal["test", "val"] = "test",
) -> TestRecord:
    """Run a DSPy program on every test row (or validation row), ``threads`` at once, with
    the DSPy adapter ``adapter``, and score it with the task's metric. A row whose run raises
    scores 0 and keeps its error, as in ``promptc.evaluate``."""
    dspy = import_dspy()
    twin = dspy_lm(lm)
    metric: Metric = metric_for(task.metric)
    scored = task.test if rows == "test" else task.val

    def run(row: Mapping[str, Any]) -> tuple[float, Any, str | None]:
        try:
            # Each worker thread sets its own context: DSPy's settings are per thread.
            with dspy.context(lm=twin, adapter=make_adapter(adapter)):
                prediction = program(**{n: row[n] for n in inputs})
        except Exception as exc:  # a failing row scores 0; the run goes on
            return 0.0, None, f"{type(exc).__name__}: {exc}"
        found = outputs(prediction)
        return float(metric(dict(row), found)), found, None

    before, started = lm.usage.total(), time.perf_counter()
    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        outcomes = list(pool.map(run, scored))
    wall = time.perf_counter() - started
    usage = _usage_since(lm, before)
    row_scores = [o[0] for o in outcomes]
    mean = sum(row_scores) / len(row_scores) if row_scores else 0.0
    errors = sum(o[2] is not None for o in outcomes)
    examples = tuple(
        ExampleOutcome(row["id"], score, prediction, error)
        for row, (score, prediction, error) in zip(scored, outcomes, strict=True)
    )
    return TestRecord(
        Scores(mean, bootstrap_ci(row_scores), len(row_scores), errors),
        requests(usage),
        usage,
        round(wall, 2),
        examples,
    )


@dataclass(frozen=True)
class DSPySystem:
    """A DSPy optimizer (``dspy-bfrs`` or ``dspy-mipro``) as a task-table system.

    Attributes:
        optimizer: ``dspy-bfrs`` or ``dspy-mipro``.
        options: how it runs.
        adapter: the DSPy adapter (``chat``, DSPy's default; ``xml``; ``json``), or ``best``:
            the best of the three on the validation rows (:func:`choose_adapter`). The
            system's name is the optimizer's, with ``+xml`` / ``+json`` / ``+best`` unless
            ``chat``.
        proposer: the LM that proposes MIPROv2's instructions (its ``prompt_model``);
            ``None``: the task LM. BootstrapFewShotWithRandomSearch proposes none.
    """

    optimizer: str
    options: RunOptions
    adapter: str = "chat"
    proposer: promptc.LM | None = None

    @property
    def name(self) -> str:
        return self.optimizer if self.adapter == "chat" else f"{self.optimizer}+{self.adapter}"

    def compile(self, task: Task, lm: promptc.LM, budget: int, seed: int) -> SystemResult:
        """Compile the DSPy twin, score it on test; a program without a twin is ``n/a``, any
        other failure an error row."""
        problem = twin_problem(program_for(task))
        if problem is not None:
            return SystemResult(skipped=problem)
        announce(task, self.name, budget)
        threads = self.options.threads
        try:
            if self.adapter == "best":
                program, record = choose_adapter(
                    self.optimizer,
                    task,
                    lm,
                    budget=budget,
                    seed=seed,
                    threads=threads,
                    proposer=self.proposer,
                )
            else:
                program, record = compile_dspy(
                    self.optimizer,
                    task,
                    lm,
                    budget=budget,
                    seed=seed,
                    threads=threads,
                    adapter=self.adapter,
                    proposer=self.proposer,
                )
            announce_test(task, f"{self.name}-compiled ({record.adapter} adapter)")
            inputs = program_inputs(program_for(task))
            test = evaluate_dspy(
                program, task, inputs, lm, threads=threads, adapter=record.adapter or "chat"
            )
        except Exception as exc:  # a baseline that breaks is reported, not fatal
            return SystemResult(error=f"{type(exc).__name__}: {exc}")
        return SystemResult(compile=record, test=test)
