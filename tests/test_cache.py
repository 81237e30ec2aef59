"""Tests for the SQLite LM response cache."""

from __future__ import annotations

import json
import logging
import os
import pickle
import sqlite3
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from promptc import LM, Cache, CacheStats, LMRequest, LMResponse, Predict, evaluate
from promptc.exceptions import CacheError
from promptc.testing import FakeBackend

ROOT = Path(__file__).resolve().parents[1]


def _request(text: str = "hi", **kwargs: object) -> LMRequest:
    return LMRequest.build("fake/model", [{"role": "user", "content": text}], **kwargs)  # type: ignore[arg-type]


def _response(text: str = "hello") -> LMResponse:
    return LMResponse(text=text, prompt_tokens=3, completion_tokens=2, cost=0.5, model="fake")


@pytest.fixture
def cache(tmp_path: Path) -> Iterator[Cache]:
    with Cache(tmp_path / "lm_cache.db") as c:
        yield c


def test_miss_then_hit(cache: Cache) -> None:
    request = _request()
    assert cache.get(request) is None
    cache.put(request, _response())
    hit = cache.get(request)
    assert hit == LMResponse(
        text="hello", prompt_tokens=3, completion_tokens=2, cost=0.5, model="fake", cached=True
    )
    assert hit is not None and hit.cached
    assert cache.stats == CacheStats(hits=1, misses=1, writes=1, dropped=0)
    assert len(cache) == 1


def test_distinct_requests_do_not_collide(cache: Cache) -> None:
    variants = [
        _request(),
        _request(temperature=0.7),
        _request("other message"),
        _request(rollout=1),
        _request(max_tokens=7),
    ]
    for i, request in enumerate(variants):
        cache.put(request, _response(f"answer {i}"))
    assert len(cache) == len(variants)
    for i, request in enumerate(variants):
        hit = cache.get(request)
        assert hit is not None and hit.text == f"answer {i}"


def test_timeout_is_not_part_of_the_key(cache: Cache) -> None:
    cache.put(_request(timeout=1.0), _response("same"))
    hit = cache.get(_request(timeout=99.0))
    assert hit is not None and hit.text == "same"


def test_put_replaces_and_clear_empties(cache: Cache) -> None:
    cache.put(_request(), _response("old"))
    cache.put(_request(), _response("new"))
    assert len(cache) == 1
    hit = cache.get(_request())
    assert hit is not None and hit.text == "new"
    cache.clear()
    assert len(cache) == 0 and cache.get(_request()) is None


def test_persists_across_objects_and_model_is_stored(tmp_path: Path) -> None:
    path = tmp_path / "lm_cache.db"
    with Cache(path) as first:
        first.put(_request(), _response("kept"))
    with Cache(path) as second:
        hit = second.get(_request())
        assert hit is not None and hit.text == "kept"
    with sqlite3.connect(path) as raw:
        assert raw.execute("SELECT model FROM responses").fetchall() == [("fake/model",)]
        assert raw.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    raw.close()


def test_default_path_uses_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROMPTC_CACHE_DIR", str(tmp_path / "nested" / "dir"))
    with Cache() as c:
        assert c.path == tmp_path / "nested" / "dir" / "lm_cache.db"
        c.put(_request(), _response())
    assert c.path.is_file()


def test_construction_touches_nothing(tmp_path: Path) -> None:
    Cache(tmp_path / "sub" / "lm_cache.db")
    assert not (tmp_path / "sub").exists()


