"""`DiskCache`: cache entries in one SQLite file, shared safely by threads and processes.

One row per key, written in one `BEGIN IMMEDIATE` transaction, so a writer killed
mid-write leaves the old row or none, never half of one. Each row carries a checksum
of its key and pickled entry; a row that fails it, or does not unpickle, is a miss and
is deleted. WAL mode lets readers run while one process writes; `timeout` bounds how
long a call waits for another process's write. Files another user can write are
refused before anything is unpickled (`file_safety`, decision 0017).
"""

from __future__ import annotations

import hashlib
import os
import time
from typing import TYPE_CHECKING

from .cache import CacheEntry, dump_entry, load_entry
from .errors import CacheStoreError
from .file_safety import CACHE
from .sqlite_file import SqliteFile

if TYPE_CHECKING:
    from pathlib import Path

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


class DiskCache(SqliteFile):
    """A cache in one SQLite file: survives restarts, shared by threads and processes.

    The file is created with mode 0o600; a file or directory another user can write
    is refused (`InsecureCacheFileError`), since entries are pickled.

    >>> cache = DiskCache("~/.cache/hypergraph/cache.sqlite")
    >>> cache.put("k", CacheEntry("Hello", chunks=("Hel", "lo")))
    >>> cache.get("k").chunks
    ('Hel', 'lo')
    """

    kind = CACHE
    _label = "disk cache"
    _default_name = "cache.sqlite"
    _one_file = "the cache is one SQLite file"
    _schema = (_SCHEMA,)

    def __init__(self, path: str | os.PathLike[str], *, timeout: float = 30.0) -> None:
        super().__init__(path, timeout=timeout)

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
        # Only the row we read: another process may have replaced it meanwhile.
        self._write(
            lambda conn: conn.execute(
                f"DELETE FROM {_TABLE} WHERE key = ? AND checksum = ?", (key, checksum)
            )
        )
        return None

    def put(self, key: str, entry: CacheEntry) -> None:
        """Store `entry` under `key`, replacing any older entry, in one transaction."""
        data = dump_entry(entry)  # before the transaction: a failure writes nothing
        row = (key, data, _checksum(key, data), time.time())
        self._write(
            lambda conn: conn.execute(
                f"INSERT OR REPLACE INTO {_TABLE} (key, entry, checksum, created) "
                "VALUES (?, ?, ?, ?)",
                row,
            )
        )

    # -- housekeeping -----------------------------------------------------------------

    def clear(self) -> None:
        """Delete every entry (the file stays)."""
        self._write(lambda conn: conn.execute(f"DELETE FROM {_TABLE}"))

    def __len__(self) -> int:
        row = self._use(lambda conn: conn.execute(f"SELECT count(*) FROM {_TABLE}").fetchone())
        return int(row[0])

    # -- what the SQLite file needs from this store --------------------------------

    def _error(self, message: str, path: Path) -> CacheStoreError:
        return CacheStoreError(message, path=str(path))

    def _failure(self, what: str, exc: Exception) -> CacheStoreError:
        return CacheStoreError(
            f"The disk cache '{self.path}' {what}: {type(exc).__name__}: {exc}. "
            "How to fix: if another process holds it for longer than timeout="
            f"{self.timeout}, raise the timeout; if the file is damaged or is not a "
            "cache, delete it or give DiskCache another path (a cache holds nothing "
            "that cannot be made again).",
            path=str(self.path),
        )
