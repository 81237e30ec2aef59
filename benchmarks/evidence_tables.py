"""The evidence of a run as Markdown: scores over seeds, promptc - DSPy with the summary rows,
the DSPy adapter choices, and the comparison at matched spend (:mod:`benchmarks.evidence`)."""

from __future__ import annotations

from collections.abc import Sequence

from benchmarks.evidence import (
    DifferenceSummary,
    MatchedSpend,
    SeedsDifference,
    SeedsScore,
    matched_spend,
    over_seeds,
    paired_differences,
    summarize,
)
from benchmarks.records import JSON, DSPyCompile, ResultRow

__all__ = [
    "ADAPTER_HEADER",
    "MATCHED_HEADER",
    "PAIRED_HEADER",
    "SEEDS_HEADER",
    "evidence_json",
    "format_adapter_choices",
    "format_evidence",
    "format_matched_spend",
    "format_over_seeds",
    "format_paired",
]

SEEDS_HEADER = (
    "| task | system | test score, mean over seeds | per seed | compile LM requests (mean) "
    "| validation - test (mean) |"
)
PAIRED_HEADER = (
    "| task | promptc - DSPy | mean [95% CI over seeds and rows] | seeds | rows | verdict |"
)
ADAPTER_HEADER = (
    "| task | seed | system | chosen | val chat / xml / json | LM requests chat / xml / json |"
)
MATCHED_HEADER = (
    "| task | promptc - DSPy | read at LM requests | promptc best val | DSPy best val "
    "| promptc spent | DSPy spent | seeds |"
)


def _signed(mean: float, ci: tuple[float, float]) -> str:
    return f"{mean:+.3f} [{ci[0]:+.3f}, {ci[1]:+.3f}]"


def format_over_seeds(scores: Sequence[SeedsScore]) -> str:
    """Each system's mean test score over seeds, per task, and how much its validation score
    overstated it."""
    lines = [SEEDS_HEADER, "|---|---|---:|---|---:|---:|"]
    for s in scores:
        per_seed = ", ".join(f"{m:.3f}" for m in s.means)
        optimism = "—" if s.optimism is None else f"{s.optimism:+.3f}"
        lines.append(
            f"| {s.task} | {s.system} | {s.mean:.3f} | {per_seed} | {s.compile_requests:.0f} "
            f"| {optimism} |"
        )
    return "\n".join(lines)


def format_paired(diffs: Sequence[SeedsDifference], summary: Sequence[DifferenceSummary]) -> str:
    """Per task, each promptc strategy minus each DSPy system; then per pair the mean over
    tasks with wins / ties / losses at 95%."""
    lines = [PAIRED_HEADER, "|---|---|---:|---:|---:|---|"]
    for d in diffs:
        e = d.estimate
        lines.append(
            f"| {d.task} | {d.a} - {d.b} | {_signed(e.mean, e.ci95)} | {e.seeds} | {e.rows} "
            f"| {d.verdict} |"
        )
    for s in summary:
        lines.append(
            f"| **mean over {s.tasks} tasks** | {s.a} - {s.b} | {_signed(s.mean, s.ci95)} | | "
            f"| {s.verdict}; tasks won / tied / lost: {s.wins} / {s.ties} / {s.losses} |"
        )
    return "\n".join(lines)


def _by_adapter(values: dict[str, object]) -> str:
    return " / ".join(str(values.get(a, "—")) for a in ("chat", "xml", "json"))


def format_adapter_choices(rows: Sequence[ResultRow]) -> str:
    """Which DSPy adapter each adapter choice kept, what each scored on the validation rows
    and what each compile spent (the row's own spend is their sum)."""
    lines = [ADAPTER_HEADER, "|---|---:|---|---|---|---|"]
    for r in rows:
        c = r.result.compile
        if not isinstance(c, DSPyCompile) or c.adapters is None:
            continue
        val = {
            a: "failed" if "error" in v else f"{v['val_best']:.3f}" for a, v in c.adapters.items()
        }
        spent = {a: v.get("lm_requests", "—") for a, v in c.adapters.items()}
        seed = "—" if r.seed is None else r.seed
        lines.append(
            f"| {r.task} | {seed} | {r.system} | {c.adapter} | {_by_adapter(dict(val))} "
            f"| {_by_adapter(dict(spent))} |"
        )
    return "\n".join(lines)


def _mean(values: Sequence[float | None]) -> str:
    known = [v for v in values if v is not None]
    return f"{sum(known) / len(known):.3f}" if known else "n/a"


def format_matched_spend(found: Sequence[MatchedSpend]) -> str:
    """Per task and pair, means over seeds of both best validation scores read at the same
    spend, and of what each compile spent in all."""
    lines = [MATCHED_HEADER, "|---|---|---:|---:|---:|---:|---:|---:|"]
    for task, a, b in dict.fromkeys((m.task, m.a, m.b) for m in found):
        mine = [m for m in found if (m.task, m.a, m.b) == (task, a, b)]
        n = len(mine)
        lines.append(
            f"| {task} | {a} - {b} | {sum(m.requests for m in mine) / n:.0f} "
            f"| {_mean([m.a_val for m in mine])} | {_mean([m.b_val for m in mine])} "
            f"| {sum(m.a_requests for m in mine) / n:.0f} "
            f"| {sum(m.b_requests for m in mine) / n:.0f} | {n} |"
        )
    return "\n".join(lines)


def _has_choices(rows: Sequence[ResultRow]) -> bool:
    return any(
        isinstance(r.result.compile, DSPyCompile) and r.result.compile.adapters for r in rows
    )


def format_evidence(rows: Sequence[ResultRow]) -> list[str]:
    """The sections that apply to ``rows``: scores over seeds (several seeds), promptc - DSPy
    (both kinds of system), the adapter choices (``+best`` rows), matched spend (curves)."""
    parts = []
    if len({r.seed for r in rows}) > 1:
        parts.append(f"Test scores over seeds:\n\n{format_over_seeds(over_seeds(rows))}")
    diffs = paired_differences(rows)
    if diffs:
        table = format_paired(diffs, summarize(diffs))
        parts.append(
            "promptc - DSPy on the same test rows (two-level bootstrap over seeds, then rows; "
            f"verdict for promptc at 95%):\n\n{table}"
        )
    if _has_choices(rows):
        table = format_adapter_choices(rows)
        parts.append(f"DSPy adapter chosen on the validation rows:\n\n{table}")
    matched = matched_spend(rows)
    if matched:
        parts.append(
            "Best validation score at matched spend (each pair read at the smaller compile's "
            f"LM requests; means over seeds):\n\n{format_matched_spend(matched)}"
        )
    return parts


def evidence_json(rows: Sequence[ResultRow]) -> JSON:
    """The same figures for the results file."""
    diffs = paired_differences(rows)
    return {
        "over_seeds": [s.to_json() for s in over_seeds(rows)],
        "paired": [d.to_json() for d in diffs],
        "summary": [s.to_json() for s in summarize(diffs)],
        "matched_spend": [m.to_json() for m in matched_spend(rows)],
    }
