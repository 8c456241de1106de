"""`DiskCache`: cache entries in one SQLite file, shared safely by threads and processes.

One row per key, written in one `BEGIN IMMEDIATE` transaction, so a writer killed
mid-write leaves the old row or none, never half of one. Each row carries a checksum
of its key and pickled entry; a row that fails it, or does not unpickle, is a miss and
is deleted. WAL mode lets readers run while one process writes; `timeout` bounds how
long a call waits for another process's write. Files another user can write are
refused before anything is unpickled (`file_safety`, decision 0017).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from .cache import CacheEntry, dump_entry, load_entry
from .errors import CacheStoreError

if TYPE_CHECKING:
    import sqlite3

T = TypeVar("T")

# The format is in the table's name: a future format uses a new table, and a file
# shared with other tables (or other hypergraph stores) is left alone.
_TABLE = "hypergraph_cache_v1"
_SCHEMA = (
    f"CREATE TABLE IF NOT EXISTS {_TABLE} ("
    "key TEXT PRIMARY KEY, entry BLOB NOT NULL, checksum BLOB NOT NULL, "
    "created REAL NOT NULL) WITHOUT ROWID"
)


def _checksum(key: str, data: bytes) -> bytes:
    digest = hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=16)
    digest.update(b"\x00")
    digest.update(data)
    return digest.digest()


class DiskCache:
    """A cache in one SQLite file: survives restarts, shared by threads and processes.

    The file is created with mode 0o600; a file or directory another user can write
    is refused (`InsecureCacheFileError`), since entries are pickled.

    >>> cache = DiskCache("~/.cache/hypergraph/cache.sqlite")
    >>> cache.put("k", CacheEntry("Hello", chunks=("Hel", "lo")))
    >>> cache.get("k").chunks
    ('Hel', 'lo')
    """

    def __init__(self, path: str | os.PathLike[str], *, timeout: float = 30.0) -> None:
        from pathlib import Path  # pathlib and sqlite3 load with the first DiskCache

        given = Path(os.fspath(path)).expanduser()
        if given.is_dir():
            raise CacheStoreError(
                f"DiskCache('{given}') names a directory; the cache is one SQLite file. "
                "How to fix: name a file inside it, such as "
                f"DiskCache('{given / 'cache.sqlite'}').",
                path=str(given),
            )
        self.path = Path(os.path.realpath(given))
        self.timeout = timeout
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._pid = os.getpid()
        self._closed = False
        self._conn = self._connect()

    # -- the Cache protocol -----------------------------------------------------------

    def get(self, key: str) -> CacheEntry | None:
        """The entry stored under `key`, or None (also for a damaged entry, then removed)."""
        row = self._use(
            lambda conn: conn.execute(
                f"SELECT entry, checksum FROM {_TABLE} WHERE key = ?", (key,)
            ).fetchone()
        )
        if row is None:
            return None
        data, checksum = bytes(row[0]), bytes(row[1])
        if _checksum(key, data) == checksum:
            try:
                return load_entry(data)
            except Exception:  # e.g. its class was renamed since: stale, not an error
                pass
        self._write(
            f"DELETE FROM {_TABLE} WHERE key = ? AND checksum = ?", (key, checksum)
        )  # only the row we read: another process may have replaced it meanwhile
        return None

    def put(self, key: str, entry: CacheEntry) -> None:
        """Store `entry` under `key`, replacing any older entry, in one transaction."""
        data = dump_entry(entry)  # before the transaction: a failure writes nothing
        self._write(
            f"INSERT OR REPLACE INTO {_TABLE} (key, entry, checksum, created) VALUES (?, ?, ?, ?)",
            (key, data, _checksum(key, data), time.time()),
        )

    # -- housekeeping -----------------------------------------------------------------

    def clear(self) -> None:
        """Delete every entry (the file stays)."""
        self._write(f"DELETE FROM {_TABLE}", ())

    def __len__(self) -> int:
        row = self._use(lambda conn: conn.execute(f"SELECT count(*) FROM {_TABLE}").fetchone())
        return int(row[0])

    def close(self) -> None:
        """Close the file. Idempotent; the cache cannot be used afterwards."""
        with self._lock:
            self._closed = True
            if self._conn is not None and self._pid == os.getpid():
                self._conn.close()
            self._conn = None

    def __enter__(self) -> DiskCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"DiskCache({str(self.path)!r})"

    # -- SQLite -----------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        import sqlite3  # only a disk cache needs it: keep importing hypergraph light

        from .file_safety import prepare_private_file

        prepare_private_file(self.path)
        try:
            conn = sqlite3.connect(
                self.path,
                timeout=self.timeout,
                isolation_level=None,  # we issue BEGIN / COMMIT ourselves
                check_same_thread=False,  # guarded by self._lock
            )
        except sqlite3.Error as exc:
            raise self._failure("cannot be opened", exc) from exc
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")  # WAL: durable enough, never corrupt
            self._transaction(conn, _SCHEMA, ())
        except sqlite3.Error as exc:
            conn.close()
            raise self._failure("cannot be read as a SQLite database", exc) from exc
        return conn

    def _write(self, sql: str, params: tuple[Any, ...]) -> None:
        self._use(lambda conn: self._transaction(conn, sql, params))

    @staticmethod
    def _transaction(conn: sqlite3.Connection, sql: str, params: tuple[Any, ...]) -> None:
        # IMMEDIATE takes the write lock up front, so a busy file is waited for (timeout)
        # instead of failing when a read transaction tries to become a write one.
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute(sql, params)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                with contextlib.suppress(Exception):  # keep the original error
                    conn.execute("ROLLBACK")
            raise

    def _use(self, step: Callable[[sqlite3.Connection], T]) -> T:
        import sqlite3

        with self._lock:
            if self._closed:
                raise CacheStoreError(
                    f"The disk cache '{self.path}' was closed. How to fix: make a new "
                    "DiskCache for the same path, or close it only when done.",
                    path=str(self.path),
                )
            if self._conn is None or self._pid != os.getpid():
                # A forked child must not share its parent's SQLite connection.
                self._pid = os.getpid()
                self._conn = self._connect()
            try:
                return step(self._conn)
            except sqlite3.Error as exc:
                raise self._failure("failed", exc) from exc

    def _failure(self, what: str, exc: Exception) -> CacheStoreError:
        return CacheStoreError(
            f"The disk cache '{self.path}' {what}: {type(exc).__name__}: {exc}. "
            "How to fix: if another process holds it for longer than timeout="
            f"{self.timeout}, raise the timeout; if the file is damaged or is not a "
            "cache, delete it or give DiskCache another path (a cache holds nothing "
            "that cannot be made again).",
            path=str(self.path),
        )
