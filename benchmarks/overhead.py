"""Runtime overhead of promptc vs. DSPy vs. a raw litellm call, import times, and throughput.

Three measurements, in one run, on this machine (figures vary with load; medians are printed):

1. Per-call framework overhead, in microseconds per call, with zero-latency mock LMs, for the
   same one-prompt program (``input -> target``, one instruction, two demos):

   * ``promptc.load(artifact)`` called with a zero-latency promptc backend (a ``Backend`` that
     returns a fixed completion: no litellm, no cache; measured before litellm is imported, as
     in a production process), and the same through litellm's
     ``mock_response`` (promptc's ``LiteLLMBackend``);
   * ``dspy.Predict`` with DSPy's own zero-latency ``DummyLM`` and with a zero-latency DSPy 3.4
     engine (``dspy.LM(engine=...)``, :class:`SlowDSPyEngine`), neither through litellm, and
     the same through litellm's ``mock_response`` (``dspy.LM(..., cache=False)``);
   * a raw ``litellm.completion(mock_response=...)`` call, which both litellm rows include.

   Each row: the median over ``--repeats`` runs of ``--calls`` calls, after a warm-up.

   Over loopback HTTP to ``promptc.testing.OpenAIStubServer`` (a real OpenAI-compatible server
   on 127.0.0.1): the loaded artifact through promptc's built-in backend
   (``load(path, api_base=...)``), against a raw ``httpx.Client.post`` (pooled) of the same
   messages, alternating call by call: the median of ``--http-calls`` x ``--repeats`` calls
   each, in a fresh interpreter that holds promptc and httpx only.
2. Import time (``import promptc``, ``import dspy``, ``import litellm``), each in a fresh Python
   process with compiled bytecode (a first, uncounted import writes it), median of
   ``--repeats``, with the number of modules it loads.
3. Evaluation throughput (examples per second) with a fake LM of 100 ms latency at 1, 8 and 64
   concurrent examples (``--waves`` examples per worker, at least 16):
   ``promptc.evaluate(num_threads=N)`` with ``promptc.testing.FakeBackend`` (the LM's
   ``max_concurrency`` raised to N), and ``dspy.Evaluate(num_threads=N)`` with a DSPy engine
   that sleeps as long (``dspy.LM(engine=SlowDSPyEngine(...))``): neither goes through litellm.
4. The core install: ``pip install`` of this checkout without extras into a fresh venv, its MiB
   and distributions (:mod:`benchmarks.production`; once per run, skipped by ``--quick`` and
   ``--no-install-size``).

The targets of issue #11 are printed side by side as ratios: promptc's zero-latency call at most
1/10 of ``dspy.Predict``'s (with ``DummyLM``), the HTTP call at most 1.2x the raw POST, the core
install at most 60 MiB, ``import promptc`` at most 0.2 s.

Prints a table and writes ``benchmarks/results/overhead-<UTC timestamp>.json``. DSPy rows need
the ``[dspy]`` extra; without it they are left out. Run from the repository root:

    python -m benchmarks.overhead            # a few minutes (the install needs the index)
    python -m benchmarks.overhead --quick    # seconds
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # litellm: no network on import

import promptc
from benchmarks.production import core_install, http_per_call
from promptc import Backend, LMRequest, LMResponse
from promptc.artifact import artifact_from_program, save_artifact
from promptc.testing import FakeBackend

REPO_ROOT = Path(__file__).resolve().parents[1]
INSTRUCTION = "Answer the input."
DEMOS = ({"input": "hot", "target": "cold"}, {"input": "up", "target": "down"})
PROMPTC_REPLY = "<target>x</target>"
DSPY_REPLY = "[[ ## target ## ]]\nx\n\n[[ ## completed ## ]]"
MOCK_MODEL = "openai/mock"  # never contacted: every litellm call here has mock_response
HTTP_MODEL = "openai/stub"  # served by the loopback stub server (benchmarks.production)


class ZeroLatencyBackend(Backend):
    """Answers every request at once with a fixed completion."""

    def __init__(self, text: str) -> None:
        self.response = LMResponse(
            text=text, prompt_tokens=1, completion_tokens=1, cost=0.0, finish_reason="stop"
        )

    def complete(self, request: LMRequest) -> LMResponse:
        return self.response


def _per_call_us(call: Callable[[], Any], calls: int, repeats: int) -> float:
    for _ in range(max(3, calls // 20)):  # warm-up: lazy imports, caches of templates
        call()
    runs = []
    for _ in range(repeats):
        started = time.perf_counter()
        for _ in range(calls):
            call()
        runs.append((time.perf_counter() - started) / calls * 1e6)
    return statistics.median(runs)


def _artifact(tmp: Path) -> Path:
    seed = promptc.Predict(promptc.make_signature("input -> target", INSTRUCTION))
    program = seed.with_params({"self": promptc.Params(INSTRUCTION, DEMOS)})
    settings = {"model": HTTP_MODEL, "temperature": 0.0, "max_tokens": 512}
    artifact = artifact_from_program(program, name="overhead", lm_settings=settings)
    return save_artifact(artifact, tmp / "a.yaml")


def _promptc_program(tmp: Path, lm: promptc.LM) -> Any:
    return promptc.load(_artifact(tmp), lm=lm)


def _dspy_program(dspy: Any) -> Any:
    program = dspy.Predict(dspy.Signature("input -> target", INSTRUCTION))
    program.demos = [dspy.Example(**d).with_inputs("input") for d in DEMOS]
    return program


def _import_dspy() -> Any:
    try:
        import dspy
    except ImportError:
        print("DSPy is not installed (pip install -e '.[dspy]'): its rows are left out")
        return None
    return dspy


def per_call(calls: int, litellm_calls: int, repeats: int) -> list[dict[str, Any]]:
    """Microseconds per call of each system, zero-latency LMs.

    promptc's zero-latency row runs first, before litellm is imported, as in a production
    process that loads an artifact (which never imports litellm); DSPy always has it loaded.
    """
    rows: list[dict[str, Any]] = []

    def add(system: str, lm_path: str, call: Callable[[], Any], n: int) -> None:
        assert str(call()).find("x") >= 0  # the mock's answer came back
        us = _per_call_us(call, n, repeats)
        rows.append({"system": system, "lm": lm_path, "us_per_call": round(us, 1), "calls": n})
        print(f"  {system} / {lm_path}: {us:,.0f} µs", file=sys.stderr)

    with tempfile.TemporaryDirectory() as tmp:
        zero = promptc.LM("fake/zero", backend=ZeroLatencyBackend(PROMPTC_REPLY), cache=False)
        compiled = _promptc_program(Path(tmp), zero)
        add("promptc load()", "zero-latency backend", lambda: compiled(input="warm"), calls)
        import litellm

        # The mock model has no price: litellm's cost lookup fails on every call (promptc asks
        # for the cost, DSPy too) and would print its provider list each time.
        litellm.suppress_debug_info = True
        mocked = promptc.LM(
            MOCK_MODEL,
            backend=promptc.LiteLLMBackend(mock_response=PROMPTC_REPLY, api_key="unused"),
            cache=False,
        )
        via = _promptc_program(Path(tmp), mocked)
        add("promptc load()", "litellm mock_response", lambda: via(input="warm"), litellm_calls)
    dspy = _import_dspy()
    if dspy is not None:
        from dspy.utils.dummies import DummyLM

        program = _dspy_program(dspy)
        dummy = DummyLM({"input": {"target": "x"}})

        def dspy_call(lm: Any) -> Callable[[], Any]:
            def call() -> Any:
                with dspy.context(lm=lm):
                    return program(input="warm").target

            return call

        add("dspy.Predict", "DummyLM (zero latency)", dspy_call(dummy), calls)
        engine = dspy.LM("fake/zero", engine=SlowDSPyEngine(0.0, DSPY_REPLY), cache=False)
        add("dspy.Predict", "engine (zero latency)", dspy_call(engine), calls)
        mock = dspy.LM(MOCK_MODEL, mock_response=DSPY_REPLY, cache=False, api_key="unused")
        add("dspy.Predict", "litellm mock_response", dspy_call(mock), litellm_calls)
    messages = [{"role": "user", "content": "warm"}]

    def raw() -> Any:
        reply = litellm.completion(
            model=MOCK_MODEL, messages=messages, mock_response="x", api_key="unused"
        )
        return reply.choices[0].message.content

    add("litellm.completion", "mock_response", raw, litellm_calls)
    return rows


_IMPORT_CODE = (
    "import sys, time, json; n = len(sys.modules); t = time.perf_counter(); import {module}; "
    "print(json.dumps([time.perf_counter() - t, len(sys.modules) - n]))"
)


def import_times(repeats: int) -> list[dict[str, Any]]:
    """Seconds to import each package in a fresh interpreter (median), and modules loaded."""
    rows = []
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    # With compiled bytecode, as an installed package has it: without it (PYTHONDONTWRITEBYTECODE
    # and an editable checkout) every import compiles promptc's sources again.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    for module in ("promptc", "dspy", "litellm"):
        runs = []
        for _ in range(repeats + 1):  # the first run writes the bytecode: not counted
            done = subprocess.run(
                [sys.executable, "-c", _IMPORT_CODE.format(module=module)],
                capture_output=True,
                text=True,
                env=env,
                timeout=120,
            )
            if done.returncode != 0:
                break
            runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
        runs = runs[1:]
        if not runs:
            print(f"  import {module}: not installed, left out", file=sys.stderr)
            continue
        seconds = statistics.median(r[0] for r in runs)
        rows.append({"module": module, "seconds": round(seconds, 3), "modules": runs[0][1]})
        print(f"  import {module}: {seconds:.3f} s", file=sys.stderr)
    return rows


def _slow_lm(latency: float, concurrency: int) -> promptc.LM:
    backend = FakeBackend(lambda request: PROMPTC_REPLY, latency=latency)
    return promptc.LM("fake/slow", backend=backend, cache=False, max_concurrency=concurrency)


def throughput(waves: int, latency: float, levels: list[int]) -> list[dict[str, Any]]:
    """Examples per second of an evaluation with an LM of fixed latency.

    Each level runs ``waves * level`` examples (at least 16), so every worker has work.
    """
    rows: list[dict[str, Any]] = []
    program = promptc.Predict(promptc.make_signature("input -> target", INSTRUCTION))
    dspy = _import_dspy()
    for level in levels:
        n = max(16, waves * level)
        data = [{"input": f"word{i}", "target": "x"} for i in range(n)]
        lm = _slow_lm(latency, level)
        started = time.perf_counter()
        result = promptc.evaluate(program, data, "exact_match", lm=lm, num_threads=level)
        wall = time.perf_counter() - started
        assert result.mean == 1.0, result.summary()
        rows.append(_rate("promptc.evaluate", level, n, wall))
        if dspy is not None:
            rows.append(_dspy_rate(dspy, data, latency, level))
    return rows


def _rate(system: str, level: int, n: int, wall: float) -> dict[str, Any]:
    print(f"  {system} x{level}: {n / wall:,.1f} examples/s", file=sys.stderr)
    return {
        "system": system,
        "concurrency": level,
        "examples": n,
        "wall_s": round(wall, 3),
        "examples_per_s": round(n / wall, 2),
    }


class SlowDSPyEngine:
    """A DSPy 3.4 engine (``dspy.LM(engine=...)``) that sleeps, then returns a fixed reply."""

    def __init__(self, latency: float, text: str) -> None:
        self.latency = latency
        self.text = text

    def complete(self, request: Any) -> Any:
        from dspy.lm15 import Message, Response, TextPart, Usage

        time.sleep(self.latency)
        return Response(
            id=None,
            model="fake/slow",
            message=Message.assistant([TextPart(self.text)]),
            finish_reason="stop",
            usage=Usage(input_tokens=0, output_tokens=0, total_tokens=0),
        )

    def close(self) -> None:
        """Nothing to release."""


def _dspy_rate(dspy: Any, data: list[dict[str, Any]], latency: float, level: int) -> dict[str, Any]:
    lm = dspy.LM("fake/slow", engine=SlowDSPyEngine(latency, DSPY_REPLY), cache=False)
    devset = [dspy.Example(**row).with_inputs("input") for row in data]
    evaluate = dspy.Evaluate(
        devset=devset,
        metric=lambda example, pred, trace=None: example.target == pred.target,
        num_threads=level,
        display_progress=False,
    )
    program = dspy.Predict(dspy.Signature("input -> target", INSTRUCTION))
    started = time.perf_counter()
    with dspy.context(lm=lm):
        result = evaluate(program)
    wall = time.perf_counter() - started
    assert float(result.score) == 100.0, result.score
    return _rate("dspy.Evaluate", level, len(data), wall)


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Issue #11's targets, each as measured / goal (lower is better), from this run's rows."""
    us = {(r["system"], r["lm"]): r["us_per_call"] for r in results["per_call"]}
    seconds = {r["module"]: r["seconds"] for r in results["imports"]}
    found = [
        (
            "promptc zero-latency call / dspy.Predict (DummyLM)",
            us.get(("promptc load()", "zero-latency backend")),
            us.get(("dspy.Predict", "DummyLM (zero latency)")),
            0.1,
        ),
        (
            "promptc over loopback HTTP / raw httpx POST",
            us.get(("promptc load()", "loopback HTTP stub")),
            us.get(("httpx.Client.post", "loopback HTTP stub")),
            1.2,
        ),
        ("core install, MiB", (results.get("install") or {}).get("mib"), 1.0, 60.0),
        ("import promptc, s", seconds.get("promptc"), 1.0, 0.2),
    ]
    return [
        {"target": name, "measured": round(a / b, 3), "goal": goal, "met": a / b <= goal}
        for name, a, b, goal in found
        if a is not None and b
    ]


