"""OpenTelemetryProcessor: a span per run and per node execution (extra `otel`).

The spans follow the OpenTelemetry GenAI conventions where they apply (decision 0023):
a run is an `invoke_workflow` span named for its graph; a node execution is a child of
its run, and a nested graph's run (each `map_over` item too) a child of the graph
node's span. A streaming node gets its time to first chunk and its chunk count, never
a span per chunk. Every span ends exactly once, however the run ends: the runner
always emits the run's end event, and any node span still open then (a node cancelled
mid-execution) is ended there as cancelled.

While a node runs, its span is the current span (`node_scope`), in `async def` nodes
and in `def` nodes in worker threads alike, so the spans an instrumented SDK opens
inside a node are children of the node's span.

Without an SDK (the API's no-op tracer) the processor sits each run out
(`wants_events()`): no events are built for it and nodes keep the runners' fast path.
Costs per node are in bench/observe_overhead.py and decision 0036.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

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
)
from .extras import require

_CANCELLED = "cancelled"


class _Run:
    """An open run span and what the run's end needs to know."""

    __slots__ = ("context", "errors", "nodes", "root", "span")

    def __init__(self, span: Any, context: Any, root: str) -> None:
        self.span = span
        self.context = context  # with the run's span current: its nodes' parent, made once
        self.root = root  # the span id of the outermost run: where a stop is asked for
        self.nodes: set[str] = set()  # its node spans still open
        self.errors: list[BaseException] = []  # already recorded on a node span


class _Node:
    """An open node span; as the node's scope, it makes its span the current one (in the
    node's own context: its task, or the copy of it that a worker thread runs in)."""

    __slots__ = ("chunks", "run", "span", "started", "token")

    def __init__(self, span: Any, run: _Run | None, started: float) -> None:
        self.span = span
        self.run = run
        self.started = started
        self.chunks = 0
        self.token: Any = None

    def __enter__(self) -> None:
        self.token = _api.attach(_api.set_span_in_context(self.span))

    def __exit__(self, *exc_info: object) -> None:
        _api.detach(self.token)


class _Api:
    """The OpenTelemetry API functions used per node (imported when a processor is made)."""

    attach: Callable[[Any], Any]
    detach: Callable[[Any], None]
    set_span_in_context: Callable[[Any], Any]


_api = _Api()
_NO_SCOPE = contextlib.nullcontext()


