"""Cache stores (SPEC §10): `InMemoryCache` and `DiskCache` behind one `Cache` protocol.

The same behaviour from both (round trip of value and chunks, copies on a hit, a clear
error for a value that cannot be stored), then what only the disk cache promises: one
SQLite file shared by threads and processes, no corrupt entry from an interrupted or
damaged write, and no unpickling from a file another user can write.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import stat
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hypergraph.durable import (
    Cache,
    CacheEntry,
    CacheStoreError,
    DiskCache,
    InMemoryCache,
    InsecureCacheFileError,
    UncacheableValueError,
)
from hypergraph.durable.disk_cache import _checksum
from hypergraph.errors import HypergraphError

TABLE = "hypergraph_cache_v1"  # the disk format, reached into only to simulate damage
PROCESS_TIMEOUT = 60


@pytest.fixture(params=["memory", "disk"])
def cache(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    store: Any = InMemoryCache() if request.param == "memory" else DiskCache(tmp_path / "c.db")
    yield store
    store.close()


# -- both stores ----------------------------------------------------------------------


def test_both_stores_satisfy_the_cache_protocol(cache: Any) -> None:
    assert isinstance(cache, Cache)


def test_an_entry_round_trips_with_its_chunks_in_order(cache: Any) -> None:
    assert cache.get("k") is None
    cache.put("k", CacheEntry({"answer": "Hello"}, chunks=("Hel", "lo", "")))
    assert cache.get("k") == CacheEntry({"answer": "Hello"}, chunks=("Hel", "lo", ""))
    assert cache.get("other") is None


def test_put_replaces_the_entry_under_the_same_key(cache: Any) -> None:
    cache.put("k", CacheEntry(1))
    cache.put("k", CacheEntry(2, chunks=(2,)))
    assert cache.get("k") == CacheEntry(2, chunks=(2,))
    assert len(cache) == 1


def test_a_hit_is_a_fresh_copy_that_callers_may_mutate(cache: Any) -> None:
    cache.put("k", CacheEntry(["a"], chunks=({"t": 1},)))
    first = cache.get("k")
    first.value.append("mutated by a later node")
    first.chunks[0]["t"] = 99
    assert cache.get("k") == CacheEntry(["a"], chunks=({"t": 1},))


def test_a_value_that_cannot_be_pickled_is_refused_naming_its_type(cache: Any) -> None:
    with pytest.raises(UncacheableValueError) as caught:
        cache.put("k", CacheEntry({"client": threading.Lock()}))
    assert isinstance(caught.value, HypergraphError)
    assert "value (a 'builtins.dict')" in str(caught.value)
    assert "_thread.lock" in str(caught.value) and "How to fix" in str(caught.value)
    with pytest.raises(UncacheableValueError, match=r"chunk 1 \(a '_thread.RLock'\)"):
        cache.put("k", CacheEntry("ok", chunks=("a", threading.RLock())))
    assert len(cache) == 0 and cache.get("k") is None


def test_clear_forgets_every_entry(cache: Any) -> None:
    for i in range(5):
        cache.put(f"k{i}", CacheEntry(i))
    assert len(cache) == 5
    cache.clear()
    assert len(cache) == 0 and cache.get("k1") is None


def test_threads_share_one_store(cache: Any) -> None:
    start = threading.Barrier(4)
    failures: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            start.wait(timeout=10)
            for i in range(100):
                cache.put(f"{worker}-{i}", CacheEntry((worker, i)))
                assert cache.get(f"{worker}-{i // 2}") == CacheEntry((worker, i // 2))
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=PROCESS_TIMEOUT)
    assert failures == []
    assert len(cache) == 400


# -- InMemoryCache --------------------------------------------------------------------


def test_memory_cache_evicts_the_least_recently_used_beyond_its_bound() -> None:
    cache = InMemoryCache(max_entries=2)
    cache.put("a", CacheEntry("A"))
    cache.put("b", CacheEntry("B"))
    assert cache.get("a") is not None  # a is now more recent than b
    cache.put("c", CacheEntry("C"))
    assert cache.get("b") is None
    assert cache.get("a") == CacheEntry("A") and cache.get("c") == CacheEntry("C")


def test_memory_cache_bound_holds_under_concurrent_writers() -> None:
    cache = InMemoryCache(max_entries=50)
    start = threading.Barrier(4)

    def work(worker: int) -> None:
        start.wait(timeout=10)
        for i in range(300):
            cache.put(f"{worker}-{i}", CacheEntry(i))
            cache.get(f"{worker}-{i - 10}")

    threads = [threading.Thread(target=work, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=PROCESS_TIMEOUT)
    assert len(cache) == 50
    kept = 0
    for w in range(4):
        for i in range(300):
            entry = cache.get(f"{w}-{i}")
            assert entry is None or entry == CacheEntry(i)
            kept += entry is not None
    assert kept == 50


@pytest.mark.parametrize("bad", [0, -1, 1.5, "10"])
def test_memory_cache_rejects_a_bound_that_is_not_a_positive_int(bad: Any) -> None:
    with pytest.raises(ValueError, match="How to fix"):
        InMemoryCache(max_entries=bad)


# -- DiskCache: one file, many processes -----------------------------------------------


def python(code: str, *args: str, **options: Any) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **options,
    )


def finish(proc: subprocess.Popen[str]) -> str:
    out, err = proc.communicate(timeout=PROCESS_TIMEOUT)
    assert proc.returncode == 0, err
    return out


def test_disk_cache_keeps_entries_across_reopening(tmp_path: Path) -> None:
    with DiskCache(tmp_path / "c.db") as cache:
        cache.put("k", CacheEntry("v", chunks=("v",)))
    with DiskCache(tmp_path / "c.db") as again:
        assert again.get("k") == CacheEntry("v", chunks=("v",))


def test_an_entry_written_by_one_process_is_read_by_another(tmp_path: Path) -> None:
    path = str(tmp_path / "c.db")
    finish(
        python(
            """
            import sys
            from hypergraph.durable import DiskCache, CacheEntry
            with DiskCache(sys.argv[1]) as cache:
                cache.put("from-child", CacheEntry({"n": 1}, chunks=("a", "b")))
            """,
            path,
        )
    )
    with DiskCache(path) as cache:
        assert cache.get("from-child") == CacheEntry({"n": 1}, chunks=("a", "b"))
        cache.put("from-parent", CacheEntry([2.5]))
    out = finish(
        python(
            """
            import sys
            from hypergraph.durable import DiskCache
            with DiskCache(sys.argv[1]) as cache:
                print(cache.get("from-parent"))
            """,
            path,
        )
    )
    assert out.strip() == "CacheEntry(value=[2.5], chunks=())"


WRITER = """
    import sys
    from hypergraph.durable import DiskCache, CacheEntry
    path, worker, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    cache = DiskCache(path)  # all writers open the new file at the same moment
    print("ready", flush=True)
    sys.stdin.readline()
    for i in range(count):
        cache.put(f"{worker}-{i}", CacheEntry({"worker": worker, "i": i}, chunks=(str(i),)))
        earlier = f"{worker % 4 + 1}-{i // 2}"  # another writer's entry, if it exists yet
        got = cache.get(earlier)
        assert got is None or got.value == {"worker": worker % 4 + 1, "i": i // 2}, got
    cache.close()
"""


def test_four_processes_writing_one_file_at_once_lose_and_garble_nothing(
    tmp_path: Path,
) -> None:
    path = str(tmp_path / "shared.db")
    writers = [python(WRITER, path, str(w), "200", stdin=subprocess.PIPE) for w in range(1, 5)]
    for proc in writers:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
    for proc in writers:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    for proc in writers:
        finish(proc)
    with DiskCache(path) as cache:
        assert len(cache) == 800
        for w in range(1, 5):
            for i in range(200):
                assert cache.get(f"{w}-{i}") == CacheEntry({"worker": w, "i": i}, (str(i),))


KILLED_WRITER = """
    import sys
    from hypergraph.durable import DiskCache, CacheEntry, disk_cache

    def stalled(conn, step):
        # Stop inside put("big")'s transaction, after its rows went to the WAL file.
        conn.execute("BEGIN IMMEDIATE")
        step(conn)
        big = "SELECT 1 FROM hypergraph_cache_v1 WHERE key = 'big'"
        if conn.execute(big).fetchone():
            print("inside", flush=True)
            sys.stdin.readline()  # never answered: the parent kills us here
        conn.execute("COMMIT")

    disk_cache.DiskCache._transaction = staticmethod(stalled)
    cache = DiskCache(sys.argv[1])
    for i in range(4):
        cache.put(f"k{i}", CacheEntry(bytes([i]) * 100_000, chunks=(i,)))
    cache.put("big", CacheEntry(b"x" * 8_000_000))  # beyond SQLite's page cache: spills
"""


def test_a_writer_killed_mid_write_leaves_no_entry_that_reads_back_wrong(
    tmp_path: Path,
) -> None:
    path = tmp_path / "c.db"
    proc = python(KILLED_WRITER, str(path), stdin=subprocess.PIPE)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "inside"
    wal = Path(f"{path}-wal").stat().st_size
    assert wal > 4_000_000  # half-written: uncommitted pages of "big" are in the file
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=PROCESS_TIMEOUT)
    assert proc.returncode == -signal.SIGKILL
    with DiskCache(path) as cache:
        assert cache.get("big") is None
        for i in range(4):
            assert cache.get(f"k{i}") == CacheEntry(bytes([i]) * 100_000, chunks=(i,))
        assert len(cache) == 4
        cache.put("big", CacheEntry(b"y"))
        assert cache.get("big") == CacheEntry(b"y")


def test_a_forked_child_uses_its_own_connection(tmp_path: Path) -> None:
    cache = DiskCache(tmp_path / "c.db")
    cache.put("before", CacheEntry(0))
    pid = os.fork()
    if pid == 0:  # child: must not reuse the parent's SQLite connection
        try:
            ok = cache.get("before") == CacheEntry(0)
            cache.put("child", CacheEntry(1))
        finally:
            os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert cache.get("child") == CacheEntry(1)
    cache.close()


# -- DiskCache: damage ----------------------------------------------------------------


def raw(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path, isolation_level=None)


def test_a_garbled_entry_in_the_file_is_a_miss_and_is_removed(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    with DiskCache(path) as cache:
        cache.put("k", CacheEntry("MARKER-" + "x" * 200))
        cache.put("intact", CacheEntry("fine"))
    data = bytearray(path.read_bytes())  # closing checkpointed the WAL into the file
    at = data.index(b"MARKER-")
    data[at + 10] ^= 0xFF
    path.write_bytes(bytes(data))
    with DiskCache(path) as cache:
        assert cache.get("k") is None
        assert len(cache) == 1
        assert cache.get("intact") == CacheEntry("fine")


def test_a_truncated_entry_is_a_miss_and_is_removed(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    with DiskCache(path) as cache:
        cache.put("k", CacheEntry(list(range(100))))
        with raw(path) as conn:
            conn.execute(f"UPDATE {TABLE} SET entry = substr(entry, 1, 10)")
        assert cache.get("k") is None
        assert len(cache) == 0


def test_an_entry_that_no_longer_unpickles_is_a_miss_and_is_removed(tmp_path: Path) -> None:
    # A checksum that matches but a pickle that fails, as when a class was renamed since.
    path = tmp_path / "c.db"
    junk = b"\x80\x05not a pickle"
    with DiskCache(path) as cache:
        with raw(path) as conn:
            conn.execute(f"INSERT INTO {TABLE} VALUES ('k', ?, ?, 0)", (junk, _checksum("k", junk)))
        assert len(cache) == 1
        assert cache.get("k") is None
        assert len(cache) == 0


def test_an_entry_moved_under_another_key_does_not_answer_for_it(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    with DiskCache(path) as cache:
        cache.put("a", CacheEntry("answer for a"))
        with raw(path) as conn:
            conn.execute(f"UPDATE {TABLE} SET key = 'b'")
        assert cache.get("b") is None


def test_a_file_that_is_not_a_database_is_refused_with_a_fix(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    path.write_bytes(b"this is not sqlite " * 100)
    path.chmod(0o600)
    with pytest.raises(CacheStoreError, match="not a database") as caught:
        DiskCache(path)
    assert "How to fix" in str(caught.value) and caught.value.path == str(path)


def test_a_directory_is_refused_with_the_file_to_use_instead(tmp_path: Path) -> None:
    with pytest.raises(CacheStoreError, match="names a directory") as caught:
        DiskCache(tmp_path)
    assert str(tmp_path / "cache.sqlite") in str(caught.value)


def test_a_write_waits_at_most_timeout_for_another_writer(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    cache = DiskCache(path, timeout=0.05)
    other = raw(path)
    other.execute("BEGIN IMMEDIATE")  # another process holding the write lock
    with pytest.raises(CacheStoreError, match=r"timeout=0\.05"):
        cache.put("k", CacheEntry(1))
    other.execute("ROLLBACK")
    other.close()
    cache.put("k", CacheEntry(1))
    assert cache.get("k") == CacheEntry(1)
    cache.close()


def test_a_closed_disk_cache_says_so(tmp_path: Path) -> None:
    cache = DiskCache(tmp_path / "c.db")
    cache.close()
    cache.close()  # idempotent
    with pytest.raises(CacheStoreError, match="was closed"):
        cache.get("k")


# -- DiskCache: files another user can write -------------------------------------------


def test_a_new_cache_file_is_private_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        with DiskCache(tmp_path / "new" / "c.db") as cache:
            cache.put("k", CacheEntry(1))
            files = sorted((tmp_path / "new").iterdir())
            modes = {f.name: stat.S_IMODE(f.stat().st_mode) for f in files}
    finally:
        os.umask(old)
    assert modes == {"c.db": 0o600, "c.db-shm": 0o600, "c.db-wal": 0o600}
    assert stat.S_IMODE((tmp_path / "new").stat().st_mode) == 0o700


def test_a_cache_file_others_can_write_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    DiskCache(path).close()
    path.chmod(0o666)
    with pytest.raises(InsecureCacheFileError) as caught:
        DiskCache(path)
    message = str(caught.value)
    assert isinstance(caught.value, HypergraphError) and isinstance(caught.value, PermissionError)
    assert "can be written by its group or by other users (mode 0o666)" in message
    assert f"chmod 600 '{path}'" in message
    path.chmod(0o600)
    DiskCache(path).close()  # fixed as the message says


@pytest.mark.parametrize("mode", [0o777, 0o770])
def test_a_cache_directory_others_can_write_is_refused(tmp_path: Path, mode: int) -> None:
    directory = tmp_path / "shared"
    directory.mkdir()
    DiskCache(directory / "c.db").close()
    directory.chmod(mode)
    try:
        with pytest.raises(InsecureCacheFileError) as caught:
            DiskCache(directory / "c.db")
    finally:
        directory.chmod(0o700)
    assert f"chmod go-w '{directory}'" in str(caught.value)
    assert "~/.cache/hypergraph" in str(caught.value)


def test_a_cache_file_owned_by_another_user_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "c.db"
    DiskCache(path).close()
    someone_else = os.geteuid() + 1000
    monkeypatch.setattr(os, "geteuid", lambda: someone_else)
    with pytest.raises(InsecureCacheFileError, match="belongs to another user"):
        DiskCache(path)


def test_a_planted_wal_file_others_can_write_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    DiskCache(path).close()
    wal = tmp_path / "c.db-wal"
    wal.write_bytes(b"")
    wal.chmod(0o666)
    with pytest.raises(InsecureCacheFileError, match=r"c\.db-wal"):
        DiskCache(path)


def test_a_symlinked_companion_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    DiskCache(path).close()
    (tmp_path / "elsewhere").write_bytes(b"")
    (tmp_path / "c.db-shm").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(InsecureCacheFileError, match="not a regular file"):
        DiskCache(path)
