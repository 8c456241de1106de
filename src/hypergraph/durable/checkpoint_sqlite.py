"""`SqliteCheckpointer`: workflows in one SQLite file, shared by threads and processes.

Each write is one transaction: a single statement on its own (a step whose outputs
are small: one INSERT), or several in `BEGIN IMMEDIATE`. Either takes the write lock
before reading, so a busy file is waited for up to `timeout` instead of failing. WAL
mode: readers never block the writer. With `synchronous=NORMAL` a commit survives the
process being killed (kill -9); `durable=True` uses `FULL`, which also survives a power
loss, at the price of an fsync per commit. A writer killed mid-commit leaves the
previous commits intact.

Tables: `hg_workflows` (one row per workflow), `hg_steps` (the log: workflow, seq,
node, kind, attempt, times, the outputs or their refs), `hg_values` (content-addressed
blobs, see `checkpoint_values`; the graph's structure is one too), `hg_chunks` (batches
of streamed chunks) and `hg_leases` (who runs a workflow now, see `lease`). Values are
pickled: a file another user can write is refused (`file_safety`, as for `DiskCache`).
"""

from __future__ import annotations

import json
import os
import pickle
import time
from typing import TYPE_CHECKING, Any

from .checkpoint import (
    RUNNING,
    CheckpointError,
    StepRecord,
    StreamRecord,
    WorkflowRecord,
    WorkflowSummary,
)
from .checkpoint_values import decode, dump, encode
from .file_safety import CHECKPOINT
from .sqlite_file import SqliteFile

if TYPE_CHECKING:
    import sqlite3
    from pathlib import Path

    from .lease import Holder


_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS hg_workflows (id TEXT PRIMARY KEY, parent TEXT, "
    "status TEXT NOT NULL, structure TEXT NOT NULL, inputs TEXT NOT NULL, "
    "created REAL NOT NULL, updated REAL NOT NULL) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS hg_steps (workflow TEXT NOT NULL, seq INTEGER NOT NULL, "
    "node TEXT NOT NULL, kind TEXT NOT NULL, attempt INTEGER NOT NULL, started REAL, "
    "ended REAL NOT NULL, payload BLOB, PRIMARY KEY (workflow, seq)) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS hg_values (ref BLOB PRIMARY KEY, data BLOB NOT NULL) WITHOUT ROWID",
    # Who runs a workflow now (decision 0037): one row while a run holds it.
    "CREATE TABLE IF NOT EXISTS hg_leases (workflow TEXT PRIMARY KEY, host TEXT NOT NULL, "
    "pid INTEGER NOT NULL, started TEXT NOT NULL, token TEXT NOT NULL, since REAL NOT NULL) "
    "WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS hg_chunks (workflow TEXT NOT NULL, node TEXT NOT NULL, "
    "execution INTEGER NOT NULL, attempt INTEGER NOT NULL, first INTEGER NOT NULL, "
    "data BLOB NOT NULL, PRIMARY KEY (workflow, node, execution, attempt, first)) "
    "WITHOUT ROWID",
)
_PUT_VALUE = "INSERT OR IGNORE INTO hg_values (ref, data) VALUES (?, ?)"
_PUT_STEP = "INSERT OR REPLACE INTO hg_steps VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
_INLINE = 256  # bytes: a smaller value is kept in its step's row (one insert per step)
_REMEMBERED = 20_000  # refs of stored values this process remembers (about 1.5 MB)
_COMPRESS_FROM = 512  # bytes: text (messages, documents) shrinks about 2-3x under zlib


def _packed(blobs: dict[bytes, bytes]) -> list[tuple[bytes, bytes]]:
    """Rows for hg_values: each blob under its ref, compressed when that pays."""
    import zlib

    rows = []
    for ref, blob in blobs.items():
        if len(blob) >= _COMPRESS_FROM:
            packed = zlib.compress(blob, 1)
            if len(packed) < len(blob) * 0.9:
                rows.append((ref, b"z" + packed))
                continue
        rows.append((ref, b"-" + blob))
    return rows


_SCALARS = frozenset({int, float, bool, type(None), str, bytes})


