"""A run's checkpoint: what an `Execution` records, and how it resumes from it (SPEC 11).

`Durable.open` is called when the run starts. A top-level run first takes the
workflow's lease (`durable.lease`): while another live run holds it, the run fails with
`WorkflowBusyError` and runs nothing; `end` gives it back. Then a new workflow id is
recorded with the graph's structure and the input values; an existing one is compared
with them (a difference is a `WorkflowConflictError` naming it) and its steps are
replayed into a scheduler (`Scheduler.replay`), whose busy nodes are those to run
again. A completed workflow replays to a scheduler with nothing busy: nothing runs, the
stored values are the result. A failed workflow runs its failed nodes again; the steps
that finished are kept (decision 0038; a cycle that cannot replay that way is retried
from its first failure). `resume_values` sorts a resumed run's values into inputs and
the answers its paused interrupts wait for.

Each outcome is recorded before the scheduler releases the nodes that depend on it
(`finish`, `gate`, `fail`, and `suspend` for an interrupt that waits). Chunks of
streaming nodes are kept in batches (every `CHUNK_BATCH` chunks or `CHUNK_SECONDS`, and
when the node ends).
"""

from __future__ import annotations

import functools
import os
import time
from typing import TYPE_CHECKING, Any

from .._names import quoted
from ..durable.checkpoint import (
    COMPLETED,
    RUNNING,
    CheckpointError,
    StepRecord,
    WorkflowConflictError,
)
from ..engine.scheduler import Completion, Scheduler
from ..errors import InputValueError
from ..graph.inputs import split_answers
from ..nodes.gate import GateNode
from ..nodes.graph_node import GraphNode

if TYPE_CHECKING:
    from ..durable.checkpoint import Checkpointer, WorkflowRecord
    from ..engine.plan import Plan
    from ..graph.graph import Graph

CHUNK_BATCH = 50
CHUNK_SECONDS = 0.1


def structure_of(graph: Graph) -> dict[str, Any]:
    """What must not change under a workflow id: each node's kind, inputs, outputs and
    gate targets (not the function bodies: a fixed bug may be resumed through)."""
    return _structure(graph._plan)


@functools.lru_cache(maxsize=256)  # per plan, not per run: a graph is immutable
def _structure(plan: Plan) -> dict[str, Any]:
    nodes = {}
    for node in plan.nodes:
        entry: dict[str, Any] = {
            "kind": type(node).__name__,
            "inputs": list(node.inputs),
            "outputs": list(node.outputs),
        }
        if isinstance(node, GateNode):
            entry["targets"] = [str(t) for t in node.targets]
        nodes[node.name] = entry
    return {"nodes": nodes}


def resume_values(
    cp: Checkpointer, workflow_id: str | None, graph: Graph, values: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any], bool]:
    """A checkpointed run of a graph with interrupts: its input values, its answers, and
    whether the inputs are the stored ones.

    When the workflow waits for answers, each answer must be one it waits for (a stale
    or mistyped answer would otherwise approve a question nobody saw), a name that also
    starts a loop is the answer, and answers alone stand for the stored inputs.
    """
    plan = graph._plan
    record = cp.get(workflow_id) if workflow_id else None
    pending = _pending(record, plan) if record is not None else {}
    values, answers = split_answers(plan, values, graph.inputs.all, pending)
    if pending:
        for key in answers:
            if key not in pending and key.split("/")[0].partition("[")[0] not in pending:
                waiting = [k if k in plan.answers else f"{k}/..." for k in pending]
                raise InputValueError(
                    f"'{key}' answers no question workflow '{workflow_id}' waits for; it "
                    f"waits for {quoted(waiting)}.\nHow to fix: give answers only under the "
                    "response_key of each pending question (result.pauses lists them).",
                    names=[key],
                )
    if record is not None and not values:  # answers alone (or nothing): the stored inputs
        return dict(record.input_values), answers, True
    return values, answers, False