def test_threads_share_one_cache(cache: Cache) -> None:
    errors: list[str] = []

    def work(worker: int) -> None:
        for i in range(50):
            request = _request(f"w{worker}-{i}")
            cache.put(request, _response(f"r{worker}-{i}"))
            hit = cache.get(request)
            if hit is None or hit.text != f"r{worker}-{i}":
                errors.append(f"{worker}/{i}: {hit}")

    threads = [threading.Thread(target=work, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(cache) == 400
    assert cache.stats == CacheStats(hits=400, misses=0, writes=400, dropped=0)
    for w in range(8):
        hit = cache.get(_request(f"w{w}-49"))
        assert hit is not None and hit.text == f"r{w}-49"


_WORKER = """
import os, sys, time
from promptc import Cache, LMRequest, LMResponse
worker = int(sys.argv[2])
open(f"{sys.argv[3]}.{worker}", "w").close()  # ready
while not os.path.exists(sys.argv[3]):  # start together, on a file nobody has created yet
    time.sleep(0.005)
with Cache(sys.argv[1]) as cache:
    for i in range(100):
        req = LMRequest.build("m", [{"role": "user", "content": f"p{worker}-{i}"}])
        cache.put(req, LMResponse(text=f"r{worker}-{i}"))
"""


def test_processes_write_concurrently(tmp_path: Path) -> None:
    path = tmp_path / "lm_cache.db"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    go = tmp_path / "go"
    procs = [
        subprocess.Popen([sys.executable, "-c", _WORKER, str(path), str(w), str(go)], env=env)
        for w in range(4)
    ]
    deadline = time.monotonic() + 30
    while len(list(tmp_path.glob("go.*"))) < 4 and time.monotonic() < deadline:
        time.sleep(0.005)
    go.touch()
    assert [p.wait(timeout=60) for p in procs] == [0, 0, 0, 0]
    with Cache(path) as c:
        assert len(c) == 400
        for w in range(4):
            for i in range(100):
                request = LMRequest.build("m", [{"role": "user", "content": f"p{w}-{i}"}])
                hit = c.get(request)
                assert hit is not None and hit.text == f"r{w}-{i}"


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_forked_child_opens_its_own_connection(cache: Cache) -> None:
    cache.put(_request(), _response("parent"))
    parent_conn = cache._connection()
    pid = os.fork()
    if pid == 0:  # child: SQLite forbids using a connection inherited across fork()
        try:
            fresh = cache._connection() is not parent_conn
            hit = cache.get(_request())
            cache.put(_request("child"), _response("child"))
            os._exit(0 if fresh and hit is not None else 1)
        except BaseException:
            os._exit(2)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert cache._connection() is parent_conn
    hit = cache.get(_request("child"))
    assert hit is not None and hit.text == "child"


def test_pickle_round_trip_reopens(cache: Cache) -> None:
    cache.put(_request(), _response("x"))
    clone = pickle.loads(pickle.dumps(cache))
    try:
        assert clone.path == cache.path and clone.stats == CacheStats()
        hit = clone.get(_request())
        assert hit is not None and hit.text == "x"
    finally:
        clone.close()


def test_garbage_file_is_moved_aside(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "lm_cache.db"
    garbage = b"this is not sqlite at all" * 200
    path.write_bytes(garbage)
    Path(f"{path}-wal").write_bytes(b"stale log")  # must move along, never replay into the new file
    with caplog.at_level(logging.WARNING, logger="promptc._lm.cache"), Cache(path) as c:
        assert c.get(_request()) is None
        c.put(_request(), _response())
        assert len(c) == 1
    moved = [p for p in tmp_path.glob("lm_cache.db.corrupt-*") if not p.name.endswith("-wal")]
    assert len(moved) == 1 and moved[0].read_bytes() == garbage
    assert Path(f"{moved[0]}-wal").read_bytes() == b"stale log"
    assert str(path) in caplog.text and str(moved[0]) in caplog.text


def test_garbage_file_raises_when_asked(tmp_path: Path) -> None:
    path = tmp_path / "lm_cache.db"
    path.write_bytes(b"\x00garbage" * 100)
    with (
        pytest.raises(CacheError, match="Delete or move") as info,
        Cache(path, on_corrupt="raise") as c,
    ):
        c.get(_request())
    assert str(path) in str(info.value)
    assert path.read_bytes() == b"\x00garbage" * 100
    assert list(tmp_path.glob("*.corrupt-*")) == []


def test_other_schema_version_is_moved_aside(tmp_path: Path) -> None:
    path = tmp_path / "lm_cache.db"
    with sqlite3.connect(path) as raw:
        raw.execute("PRAGMA user_version = 99")
    raw.close()
    with pytest.raises(CacheError, match="schema version 99"), Cache(path, on_corrupt="raise") as c:
        len(c)
    with Cache(path) as c:
        assert len(c) == 0
    assert len(list(tmp_path.glob("lm_cache.db.corrupt-*"))) == 1


def test_damaged_pages_are_moved_aside(tmp_path: Path) -> None:
    path = tmp_path / "lm_cache.db"
    with Cache(path) as c:
        for i in range(20):
            c.put(_request(str(i)), _response("x" * 2000))
    with open(path, "r+b") as f:  # a valid header, broken b-tree pages
        f.seek(4096 * 3)
        f.write(b"\xff" * 4096 * 2)
    with (
        pytest.raises(CacheError, match="not a valid SQLite database"),
        Cache(path, on_corrupt="raise") as c,
    ):
        len(c)
    with Cache(path) as c:
        assert len(c) == 0 and c.get(_request("0")) is None
    assert len(list(tmp_path.glob("lm_cache.db.corrupt-*"))) == 1


def test_tampered_row_is_dropped(cache: Cache) -> None:
    cache.put(_request(), _response("true answer"))
    cache.put(_request("other"), _response("kept"))
    with sqlite3.connect(cache.path) as raw:
        raw.execute("UPDATE responses SET response = replace(response, 'true', 'fake')")
    raw.close()
    assert cache.get(_request()) is None
    assert cache.stats.dropped == 1 and cache.stats.misses == 1
    assert len(cache) == 1
    assert cache.get(_request("other")) is not None


def test_invalid_on_corrupt() -> None:
    with pytest.raises(ValueError, match="'rebuild', 'raise'"):
        Cache("x.db", on_corrupt="ignore")


def test_uncreatable_parent(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with (
        pytest.raises(CacheError, match="Cannot create the LM cache directory"),
        Cache(blocker / "sub" / "lm_cache.db") as c,
    ):
        c.get(_request())


def test_persistent_lock_raises_cache_error(tmp_path: Path) -> None:
    path = tmp_path / "lm_cache.db"
    with Cache(path, timeout=0.01) as c:
        assert len(c) == 0
        holder = sqlite3.connect(path, isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")
        try:
            with pytest.raises(CacheError, match="stayed locked after"):
                c.put(_request(), _response())
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        c.put(_request(), _response())
        assert len(c) == 1


def test_short_lock_is_retried(tmp_path: Path) -> None:
    path = tmp_path / "lm_cache.db"
    with Cache(path, timeout=0.01) as c:
        assert len(c) == 0
        holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        holder.execute("BEGIN EXCLUSIVE")
        release = threading.Timer(0.1, lambda: holder.execute("ROLLBACK"))
        release.start()
        try:
            c.put(_request(), _response("after the lock"))
        finally:
            release.join()
            holder.close()
        hit = c.get(_request())
        assert hit is not None and hit.text == "after the lock"


# -- a cache never costs an answer -----------------------------------------------------------

FULL_DISK = """
import json, logging, resource, signal, sys
from pathlib import Path
from promptc import LM, Cache, Predict, evaluate
from promptc.testing import FakeBackend

records = []
handler = logging.Handler()
handler.emit = records.append
logging.getLogger("promptc._lm.cache").addHandler(handler)
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead
path = Path(sys.argv[1])
backend = FakeBackend(lambda request: "<label>a</label>")
lm = LM("fake/m", backend=backend, cache=Cache(path), max_concurrency=4)
lm([{"role": "user", "content": "create the file"}])
limit = sum(p.stat().st_size for p in path.parent.iterdir()) + 8192
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
rows = [{"word": f"w{i} " + "x" * 400, "label": "a"} for i in range(200)]
result = evaluate(Predict("word -> label"), rows, "exact_match", lm=lm)
print(json.dumps({
    "mean": result.mean, "errors": result.errors, "calls": backend.calls - 1,
    "usage": result.usage, "stats": lm.cache.stats.errors,
    "warnings": [r.getMessage() for r in records if r.levelno == logging.WARNING],
}))
"""


def test_a_full_disk_costs_no_answer(tmp_path: Path) -> None:
    path = tmp_path / "lm_cache.db"
    proc = subprocess.run(
        [sys.executable, "-c", FULL_DISK, str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["mean"] == 1.0 and out["errors"] == 0, out
    assert out["calls"] == out["usage"]["calls"] == 200
    assert 0 < out["usage"]["cache_errors"] == out["stats"] <= 200
    assert len(out["warnings"]) == 1 and "disk I/O error" in out["warnings"][0], out["warnings"]


SIDECARS = ("-wal", "-shm")


def test_a_file_corrupted_mid_run_is_moved_aside_and_no_answer_is_lost(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "lm_cache.db"
    backend = FakeBackend(lambda request: "<label>a</label>")
    lm = LM("fake/m", backend=backend, cache=Cache(path), max_concurrency=4)
    program = Predict("word -> label")
    rows = [{"word": f"w{i}", "label": "a"} for i in range(200)]
    assert evaluate(program, rows[:50], "exact_match", lm=lm).mean == 1.0
    with sqlite3.connect(path) as conn:  # every row in the main file, none left in the WAL
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    garbage = b"garbage, not a database " * 400
    path.write_bytes(garbage)  # between two evaluations of a compile: a bad disk, a stray write
    with caplog.at_level(logging.WARNING, logger="promptc._lm.cache"):
        second = evaluate(program, rows, "exact_match", lm=lm)
    assert second.mean == 1.0 and second.errors == 0
    assert backend.calls == 250 and second.usage["calls"] == 200
    assert 1 <= second.usage["cache_errors"] <= 4  # the reads in flight when it was found
    moved = [p for p in tmp_path.glob("lm_cache.db.corrupt-*") if p.name[-4:] not in SIDECARS]
    assert len(moved) == 1 and moved[0].read_bytes() == garbage
    assert "found corrupt in use" in caplog.text and f"moved it to {moved[0]}" in caplog.text
    third = evaluate(program, rows, "exact_match", lm=lm)
    assert third.mean == 1.0 and third.usage["cache_errors"] == 0
    assert third.usage["cache_hits"] == 200 and backend.calls == 250


def test_an_unusable_cache_is_a_miss_and_the_answer_is_still_served(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    backend = FakeBackend(lambda request: "hello")
    lm = LM("fake/m", backend=backend, cache=Cache(blocker / "sub" / "c.db"))
    for _ in range(3):
        assert lm([{"role": "user", "content": "hi"}]).text == "hello"
    assert backend.calls == 3
    assert lm.usage.total().cache_errors == 6  # each call: a failed read and a failed write
    assert lm.cache is not None and lm.cache.stats.errors == 6


def test_the_database_is_private_also_in_a_directory_others_can_read(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)  # e.g. made by `promptc models pull`, or a team's cache dir
    shared.chmod(0o755)
    old = shared / "lm_cache.db"
    Cache(old).put(_request("a"), _response("x"))
    old.chmod(0o644)  # as an earlier promptc left it
    (shared / "lm_cache.db-wal").touch(0o644)
    cache = Cache(old)
    cache.put(_request("b"), _response("y"))
    assert cache.get(_request("a")) is not None
    for name in ("lm_cache.db", "lm_cache.db-wal", "lm_cache.db-shm"):
        path = shared / name
        if path.exists():
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, name
    new = Cache(tmp_path / "other" / "fresh.db")
    new.put(_request("c"), _response("z"))
    assert stat.S_IMODE((tmp_path / "other" / "fresh.db").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "other").stat().st_mode) == 0o700
