"""What a compile returns: the compiled program, its artifact, and the run's record."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from promptc._artifact.artifact import Artifact, save_artifact
from promptc._compile.evaluate import EvalResult
from promptc._program.module import Module

__all__ = ["CompileResult", "report_path"]


def report_path(artifact_path: str | Path) -> Path:
    """Where the report of the artifact at ``artifact_path`` goes (without suffix).

    ``out/sentiment.yaml`` -> ``out/sentiment.report`` (written as ``.report.json`` and
    ``.report.html``): the CLI and :meth:`CompileResult.save` both put it there.
    """
    path = Path(artifact_path)
    return path.with_name(path.stem + ".report")


def _ci(result: EvalResult) -> str:
    return f"{result.mean:.3f} [{result.ci[0]:.3f}, {result.ci[1]:.3f}]"


@dataclass(repr=False)
class CompileResult:
    """What a compile returns: the better program, its artifact, and the run's record.

    ``print(result)`` gives a short summary (strategy, baseline -> best with 95% CIs, spend,
    artifact hash); ``result.report`` holds everything else.

    Attributes:
        program: the compiled program (a new object; the input is never changed).
        artifact: the frozen artifact of ``program``.
        baseline: the uncompiled program's validation result.
        best: the compiled program's validation result (the same rows).
        trials: one record per trial, in order.
        report: the full compile report (see :func:`promptc._report.html.write_report`).
        run_usage: what this run itself called (fresh calls vs. cache hits); the artifact's
            provenance records only what does not depend on the cache's state.
        holdout: baseline and compiled results on the held-out rows, when given.
    """

    program: Module
    artifact: Artifact
    baseline: EvalResult
    best: EvalResult
    trials: list[dict[str, Any]] = field(default_factory=list)
    report: dict[str, Any] = field(default_factory=dict)
    run_usage: dict[str, int] = field(default_factory=dict)
    holdout: dict[str, EvalResult] = field(default_factory=dict)

    def save(self, path: str | Path, *, report: bool = True) -> Path:
        """Write the artifact atomically to ``path`` (YAML), and its report beside it.

        Args:
            path: the artifact's path, e.g. ``out/sentiment.yaml``.
            report: also write ``out/sentiment.report.json`` and ``.report.html`` (as the
                ``promptc compile`` command does).

        Returns:
            The artifact's path.
        """
        out = save_artifact(self.artifact, path)
        if report:
            self.write_report(report_path(out))
        return out

    def write_report(self, path: str | Path) -> tuple[Path, Path]:
        """Write the compile report as ``<path>.json`` and ``<path>.html`` (with the plot)."""
        from promptc._report.html import write_report

        return write_report(self.report, path)

    def summary(self) -> str:
        """A few lines: strategy, baseline -> best with 95% CIs, why, spend, artifact hash."""
        optimizer = self.report.get("optimizer", {}).get("name", "?")
        spent = self.artifact.provenance.get("spent", {})
        budget = spent.get("budget")
        lines = [
            f"promptc compile of {self.artifact.program.name} with {optimizer!r}: "
            f"{len(self.trials)} trials",
            f"  validation  {_ci(self.baseline)} -> {_ci(self.best)} (n={len(self.best.results)})",
        ]
        for label, held in self.holdout.items():
            lines.append(f"  held-out    {label}: {_ci(held)} (n={len(held.results)})")
        reason = self.report.get("outcome", {}).get("reason")
        if reason:
            lines.append(f"  outcome     {reason}")
        lines.append(
            f"  spent       {spent.get('lm_requests', 0)} LM requests"
            f"{'' if budget is None else f' of {budget}'} "
            f"({self.run_usage.get('lm_calls', 0)} calls, "
            f"{self.run_usage.get('cache_hits', 0)} cache hits), "
            f"{spent.get('prompt_tokens', 0)}+{spent.get('completion_tokens', 0)} tokens"
        )
        lines.append(f"  artifact    {self.artifact.content_hash[:19]}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        return (
            f"<CompileResult {self.artifact.program.name}: {self.baseline.mean:.3f} -> "
            f"{self.best.mean:.3f}, {len(self.trials)} trials, "
            f"{self.artifact.content_hash[:19]}>"
        )
