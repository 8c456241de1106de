"""Checkpointers: where a durable run records each finished node execution (SPEC 11).

A checkpointer stores workflows. A workflow is one run keyed by its workflow id: its
status, its graph's structure, its input values, and its steps in the order they
finished — each step a node execution's outcome (its outputs, a gate's decision, a
failure). That log is all a run needs to continue after a crash: the scheduler replays
it (`Scheduler.replay`). Chunks of streaming nodes are kept beside the steps.

`MemoryCheckpointer` keeps everything in this process (tests, notebooks);
`SqliteCheckpointer` (in `checkpoint_sqlite`) keeps it in a file that survives kill -9.
Both implement the `Checkpointer` protocol below.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import HypergraphError

if TYPE_CHECKING:
    from .lease import Holder

# Workflow statuses as stored (RunStatus values, plus "running" while a run goes on).
RUNNING = "running"
COMPLETED = "completed"


class CheckpointError(HypergraphError):
    """A checkpoint could not be written or read (a value that cannot be pickled, a
    damaged file, a file held too long by another process)."""


class WorkflowConflictError(CheckpointError, ValueError):
    """A workflow id was run again with different input values or a changed graph.

    `differences` lists what differs (`input 'x'`, `node 'b' added`, ...).
    """

    def __init__(self, message: str, workflow_id: str, differences: list[str]) -> None:
        super().__init__(message)
        self.workflow_id = workflow_id
        self.differences = differences


class WorkflowBusyError(CheckpointError, RuntimeError):
    """Another run, alive, is running this workflow id now (decision 0037).

    Running it here too would run its nodes twice. `holder` says who holds it (host,
    pid, since). A holder that died (kill -9, a crash) does not block: its lease is taken
    over at once.
    """

    def __init__(self, message: str, workflow_id: str, holder: Holder) -> None:
        super().__init__(message)
        self.workflow_id = workflow_id
        self.holder = holder


@dataclass(frozen=True)
class StepRecord:
    """One finished node execution of a workflow.

    `kind` is "finish" (with `outputs`), "gate" (with `decision`, the chosen targets)
    or "fail"; `started_at`/`ended_at` are Unix times.
    """

    seq: int
    node: str
    kind: str
    outputs: dict[str, Any] | None = None
    decision: tuple[str, ...] | None = None
    attempt: int = 1
    started_at: float | None = None
    ended_at: float = 0.0

    @classmethod
    def _of(
        cls,
        seq: int,
        node: str,
        kind: str,
        outputs: dict[str, Any] | None,
        decision: tuple[str, ...] | None,
        attempt: int,
        started_at: float | None,
        ended_at: float,
    ) -> StepRecord:
        """The same record as `StepRecord(...)`, made without the frozen `__init__` (eight
        `object.__setattr__` calls): a checkpointed run makes one per node execution."""
        record = _new(cls)
        record.__dict__.update(
            seq=seq,
            node=node,
            kind=kind,
            outputs=outputs,
            decision=decision,
            attempt=attempt,
            started_at=started_at,
            ended_at=ended_at,
        )
        return record


_new = object.__new__


@dataclass(frozen=True)
class StreamRecord:
    """Chunks a streaming node produced in one execution (`execution` counts from 1)."""

    node: str
    execution: int
    attempt: int
    chunks: list[Any]


@dataclass(frozen=True)
class WorkflowSummary:
    """A line of `cp.list()`."""

    workflow_id: str
    status: str
    parent: str | None
    created_at: float
    updated_at: float


@dataclass(frozen=True)
class WorkflowRecord:
    """Everything stored about one workflow: `cp.get(workflow_id)`.

    >>> cp = MemoryCheckpointer()
    >>> cp.get("w-1") is None
    True
    """

    workflow_id: str
    status: str
    parent: str | None
    structure: dict[str, Any]
    input_values: dict[str, Any]
    steps: list[StepRecord]
    streams: list[StreamRecord] = field(default_factory=list)
    created_at: float = 0.0
    updated_at: float = 0.0

    @property
    def values(self) -> dict[str, Any]:
        """The input values overwritten by each finished step's outputs, in order."""
        values = dict(self.input_values)
        for step in self.steps:
            if step.outputs:
                values.update(step.outputs)
        return values


