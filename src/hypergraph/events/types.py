"""Event types: frozen records of what happened during a run.

Events are plain data at the bottom of the import graph. Runners build them only
when somebody listens (an event processor or an `iter()` consumer), so a run with no
listener pays nothing for them.

They are frozen dataclasses without `__slots__`: that lets `chunk_factory` build the
one event made per streamed token as a plain object and then give it its class,
several times faster than the generated `__init__`, which sets each frozen field
separately.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import Any, ClassVar

from .wire import to_json_value


class RunStatus(StrEnum):
    """How a run ended."""

    COMPLETED = "completed"
    FAILED = "failed"
    STOPPED = "stopped"
    PAUSED = "paused"  # an interrupt waits for its answer (result.pauses says which)
    PARTIAL = "partial"  # only for MapResult: some items failed, others completed


@dataclass(frozen=True, kw_only=True)
class BaseEvent:
    """Fields every event carries."""

    run_id: str
    """The run this event belongs to."""
    span_id: str
    """This event's span: the run's span for run events, the node execution's otherwise."""
    parent_span_id: str | None
    """The enclosing span: the run's span for node events, the outer node's for a nested run."""
    timestamp: float
    """Seconds since the epoch (`time.time()`) when the event was made."""

    kind: ClassVar[str] = "event"
    """A short stable name of the event type, as on the wire (`"chunk"`, `"node_end"`)."""

    def to_dict(self) -> dict[str, Any]:
        """The event as JSON data (`json.dumps` always accepts it), with its `kind`.

        >>> e = StopRequestedEvent(run_id="r", span_id="s", parent_span_id=None, timestamp=0.0)
        >>> e.to_dict()["kind"], e.to_dict()["parent_span_id"]
        ('stop_requested', None)
        """
        out: dict[str, Any] = {"kind": self.kind}
        for f in fields(self):
            out[f.name] = to_json_value(getattr(self, f.name))
        return out


@dataclass(frozen=True, kw_only=True)
class NodeEvent(BaseEvent):
    """Fields of every event about one node execution."""

    node_name: str
    """The node's name in its graph."""
    graph_path: tuple[str, ...] = ()
    """Names of the enclosing graph nodes, outermost first; empty at the top level."""

    @property
    def path(self) -> str:
        """`outer/inner/node`: the node's place in the nesting."""
        return "/".join((*self.graph_path, self.node_name))


@dataclass(frozen=True, kw_only=True)
class RunStartEvent(BaseEvent):
    """A run (or a nested graph's run) started."""

    kind = "run_start"

    graph_name: str | None
    graph_path: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class RunEndEvent(BaseEvent):
    """A run ended; `status` says how."""

    kind = "run_end"

    graph_name: str | None
    status: RunStatus
    error: BaseException | None = None
    duration_ms: float = 0.0
    graph_path: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class NodeStartEvent(NodeEvent):
    """A node started executing."""

    kind = "node_start"


@dataclass(frozen=True, kw_only=True)
class NodeEndEvent(NodeEvent):
    """A node finished and wrote `outputs`."""

    kind = "node_end"

    outputs: Mapping[str, Any] = field(default_factory=dict)
    duration_ms: float = 0.0
    cached: bool = False
    """True if the outputs came from the cache: the function was not called."""


@dataclass(frozen=True, kw_only=True)
class NodeErrorEvent(NodeEvent):
    """A node raised `error` (or was stopped mid-stream)."""

    kind = "node_error"

    error: BaseException
    duration_ms: float = 0.0


@dataclass(frozen=True, kw_only=True)
class RouteDecisionEvent(NodeEvent):
    """A gate decided: `decision` is a target name, END, or a tuple of names."""

    kind = "route_decision"

    decision: object


@dataclass(frozen=True, kw_only=True)
class StreamingChunkEvent(NodeEvent):
    """A node produced one chunk of a stream (a yielded item or `ctx.stream(chunk)`)."""

    kind = "chunk"

    chunk: Any
    sequence: int
    """0, 1, 2 ... for the chunks of one attempt of a node execution, in production order."""
    attempt: int = 1
    """Which attempt produced it (a RetryPolicy may run a node again): when a NodeRetryEvent
    comes, the chunks of the failed attempt are discarded from the node's output."""


@dataclass(frozen=True, kw_only=True)
class NodeRetryEvent(NodeEvent):
    """A node's attempt failed and it will run again after `delay` seconds.

    The chunks it streamed in the failed attempt are discarded from its output: a chat
    page clears the text of that attempt.
    """

    kind = "node_retry"

    attempt: int
    """The attempt about to start (2 for the first retry)."""
    error: BaseException
    """What the failed attempt raised."""
    delay: float
    """Seconds to wait before the next attempt."""


@dataclass(frozen=True, kw_only=True)
class InterruptEvent(NodeEvent):
    """An interrupt asked its question: the run pauses until the answer is given under
    `response_key` (then the node's end event follows, without outputs)."""

    kind = "interrupt"

    value: Any
    """The question the interrupt's function returned."""
    response_key: str
    """The run value that answers it (`"approved"`; nested: `"outer/approved"`)."""


@dataclass(frozen=True, kw_only=True)
class StopRequestedEvent(BaseEvent):
    """Somebody asked the run to stop; no new node starts after this."""

    kind = "stop_requested"


class _Blank:
    """A plain object with the same layout as an event (a `__dict__`, no slots): chunk
    events are built as one of these and then given their class (see `chunk_factory`)."""


def chunk_factory(common: dict[str, Any]) -> Callable[[Any, int], StreamingChunkEvent]:
    """A maker of chunk events sharing `common` fields (run, span, node, path).

    The events it makes equal `StreamingChunkEvent(**common, chunk=..., sequence=...,
    timestamp=...)`, are just as frozen, and hold their fields in the same order.
    """
    run_id, span_id, parent_span_id = common["run_id"], common["span_id"], common["parent_span_id"]
    node_name, graph_path = common["node_name"], common.get("graph_path", ())
    attempt = common.get("attempt", 1)
    now = time.time
    cls = StreamingChunkEvent

    def make(chunk: Any, sequence: int) -> StreamingChunkEvent:
        # One event per streamed token, so its cost is the cost of streaming (W4). A
        # frozen event refuses attribute stores, and its generated `__init__` or filling
        # its `__dict__` costs about 5,000 instructions; plain stores on a `_Blank` and
        # then setting its class (both have the same layout) cost about a third less.
        event: Any = _Blank()
        event.run_id = run_id
        event.span_id = span_id
        event.parent_span_id = parent_span_id
        event.timestamp = now()
        event.node_name = node_name
        event.graph_path = graph_path
        event.chunk = chunk
        event.sequence = sequence
        event.attempt = attempt
        event.__class__ = cls
        return event  # type: ignore[no-any-return]

    return make
