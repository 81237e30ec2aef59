"""What a compile returns: the compiled program, its artifact, and the run's record."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from promptc._artifact.artifact import Artifact, save_artifact
from promptc._artifact.provenance import Selection, Spent, TrialRecord
from promptc._compile.evaluate import EvalResult
from promptc._program.module import Module
from promptc._report.models import CompileReport, PreferenceReport
from promptc.exceptions import ArtifactError

__all__ = ["CompileResult", "PreferenceResult", "report_path"]


def report_path(artifact_path: str | Path) -> Path:
    """Where the report of the artifact at ``artifact_path`` goes (without suffix).

    ``out/sentiment.yaml`` -> ``out/sentiment.report`` (written as ``.report.json`` and
    ``.report.html``): the CLI and :meth:`CompileResult.save` both put it there.
    """
    path = Path(artifact_path)
    return path.with_name(path.stem + ".report")


def _ci(result: EvalResult) -> str:
    return f"{result.mean:.3f} [{result.ci[0]:.3f}, {result.ci[1]:.3f}]"


class _Saved:
    """What both results share: saving the artifact with its report, and the spend."""

    artifact: Artifact

    def write_report(self, path: str | Path) -> tuple[Path, Path]:
        raise NotImplementedError

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

    @property
    def spent(self) -> Spent:
        """What the compile spent: LM requests, tokens, dollars, the caps (the artifact's
        ``provenance.spent``)."""
        spent = self.artifact.provenance.spent
        if spent is None:  # only an artifact swapped in by hand lacks it
            raise ArtifactError(
                "expected the compiled artifact's provenance.spent, got an artifact without it; "
                "keep the artifact the compile returned (it records the spend)"
            )
        return spent


@dataclass(repr=False)
class CompileResult(_Saved):
    """What a compile returns: the better program, its artifact, and the run's record.

    ``print(result)`` gives a short summary (strategy, baseline -> best with 95% CIs, the
    paired gain, spend, artifact hash); ``result.report`` holds everything else.

    Attributes:
        program: the compiled program (a new object; the input is never changed).
        artifact: the frozen artifact of ``program``; its ``provenance`` records how it was
            compiled.
        baseline: the uncompiled program's validation result.
        best: the compiled program's validation result (the same rows).
        trials: one frozen record per trial, in evaluation order.
        report: the full compile report (written by :meth:`save` as ``.report.json``, its
            ``model_dump``, and ``.report.html``).
        run_usage: what this run itself called (fresh calls vs. cache hits); the artifact's
            provenance records only what does not depend on the cache's state.
        holdout: baseline and compiled results on the held-out rows, when given.
    """

    program: Module
    artifact: Artifact
    baseline: EvalResult
    best: EvalResult
    trials: list[TrialRecord]
    report: CompileReport
    run_usage: dict[str, int] = field(default_factory=dict)
    holdout: dict[str, EvalResult] = field(default_factory=dict)

    def write_report(self, path: str | Path) -> tuple[Path, Path]:
        """Write the compile report as ``<path>.json`` and ``<path>.html`` (with the plot)."""
        from promptc._report.html import write_report

        return write_report(self.report, path)

    def summary(self) -> str:
        """A few lines: strategy, baseline -> best with 95% CIs and the paired gain, why, spend,
        artifact hash."""
        spent = self.spent
        budget = "" if spent.budget is None else f" of {spent.budget}"
        result = self.report.result
        lines = [
            f"promptc compile of {self.artifact.program.name} with "
            f"{self.report.optimizer.name!r}: {len(self.trials)} trials",
        ]
        if self.report.optimizer.chosen_by:
            lines.append(f"  strategy    {self.report.optimizer.chosen_by}")
        lines.append(
            f"  validation  {_ci(self.baseline)} -> {_ci(self.best)} (n={len(self.best.results)})"
        )
        if result.search.gain is not None:
            lines.append(f"  gain        {result.search.gain.text()}")
        selection = selection_of(self.artifact)
        if selection:
            lines.append(f"  new rows    {selection.text()}")
        if self.holdout:
            base, held = self.holdout["baseline"], self.holdout["compiled"]
            lines.append(f"  held-out    {_ci(base)} -> {_ci(held)} (n={len(held.results)})")
        if result.holdout is not None and result.holdout.gain is not None:
            lines.append(f"  gain        {result.holdout.gain.text()} (held-out)")
        lines.append(f"  outcome     {self.report.outcome.reason}")
        lines.append(
            f"  spent       {spent.lm_requests} LM requests{budget} "
            f"({self.run_usage.get('lm_calls', 0)} calls, "
            f"{self.run_usage.get('cache_hits', 0)} cache hits), "
            f"{spent.prompt_tokens}+{spent.completion_tokens} tokens"
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


@dataclass(repr=False)
class PreferenceResult(_Saved):
    """What a compile from preferences returns: the preferred program, its artifact, the run.

    ``print(result)`` gives a short summary (strategy, preferences, the kept candidate's
    estimated utility, spend, artifact hash); ``result.report`` holds the ranking and every
    comparison.

    Attributes:
        program: the compiled program (a new object; the input is never changed).
        artifact: its frozen artifact; ``provenance.preferences`` says what it was compiled
            from.
        report: the run's report (written by :meth:`save` as ``.report.json`` and
            ``.report.html``).
        run_usage: what this run itself called (fresh calls vs. cache hits).
    """

    program: Module
    artifact: Artifact
    report: PreferenceReport
    run_usage: dict[str, int] = field(default_factory=dict)

    def write_report(self, path: str | Path) -> tuple[Path, Path]:
        """Write the report as ``<path>.json`` and ``<path>.html``."""
        from promptc._report.preferences import write_preference_report

        return write_preference_report(self.report, path)

    def summary(self) -> str:
        """A few lines: strategy, preferences, the outcome, spend, artifact hash."""
        prefs, spent = self.report.preferences, self.spent
        budget = "" if spent.budget is None else f" of {spent.budget}"
        return "\n".join(
            [
                f"promptc compile of {self.artifact.program.name} from preferences with "
                f"{self.report.optimizer.name!r}: {len(self.report.duels)} comparisons",
                f"  judge       {prefs.judge}{f' ({prefs.model})' if prefs.model else ''}: "
                f"{prefs.questions} of {prefs.feedback_budget} questions (A {prefs.preferred_a}, "
                f"B {prefs.preferred_b}, tie {prefs.ties}, skip {prefs.skips}; "
                f"{prefs.from_log} from the log), {prefs.automatic} settled without asking",
                f"  outcome     {self.report.outcome}",
                f"  spent       {spent.lm_requests} LM requests{budget}, "
                f"{spent.prompt_tokens}+{spent.completion_tokens} tokens",
                f"  artifact    {self.artifact.content_hash[:19]}",
            ]
        )

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        return (
            f"<PreferenceResult {self.artifact.program.name}: kept candidate "
            f"{self.report.kept} of {len(self.report.candidates)}, "
            f"{self.report.preferences.questions} preferences, {self.artifact.content_hash[:19]}>"
        )


def selection_of(artifact: Artifact) -> Selection | None:
    """The compile's winner's-curse estimate, if its provenance has one."""
    scores = artifact.provenance.scores if artifact.provenance else None
    return scores.selection if scores else None
