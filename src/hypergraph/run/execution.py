"""What both runners share for one run: the scheduler, outcomes, events and the result.

Runners differ only in *how* they call a node (inline, awaited, in a thread); every
decision about *what* happens next lives here or in the scheduler.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    import asyncio

    from .durability import Durable

from .._names import quoted
from ..engine.scheduler import Scheduler
from ..errors import HypergraphError, InfiniteLoopError, InputValueError, NodeOutputError
from ..events.dispatch import Dispatcher
from ..events.types import (
    BaseEvent,
    InterruptEvent,
    NodeEndEvent,
    NodeErrorEvent,
    NodeStartEvent,
    RouteDecisionEvent,
    RunEndEvent,
    RunStartEvent,
    RunStatus,
    StopRequestedEvent,
    StreamingChunkEvent,
    chunk_factory,
)
from ..graph.graph import Graph
from ..graph.inputs import split_answers
from ..nodes.base import HyperNode
from ..nodes.gate import END, GateNode
from ..nodes.graph_node import GraphNode
from .options import RunOptions
from .result import PauseInfo, RunResult

_E = TypeVar("_E", bound=BaseEvent)
_ID_PREFIX = os.urandom(4).hex()  # ids stay unique across processes
_ids = itertools.count()


def _fresh_ids_after_fork() -> None:
    # A forked process (a process-pool worker) would start with its parent's prefix and
    # counter and mint the same ids as its siblings and as its parent.
    global _ID_PREFIX
    _ID_PREFIX = os.urandom(4).hex()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_fresh_ids_after_fork)


def new_id() -> str:
    """A run or span id: a per-process random prefix and a counter (cheap: one per node)."""
    return f"{_ID_PREFIX}{next(_ids):08x}"


def merge_inputs(values: Mapping[str, Any] | None, inputs: dict[str, Any]) -> dict[str, Any]:
    """`run(graph, {"x": 1})` and `run(graph, x=1)` are the same call; both at once must agree."""
    if not inputs and type(values) is dict:  # the usual call: one plain dict
        return dict(values)
    if values is not None and not isinstance(values, Mapping):
        raise InputValueError(
            f"run() takes the input values as a dict, got {type(values).__name__}.\n"
            'How to fix: run(graph, {"x": 1}) or run(graph, x=1).',
            names=[],
        )
    merged = dict(values or {})
    clash = sorted(set(merged) & set(inputs))
    if clash:
        raise InputValueError(
            f"Input {quoted(clash)} was given both in the values dict and as a keyword.\n"
            "How to fix: give each input once.",
            names=clash,
        )
    merged.update(inputs)
    return merged


def check_graph(graph: object) -> None:
    if not isinstance(graph, Graph):
        raise InputValueError(
            f"A runner runs a Graph, got {type(graph).__name__}.\n"
            "How to fix: wrap the nodes first: runner.run(Graph([...]), values).",
            names=[],
        )


class Control:
    """Signals shared by a run and the graphs nested in it."""

    __slots__ = ("cancelled", "halt", "limiter", "stop_requested")

    def __init__(self) -> None:
        self.stop_requested = False  # finish what runs, start nothing new
        self.cancelled = False  # the caller left: unwind everything now
        self.halt = False  # either of the two: no new node starts (read once per node)
        # AsyncRunner: one semaphore capping leaf nodes run-wide (max_concurrency)
        self.limiter: asyncio.Semaphore | None = None

    def stop(self) -> None:
        self.stop_requested = self.halt = True

    def cancel(self) -> None:
        self.cancelled = self.halt = True


class Execution:
    """One run in progress."""

    # What most runs never change and seldom read lives on the class, so that making a run
    # (one per map item) sets only what differs. (`failed` and `error` are read per node:
    # instance attributes are faster to read, so they stay on the instance.)
    ended = False  # the drive is over: the status is final
    interrupted = False  # cancelled from outside before it completed
    status = RunStatus.COMPLETED
    started_at = 0.0
    answers: dict[str, Any] = {}  # noqa: RUF012 (never written: a run with answers has its own)
    pauses: list[PauseInfo] = []  # noqa: RUF012 (never written: a pausing run has its own)
    _loop: Any = None  # AsyncRunner: the run's event loop, and its thread
    _loop_thread = 0

    def __init__(
        self,
        graph: Graph,
        values: Mapping[str, Any],
        options: RunOptions,
        *,
        dispatcher: Dispatcher,
        deliver: Callable[[BaseEvent], None] | None = None,
        deliver_chunk: Callable[[BaseEvent], None] | None = None,
        control: Control | None = None,
        graph_path: tuple[str, ...] = (),
        parent_span_id: str | None = None,
        checked: bool = False,
        workflow_id: str | None = None,
        parent_workflow: str | None = None,
    ) -> None:
        """`deliver` hands an event to the iter() consumer without waiting (lifecycle
        events); `deliver_chunk`, if given, may wait for room (chunks from a producer that
        can wait). `checked=True`: the value names were already checked against the graph
        (map items share their names, so they are checked once). The run's start event
        goes out when a driver calls `start()`. `workflow_id`: a nested run's own workflow
        (a top-level run takes `options.workflow_id`)."""
        if not checked:
            check_graph(graph)
        plan = graph._plan
        if plan.asks and not graph_path:  # a nested run shares its parent's answers
            if options.checkpointer is None:
                values, self.answers = split_answers(plan, values, graph.inputs.all)
            else:
                from .durability import resume_values

                wid = workflow_id or options.workflow_id
                values, self.answers, stored = resume_values(
                    options.checkpointer, wid, graph, dict(values)
                )
                checked = checked and not stored
        self.graph = graph
        self.options = options
        self.plan = plan
        self.nodes = plan.nodes
        self.context_params = plan.context_params
        self.single_output = plan.single_output
        # Processors that wrap node executions (node_scope) need every node to take the
        # NodeCall path, where the wrapping happens; the fast path stays wrapper-free.
        self.plain = plan.plain if not dispatcher.scopes else plan.no_plain
        start = {**graph.inputs.bound, **values} if checked else graph._start_values(values)
        self.sched = Scheduler(plan, start, options.max_iterations)
        self.inputs_for = self.sched.inputs_for  # the runners' fast path: one lookup less
        self.raise_errors = options.raise_errors
        self.dispatcher = dispatcher
        self.deliver = deliver  # the iter() consumer, if any
        self.deliver_chunk = deliver_chunk or deliver
        self.durable: Durable | None = None
        self.workflow_id: str | None = None
        self._given: dict[str, Any] = {}
        if options.checkpointer is not None:
            from .durability import Durable  # loads the store's code only when used

            wid = workflow_id or (not graph_path and options.workflow_id) or f"wf-{new_id()}"
            self.workflow_id = wid
            self.durable = Durable(options.checkpointer, wid, parent_workflow)
            self._given = dict(values)
        # A checkpointed run keeps streamed chunks and attempt numbers through the chunk
        # hook that events bring: it turns events on only if a node can stream or retry.
        streams = self.durable is not None and any(
            n.is_generator or c is not None or n.policy is not None
            for n, c in zip(plan.nodes, plan.context_params, strict=True)
        )
        self.events = bool(dispatcher) or deliver is not None or streams
        self.control = control or Control()
        self.run_id = (not graph_path and options.run_id) or new_id()
        self.graph_path = graph_path
        self.parent_span_id = parent_span_id
        self.span_id = new_id() if self.events else ""
        self.node_spans: dict[int, str] = {}
        self.node_started: dict[int, float] = {}  # perf_counter() at each node's start
        self.error: BaseException | None = None
        self.failed = False  # a failure ends the run (error_handling="raise", or a loop limit)
        self.partial: dict[str, list[Any]] = {}
        if self.durable is not None:  # each step records when its node started
            self.inputs_for = self._timed_inputs_for

    def attach(
        self,
        deliver: Callable[[BaseEvent], None],
        deliver_chunk: Callable[[BaseEvent], None] | None = None,
    ) -> None:
        """Give the run its iter() consumer (before it starts)."""
        self.deliver = deliver
        self.deliver_chunk = deliver_chunk or deliver
        self.events = True
        if not self.span_id:
            self.span_id = new_id()

    def start(self) -> list[int]:
        """The run begins: its start event goes out; the nodes ready now."""
        self.started_at = time.perf_counter()
        if self.events:
            self.emit(self.run_start_event())
        if self.durable is not None:
            replayed = self.durable.open(
                self.graph, self.sched.values, self._given, self.options.max_iterations
            )
            if replayed is not None:  # a resumed workflow: what was running runs again
                self.sched = replayed
                return replayed.busy_nodes()
        return self.sched.start()

    def end(self) -> None:
        """The drive is over (however it ended): the status is final; the end event goes out."""
        if self.ended:
            return
        self.status = self._status()
        self.ended = True
        if self.durable is not None:
            self.durable.end(self.status.value)
        if self.events:
            self.emit(self.run_end_event())

    # -- calling a node -----------------------------------------------------------------

    def _timed_inputs_for(self, i: int) -> dict[str, Any]:
        """`inputs_for` of a checkpointed run: also notes when node `i` starts."""
        self.node_started[i] = time.perf_counter()
        return self.sched.inputs_for(i)

    def is_stopping(self) -> bool:
        return self.control.halt

    @property
    def halted(self) -> bool:
        """No new node starts: the run failed, was asked to stop, or was abandoned."""
        return self.failed or self.control.halt

    def nested(self, i: int, values: dict[str, Any], label: str) -> Execution:
        """A run of graph node `i`'s inner graph that shares this run's listeners and signals."""
        node = self.nodes[i]
        assert isinstance(node, GraphNode)
        child = Execution(
            node.graph,
            values,
            self.options,
            dispatcher=self.dispatcher,
            deliver=self.deliver,
            deliver_chunk=self.deliver_chunk,
            control=self.control,
            graph_path=(*self.graph_path, label),
            parent_span_id=self.node_spans.get(i),
            # Its own workflow, keyed by the node's execution: a resume finds it again.
            workflow_id=self.workflow_id and f"{self.workflow_id}/{label}#{self.sched.runs[i]}",
            parent_workflow=self.workflow_id,
        )
        child.partial = self.partial
        child.answers = self.answers
        return child

    # -- outcomes -----------------------------------------------------------------------

    def finish(self, i: int, result: Any, cached: bool = False) -> list[int]:
        """Node `i` returned `result`: record it and return the nodes now ready.

        A result that does not fit the node's declaration (NodeOutputError) is the
        node's failure.
        """
        outputs_of = self.single_output[i]
        if outputs_of is not None:  # the common case: one output, nothing to check
            outputs = {outputs_of: result}
            if self.durable is not None:  # recorded before anything that depends on it
                error = self.durable.finish(
                    i, self.nodes[i].name, outputs, self.node_started.get(i)
                )
                if error is not None:
                    return self.fail(i, error)
            if self.events:
                self.emit(self.node_end_event(i, outputs, cached))
            # `_step(self.sched.finish, i, outputs)`, inlined: the call costs about 10% of
            # a node's whole overhead on this, the hottest path (measured side by side).
            try:
                ready = self.sched.finish(i, outputs)
            except InfiniteLoopError as exc:
                return self._loop_limit(exc)
            return [] if self.failed or self.control.halt else ready
        node = self.nodes[i]
        try:
            if isinstance(node, GateNode):
                targets = node.decide(result)
                if self.durable is not None:
                    self.durable.gate(i, node.name, targets, self.node_started.get(i))
                if self.events:
                    multi = node.multi_target
                    decision = targets if multi else (targets[0] if targets else END)
                    self.emit(RouteDecisionEvent(**self._node_fields(i), decision=decision))
                    self.emit(self.node_end_event(i, {}, False))
                return self._step(self.sched.finish_gate, i, targets)
            outputs = result if isinstance(node, GraphNode) else shape_outputs(node, result)
        except NodeOutputError as exc:
            return self.fail(i, exc)
        if self.durable is not None:
            error = self.durable.finish(i, node.name, outputs, self.node_started.get(i))
            if error is not None:
                return self.fail(i, error)
        if self.events:
            self.emit(self.node_end_event(i, outputs, cached))
        return self._step(self.sched.finish, i, outputs)

    def fail(self, i: int, exc: BaseException) -> list[int]:
        """Node `i` raised `exc`."""
        note_origin(exc, self._path(i))
        if self.durable is not None:
            self.durable.fail(i, self.nodes[i].name, self.node_started.get(i))
        if self.events:
            self.emit(NodeErrorEvent(**self._ended_fields(i), error=exc))
        if self.error is None:
            self.error = exc
        if self.raise_errors:
            self.failed = True
        return self._step(self.sched.fail, i)

    def stopped(self, i: int, chunks: list[Any]) -> list[int]:
        """Node `i` was closed before it finished (stop or cancel): keep what it streamed."""
        self.keep_partial(i, chunks)
        if self.durable is not None:  # not a step: it runs again on resume; its chunks stay
            self.durable.flush(i, self.nodes[i].name)
        if self.events:
            self.emit(self.node_end_event(i, {}, False))
        return self._step(self.sched.fail, i)

    def answer(self, i: int) -> list[int] | None:
        """Interrupt `i` runs: if its answer was given, it passes it through (its function is
        not called; an answer serves one execution). None: it must ask."""
        key = self._answer_key(i)
        if key not in self.answers:
            return None
        return self.finish(i, self.answers.pop(key))

    def suspend(self, i: int, question: Any) -> list[int]:
        """Interrupt `i` asked `question`: it waits for the answer, the run goes on with
        what does not need it, and ends PAUSED."""
        key = self._answer_key(i)
        info = PauseInfo(self._path(i), question, key)
        if self.events:
            self.emit(InterruptEvent(**self._node_fields(i), value=question, response_key=key))
        return self.pause(i, [info])

    def _answer_key(self, i: int) -> str:
        """The run value that answers interrupt `i`: its output, under the nesting path."""
        return "/".join((*self.graph_path, self.nodes[i].outputs[0]))

    def pause(self, i: int, pauses: list[PauseInfo]) -> list[int]:
        """Node `i` waits for the answers to `pauses` (its own question, or those of the
        interrupts inside graph node `i`)."""
        if self.durable is not None:  # recorded: a resume runs the node again
            self.durable.suspend(i, self.nodes[i].name, self.node_started.get(i))
        if not self.pauses:
            self.pauses = []
        self.pauses.extend(pauses)
        if self.events:
            self.emit(self.node_end_event(i, {}, False))
        return self._step(self.sched.suspend, i)

    def _step(self, step: Callable[..., list[int]], *args: Any) -> list[int]:
        """Advance the scheduler; the nodes it made ready, unless the run is ending."""
        try:
            ready = step(*args)
        except InfiniteLoopError as exc:  # raised while deciding the next node
            return self._loop_limit(exc)
        return [] if self.failed or self.control.halt else ready

    def _loop_limit(self, exc: InfiniteLoopError) -> list[int]:
        self.error = self.error or exc
        self.failed = True
        return []

    def keep_partial(self, i: int, chunks: list[Any]) -> None:
        self.partial[self._path(i)] = chunks

    def idempotency_key(self, i: int) -> str:
        """Names node `i`'s current execution: the same for each attempt, and across a
        resume (a resumed execution keeps its number: the scheduler counts only the
        executions the checkpoint recorded)."""
        return f"{self.workflow_id or self.run_id}/{self._path(i)}#{self.sched.runs[i]}"

    def _path(self, i: int) -> str:
        """`outer/inner/node`: where node `i` sits in the nesting."""
        return "/".join((*self.graph_path, self.nodes[i].name))

    def on_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        """The run is driven on `loop` (in this thread)."""
        self._loop = loop
        self._loop_thread = threading.get_ident()

    def request_stop(self) -> None:
        """Nothing new starts; streaming nodes close at their next chunk. A run that
        already ended keeps its status. Safe from any thread: on an event loop's run, a
        stop from another thread is handed to the loop (which it wakes)."""
        if self._loop is not None and threading.get_ident() != self._loop_thread:
            with contextlib.suppress(RuntimeError):  # the loop closed: the run is over
                self._loop.call_soon_threadsafe(self.request_stop)
            return
        if self.control.stop_requested or self.ended:
            return
        self.control.stop()
        if self.events:
            self.emit(StopRequestedEvent(**self._run_fields()))

    def outcome(self) -> RunResult:
        """The result, or with error_handling="raise" the node's own exception."""
        if self.error is not None and self.raise_errors:
            raise self.error
        return self.result()

    def abort(self, exc: BaseException) -> None:
        """A node raised a BaseException that is not an Exception: the run ends FAILED
        with it, and the runner re-raises it to the caller (decision 0028)."""
        if self.error is None:
            self.error = exc
        self.failed = True

    def _status(self) -> RunStatus:
        if self.error is not None:
            return RunStatus.FAILED
        if self.control.stop_requested or self.control.cancelled or self.interrupted:
            return RunStatus.STOPPED
        return RunStatus.PAUSED if self.pauses else RunStatus.COMPLETED

    def result(self) -> RunResult:
        return RunResult(
            values=self.sched.output_values(self.graph.outputs),
            status=self.status if self.ended else self._status(),
            run_id=self.run_id,
            error=self.error,
            partial=self.partial,
            workflow_id=self.workflow_id,
            pauses=list(self.pauses),
        )

    # -- events -------------------------------------------------------------------------

    def emit(self, event: BaseEvent) -> None:
        """Hand `event` to the run's listeners (only called when there are some)."""
        self.dispatcher.emit(event)
        if self.deliver is not None:
            self.deliver(event)

    def emit_chunk(self, event: BaseEvent) -> None:
        """Like `emit`, for a chunk from a producer that can wait for the consumer."""
        self.dispatcher.emit(event)
        if self.deliver_chunk is not None:
            self.deliver_chunk(event)

    def run_start_event(self) -> RunStartEvent:
        return RunStartEvent(
            **self._run_fields(), graph_name=self.graph.name, graph_path=self.graph_path
        )

    def run_end_event(self) -> RunEndEvent:
        result = self.result()
        return RunEndEvent(
            **self._run_fields(),
            graph_name=self.graph.name,
            graph_path=self.graph_path,
            status=result.status,
            error=result.error,
            duration_ms=(time.perf_counter() - self.started_at) * 1000,
        )

    def node_start_event(self, i: int) -> NodeStartEvent:
        self.node_spans[i] = new_id()
        self.node_started[i] = time.perf_counter()
        return _filled(NodeStartEvent, self._node_fields(i))

    def node_end_event(self, i: int, outputs: dict[str, Any], cached: bool) -> NodeEndEvent:
        """Node `i`'s end event (its fields written out: `_ended_fields`, inlined, as
        this runs once per traced node)."""
        started = self.node_started.get(i)
        return _filled(
            NodeEndEvent,
            {
                "run_id": self.run_id,
                "span_id": self.node_spans.get(i, ""),
                "parent_span_id": self.span_id,
                "timestamp": time.time(),
                "node_name": self.nodes[i].name,
                "graph_path": self.graph_path,
                "outputs": outputs,
                "duration_ms": 0.0 if started is None else (time.perf_counter() - started) * 1000,
                "cached": cached,
            },
        )

    def chunk_maker(
        self, i: int, attempt: int = 1
    ) -> Callable[[Any, int], StreamingChunkEvent | None]:
        """Makes node `i`'s chunk events, for its current execution and attempt (a
        checkpointed run also keeps each chunk; None when only the checkpoint listens)."""
        fields = self._node_fields(i)
        del fields["timestamp"]
        fields["attempt"] = attempt
        make = chunk_factory(fields)
        durable = self.durable
        if durable is None:
            return make
        name = self.nodes[i].name
        durable.attempt(i, name, self.sched.runs[i], attempt)
        listening = bool(self.dispatcher) or self.deliver is not None

        def keep(chunk: Any, index: int) -> StreamingChunkEvent | None:
            durable.chunk(i, name, chunk)
            return make(chunk, index) if listening else None

        return keep

    def node_event_fields(self, i: int) -> dict[str, Any]:
        """The common fields of an event about node `i`'s current execution."""
        return self._node_fields(i)

    def _run_fields(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "span_id": self.span_id,
            "parent_span_id": self.parent_span_id,
            "timestamp": time.time(),
        }

    def _ended_fields(self, i: int) -> dict[str, Any]:
        """The fields of node `i`'s end or error event, with how long it ran."""
        started = self.node_started.get(i)
        fields = self._node_fields(i)
        fields["duration_ms"] = 0.0 if started is None else (time.perf_counter() - started) * 1000
        return fields

    def _node_fields(self, i: int) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "span_id": self.node_spans.get(i, ""),
            "parent_span_id": self.span_id,
            "timestamp": time.time(),
            "node_name": self.nodes[i].name,
            "graph_path": self.graph_path,
        }


