"""SqliteFile: what the SQLite-backed stores (DiskCache, SqliteCheckpointer) share.

One file, checked by `file_safety` before it is opened (entries are pickled); one
connection per process behind a lock (a forked child opens its own); writes in
`BEGIN IMMEDIATE` transactions, so a busy file is waited for (`timeout`) instead of
failing when a read tries to become a write; `close()` and use as a context manager.
A store says what it is (`kind`, `_label`, `_default_name`), which pragmas and schema
its file has, and which error it raises.
"""

from __future__ import annotations

import contextlib
import os
import threading
import weakref
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Self, TypeVar

from .file_safety import Kind

if TYPE_CHECKING:
    import sqlite3
    from pathlib import Path

T = TypeVar("T")

# Every open store, so that a forked child drops its parent's connections (instead of
# asking os.getpid() on each call, which is a system call). The child keeps them unused
# rather than closing them: SQLite must not touch, from a child, what its parent opened.
_STORES: weakref.WeakSet[SqliteFile] = weakref.WeakSet()
_INHERITED: list[object] = []


def _after_fork() -> None:
    for store in list(_STORES):
        store._forked()


if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(after_in_child=_after_fork)


class SqliteFile:
    """Base of a store in one SQLite file (see the module docstring)."""

    kind: Kind
    """What the file is, for file_safety's messages."""
    _label: str
    """What the store is called in messages ("disk cache", "checkpointer")."""
    _default_name: str
    """A file name to suggest when a directory is given."""
    _one_file: str
    """Says that the store is one file ("the cache is one SQLite file")."""
    _schema: tuple[str, ...] = ()

    def __init__(self, path: str | os.PathLike[str], *, timeout: float) -> None:
        from pathlib import Path  # pathlib and sqlite3 load with the first store

        given = Path(os.fspath(path)).expanduser()
        owner = self.kind.owner
        if given.is_dir():
            raise self._error(
                f"{owner}('{given}') names a directory; {self._one_file}. How to fix: "
                f"name a file inside it, such as {owner}('{given / self._default_name}').",
                given,
            )
        self.path: Path = Path(os.path.realpath(given))
        self.timeout = timeout
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._closed = False
        self._conn: sqlite3.Connection | None = None
        self._cursor: sqlite3.Cursor | None = None  # for `_write_one`: no cursor per call
        self._conn = self._connect()
        _STORES.add(self)

    # -- what a store says about itself -------------------------------------------------

    def _error(self, message: str, path: Path) -> Exception:
        """The store's own error for `message` about the file at `path`."""
        raise NotImplementedError

    def _failure(self, what: str, exc: Exception) -> Exception:
        """The store's error when the file `what` ("failed", "cannot be opened")."""
        raise NotImplementedError

    def _pragmas(self) -> tuple[str, ...]:
        return ("PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL")

    # -- the file -----------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        import sqlite3

        from .file_safety import prepare_private_file

        self._sqlite_error = sqlite3.Error
        prepare_private_file(self.path, self.kind)
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
            for pragma in self._pragmas():
                conn.execute(pragma)

            def schema(conn: sqlite3.Connection) -> None:
                for statement in self._schema:
                    conn.execute(statement)

            self._transaction(conn, schema)
        except sqlite3.Error as exc:
            conn.close()
            raise self._failure("cannot be read as a SQLite database", exc) from exc
        return conn

    def _use(self, step: Callable[[sqlite3.Connection], T]) -> T:
        """Run `step` with this process's connection, under the lock."""
        with self._lock:
            conn = self._conn or self._reconnect()
            try:
                return step(conn)
            except self._sqlite_error as exc:
                raise self._failure("failed", exc) from exc

    def _reconnect(self) -> sqlite3.Connection:
        """The connection, opened again in a forked child (under the lock); an error if
        the store was closed."""
        if self._closed:
            raise self._error(
                f"The {self._label} '{self.path}' was closed. How to fix: make a new "
                f"{self.kind.owner} for the same path, or close it only when done.",
                self.path,
            )
        self._conn = self._connect()
        return self._conn

    def _forked(self) -> None:
        """In a forked child: the parent's connection is not ours (nor its lock's state)."""
        self._lock = threading.Lock()
        self._pid = os.getpid()
        if self._conn is not None:
            _INHERITED.append(self._conn)
        self._conn = self._cursor = None

    def _write(self, step: Callable[[sqlite3.Connection], Any]) -> None:
        """Run `step` in one write transaction."""
        self._use(lambda conn: self._transaction(conn, step))

    def _write_one(self, sql: str, params: Sequence[Any]) -> None:
        """Run one write statement as its own transaction: one call into SQLite instead
        of three (BEGIN, the statement, COMMIT). A single statement needs no BEGIN
        IMMEDIATE: it asks for the write lock before it reads anything, so a busy file is
        waited for (busy timeout) as for any write."""
        with self._lock:  # `_use`, inlined: this is each checkpointed node's path
            cursor = self._cursor
            if cursor is None:
                cursor = self._cursor = (self._conn or self._reconnect()).cursor()
            try:
                cursor.execute(sql, params)
            except self._sqlite_error as exc:
                raise self._failure("failed", exc) from exc

    @staticmethod
    def _transaction(conn: sqlite3.Connection, step: Callable[[sqlite3.Connection], Any]) -> None:
        # IMMEDIATE takes the write lock up front, so a busy file is waited for (timeout)
        # instead of failing when a read transaction tries to become a write one.
        conn.execute("BEGIN IMMEDIATE")
        try:
            step(conn)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                with contextlib.suppress(Exception):  # keep the original error
                    conn.execute("ROLLBACK")
            raise

    def close(self) -> None:
        """Close the file. Idempotent; the store cannot be used afterwards."""
        with self._lock:
            self._closed = True
            if self._conn is not None and self._pid == os.getpid():
                self._conn.close()
            self._conn = self._cursor = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{self.kind.owner}({str(self.path)!r})"