def _outputs_payload(node: str, outputs: dict[str, Any], blobs: dict[bytes, bytes]) -> bytes:
    """A step's outputs as its row's payload; large values go into `blobs` by ref.

    `b"o" + pickle(outputs)` when every value is small (the common case: one pickle, no
    hashing, no value row); else `b"m" + pickle((small ones, {name: ref}, names))`.
    """
    refs: dict[str, bytes] = {}
    for name, value in outputs.items():
        kind = type(value)
        if kind in _SCALARS and ((kind is not str and kind is not bytes) or len(value) <= _INLINE):
            continue
        what = f"Output '{name}' of node '{node}'"
        data = dump(value, what)
        if len(data) > _INLINE:  # a smaller one is pickled again with the rest: cheaper
            refs[name] = encode(value, blobs, what, data)  # than hashing it
    if not refs:
        return b"o" + pickle.dumps(outputs, protocol=5)
    inline = {name: value for name, value in outputs.items() if name not in refs}
    return b"m" + pickle.dumps((inline, refs, tuple(outputs)), protocol=5)


def _unpacked(data: bytes) -> bytes:
    import zlib

    return zlib.decompress(data[1:]) if data[:1] == b"z" else data[1:]


class SqliteCheckpointer(SqliteFile):
    """A checkpointer in one SQLite file: runs resume after a crash, by workflow id.

    `durable=True` survives a power loss too (an fsync per step: about milliseconds).
    Several processes may share the file; one workflow id is run by one run at a time
    (another gets `WorkflowBusyError` while that run's process lives). It is created
    with mode 0o600; a file or directory another user can write is refused, since
    values are pickled.

    >>> from hypergraph import Graph, SyncRunner, node
    >>> @node(output_name="y")
    ... def double(x: int) -> int:
    ...     return 2 * x
    >>> cp = SqliteCheckpointer("runs.sqlite")  # doctest: +SKIP
    >>> SyncRunner(checkpointer=cp).run(Graph([double]), x=2, workflow_id="w-1")  # doctest: +SKIP
    """

    kind = CHECKPOINT
    _label = "checkpointer"
    _default_name = "runs.sqlite"
    _one_file = "checkpoints are one SQLite file"
    _schema = _SCHEMA

    def __init__(
        self, path: str | os.PathLike[str], *, durable: bool = False, timeout: float = 60.0
    ) -> None:
        self.durable = durable  # read by _pragmas when the file is opened
        self._stored: dict[bytes, None] = {}  # refs of values known to be in the file
        self._structures: dict[int, tuple[dict[str, Any], bytes]] = {}  # id -> (it, its ref)
        super().__init__(path, timeout=timeout)

    # -- writing ----------------------------------------------------------------------

    def create(
        self,
        workflow_id: str,
        *,
        structure: dict[str, Any],
        input_values: dict[str, Any],
        parent: str | None = None,
    ) -> None:
        blobs: dict[bytes, bytes] = {}
        inputs = {
            name: encode(value, blobs, f"Input '{name}'").hex()
            for name, value in input_values.items()
        }
        # The graph's structure is the same for every run of a graph: stored once.
        shape = self._structures.get(id(structure))
        if shape is None or shape[0] is not structure:
            shape = (structure, encode(structure, {}, "The graph's structure"))
            if len(self._structures) >= 256:  # graphs made on the fly: keep it bounded
                self._structures.clear()
            self._structures[id(structure)] = shape
        shape_ref = shape[1]
        if shape_ref not in self._stored:
            encode(structure, blobs, "The graph's structure")
        now = time.time()
        rows = self._new_rows(blobs)

        def write(conn: sqlite3.Connection) -> None:
            conn.executemany(_PUT_VALUE, rows)
            conn.execute(
                "INSERT OR IGNORE INTO hg_workflows VALUES (?, ?, ?, ?, ?, ?, ?)",
                (workflow_id, parent, RUNNING, shape_ref.hex(), json.dumps(inputs), now, now),
            )

        self._write(write)
        self._remember(rows)

    def append(self, workflow_id: str, step: StepRecord) -> None:
        blobs: dict[bytes, bytes] = {}
        payload: bytes | None = None
        if step.outputs is not None:
            payload = _outputs_payload(step.node, step.outputs, blobs)
        elif step.decision is not None:
            payload = pickle.dumps(tuple(step.decision), protocol=5)
        row = (
            workflow_id,
            step.seq,
            step.node,
            step.kind,
            step.attempt,
            step.started_at,
            step.ended_at,
            payload,
        )
        if not blobs:  # the common case: one statement, its own transaction
            self._write_one(_PUT_STEP, row)
            return
        rows = self._new_rows(blobs)

        def write(conn: sqlite3.Connection) -> None:
            conn.executemany(_PUT_VALUE, rows)
            conn.execute(_PUT_STEP, row)

        self._write(write)
        self._remember(rows)

    def _new_rows(self, blobs: dict[bytes, bytes]) -> list[tuple[bytes, bytes]]:
        """Rows for the blobs not known to be in the file already. A history that grows
        by a page per step would otherwise compress and send every old page again."""
        stored = self._stored
        return _packed({ref: blob for ref, blob in blobs.items() if ref not in stored})

    def _remember(self, rows: list[tuple[bytes, bytes]]) -> None:
        """These rows are committed. Values are never deleted (only steps are), so a ref
        once stored stays stored; the memory is bounded by forgetting all at a limit."""
        if len(self._stored) + len(rows) > _REMEMBERED:
            self._stored.clear()
        self._stored.update(dict.fromkeys(ref for ref, _ in rows))

    def add_chunks(
        self,
        workflow_id: str,
        node: str,
        execution: int,
        attempt: int,
        first: int,
        chunks: list[Any],
    ) -> None:
        try:
            data = pickle.dumps(chunks, protocol=5)
        except Exception:
            return  # chunks are kept for display: one that cannot be pickled is not kept
        row = (workflow_id, node, execution, attempt, first, data)
        self._write_one("INSERT OR REPLACE INTO hg_chunks VALUES (?, ?, ?, ?, ?, ?)", row)

    def set_status(self, workflow_id: str, status: str) -> None:
        now = time.time()
        self._write_one(
            "UPDATE hg_workflows SET status = ?, updated = ? WHERE id = ?",
            (status, now, workflow_id),
        )

    def acquire(self, workflow_id: str, holder: Holder) -> None:
        from .lease import Holder, check

        def take(conn: sqlite3.Connection) -> None:
            # In one IMMEDIATE transaction: of two openers, the second sees the first's row.
            row = conn.execute(
                "SELECT host, pid, started, token, since FROM hg_leases WHERE workflow = ?",
                (workflow_id,),
            ).fetchone()
            check(workflow_id, None if row is None else Holder(*row), holder.token)
            conn.execute(
                "INSERT OR REPLACE INTO hg_leases VALUES (?, ?, ?, ?, ?, ?)",
                (workflow_id, holder.host, holder.pid, holder.started, holder.token, holder.since),
            )

        self._write(take)

    def release(self, workflow_id: str, token: str | None = None) -> None:
        """Give the workflow's lease back (`token`: only if that run holds it). By hand,
        `cp.release(workflow_id)` frees a workflow whose holder ran on another machine
        and is known to be gone."""
        if token is None:
            self._write_one("DELETE FROM hg_leases WHERE workflow = ?", (workflow_id,))
        else:
            self._write_one(
                "DELETE FROM hg_leases WHERE workflow = ? AND token = ?", (workflow_id, token)
            )

    def truncate(self, workflow_id: str, seq: int) -> None:
        self._write_one("DELETE FROM hg_steps WHERE workflow = ? AND seq >= ?", (workflow_id, seq))

    # -- reading ----------------------------------------------------------------------

    def get(self, workflow_id: str) -> WorkflowRecord | None:
        """Everything stored about `workflow_id` (status, input values, values, steps,
        streamed chunks), or None."""
        return self._use(lambda conn: self._read(conn, workflow_id))

    def list(self) -> list[WorkflowSummary]:
        """Every workflow, oldest first (`updated_at`: its last status change)."""
        rows = self._use(
            lambda conn: conn.execute(
                "SELECT id, status, parent, created, updated FROM hg_workflows ORDER BY created"
            ).fetchall()
        )
        return [WorkflowSummary(*row) for row in rows]

    def _read(self, conn: sqlite3.Connection, workflow_id: str) -> WorkflowRecord | None:
        # One read transaction: the steps and the values they refer to are consistent.
        conn.execute("BEGIN")
        try:
            row = conn.execute(
                "SELECT status, parent, structure, inputs, created, updated FROM hg_workflows "
                "WHERE id = ?",
                (workflow_id,),
            ).fetchone()
            if row is None:
                return None
            status, parent, structure, inputs, created, updated = row

            def fetch(ref: bytes) -> bytes:
                found = conn.execute("SELECT data FROM hg_values WHERE ref = ?", (ref,)).fetchone()
                if found is None:
                    raise CheckpointError(
                        f"The checkpoint file '{self.path}' is damaged: a value of "
                        f"workflow '{workflow_id}' is missing."
                    )
                return _unpacked(bytes(found[0]))

            def load(refs: str) -> dict[str, Any]:
                return {
                    name: decode(bytes.fromhex(ref), fetch)
                    for name, ref in json.loads(refs).items()
                }

            def outputs_of(payload: bytes) -> dict[str, Any]:
                if payload[:1] == b"o":
                    outputs: dict[str, Any] = pickle.loads(payload[1:])
                    return outputs
                inline, refs, names = pickle.loads(payload[1:])
                found = {name: decode(ref, fetch) for name, ref in refs.items()}
                return {name: inline[name] if name in inline else found[name] for name in names}

            steps = []
            for seq, node, kind, attempt, started, ended, payload in conn.execute(
                "SELECT seq, node, kind, attempt, started, ended, payload FROM hg_steps "
                "WHERE workflow = ? ORDER BY seq",
                (workflow_id,),
            ).fetchall():
                outputs = outputs_of(payload) if kind == "finish" else None
                decision = pickle.loads(payload) if kind == "gate" else None
                steps.append(
                    StepRecord(seq, node, kind, outputs, decision, attempt, started, ended)
                )
            streams: dict[tuple[str, int, int], list[Any]] = {}
            for node, execution, attempt, data in conn.execute(
                "SELECT node, execution, attempt, data FROM hg_chunks WHERE workflow = ? "
                "ORDER BY node, execution, attempt, first",
                (workflow_id,),
            ).fetchall():
                streams.setdefault((node, execution, attempt), []).extend(pickle.loads(data))
            return WorkflowRecord(
                workflow_id=workflow_id,
                status=status,
                parent=parent,
                structure=decode(bytes.fromhex(structure), fetch),
                input_values=load(inputs),
                steps=steps,
                streams=[StreamRecord(*key, chunks) for key, chunks in streams.items()],
                created_at=created,
                updated_at=max([updated, *(s.ended_at for s in steps)]),
            )
        finally:
            conn.execute("COMMIT")

    # -- what the SQLite file needs from this store --------------------------------

    def _pragmas(self) -> tuple[str, ...]:
        return (
            f"PRAGMA busy_timeout = {int(self.timeout * 1000)}",
            # 4 KiB pages (only set on a new file, before WAL mode): a commit writes each
            # page it changed whole into the WAL, and a step changes one or two.
            "PRAGMA page_size=4096",
            "PRAGMA journal_mode=WAL",
            f"PRAGMA synchronous={'FULL' if self.durable else 'NORMAL'}",
            # The WAL is copied into the file (a checkpoint: two fsyncs, paid by the
            # commit that crosses the mark) every 256 pages (1 MiB), and cut back to
            # 1 MiB afterwards: fewer checkpoints than every 64 pages, a bounded WAL.
            "PRAGMA wal_autocheckpoint=256",
            "PRAGMA journal_size_limit=1048576",
        )

    def _error(self, message: str, path: Path) -> CheckpointError:
        return CheckpointError(message)

    def _failure(self, what: str, exc: Exception) -> CheckpointError:
        return CheckpointError(
            f"The checkpoint file '{self.path}' {what}: {type(exc).__name__}: {exc}. "
            f"How to fix: if another process holds it for longer than timeout={self.timeout}, "
            "raise the timeout; if the file is damaged or is not a checkpoint file, give "
            "SqliteCheckpointer another path."
        )