class OpenTelemetryProcessor:
    """Traces runs with OpenTelemetry: pass it in `event_processors=[...]`.

    `tracer_provider`: where the spans go (the global provider if None). One processor
    may serve many runs, also at the same time.

    >>> from opentelemetry.sdk.trace import TracerProvider
    >>> from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    >>> from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    ...     InMemorySpanExporter)
    >>> from hypergraph import Graph, SyncRunner, node
    >>> exporter = InMemorySpanExporter()
    >>> provider = TracerProvider()
    >>> provider.add_span_processor(SimpleSpanProcessor(exporter))
    >>> @node(output_name="doubled")
    ... def double(x: int) -> int:
    ...     return 2 * x
    >>> tracing = OpenTelemetryProcessor(tracer_provider=provider)
    >>> _ = SyncRunner().run(Graph([double], name="demo"), x=1, event_processors=[tracing])
    >>> [span.name for span in exporter.get_finished_spans()]
    ['double', 'invoke_workflow demo']
    """

    def __init__(self, tracer_provider: Any = None) -> None:
        feature = "OpenTelemetryProcessor"
        trace = require("opentelemetry.trace", "opentelemetry-api", "otel", feature)
        context = require("opentelemetry.context", "opentelemetry-api", "otel", feature)
        self._tracer = trace.get_tracer("hypergraph", tracer_provider=tracer_provider)
        self._in_context: Callable[[Any], Any] = trace.set_span_in_context
        _api.attach, _api.detach = context.attach, context.detach
        _api.set_span_in_context = trace.set_span_in_context
        # No SDK: the API's no-op tracer (given, or the global provider is not set yet).
        self._noop: Callable[[], bool]
        if isinstance(self._tracer, trace.NoOpTracer):
            self._noop = lambda: True
        elif tracer_provider is None:
            unset = (trace.ProxyTracerProvider, trace.NoOpTracerProvider)
            self._noop = lambda: isinstance(trace.get_tracer_provider(), unset)
        else:
            self._noop = lambda: False
        self._status: Callable[..., Any] = trace.Status
        self._error = trace.StatusCode.ERROR
        self._runs: dict[str, _Run] = {}
        self._nodes: dict[str, _Node] = {}
        self._stopped: set[str] = set()  # outermost runs that were asked to stop
        self._handlers: dict[type[BaseEvent], Callable[[Any], None]] = {
            RunStartEvent: self._run_start,
            RunEndEvent: self._run_end,
            NodeStartEvent: self._node_start,
            NodeEndEvent: self._node_end,
            NodeErrorEvent: self._node_error,
            StreamingChunkEvent: self._chunk,
            RouteDecisionEvent: self._decision,
            StopRequestedEvent: self._stop_requested,
            InterruptEvent: self._interrupt,
        }

    def on_event(self, event: BaseEvent) -> None:
        handler = self._handlers.get(type(event))
        if handler is not None:
            handler(event)

    def wants_events(self) -> bool:
        """False while there is no SDK to record spans (the runner asks once per run).

        With the API's no-op tracer every span would be a non-recording copy of the
        caller's span context, so tracing a node would change nothing that anybody can
        see: the run then builds no events for this processor and keeps its fast path.
        """
        return not self._noop()

    def node_scope(self, event: NodeStartEvent) -> AbstractContextManager[Any]:
        """The node's span is the current span while the node runs (the runner enters
        this around each node execution, in the node's own context)."""
        return self._nodes.get(event.span_id) or _NO_SCOPE

    # -- runs ---------------------------------------------------------------------------

    def _run_start(self, event: RunStartEvent) -> None:
        outer = self._nodes.get(event.parent_span_id) if event.parent_span_id else None
        # A top-level run has no parent here: the caller's current span becomes its parent.
        parent = None if outer is None else self._in_context(outer.span)
        name = event.graph_name or (event.graph_path[-1] if event.graph_path else None)
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": "invoke_workflow",
            "hypergraph.run_id": event.run_id,
        }
        if name:
            attributes["gen_ai.workflow.name"] = name
            attributes["gen_ai.agent.name"] = name
        if event.graph_path:
            attributes["hypergraph.graph.path"] = "/".join(event.graph_path)
        span = self._tracer.start_span(
            f"invoke_workflow {name}" if name else "invoke_workflow",
            context=parent,
            attributes=attributes,
            start_time=_ns(event.timestamp),
        )
        root = outer.run.root if outer is not None and outer.run is not None else event.span_id
        self._runs[event.span_id] = _Run(span, self._in_context(span), root)

    def _run_end(self, event: RunEndEvent) -> None:
        run = self._runs.pop(event.span_id, None)
        if run is None:
            return
        end = _ns(event.timestamp)
        # Cancelled: stopped without a stop request (the consumer left, a task was
        # cancelled or timed out), or ended with a node still open (a KeyboardInterrupt
        # in a node of SyncRunner leaves it without an end event).
        cancelled = bool(run.nodes) or (
            event.status is RunStatus.STOPPED and run.root not in self._stopped
        )
        for span_id in list(run.nodes):
            # Still open: the node was cancelled mid-execution and had no end event.
            node = self._nodes.pop(span_id, None)
            if node is not None:
                self._fail(node.span, _CANCELLED, "cancelled before it finished")
                node.span.end(end_time=end)
        span = run.span
        span.set_attribute("hypergraph.run.status", str(event.status))
        error = event.error
        if event.status is RunStatus.FAILED and error is not None:
            self._fail(span, _error_type(error), _describe(error))
            if not any(error is seen for seen in run.errors):
                span.record_exception(error)  # not raised by a node: a loop limit, say
        elif cancelled:
            self._fail(span, _CANCELLED, "the run was cancelled (consumer left, or timed out)")
        span.end(end_time=end)
        if run.root == event.span_id:
            self._stopped.discard(event.span_id)

    def _stop_requested(self, event: StopRequestedEvent) -> None:
        run = self._runs.get(event.span_id)
        if run is not None:
            run.span.add_event("stop_requested", timestamp=_ns(event.timestamp))
            self._stopped.add(run.root)

    # -- nodes --------------------------------------------------------------------------

    def _node_start(self, event: NodeStartEvent) -> None:
        run = self._runs.get(event.parent_span_id) if event.parent_span_id else None
        # The span's name is the node's name; a nested node's path says where it sits.
        attributes = {"hypergraph.node.path": event.path} if event.graph_path else None
        span = self._tracer.start_span(
            event.node_name,
            context=None if run is None else run.context,
            attributes=attributes,
            start_time=int(event.timestamp * 1e9),  # _ns, inlined: once per node
        )
        self._nodes[event.span_id] = _Node(span, run, event.timestamp)
        if run is not None:
            run.nodes.add(event.span_id)

    def _node_end(self, event: NodeEndEvent) -> None:
        # `_close`, inlined for the one event every node execution ends with.
        node = self._nodes.pop(event.span_id, None)
        if node is None:
            return
        if node.run is not None:
            node.run.nodes.discard(event.span_id)
        if node.chunks:
            node.span.set_attribute("hypergraph.chunks", node.chunks)
        node.span.end(end_time=int(event.timestamp * 1e9))

    def _node_error(self, event: NodeErrorEvent) -> None:
        node = self._close(event.span_id)
        if node is None:
            return
        error = event.error
        node.span.record_exception(error, timestamp=_ns(event.timestamp))
        self._fail(node.span, _error_type(error), _describe(error))
        if node.run is not None:
            node.run.errors.append(error)
        node.span.end(end_time=_ns(event.timestamp))

    def _close(self, span_id: str) -> _Node | None:
        """Take node `span_id` off the open spans (so only one caller ever ends it)."""
        node = self._nodes.pop(span_id, None)
        if node is None:
            return None
        if node.run is not None:
            node.run.nodes.discard(span_id)
        if node.chunks:
            node.span.set_attribute("hypergraph.chunks", node.chunks)
        return node

    def _chunk(self, event: StreamingChunkEvent) -> None:
        node = self._nodes.get(event.span_id)
        if node is None:
            return
        if not node.chunks:
            node.span.set_attribute(
                "gen_ai.response.time_to_first_chunk", max(0.0, event.timestamp - node.started)
            )
            node.span.add_event("first_chunk", timestamp=_ns(event.timestamp))
        node.chunks += 1

    def _decision(self, event: RouteDecisionEvent) -> None:
        node = self._nodes.get(event.span_id)
        if node is not None:
            decision = event.decision
            value: str | list[str] = (
                [str(d) for d in decision] if isinstance(decision, (tuple, list)) else str(decision)
            )
            node.span.set_attribute("hypergraph.route.decision", value)

    def _interrupt(self, event: InterruptEvent) -> None:
        """The node asked a human: its span says under which key the answer comes (the
        question itself may be large or private: it is not copied into the trace)."""
        node = self._nodes.get(event.span_id)
        if node is not None:
            node.span.set_attribute("hypergraph.interrupt.response_key", event.response_key)
            node.span.add_event("interrupt", timestamp=_ns(event.timestamp))

    def _fail(self, span: Any, error_type: str, description: str) -> None:
        span.set_attribute("error.type", error_type)
        span.set_status(self._status(self._error, description))


def _ns(timestamp: float) -> int:
    return int(timestamp * 1e9)


def _error_type(error: BaseException) -> str:
    """The exception's fully qualified class name (OpenTelemetry's `error.type`)."""
    cls = type(error)
    return (
        cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"
    )


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"
