"""Trial storage: a study of trials in an optuna storage, shared by workers, resumed after a kill.

A strategy that keeps its trials (``TPE(storage=...)``) opens a :class:`TrialStore` in
:meth:`~promptc.compiler.Optimizer.setup` and gets, from this module rather than from code of its
own, everything storage means:

* opening a storage from a URL or a file path (:func:`open_storage`);
* the compile's fingerprint, stored with the study on first use: a compile whose fingerprint
  differs is refused, naming each part that differs, instead of adopting trials that mean
  something else;
* values every worker must share (a strategy's candidate choices), stored on first use;
* trials that dead workers were running, marked failed and handed out again;
* finished trials' per-row scores, put back on the board (no LM request).

The resume contract (what a contract test can check): a compile started again on the same
storage and study name with the same fingerprint evaluates no finished trial again; every trial
it restores has its per-row scores on ``space.board`` before the first :meth:`ask`; a trial a
dead worker (or a budget-stopped run, :meth:`TrialStore.release`) left running is handed out
again with the same parameters; and it ends with the same pick as a compile that was never
stopped, when the study's trials are the same.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from promptc._compile.board import Candidate
from promptc.exceptions import ConfigurationError

if TYPE_CHECKING:
    import optuna

    from promptc._compile.strategy import SearchSpace

__all__ = ["WORKER", "TrialStore", "open_storage"]

#: This process, as it tags the trials it runs (``host:pid``).
WORKER = f"{socket.gethostname()}:{os.getpid()}"
_LOCK_GRACE = 5  # seconds
_ORPHAN_AFTER = 30.0  # seconds: a live worker tags the trial it asked for within milliseconds


def _optuna() -> Any:
    try:
        import optuna
    except ImportError:
        raise ConfigurationError(
            "storing trials needs optuna; install it with: pip install 'promptc[compile]'"
        ) from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def open_storage(spec: str | None) -> optuna.storages.BaseStorage | None:
    """An optuna storage from a URL or a file path (``None``: in memory).

    ``sqlite:///compile.db`` or ``postgresql://user@host/db`` open a database; any other text
    is a journal file (the safe choice for several processes on one machine).
    """
    if spec is None:
        return None
    optuna = _optuna()
    if "://" not in spec:
        from optuna.storages.journal import JournalFileBackend, JournalFileSymlinkLock

        # A worker killed while appending leaves the lock behind; journal appends take
        # milliseconds, so a lock older than a few seconds is taken as abandoned.
        lock = JournalFileSymlinkLock(spec, grace_period=_LOCK_GRACE)
        return optuna.storages.JournalStorage(JournalFileBackend(spec, lock_obj=lock))  # type: ignore[no-any-return]
    kwargs: dict[str, Any] = {}
    if spec.startswith("sqlite"):
        kwargs["engine_kwargs"] = {"connect_args": {"timeout": 60}}
    for attempt in range(5):
        try:
            return optuna.storages.RDBStorage(spec, **kwargs)  # type: ignore[no-any-return]
        except Exception as exc:  # two workers creating the schema at once: one loses the race
            if attempt == 4 or "already exists" not in str(exc):
                raise
            time.sleep(0.2 * (attempt + 1))
    raise AssertionError("unreachable")


def _alive(worker: str) -> bool:
    host, _, pid = worker.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return True  # another machine's worker: only its age can tell (see stale_after)
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class TrialStore:
    """One compile's study of trials in a storage (see the module docstring for the contract).

    Each finished trial keeps the validation ``rows`` it was scored on and its per-row
    ``scores`` (user attributes), so any later compile can put them back on its board.

    Args:
        study: the optuna study (use :meth:`open` to get one checked against a fingerprint).
        location: where the study lives, for messages (``None``: in memory).
    """

    def __init__(self, study: optuna.Study, location: str | None) -> None:
        self.study = study
        self.location = location

    @classmethod
    def open(
        cls,
        location: str | None,
        name: str,
        fingerprint: Mapping[str, str],
        sampler: Any,
        owner: str,
    ) -> TrialStore:
        """Open (or create) study ``name`` in ``location`` and check it fits ``fingerprint``.

        Args:
            location: a storage URL or journal file path (``None``: in memory).
            name: the study's name.
            fingerprint: what this compile's trials mean, part by part (a new study stores it).
            sampler: the optuna sampler the study asks with.
            owner: the strategy's class name, for the fix in a refusal (``TPE``).

        Raises:
            ConfigurationError: the study holds trials of a compile with another fingerprint.
        """
        study = _optuna().create_study(
            storage=open_storage(location),
            study_name=name,
            sampler=sampler,
            direction="maximize",
            load_if_exists=True,
        )
        store = cls(study, location)
        store._check(dict(fingerprint), owner)
        return store

    def _check(self, mine: dict[str, str], owner: str) -> None:
        stored = self.shared("fingerprint", lambda: mine)
        differ = [part for part in sorted({*mine, *stored}) if mine.get(part) != stored.get(part)]
        if differ:
            shown = "; ".join(
                f"{part}: study {stored.get(part)!r}, this compile {mine.get(part)!r}"
                for part in differ
            )
            raise ConfigurationError(
                f"the study {self.study.study_name!r} in {self.location} holds the trials of "
                f"another compile, which differ in {', '.join(differ)} ({shown}); trials are "
                "scores of one program on one data set with one metric, LM and search space, "
                "so they cannot be shared: give this compile another study name (--study, or "
                f"{owner}(study_name=...)), or a fresh storage (--storage, or "
                f"{owner}(storage=...))"
            )

    def shared(self, key: str, make: Callable[[], Any]) -> Any:
        """The value stored with the study under ``key``; ``make()``'s on first use.

        Every worker gets the same value: of two first workers, the one that wrote first wins.
        """
        value = self.study.user_attrs.get(key)
        if value is None:
            self.study.set_user_attr(key, make())
            value = self.study.user_attrs[key]  # a concurrent first worker may have won
        return value

    def tag(self, trial: optuna.Trial) -> None:
        """Mark ``trial`` as run by this process (so a dead worker's trials can be told)."""
        trial.set_user_attr("worker", WORKER)

    def finish(
        self, trial: optuna.Trial, rows: Sequence[int], scores: Sequence[float], value: float
    ) -> None:
        """Store a trial's per-row scores and finish it with ``value``."""
        trial.set_user_attr("rows", list(rows))
        trial.set_user_attr("scores", list(scores))
        self.study.tell(trial, value)

    def release(self, trial: optuna.Trial) -> None:
        """Hand a trial this process could not finish back to the study (same parameters)."""
        self.study.tell(trial, state=_optuna().trial.TrialState.FAIL)
        self.study.enqueue_trial(trial.params)

    def requeue_stale(self, whole: Callable[[dict[str, Any]], bool], stale_after: float) -> None:
        """Hand out again the trials that dead workers were running (nothing is lost).

        Args:
            whole: whether a trial's parameters are complete (a worker killed while setting
                them leaves a trial that is dropped instead).
            stale_after: seconds after which a running trial of a worker on another machine is
                taken as dead (a dead worker on this machine is seen at once).
        """
        state = _optuna().trial.TrialState
        now = time.time()
        for t in self.study.get_trials(deepcopy=False, states=(state.RUNNING,)):
            worker = t.user_attrs.get("worker", "")
            started = t.datetime_start.timestamp() if t.datetime_start else now
            # No tag: its worker died between asking and tagging (an orphan).
            limit = stale_after if worker else _ORPHAN_AFTER
            if (worker and not _alive(worker)) or now - started > limit:
                self.study.tell(t.number, state=state.FAIL)
                if whole(t.params):
                    self.study.enqueue_trial(t.params, user_attrs={"requeued_from": t.number})

    def restore(
        self, space: SearchSpace, decode: Callable[[dict[str, Any]], Candidate | None]
    ) -> int:
        """Put every finished trial's per-row scores on the board (no LM requests).

        Args:
            space: the compile's search space (its board receives the scores).
            decode: the candidate a trial's parameters stand for (``None``: skip the trial).

        Returns:
            How many trials were read back.
        """
        state = _optuna().trial.TrialState
        restored = 0
        for t in self.study.get_trials(deepcopy=False, states=(state.COMPLETE,)):
            rows, scores = t.user_attrs.get("rows"), t.user_attrs.get("scores")
            if rows is None or scores is None:
                continue
            candidate = decode(t.params)
            if candidate is None:
                continue
            space._restore(candidate, dict(zip(rows, scores, strict=True)))
            restored += 1
        return restored
