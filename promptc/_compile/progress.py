"""A compile's progress: one INFO log line per trial, and optionally one bar for the whole run.

The log lines go through ``logging`` (logger ``promptc.progress``), so a compile under
``nohup`` or in CI shows its progress wherever the application sends its logs (the CLI sends
them to stderr). The bar is tqdm's when tqdm is installed: one bar for the whole compile (LM
requests out of the budget, the trial, the best score so far, elapsed and remaining time),
never one per evaluation.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from typing import Any

from promptc._artifact.provenance import TrialRecord
from promptc._lm.usage import Budget

__all__ = ["CompileProgress", "tqdm_available"]

logger = logging.getLogger("promptc.progress")

_BAR_FORMAT = (
    "{desc} {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} LM requests "
    "[{elapsed}<{remaining}]{postfix}"
)
_OPEN_BAR_FORMAT = "{desc} {n_fmt} LM requests [{elapsed}]{postfix}"


def tqdm_available() -> bool:
    """Whether tqdm can be imported (progress bars are optional)."""
    try:
        import tqdm  # type: ignore[import-untyped,unused-ignore]  # noqa: F401
    except ImportError:
        return False
    return True


def _id(record: TrialRecord) -> str:
    return "?" if record.id is None else str(record.id)


def _clock(seconds: float) -> str:
    seconds = max(0, round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class CompileProgress:
    """Reports a compile's progress as it runs.

    Args:
        budget: the run's budget (its ``used`` count is read, never changed).
        total: the LM requests the compile may spend (its ``budget``), or ``None``.
        bar: show one tqdm bar on stderr (ignored, with a log line, when tqdm is missing).
        label: what the bar and the log lines call the run (program and strategy).
    """

    def __init__(self, budget: Budget, *, total: int | None, bar: bool, label: str) -> None:
        self.budget = budget
        self.total = total
        self.label = label
        self.started = time.monotonic()
        self.best: float | None = None
        self.trials = 0
        self._lock = threading.Lock()
        self._bar: Any = self._open_bar() if bar else None

    def _open_bar(self) -> Any:
        try:
            from tqdm import tqdm
        except ImportError:
            logger.info("tqdm is not installed: compile progress goes to the log only")
            return None
        return tqdm(
            total=self.total,
            desc=f"compile {self.label}",
            unit="req",
            file=sys.stderr,
            bar_format=_BAR_FORMAT if self.total else _OPEN_BAR_FORMAT,
            dynamic_ncols=True,
            leave=True,
        )

    def tick(self) -> None:
        """Move the bar to the LM requests spent so far (called after each example)."""
        if self._bar is None:
            return
        with self._lock:
            used = self.budget.used
            if used > self._bar.n:
                self._bar.update(used - self._bar.n)

    def trial(self, record: TrialRecord) -> None:
        """Report one finished (or stopped) trial: a log line, and the bar's postfix."""
        with self._lock:
            self.trials += 1
            if record.best is not None:
                self.best = record.best
            line = self._line(record)
            if self._bar is not None:
                shown = "-" if self.best is None else f"{self.best:.3f}"
                self._bar.set_postfix_str(f"trial {_id(record)}, best {shown}")
        self.tick()
        logger.info("%s", line)

    def _line(self, record: TrialRecord) -> str:
        used = self.budget.used
        elapsed = time.monotonic() - self.started
        spend = f"{used}/{self.total}" if self.total else f"{used}"
        parts = [f"{self.label}: trial {_id(record)}"]
        if record.phase:
            parts[0] += f" ({record.phase})"
        if record.score is not None:
            parts.append(f"score {record.score:.3f} on {record.rows} rows")
        if record.stopped:
            parts.append(f"stopped: {record.stopped}")
        parts.append("best " + ("-" if self.best is None else f"{self.best:.3f}"))
        parts.append(f"{spend} LM requests")
        timing = f"{_clock(elapsed)} elapsed"
        if self.total and used:
            timing += f", at most ~{_clock(elapsed / used * max(0, self.total - used))} left"
        parts.append(timing)
        return ", ".join(parts)

    def close(self) -> None:
        """Finish the bar (it stays on screen with the final counts)."""
        if self._bar is not None:
            self.tick()
            self._bar.close()
            self._bar = None