def format_tables(results: dict[str, Any]) -> str:
    """The measurements as Markdown tables, the targets first."""
    lines = ["| target | measured | goal | met |", "|---|---:|---:|---|"]
    lines += [
        f"| {r['target']} | {r['measured']:.3f} | ≤ {r['goal']} | {'yes' if r['met'] else 'NO'} |"
        for r in results["targets"]
    ]
    lines += ["", "| system | LM | µs per call |", "|---|---|---:|"]
    lines += [
        f"| {r['system']} | {r['lm']} | {r['us_per_call']:,.0f} |" for r in results["per_call"]
    ]
    lines += ["", "| import | seconds | modules loaded |", "|---|---:|---:|"]
    lines += [
        f"| {r['module']} | {r['seconds']:.3f} | {r['modules']} |" for r in results["imports"]
    ]
    lines += ["", "| evaluation | concurrency | examples/s | wall s |", "|---|---:|---:|---:|"]
    lines += [
        f"| {r['system']} | {r['concurrency']} | {r['examples_per_s']:,.1f} | {r['wall_s']:.2f} |"
        for r in results["throughput"]
    ]
    install = results.get("install")
    if install:
        lines += ["", "| core install (fresh venv) | MiB | packages | import promptc s |"]
        lines += ["|---|---:|---:|---:|"]
        lines += [
            f"| pip install promptc | {install['mib']:.1f} | {install['packages']} "
            f"| {install['import_promptc_s']:.3f} |"
        ]
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="few calls: a smoke run in seconds")
    parser.add_argument("--calls", type=int, help="calls per repeat, in-process LMs (2000)")
    parser.add_argument("--litellm-calls", type=int, help="calls per repeat via litellm (200)")
    parser.add_argument("--http-calls", type=int, help="calls per repeat over HTTP (200)")
    parser.add_argument("--repeats", type=int, help="repeats; the median is kept (5)")
    parser.add_argument(
        "--waves", type=int, help="throughput: examples per worker, at least 16 in all (4)"
    )
    parser.add_argument("--latency", type=float, default=0.1, help="fake LM latency, s (0.1)")
    parser.add_argument(
        "--install-size",
        action=argparse.BooleanOptionalAction,
        help="measure the core install in a fresh venv (default: on, off with --quick)",
    )
    parser.add_argument(
        "--out", type=Path, default=REPO_ROOT / "benchmarks" / "results", help="JSON directory"
    )
    args = parser.parse_args(argv)
    sizes = (200, 20, 20, 2, 2, False) if args.quick else (2000, 200, 200, 5, 4, True)
    keys = ("calls", "litellm_calls", "http_calls", "repeats", "waves", "install_size")
    for key, value in zip(keys, sizes, strict=True):
        if getattr(args, key) is None:
            setattr(args, key, value)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started, load = dt.datetime.now(dt.timezone.utc), os.getloadavg()
    print("per-call overhead ...", file=sys.stderr)
    results: dict[str, Any] = {"per_call": per_call(args.calls, args.litellm_calls, args.repeats)}
    print("over loopback HTTP ...", file=sys.stderr)
    with tempfile.TemporaryDirectory() as tmp:
        path = _artifact(Path(tmp))
        results["per_call"] += http_per_call(path, args.http_calls, args.repeats)
    print("import times ...", file=sys.stderr)
    results["imports"] = import_times(args.repeats)
    print("throughput ...", file=sys.stderr)
    results["throughput"] = throughput(args.waves, args.latency, [1, 8, 64])
    if args.install_size:
        print("core install in a fresh venv ...", file=sys.stderr)
        results["install"] = core_install(REPO_ROOT)
    results["targets"] = targets(results)
    table = format_tables(results)
    payload = {
        "script": "benchmarks/overhead.py",
        "argv": sys.argv[1:] if argv is None else argv,
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "started_utc": started.isoformat(timespec="seconds"),
        "environment": {
            "promptc_version": promptc.__version__,
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            # Other processes on the machine inflate every figure: the load says how busy it was.
            "load_average_at_start": list(load),
        },
        **results,
        "table": table,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"overhead-{started:%Y-%m-%dT%H%M%SZ}.json"
    path.write_text(json.dumps(payload, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(table)
    print(f"\nresults: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
