"""Speed of the embedded local LMs: load time, prompt and generation throughput, peak memory.

Run from the repository root with promptc importable (``pip install -e '.[local]'``)::

    python -m benchmarks.local_lm_speed --model qwen2.5-coder-0.5b --model smollm2-135m

Each model is measured in a fresh subprocess, so its peak RSS is its own. Throughputs are the
median over ``--repeats`` runs; "llama.cpp" figures come from the ``timings`` the runtime
reports, "wall" figures from the clock around the whole in-process call.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import promptc
from promptc import LMRequest, LocalBackend

# TODO(public): the verified GGUF path of a pulled model (timed apart from the load).
from promptc._local.models import resolve_model_path

DEFAULT_LOCAL_MODEL = promptc.DEFAULT_MODEL.removeprefix("local/")
REPO_ROOT = Path(__file__).resolve().parents[1]

PROMPT_TOKENS = 512
GEN_TOKENS = 128
SENTENCE = "Sentence {i}: the river carried {i} small boats past the old mill before sunset. "


def _request(name: str, text: str, max_tokens: int) -> LMRequest:
    return LMRequest.build(
        f"local/{name}", [{"role": "user", "content": text}], max_tokens=max_tokens
    )


def _prompt(backend: LocalBackend, name: str) -> str:
    """A filler prompt of about PROMPT_TOKENS tokens under this model's tokenizer."""
    probe = 20
    used = backend.complete(_request(name, "".join(SENTENCE.format(i=i) for i in range(probe)), 1))
    count = max(1, round(probe * PROMPT_TOKENS / used.prompt_tokens))
    return "".join(SENTENCE.format(i=i) for i in range(count))


def measure(name: str, threads: int, repeats: int) -> dict[str, Any]:
    """Measure one model in this process."""
    started = time.perf_counter()
    resolve_model_path(name)
    resolved = time.perf_counter() - started
    # cache_prompt=False makes every run evaluate the whole prompt again; ignore_eos makes every
    # generation run its full GEN_TOKENS.
    options = {"cache_prompt": False, "ignore_eos": True}
    backend = LocalBackend(name, n_ctx=2048, num_threads=threads, request_options=options)
    started = time.perf_counter()
    backend.load()
    loaded = time.perf_counter() - started
    text = _prompt(backend, name)
    prompt_runs = [backend.complete(_request(name, text, 1)) for _ in range(repeats)]
    gen_runs, walls = [], []
    for _ in range(repeats):
        started = time.perf_counter()
        gen_runs.append(backend.complete(_request(name, text, GEN_TOKENS)))
        walls.append(time.perf_counter() - started)
    timings = [r.extra["timings"] for r in gen_runs]
    gen_wall = [
        t["predicted_n"] / (wall - t["prompt_ms"] / 1000)
        for t, wall in zip(timings, walls, strict=True)
    ]
    return {
        "model": name,
        "threads": threads,
        "resolve_s": resolved,
        "load_s": loaded,
        "prompt_tokens": prompt_runs[0].prompt_tokens,
        "prompt_tps": statistics.median(
            r.extra["timings"]["prompt_per_second"] for r in prompt_runs
        ),
        "gen_tokens": gen_runs[0].completion_tokens,
        "gen_tps": statistics.median(t["predicted_per_second"] for t in timings),
        "gen_tps_wall": statistics.median(gen_wall),
        "call_wall_s": statistics.median(walls),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def table(rows: list[dict[str, Any]]) -> str:
    """Render measurements as a Markdown table."""
    lines = [
        "| model | threads | resolve | load | prompt tok | prompt tok/s | gen tok "
        "| gen tok/s (llama.cpp) | gen tok/s (wall) | 512+128 call (wall) | peak RSS |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['threads']} | {r['resolve_s']:.2f} s | {r['load_s']:.2f} s "
            f"| {r['prompt_tokens']} | {r['prompt_tps']:.0f} | {r['gen_tokens']} "
            f"| {r['gen_tps']:.1f} | {r['gen_tps_wall']:.1f} | {r['call_wall_s']:.2f} s "
            f"| {r['peak_rss_mb']:,.0f} MB |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--model", action="append", help=f"repeatable; default {DEFAULT_LOCAL_MODEL}"
    )
    parser.add_argument("--threads", type=int, default=min(os.cpu_count() or 1, 4))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    models = args.model or [DEFAULT_LOCAL_MODEL]
    if args.child:
        print(json.dumps(measure(models[0], args.threads, args.repeats)))
        return
    rows = []
    for name in models:
        command = [sys.executable, "-m", "benchmarks.local_lm_speed", "--child", "--model", name]
        command += ["--threads", str(args.threads), "--repeats", str(args.repeats)]
        done = subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True, cwd=REPO_ROOT)
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    print(table(rows))


if __name__ == "__main__":
    main()
