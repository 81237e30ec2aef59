"""A persistent LM response cache on SQLite, safe across threads, processes and forks.

Each row maps :meth:`LMRequest.cache_key` to the response's JSON and a sha256 of that JSON; a row
whose checksum no longer matches is dropped and read as a miss, so the cache never answers wrongly.
A file that is not a promptc cache of this schema version is moved aside, never reused or deleted,
whether that is found when the file is opened or in the middle of a run (the next operation then
works on a fresh file). An operation that still fails raises :class:`CacheError`; the first such
failure of each cache is logged as a warning. :class:`~promptc.LM` treats a failing read as a miss
and a failing write as not cached, so a cache never costs an answer.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from promptc._lm.backend import LMRequest, LMResponse
from promptc.exceptions import CacheError

__all__ = ["Cache", "CacheStats"]

logger = logging.getLogger(__name__)

_T = TypeVar("_T")
_SCHEMA_VERSION = 1
_LOCK_RETRIES = 5
_ON_CORRUPT = ("rebuild", "raise")
_MAGIC = b"SQLite format 3\x00"
_SIDECARS = ("", "-wal", "-shm", "-journal")
_SCHEMA = """CREATE TABLE IF NOT EXISTS responses (
    key TEXT PRIMARY KEY, model TEXT NOT NULL, response TEXT NOT NULL,
    checksum TEXT NOT NULL, created_at REAL NOT NULL)"""
# Connections inherited across fork() must never be closed in the child (SQLite forbids using
# them there), and garbage-collecting one closes it, so they are parked here for good.
_ABANDONED: list[sqlite3.Connection] = []


@dataclass(frozen=True)
class CacheStats:
    """What one :class:`Cache` object has done since it was created.

    Attributes:
        hits: lookups answered from the cache.
        misses: lookups not answered (dropped rows included).
        writes: responses stored.
        dropped: rows deleted on read because their checksum or JSON was bad.
        errors: operations that failed with :class:`CacheError` (disk full, unwritable, ...).
    """

    hits: int = 0
    misses: int = 0
    writes: int = 0
    dropped: int = 0
    errors: int = 0


def _default_path() -> Path:
    root = os.environ.get("PROMPTC_CACHE_DIR")
    base = Path(root) if root else Path.home() / ".cache" / "promptc"
    return base / "lm_cache.db"


def _checksum(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _stat(path: Path) -> os.stat_result | None:
    try:
        return os.stat(path)
    except FileNotFoundError:
        return None


def _bad_header(path: Path) -> bool:
    """Whether ``path`` is plainly not SQLite (told before SQLite opens it and drops its -wal)."""
    try:
        with open(path, "rb") as f:
            header = f.read(len(_MAGIC))
    except FileNotFoundError:
        return False
    return len(header) == len(_MAGIC) and header != _MAGIC


def _close_if_owner(conn: sqlite3.Connection, pid: int) -> None:
    if os.getpid() == pid:
        conn.close()
    else:
        _ABANDONED.append(conn)


class _Corrupt(Exception):
    """SQLite found the file corrupt while in use (raised inside this module only)."""


class _Holder:
    """Owns one thread's connection; when the thread ends it is collected and closes it."""

    __slots__ = ("__weakref__", "conn", "generation")

    def __init__(self, conn: sqlite3.Connection, generation: int) -> None:
        self.conn = conn
        self.generation = generation