def _filled(cls: type[_E], fields: dict[str, Any]) -> _E:
    """An event of `cls` holding `fields`, which name every field of `cls`: its
    `__dict__` filled in one step, as `chunk_factory` does (the generated `__init__` of a
    frozen dataclass sets each field separately: this costs a fifth of it, and tracing
    makes two such events per node)."""
    event = _new(cls)
    _set(event, "__dict__", fields)
    return event


_new = object.__new__
_set = object.__setattr__


def note_origin(exc: BaseException, path: str) -> None:
    """Add where a node's own exception was raised: `(raised by node 'outer/inner')`."""
    if not isinstance(exc, HypergraphError):
        note = f"(raised by node '{path}')"
        if note not in getattr(exc, "__notes__", ()):  # one instance may be raised again
            exc.add_note(note)


def shape_outputs(node: HyperNode, result: Any) -> dict[str, Any]:
    """Map a node's return value onto its declared output names."""
    outputs = node.outputs
    if not outputs:
        return {}
    if len(outputs) == 1:
        return {outputs[0]: result}
    if not isinstance(result, tuple) or len(result) != len(outputs):
        got = f"a tuple of {len(result)}" if isinstance(result, tuple) else type(result).__name__
        raise NodeOutputError(
            f"Node '{node.name}' declares {len(outputs)} outputs {outputs!r} but returned "
            f"{got}.\nHow to fix: return a tuple of {len(outputs)} values, in that order.",
            node=node.name,
        )
    return dict(zip(outputs, result, strict=True))