def _pending(record: WorkflowRecord, plan: Plan) -> dict[str, str]:
    """What a workflow waits for: the answer key of each interrupt whose last step is a
    suspend, and the name of each graph node waiting for one inside it (key -> node)."""
    last: dict[str, str] = {}
    for step in record.steps:
        last[step.node] = step.kind
    pending = {}
    for name, kind in last.items():
        i = plan.index.get(name)
        if kind == "suspend" and i is not None:
            node = plan.nodes[i]
            pending[name if isinstance(node, GraphNode) else node.outputs[0]] = name
    return pending


class _Stream:
    __slots__ = ("attempt", "chunks", "execution", "first", "since")

    def __init__(self, execution: int, attempt: int) -> None:
        self.execution = execution
        self.attempt = attempt
        self.first = 0
        self.chunks: list[Any] = []
        self.since = time.monotonic()


class Durable:
    """The checkpoint of one run (one workflow)."""

    def __init__(self, cp: Checkpointer, workflow_id: str, parent: str | None) -> None:
        self.cp = cp
        self.workflow_id = workflow_id
        self.parent = parent
        self.seq = 0
        self.completed = False  # the workflow was complete before this run: write nothing
        self.active = False  # opened as this run's workflow: its end is recorded
        self.streams: dict[int, _Stream] = {}
        self.attempts: dict[int, int] = {}
        self.lease: str | None = None  # the token of the lease this run holds

    def open(
        self, graph: Graph, start: dict[str, Any], given: dict[str, Any], max_iterations: int
    ) -> Scheduler | None:
        """Record a new workflow (None: start afresh), or the scheduler that resumes it.

        A top-level run first takes the workflow's lease (`WorkflowBusyError` while
        another live run holds it); its nested graphs run under it.
        """
        if self.parent is None:
            from ..durable import lease

            token = os.urandom(8).hex()
            try:
                self.cp.acquire(self.workflow_id, lease.hold(token, self))
            except BaseException:
                lease.drop(token)
                raise
            self.lease = token
        structure = structure_of(graph)
        record = self.cp.get(self.workflow_id)
        if record is None:
            self.cp.create(
                self.workflow_id, structure=structure, input_values=given, parent=self.parent
            )
            self.active = True
            return None
        self._check(record, structure, given)
        steps = record.steps
        if record.status != COMPLETED:
            if record.status != RUNNING:
                self.cp.set_status(self.workflow_id, RUNNING)
        else:
            self.completed = True
        self.active = not self.completed
        plan = graph._plan
        try:
            # A failed node runs again; what finished beside it is kept.
            sched = self._replay(plan, start, max_iterations, steps, rerun_failed=True)
        except ValueError:
            # In a cycle, a failure lets the round go on without the failed node; replayed
            # as running, it would hold that round back. Retry from the first failure on.
            failed = next((s.seq for s in steps if s.kind == "fail"), None)
            if failed is None or self.completed:
                sched = self._replay(plan, start, max_iterations, steps, rerun_failed=False)
            else:
                self.cp.truncate(self.workflow_id, failed)
                steps = [s for s in steps if s.seq < failed]
                sched = self._replay(plan, start, max_iterations, steps, rerun_failed=False)
        self.seq = steps[-1].seq + 1 if steps else 0
        return sched

    def _replay(
        self,
        plan: Plan,
        start: dict[str, Any],
        max_iterations: int,
        steps: list[StepRecord],
        rerun_failed: bool,
    ) -> Scheduler:
        log: list[Completion] = []
        for s in steps:
            payload = s.outputs if s.kind == "finish" else s.decision
            log.append((s.kind, plan.index[s.node], payload))
        try:
            return Scheduler.replay(plan, dict(start), max_iterations, log, rerun_failed)
        except ValueError as exc:
            if rerun_failed:
                raise
            raise CheckpointError(
                f"Workflow '{self.workflow_id}' cannot be resumed: its recorded steps do "
                f"not fit the graph ({exc}).\nHow to fix: run it under a new workflow_id."
            ) from exc

    def _check(
        self, record: WorkflowRecord, structure: dict[str, Any], given: dict[str, Any]
    ) -> None:
        differences = _structure_differences(record.structure["nodes"], structure["nodes"])
        stored = record.input_values
        for name in sorted(set(stored) | set(given)):
            if name not in given:
                differences.append(f"input '{name}' was given before and is missing now")
            elif name not in stored:
                differences.append(f"input '{name}' is new")
            elif not _same(stored[name], given[name]):
                differences.append(f"input '{name}' has a different value")
        if differences:
            raise WorkflowConflictError(
                f"Workflow '{self.workflow_id}' was started with other inputs or another "
                f"graph: {'; '.join(differences)}.\nHow to fix: run it with the same graph and "
                "input values to resume it, or use a new workflow_id for a new run.",
                self.workflow_id,
                differences,
            )

    # -- outcomes (each recorded before the scheduler moves on) ---------------------

    def finish(
        self, i: int, node: str, outputs: dict[str, Any], started: float | None
    ) -> CheckpointError | None:
        """Record node `i`'s outputs; the error (the node's failure) if they cannot be."""
        try:
            self._step(i, node, "finish", started, outputs, None)
        except CheckpointError as exc:
            return exc
        return None

    def gate(self, i: int, node: str, targets: tuple[str, ...], started: float | None) -> None:
        self._step(i, node, "gate", started, None, tuple(targets))

    def fail(self, i: int, node: str, started: float | None) -> None:
        self._step(i, node, "fail", started)

    def suspend(self, i: int, node: str, started: float | None) -> None:
        """Interrupt (or graph node) `i` waits for an answer: a resume runs it again."""
        self._step(i, node, "suspend", started)

    def _step(
        self,
        i: int,
        node: str,
        kind: str,
        started: float | None,
        outputs: dict[str, Any] | None = None,
        decision: tuple[str, ...] | None = None,
    ) -> None:
        if self.completed:
            return
        if self.streams:
            self.flush(i, node)
        ended = time.time()
        step = StepRecord._of(
            self.seq,
            node,
            kind,
            outputs,
            decision,
            self.attempts.pop(i, 1) if self.attempts else 1,
            # `started` is the node's perf_counter() start: made a wall-clock time here
            None if started is None else ended - (time.perf_counter() - started),
            ended,
        )
        self.cp.append(self.workflow_id, step)
        self.seq += 1

    def end(self, status: str) -> None:
        try:
            if self.active:
                self.cp.set_status(self.workflow_id, status)
        finally:
            if self.lease is not None:
                from ..durable import lease

                token, self.lease = self.lease, None
                lease.drop(token)  # whatever the file says now, this run is over
                self.cp.release(self.workflow_id, token)

    # -- streamed chunks ------------------------------------------------------------

    def attempt(self, i: int, node: str, execution: int, attempt: int) -> None:
        """Node `i` starts an attempt (its chunks so far are kept)."""
        self.flush(i, node)
        self.attempts[i] = attempt
        self.streams[i] = _Stream(execution, attempt)

    def chunk(self, i: int, node: str, chunk: Any) -> None:
        stream = self.streams.get(i)
        if stream is None:
            return
        stream.chunks.append(chunk)
        if len(stream.chunks) >= CHUNK_BATCH or time.monotonic() - stream.since >= CHUNK_SECONDS:
            self._write_chunks(node, stream)

    def flush(self, i: int, node: str) -> None:
        stream = self.streams.pop(i, None)
        if stream is not None and stream.chunks:
            self._write_chunks(node, stream)

    def _write_chunks(self, node: str, stream: _Stream) -> None:
        chunks, stream.chunks = stream.chunks, []
        first = stream.first
        stream.first += len(chunks)
        stream.since = time.monotonic()
        if not self.completed:
            self.cp.add_chunks(
                self.workflow_id, node, stream.execution, stream.attempt, first, chunks
            )


def _structure_differences(before: dict[str, Any], now: dict[str, Any]) -> list[str]:
    differences = [f"node '{name}' was removed" for name in before if name not in now]
    differences += [f"node '{name}' was added" for name in now if name not in before]
    for name in before:
        if name in now and before[name] != now[name]:
            changed = [k for k in now[name] if before[name].get(k) != now[name][k]]
            differences.append(f"node '{name}' changed its {quoted(changed)}")
    return differences


def _same(a: Any, b: Any) -> bool:
    try:
        if bool(a == b):
            return True
    except Exception:
        pass
    import pickle  # only a conflict check needs it

    try:
        return pickle.dumps(a) == pickle.dumps(b)
    except Exception:
        return False
