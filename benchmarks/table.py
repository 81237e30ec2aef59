"""The task table, and the paired differences between systems, as Markdown.

Requests count fresh calls and cache hits alike (``(N cached)`` says how many were hits);
tokens are prompt plus completion tokens of every request served.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from benchmarks.records import (
    Difference,
    DSPyCompile,
    PromptcCompile,
    ResultRow,
    Scores,
    TestRecord,
)
from benchmarks.systems import UNCOMPILED
from promptc.compiler import paired_bootstrap_ci

__all__ = [
    "DIFF_HEADER",
    "HEADER",
    "differences",
    "format_differences",
    "format_table",
    "paired_difference",
]

HEADER = (
    "| task | metric | system | test score [95% CI] | n | errors | val score "
    "| compile LM requests | test LM requests | compile s | test s | compile tokens | test tokens |"
)
DIFF_HEADER = "| task | difference | mean [95% paired CI] | n |"


def _ci(scores: Scores) -> str:
    lo, hi = scores.ci95
    return f"{scores.mean:.3f} [{lo:.3f}, {hi:.3f}]"


def _with_cached(requests: int, cached: int) -> str:
    return f"{requests} ({cached} cached)" if cached else str(requests)


def _tokens(usage: Mapping[str, Any]) -> str:
    return f"{int(usage.get('prompt_tokens', 0)) + int(usage.get('completion_tokens', 0)):,}"


def _uncompiled_val(rows: Sequence[ResultRow], task: str) -> str:
    """The uncompiled program's val score, as the first compile of ``task`` measured it."""
    for r in rows:
        if r.task == task and isinstance(r.result.compile, PromptcCompile):
            return f"{r.result.compile.val_uncompiled.mean:.3f}"
    return "—"


def _cells(rows: Sequence[ResultRow], row: ResultRow, test: TestRecord) -> list[str]:
    c = row.result.compile
    cells = [_ci(test.scores), str(test.scores.n), str(test.scores.errors)]
    if c is not None:
        best = c.val_best_mean
        cells += [
            f"{best:.3f}" if best is not None else "—",
            _with_cached(c.lm_requests, c.run_usage.get("cache_hits", 0)),
        ]
    else:
        cells += [_uncompiled_val(rows, row.task), "—"]
    return [
        *cells,
        _with_cached(test.lm_requests, test.usage.get("cache_hits", 0)),
        f"{c.wall_s:.1f}" if c is not None else "—",
        f"{test.wall_s:.1f}",
        _tokens(c.run_usage) if c is not None else "—",
        _tokens(test.usage),
    ]


def _several_seeds(rows: Sequence[ResultRow]) -> bool:
    return len({r.seed for r in rows}) > 1


def _task_label(task: str, seed: int | None, several: bool) -> str:
    """The task, with the seed when the rows span several (one seed: as in every older run)."""
    return f"{task} · seed {seed}" if several else task


def format_table(rows: Sequence[ResultRow]) -> str:
    """One Markdown table: a row per (task, seed, system), figures as measured."""
    lines = [HEADER, "|" + "---|" * 3 + "---:|" * 10]
    several = _several_seeds(rows)
    for r in rows:
        same = [x for x in rows if x.seed == r.seed]
        head = f"| {_task_label(r.task, r.seed, several)} | {r.metric} | {r.system} |"
        if r.result.skipped is not None:
            lines.append(f"{head} n/a: {r.result.skipped} |" + " |" * 9)
        elif r.result.error is not None or r.result.test is None:
            lines.append(f"{head} failed: {r.result.error} |" + " |" * 9)
        else:
            lines.append(f"{head} {' | '.join(_cells(same, r, r.result.test))} |")
    return "\n".join(lines)


def _pairs(rows: Sequence[ResultRow]) -> list[tuple[ResultRow, ResultRow]]:
    """Each compiled system vs. the uncompiled program, and each promptc strategy vs. each
    DSPy optimizer, on one task."""
    tested = [r for r in rows if r.result.test is not None]
    base = [r for r in tested if r.system == UNCOMPILED]
    promptc = [r for r in tested if isinstance(r.result.compile, PromptcCompile)]
    dspy = [r for r in tested if isinstance(r.result.compile, DSPyCompile)]
    return [(r, b) for r in [*promptc, *dspy] for b in base] + [
        (p, d) for p in promptc for d in dspy
    ]


def differences(rows: Sequence[ResultRow]) -> list[Difference]:
    """Paired differences of test scores, per task and seed, for the pairs the table invites.

    Pairs whose test rows differ (not the same ids in the same order) are left out.
    """
    out = []
    for task, seed in dict.fromkeys((r.task, r.seed) for r in rows):
        for a, b in _pairs([r for r in rows if (r.task, r.seed) == (task, seed)]):
            diff = paired_difference(a, b)
            if diff is not None:
                out.append(diff)
    return out


def paired_difference(a: ResultRow, b: ResultRow) -> Difference | None:
    """Test score of ``a`` minus ``b`` on the same rows, with its paired-bootstrap 95% CI;
    ``None`` when either has no test record or their test rows differ (ids and order)."""
    if a.result.test is None or b.result.test is None:
        return None
    ids_a = [e.id for e in a.result.test.examples]
    if not ids_a or ids_a != [e.id for e in b.result.test.examples]:
        return None
    sa, sb = a.result.test.row_scores(), b.result.test.row_scores()
    mean = sum(x - y for x, y in zip(sa, sb, strict=True)) / len(sa)
    ci = paired_bootstrap_ci(sa, sb)
    return Difference(a.task, a.system, b.system, mean, ci, len(sa), a.seed)


def format_differences(diffs: Sequence[Difference]) -> str:
    """The paired differences as a Markdown table."""
    lines = [DIFF_HEADER, "|---|---|---:|---:|"]
    several = len({d.seed for d in diffs}) > 1
    lines += [
        f"| {_task_label(d.task, d.seed, several)} | {d.a} - {d.b} | "
        f"{d.mean:+.3f} [{d.ci95[0]:+.3f}, {d.ci95[1]:+.3f}] | {d.n} |"
        for d in diffs
    ]
    return "\n".join(lines)