class Cache:
    """LM responses on disk, keyed by :meth:`LMRequest.cache_key`.

    Each thread reads through its own connection (WAL mode, so readers never wait for writers);
    every write is a single ``INSERT OR REPLACE``. The file is opened, checked and, if needed,
    created on first use, so constructing a cache touches nothing on disk.

    Args:
        path: the database file; defaults to ``$PROMPTC_CACHE_DIR/lm_cache.db``, else
            ``~/.cache/promptc/lm_cache.db``. Missing parent directories are created.
        on_corrupt: what to do with a file that is not a valid cache of this version:
            ``"rebuild"`` moves it to ``<path>.corrupt-<unix time>`` and starts empty,
            ``"raise"`` raises :class:`~promptc.exceptions.CacheError`.
        timeout: seconds SQLite waits for another process's lock before giving up (per try).

    Raises:
        ValueError: ``on_corrupt`` is not one of the allowed values.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        on_corrupt: str = "rebuild",
        timeout: float = 30.0,
    ) -> None:
        if on_corrupt not in _ON_CORRUPT:
            raise ValueError(f"on_corrupt must be one of {_ON_CORRUPT}, got {on_corrupt!r}")
        self.path = Path(path) if path is not None else _default_path()
        self.on_corrupt = on_corrupt
        self.timeout = float(timeout)
        self._counts = {"hits": 0, "misses": 0, "writes": 0, "dropped": 0, "errors": 0}
        self._ready = False
        self._generation = 0  # bumped when the file is found corrupt: connections reopen
        self._reset_process_state()

    def _reset_process_state(self) -> None:
        self._pid = os.getpid()
        self._lock = threading.Lock()  # counters and connection bookkeeping
        self._prepare_lock = threading.Lock()  # the one-time check of the file (may be slow)
        self._local = threading.local()
        self._finalizers: list[weakref.finalize[Any, Any]] = []

    def __repr__(self) -> str:
        return f"Cache({str(self.path)!r}, on_corrupt={self.on_corrupt!r})"

    def __getstate__(self) -> dict[str, Any]:
        return {"path": self.path, "on_corrupt": self.on_corrupt, "timeout": self.timeout}

    def __setstate__(self, state: dict[str, Any]) -> None:
        Cache.__init__(self, **state)  # a fresh object: no connections, zeroed stats

    def __enter__(self) -> Cache:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def stats(self) -> CacheStats:
        """A snapshot of this object's hit, miss, write and drop counts."""
        with self._lock:
            return CacheStats(**self._counts)

    def get(self, request: LMRequest) -> LMResponse | None:
        """Return the cached response for ``request`` (with ``cached=True``), or ``None``."""
        key = request.cache_key()
        sql = "SELECT response, checksum FROM responses WHERE key = ?"
        row = self._run(lambda conn: conn.execute(sql, (key,)).fetchone())
        response = None if row is None else self._decode(key, row[0], row[1])
        self._count("hits" if response is not None else "misses")
        return response

    def put(self, request: LMRequest, response: LMResponse) -> None:
        """Store ``response`` as the answer to ``request``, replacing any earlier one."""
        text = json.dumps(response.to_dict(), sort_keys=True, ensure_ascii=False)
        row = (request.cache_key(), request.model, text, _checksum(text), time.time())
        sql = "INSERT OR REPLACE INTO responses VALUES (?, ?, ?, ?, ?)"
        self._run(lambda conn: conn.execute(sql, row))
        self._count("writes")

    def __len__(self) -> int:
        return int(self._run(lambda c: c.execute("SELECT COUNT(*) FROM responses").fetchone()[0]))

    def clear(self) -> None:
        """Delete every cached response (the file stays)."""
        self._run(lambda conn: conn.execute("DELETE FROM responses"))

    def close(self) -> None:
        """Close every connection this object opened; the cache reopens on next use."""
        with self._lock:
            finalizers, self._finalizers = self._finalizers, []
            self._local = threading.local()
        for finalizer in finalizers:
            finalizer()

    def _count(self, name: str) -> None:
        with self._lock:
            self._counts[name] += 1

    def _decode(self, key: str, text: object, checksum: object) -> LMResponse | None:
        try:
            if not isinstance(text, str) or _checksum(text) != checksum:
                raise ValueError("checksum mismatch")
            return LMResponse.from_dict(json.loads(text), cached=True)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            logger.warning("Dropping corrupted LM cache entry %s in %s: %s", key, self.path, exc)
            sql = "DELETE FROM responses WHERE key = ? AND checksum IS ?"
            self._run(lambda conn: conn.execute(sql, (key, checksum)))
            self._count("dropped")
            return None

    def _run(self, op: Callable[[sqlite3.Connection], _T]) -> _T:
        """Run ``op`` on this thread's connection; a failure is counted and raised."""
        generation = self._generation
        try:
            return self._retry(lambda: op(self._connection()))
        except _Corrupt as exc:
            self._reopen(generation)
            error = CacheError(
                f"LM cache {self.path} was found corrupt in use ({exc}); the next use moves it "
                "aside and opens a fresh file"
            )
            self._failed(error)
            raise error from exc
        except CacheError as exc:
            self._failed(exc)
            raise

    def _reopen(self, generation: int) -> None:
        """Check the file again on next use (moving it aside), unless another thread already did."""
        with self._prepare_lock:
            if self._generation == generation:
                self._generation += 1
                self._ready = False

    def _failed(self, exc: CacheError) -> None:
        """Count a failed operation; log the first of this cache (the rest would flood the log)."""
        with self._lock:
            self._counts["errors"] += 1
            first = self._counts["errors"] == 1
        if first:
            logger.warning(
                "%s. Answers are served without the cache; further failures of this cache are "
                "not logged, only counted (cache_errors in usage).",
                exc,
            )

    def _retry(self, op: Callable[[], _T]) -> _T:
        """Run ``op``, retrying "database is locked" a bounded number of times."""
        for attempt in range(_LOCK_RETRIES):
            try:
                return op()
            except sqlite3.OperationalError as exc:
                message = str(exc).lower()
                if "locked" not in message and "busy" not in message:
                    raise CacheError(f"LM cache {self.path} failed: {exc}") from exc
                last = exc
                time.sleep(0.05 * (attempt + 1))
            except sqlite3.DatabaseError as exc:
                if type(exc) is sqlite3.DatabaseError:  # SQLITE_CORRUPT, SQLITE_NOTADB
                    raise _Corrupt(str(exc)) from exc
                raise CacheError(f"LM cache {self.path} failed: {exc}") from exc
            except sqlite3.Error as exc:
                raise CacheError(f"LM cache {self.path} failed: {exc}") from exc
        raise CacheError(
            f"LM cache {self.path} stayed locked after {_LOCK_RETRIES} attempts ({last}); another "
            "process holds a long write lock. Retry later or set PROMPTC_CACHE_DIR elsewhere."
        ) from last

    def _connection(self) -> sqlite3.Connection:
        if self._pid != os.getpid():  # forked: the parent's connections are not ours to use
            self._reset_process_state()
        holder: _Holder | None = getattr(self._local, "holder", None)
        if holder is not None and holder.generation == self._generation:
            return holder.conn
        if holder is not None:  # the file was found corrupt: this connection may point at it
            holder.conn.close()
            self._local.holder = None
        with self._prepare_lock:
            if not self._ready:
                self._prepare()
                self._ready = True
            generation = self._generation
        conn = self._connect()
        holder = _Holder(conn, generation)
        with self._lock:
            self._finalizers = [f for f in self._finalizers if f.alive]
            self._finalizers.append(weakref.finalize(holder, _close_if_owner, conn, self._pid))
            self._local.holder = holder
        return conn

    def _connect(self) -> sqlite3.Connection:
        # timeout is SQLite's busy timeout; isolation_level=None makes each write its own short
        # transaction; check_same_thread=False only lets close() close other threads' connections.
        return sqlite3.connect(
            self.path, timeout=self.timeout, isolation_level=None, check_same_thread=False
        )

    def _prepare(self) -> None:
        """Create the directory and schema, moving an unusable file aside first."""
        self._make_parent()
        for _ in range(2):
            problem, stat = self._retry(self._inspect)
            if problem is None:
                return
            self._quarantine(problem, stat)
        raise CacheError(f"LM cache {self.path} is still unusable after rebuilding: {problem}")

    def _make_parent(self) -> None:
        parent, hint = self.path.parent, "Pass a writable path or set PROMPTC_CACHE_DIR."
        try:  # private: the cache holds prompts and replies, which may carry users' data
            parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise CacheError(
                f"Cannot create the LM cache directory {parent}: {exc}. {hint}"
            ) from exc
        if not os.access(parent, os.W_OK | os.X_OK):
            raise CacheError(f"The LM cache directory {parent} is not writable. {hint}")
        self._make_private()

    def _make_private(self) -> None:
        """The database and its sidecars readable by their owner only (0600), also when the
        directory already existed with wider permissions (``promptc models pull`` creates it,
        and anyone may set PROMPTC_CACHE_DIR to a shared one): SQLite gives its -wal and -shm
        files the database's permissions."""
        try:
            os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))
        except OSError:
            return  # reported by the checks that follow, with their own hint
        if os.name != "posix":
            return
        for path in (self.path.with_name(self.path.name + s) for s in _SIDECARS):
            stat = _stat(path)
            if stat is not None and stat.st_uid == os.getuid() and stat.st_mode & 0o077:
                with contextlib.suppress(OSError):
                    path.chmod(0o600)

    def _inspect(self) -> tuple[str | None, os.stat_result | None]:
        """Check the file and create the schema; return what is wrong with it, if anything."""
        stat = _stat(self.path)
        if _bad_header(self.path):
            return "not a SQLite database", stat
        conn = self._connect()
        try:
            rows = conn.execute("PRAGMA quick_check").fetchall()
            if rows != [("ok",)]:
                return f"integrity check failed: {rows[:3]}", stat
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("BEGIN IMMEDIATE")
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            tables = conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()[0]
            if version == 0 and tables == 0:
                conn.execute(f"PRAGMA user_version = {_SCHEMA_VERSION}")
            elif version != _SCHEMA_VERSION:
                return f"schema version {version}, expected {_SCHEMA_VERSION}", stat
            conn.execute(_SCHEMA)
            conn.execute("COMMIT")
            return None, stat
        except sqlite3.OperationalError:
            raise
        except sqlite3.DatabaseError as exc:
            return f"not a valid SQLite database ({exc})", stat
        finally:
            conn.close()

    def _quarantine(self, problem: str, stat: os.stat_result | None) -> None:
        if self.on_corrupt == "raise":
            raise CacheError(
                f"LM cache {self.path} is unusable: {problem}. Delete or move the file away "
                "(an empty cache is then created), or use Cache(on_corrupt='rebuild')."
            )
        current = _stat(self.path)
        if stat is None or current is None or not os.path.samestat(stat, current):
            return  # another process already moved it aside and rebuilt
        target = f"{self.path}.corrupt-{int(time.time())}"
        while os.path.exists(target):
            target += "-1"
        for suffix in _SIDECARS:
            try:
                os.rename(f"{self.path}{suffix}", f"{target}{suffix}")
            except FileNotFoundError:
                pass
        logger.warning("LM cache %s is unusable (%s); moved it to %s.", self.path, problem, target)