class Checkpointer(Protocol):
    """What a runner needs from a checkpoint store. Each method is one transaction."""

    def create(
        self,
        workflow_id: str,
        *,
        structure: dict[str, Any],
        input_values: dict[str, Any],
        parent: str | None = None,
    ) -> None:
        """Record a new running workflow (nothing happens if the id exists)."""

    def append(self, workflow_id: str, step: StepRecord) -> None:
        """Record a finished node execution; it is durable when this returns."""

    def add_chunks(
        self,
        workflow_id: str,
        node: str,
        execution: int,
        attempt: int,
        first: int,
        chunks: list[Any],
    ) -> None:
        """Record chunks `first`, `first + 1`, ... of a node execution."""

    def set_status(self, workflow_id: str, status: str) -> None:
        """The workflow ended (or runs again)."""

    def acquire(self, workflow_id: str, holder: Holder) -> None:
        """`holder` (a run) takes the workflow's lease; `WorkflowBusyError` if another run
        that is alive holds it. One transaction: two openers cannot both get it."""

    def release(self, workflow_id: str, token: str | None = None) -> None:
        """Give the lease back: the run of `token` is over (None: whoever holds it)."""

    def truncate(self, workflow_id: str, seq: int) -> None:
        """Forget the steps from `seq` on (a failed workflow's failure, to try again)."""

    def get(self, workflow_id: str) -> WorkflowRecord | None:
        """Everything stored about the workflow, or None."""

    def list(self) -> list[WorkflowSummary]:
        """Every workflow, oldest first."""


class MemoryCheckpointer:
    """A checkpointer in this process's memory: resume within one process (tests, notebooks).

    Values are kept as they are (not copied): a node must not mutate a value it returned.

    >>> from hypergraph import Graph, SyncRunner, node
    >>> @node(output_name="y")
    ... def double(x: int) -> int:
    ...     return 2 * x
    >>> cp = MemoryCheckpointer()
    >>> runner = SyncRunner(checkpointer=cp)
    >>> runner.run(Graph([double]), x=2, workflow_id="w-1")["y"]
    4
    >>> cp.get("w-1").status
    'completed'
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._workflows: dict[str, dict[str, Any]] = {}
        self._leases: dict[str, Holder] = {}

    def create(
        self,
        workflow_id: str,
        *,
        structure: dict[str, Any],
        input_values: dict[str, Any],
        parent: str | None = None,
    ) -> None:
        now = time.time()
        with self._lock:
            self._workflows.setdefault(
                workflow_id,
                {
                    "status": RUNNING,
                    "parent": parent,
                    "structure": structure,
                    "inputs": dict(input_values),
                    "steps": [],
                    "streams": {},
                    "created": now,
                    "updated": now,
                },
            )

    def append(self, workflow_id: str, step: StepRecord) -> None:
        with self._lock:
            row = self._workflows[workflow_id]
            row["steps"].append(step)
            row["updated"] = step.ended_at

    def add_chunks(
        self,
        workflow_id: str,
        node: str,
        execution: int,
        attempt: int,
        first: int,
        chunks: list[Any],
    ) -> None:
        with self._lock:
            streams = self._workflows[workflow_id]["streams"]
            streams.setdefault((node, execution, attempt), []).extend(chunks)

    def set_status(self, workflow_id: str, status: str) -> None:
        with self._lock:
            row = self._workflows[workflow_id]
            row["status"] = status
            row["updated"] = time.time()

    def acquire(self, workflow_id: str, holder: Holder) -> None:
        from .lease import check

        with self._lock:
            check(workflow_id, self._leases.get(workflow_id), holder.token)
            self._leases[workflow_id] = holder

    def release(self, workflow_id: str, token: str | None = None) -> None:
        with self._lock:
            current = self._leases.get(workflow_id)
            if current is not None and token in (None, current.token):
                del self._leases[workflow_id]

    def truncate(self, workflow_id: str, seq: int) -> None:
        with self._lock:
            row = self._workflows[workflow_id]
            row["steps"] = [s for s in row["steps"] if s.seq < seq]

    def get(self, workflow_id: str) -> WorkflowRecord | None:
        with self._lock:
            row = self._workflows.get(workflow_id)
            if row is None:
                return None
            return WorkflowRecord(
                workflow_id=workflow_id,
                status=row["status"],
                parent=row["parent"],
                structure=row["structure"],
                input_values=dict(row["inputs"]),
                steps=list(row["steps"]),
                streams=[
                    StreamRecord(node, execution, attempt, list(chunks))
                    for (node, execution, attempt), chunks in row["streams"].items()
                ],
                created_at=row["created"],
                updated_at=row["updated"],
            )

    def list(self) -> list[WorkflowSummary]:
        with self._lock:
            return [
                WorkflowSummary(wid, row["status"], row["parent"], row["created"], row["updated"])
                for wid, row in self._workflows.items()
            ]

    def __repr__(self) -> str:
        return f"MemoryCheckpointer({len(self._workflows)} workflows)"
