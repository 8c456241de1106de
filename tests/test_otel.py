"""OpenTelemetryProcessor (SPEC §13) with the real OpenTelemetry SDK: the span tree of
chains, nested graphs and maps under both runners; every span ended exactly once on each
of the six ways a run ends; time to first chunk without a span per chunk; SDK spans
opened inside a node as children of the node's span.

Each test has its own TracerProvider (never the global one). Nothing sleeps to wait:
tests wait on events, under a timeout.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import aclosing
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from conftest import run_async
from hypergraph import (
    END,
    AsyncRunner,
    Graph,
    NodeContext,
    RunStatus,
    StreamingChunkEvent,
    SyncRunner,
    interrupt,
    node,
    route,
)
from hypergraph.integrations.extras import MissingExtraError
from hypergraph.integrations.otel import OpenTelemetryProcessor

pytestmark = pytest.mark.timeout(30)
RUNNERS = ["sync", "async"]


class Ledger(SpanProcessor):
    """Counts every span's starts and ends, whatever the exporter keeps."""

    def __init__(self) -> None:
        self.started: Counter[int] = Counter()
        self.ended: Counter[int] = Counter()

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        self.started[span.context.span_id] += 1

    def on_end(self, span: ReadableSpan) -> None:
        assert span.context is not None
        self.ended[span.context.span_id] += 1


class Tracing:
    """A TracerProvider of the test's own, its in-memory exporter, and a processor."""

    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.ledger = Ledger()
        self.provider = TracerProvider()
        self.provider.add_span_processor(self.ledger)
        self.provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.processor = OpenTelemetryProcessor(tracer_provider=self.provider)
        self.tracer = self.provider.get_tracer("test-sdk")

    @property
    def spans(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def named(self, name: str) -> ReadableSpan:
        found = [s for s in self.spans if s.name == name]
        assert len(found) == 1, [s.name for s in self.spans]
        return found[0]

    def parent_of(self, span: ReadableSpan) -> ReadableSpan | None:
        if span.parent is None:
            return None
        by_id = {s.context.span_id: s for s in self.spans if s.context is not None}
        return by_id.get(span.parent.span_id)

    def tree(self) -> set[tuple[str, str | None]]:
        """(span name, parent span name) for every finished span."""
        out = set()
        for span in self.spans:
            parent = self.parent_of(span)
            out.add((span.name, None if parent is None else parent.name))
        return out

    def assert_every_span_ended_once(self, caplog: pytest.LogCaptureFixture) -> None:
        assert self.ledger.started, "no span was started"
        assert set(self.ledger.started) == set(self.ledger.ended), "a span was left open"
        assert set(self.ledger.started.values()) == {1}
        assert set(self.ledger.ended.values()) == {1}
        assert len(self.spans) == len(self.ledger.started)
        assert "Calling end() on an ended span" not in caplog.text  # the SDK's double-end note


@pytest.fixture
def tracing() -> Tracing:
    return Tracing()


def run_with(kind: str, graph: Graph, values: dict[str, Any], **options: Any) -> Any:
    if kind == "sync":
        return SyncRunner().run(graph, values, **options)
    return run_async(AsyncRunner().run(graph, values, **options))


def chain() -> Graph:
    @node(output_name="a")
    def first(x: int) -> int:
        return x + 1

    @node(output_name="b")
    def second(a: int) -> int:
        return a * 2

    @route(targets=["third", END])
    def check(b: int) -> str:
        return "third"

    @node(output_name="c")
    def third(b: int) -> int:
        return b + 1

    return Graph([first, second, check, third], name="chain")


# -- the span tree ------------------------------------------------------------------------


@pytest.mark.parametrize("kind", RUNNERS)
def test_a_chain_gives_one_workflow_span_with_a_child_span_per_node(
    kind: str, tracing: Tracing, caplog: pytest.LogCaptureFixture
) -> None:
    result = run_with(kind, chain(), {"x": 1}, event_processors=[tracing.processor])

    assert result["c"] == 5
    assert tracing.tree() == {
        ("invoke_workflow chain", None),
        ("first", "invoke_workflow chain"),
        ("second", "invoke_workflow chain"),
        ("check", "invoke_workflow chain"),
        ("third", "invoke_workflow chain"),
    }
    run = tracing.named("invoke_workflow chain")
    assert run.attributes is not None
    assert run.attributes["gen_ai.operation.name"] == "invoke_workflow"
    assert run.attributes["gen_ai.workflow.name"] == "chain"
    assert run.attributes["hypergraph.run_id"] == result.run_id
    assert run.attributes["hypergraph.run.status"] == "completed"
    assert run.status.status_code is StatusCode.UNSET
    assert tracing.named("check").attributes == {"hypergraph.route.decision": "third"}
    assert all(s.end_time is not None and s.start_time is not None for s in tracing.spans)
    tracing.assert_every_span_ended_once(caplog)


@pytest.mark.parametrize("kind", RUNNERS)
def test_a_nested_graph_run_is_a_child_of_its_graph_node_span(
    kind: str, tracing: Tracing, caplog: pytest.LogCaptureFixture
) -> None:
    @node(output_name="y")
    def inner_step(x: int) -> int:
        return x + 1

    @node(output_name="z")
    def after(y: int) -> int:
        return y * 10

    inner = Graph([inner_step], name="inner")
    outer = Graph([inner.as_node(name="sub"), after], name="outer")

    assert run_with(kind, outer, {"x": 1}, event_processors=[tracing.processor])["z"] == 20
    assert tracing.tree() == {
        ("invoke_workflow outer", None),
        ("sub", "invoke_workflow outer"),
        ("after", "invoke_workflow outer"),
        ("invoke_workflow inner", "sub"),
        ("inner_step", "invoke_workflow inner"),
    }
    nested = tracing.named("invoke_workflow inner")
    assert nested.attributes is not None
    assert nested.attributes["hypergraph.graph.path"] == "sub"
    step = tracing.named("inner_step")
    assert step.attributes is not None
    assert step.attributes["hypergraph.node.path"] == "sub/inner_step"
    assert len({s.context.trace_id for s in tracing.spans if s.context}) == 1
    tracing.assert_every_span_ended_once(caplog)


@pytest.mark.parametrize("kind", RUNNERS)
def test_each_map_over_item_is_a_workflow_span_under_the_graph_node_span(
    kind: str, tracing: Tracing, caplog: pytest.LogCaptureFixture
) -> None:
    @node(output_name="y")
    def double(x: int) -> int:
        return 2 * x

    inner = Graph([double], name="inner")
    outer = Graph([inner.as_node(name="each").map_over("x")], name="outer")

    result = run_with(kind, outer, {"x": [1, 2, 3]}, event_processors=[tracing.processor])

    assert result["y"] == [2, 4, 6]
    each = tracing.named("each")
    items = [s for s in tracing.spans if s.name == "invoke_workflow inner"]
    assert len(items) == 3
    assert all(tracing.parent_of(s) is each for s in items)
    doubles = [s for s in tracing.spans if s.name == "double"]
    assert sorted(tracing.parent_of(s).context.span_id for s in doubles) == sorted(  # type: ignore[union-attr]
        s.context.span_id for s in items if s.context
    )
    tracing.assert_every_span_ended_once(caplog)


@pytest.mark.parametrize("kind", RUNNERS)
def test_runner_map_items_are_workflow_spans_under_the_callers_span(
    kind: str, tracing: Tracing, caplog: pytest.LogCaptureFixture
) -> None:
    graph = chain()
    options: dict[str, Any] = {"map_over": "x", "event_processors": [tracing.processor]}
    with tracing.tracer.start_as_current_span("batch"):
        if kind == "sync":
            result = SyncRunner().map(graph, {"x": [1, 2, 3, 4]}, **options)
        else:
            result = run_async(AsyncRunner().map(graph, {"x": [1, 2, 3, 4]}, **options))

    assert result["c"] == [5, 7, 9, 11]
    batch = tracing.named("batch")
    items = [s for s in tracing.spans if s.name == "invoke_workflow chain"]
    assert len(items) == 4
    assert all(tracing.parent_of(s) is batch for s in items)
    runs = {s.attributes["hypergraph.run_id"] for s in items if s.attributes}
    assert runs == {r.run_id for r in result}
    for name in ("first", "second", "check", "third"):
        nodes = [s for s in tracing.spans if s.name == name]
        assert {tracing.parent_of(s).name for s in nodes} == {"invoke_workflow chain"}  # type: ignore[union-attr]
        assert len({s.parent.span_id for s in nodes if s.parent}) == 4  # one per item
    tracing.assert_every_span_ended_once(caplog)


@pytest.mark.parametrize("how", ["run", "iter"])
@pytest.mark.parametrize("kind", RUNNERS)
def test_the_callers_current_span_is_the_parent_of_the_run_span(
    kind: str, how: str, tracing: Tracing
) -> None:
    graph = chain()
    processors = [tracing.processor]
    with tracing.tracer.start_as_current_span("request"):
        if how == "run":
            run_with(kind, graph, {"x": 1}, event_processors=processors)
        elif kind == "sync":
            with SyncRunner().iter(graph, x=1, event_processors=processors) as run:
                list(run)
        else:

            async def consume() -> None:
                async with AsyncRunner().iter(graph, x=1, event_processors=processors) as run:
                    async for _ in run:
                        pass

            run_async(consume())

    assert tracing.parent_of(tracing.named("invoke_workflow chain")) is tracing.named("request")


# -- streaming ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", RUNNERS)
def test_a_streaming_node_gets_time_to_first_chunk_and_no_span_per_chunk(
    kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    counts = {}
    for chunks in (3, 300):
        tracing = Tracing()

        @node(output_name="text")
        def tokens(n: int) -> Iterator[str]:
            yield from ("t" for _ in range(n))

        run_with(kind, Graph([tokens]), {"n": chunks}, event_processors=[tracing.processor])

        span = tracing.named("tokens")
        assert span.attributes is not None
        assert span.attributes["hypergraph.chunks"] == chunks
        first = span.attributes["gen_ai.response.time_to_first_chunk"]
        assert isinstance(first, float) and first >= 0.0
        assert [e.name for e in span.events] == ["first_chunk"]
        assert span.start_time is not None and span.end_time is not None
        assert span.start_time <= span.events[0].timestamp <= span.end_time
        counts[chunks] = len(tracing.spans)
        tracing.assert_every_span_ended_once(caplog)
    assert counts[3] == counts[300] == 2


@pytest.mark.parametrize("kind", RUNNERS)
def test_a_paused_run_ends_every_span_and_marks_the_interrupt(
    kind: str, tracing: Tracing, caplog: pytest.LogCaptureFixture
) -> None:
    @interrupt(output_name="approved")
    def review(draft: str) -> str:
        return f"send {draft}?"

    @node(output_name="sent")
    def send(draft: str, approved: bool) -> bool:
        return approved

    graph = Graph([review, send], name="mail")
    result = run_with(kind, graph, {"draft": "hi"}, event_processors=[tracing.processor])

    assert result.status is RunStatus.PAUSED
    assert tracing.tree() == {("invoke_workflow mail", None), ("review", "invoke_workflow mail")}
    span = tracing.named("review")
    assert span.attributes == {"hypergraph.interrupt.response_key": "approved"}
    assert [e.name for e in span.events] == ["interrupt"]
    assert span.status.status_code is StatusCode.UNSET
    run = tracing.named("invoke_workflow mail")
    assert run.attributes is not None and run.attributes["hypergraph.run.status"] == "paused"
    tracing.assert_every_span_ended_once(caplog)


def test_chunks_sent_with_ctx_stream_count_too(tracing: Tracing) -> None:
    @node(output_name="answer")
    async def talk(q: str, ctx: NodeContext) -> str:
        for word in q.split():
            ctx.stream(word)
        return q

    run_with("async", Graph([talk]), {"q": "a b c d"}, event_processors=[tracing.processor])

    attributes = tracing.named("talk").attributes
    assert attributes is not None and attributes["hypergraph.chunks"] == 4


# -- the six endings ----------------------------------------------------------------------


def forever(stream: str) -> Graph:
    """One streaming node that yields until it is closed (bounded, so a bug cannot spin)."""

    @node(output_name="text")
    def tokens(x: int) -> Iterator[int]:
        yield from range(1_000_000)

    @node(output_name="text")
    async def atokens(x: int) -> AsyncIterator[int]:
        for i in range(1_000_000):
            yield i
            await asyncio.sleep(0)  # a model's stream awaits between tokens

    return Graph([tokens if stream == "def" else atokens], name="stream")


def _completed(kind: str, tracing: Tracing) -> None:
    run_with(kind, chain(), {"x": 1}, event_processors=[tracing.processor])


def _failed(kind: str, tracing: Tracing) -> None:
    @node(output_name="a")
    def ok(x: int) -> int:
        return x

    @node(output_name="b")
    def broken(a: int) -> int:
        raise ValueError("bad input")

    with pytest.raises(ValueError, match="bad input"):
        run_with(
            kind, Graph([ok, broken], name="g"), {"x": 1}, event_processors=[tracing.processor]
        )


def _stopped(kind: str, tracing: Tracing) -> None:
    processors = [tracing.processor]
    if kind == "sync":
        with SyncRunner().iter(forever("def"), x=1, event_processors=processors) as run:
            for event in run:
                if isinstance(event, StreamingChunkEvent):
                    run.stop()
            assert run.result().status is RunStatus.STOPPED
        return

    async def consume() -> None:
        graph = forever("async")
        async with AsyncRunner().iter(graph, x=1, event_processors=processors) as run:
            async for event in run:
                if isinstance(event, StreamingChunkEvent):
                    run.stop()
            assert (await run.result()).status is RunStatus.STOPPED

    run_async(consume())


def _consumer_left(kind: str, tracing: Tracing) -> None:
    processors = [tracing.processor]
    if kind == "sync":
        with SyncRunner().iter(forever("def"), x=1, event_processors=processors) as run:
            for event in run:
                if isinstance(event, StreamingChunkEvent):
                    break
        return

    async def consume() -> None:
        graph = forever("async")
        async with AsyncRunner().iter(graph, x=1, event_processors=processors) as run:
            async for event in run:
                if isinstance(event, StreamingChunkEvent):
                    break

    run_async(consume())


def _cancelled(kind: str, tracing: Tracing) -> None:
    if kind == "sync":
        # SyncRunner has no task to cancel: Ctrl-C (KeyboardInterrupt) in a node is how a
        # sync run is cancelled.
        @node(output_name="a")
        def interrupted(x: int) -> int:
            raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            SyncRunner().run(
                Graph([interrupted], name="g"), x=1, event_processors=[tracing.processor]
            )
        return

    async def main() -> None:
        waiting = asyncio.Event()

        @node(output_name="a")
        async def wait(x: int) -> int:
            waiting.set()
            await asyncio.Event().wait()
            return x

        runner = AsyncRunner()
        task = asyncio.create_task(
            runner.run(Graph([wait], name="g"), x=1, event_processors=[tracing.processor])
        )
        await waiting.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    run_async(main())


class Deadline(TimeoutError):
    pass


def _timed_out(kind: str, tracing: Tracing) -> None:
    if kind == "sync":
        # A sync program's deadline is a signal whose handler raises TimeoutError in the
        # main thread, wherever it is: here, inside a node that waits.
        waiting = threading.Event()

        @node(output_name="a")
        def wait(x: int) -> int:
            waiting.set()
            threading.Event().wait(10)
            return x

        def on_signal(signum: int, frame: Any) -> None:
            raise Deadline("deadline passed")

        previous = signal.signal(signal.SIGUSR1, on_signal)
        alarm = threading.Thread(
            target=lambda: waiting.wait(10) and os.kill(os.getpid(), signal.SIGUSR1)
        )
        alarm.start()
        try:
            with pytest.raises(Deadline):
                SyncRunner().run(Graph([wait], name="g"), x=1, event_processors=[tracing.processor])
        finally:
            alarm.join()
            signal.signal(signal.SIGUSR1, previous)
        return

    async def main() -> None:
        started = asyncio.Event()

        @node(output_name="a")
        async def wait(x: int) -> int:
            started.set()
            await asyncio.Event().wait()
            return x

        graph = Graph([wait], name="g")
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.05):
                await AsyncRunner().run(graph, x=1, event_processors=[tracing.processor])
        assert started.is_set()

    run_async(main())


ENDINGS: dict[str, Callable[[str, Tracing], None]] = {
    "completed": _completed,
    "failed": _failed,
    "stopped": _stopped,
    "consumer left": _consumer_left,
    "cancelled": _cancelled,
    "timed out": _timed_out,
}


@pytest.mark.parametrize("ending", list(ENDINGS))
@pytest.mark.parametrize("kind", RUNNERS)
def test_every_span_ends_exactly_once_however_the_run_ends(
    kind: str, ending: str, tracing: Tracing, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)

    ENDINGS[ending](kind, tracing)

    tracing.assert_every_span_ended_once(caplog)
    runs = [s for s in tracing.spans if s.name.startswith("invoke_workflow")]
    assert len(runs) == 1
    run = runs[0]
    assert run.attributes is not None
    status = run.status.status_code
    if ending == "completed":
        assert status is StatusCode.UNSET
        assert len(tracing.spans) == 5
    elif ending == "stopped":
        assert status is StatusCode.UNSET
        assert run.attributes["hypergraph.run.status"] == "stopped"
        assert [e.name for e in run.events] == ["stop_requested"]
    elif ending == "failed" or (ending == "timed out" and kind == "sync"):
        assert status is StatusCode.ERROR
        failing = [s for s in tracing.spans if s.status.status_code is StatusCode.ERROR]
        node_span = next(s for s in failing if s is not run)
        assert [e.name for e in node_span.events] == ["exception"]
        assert node_span.attributes is not None
        assert run.attributes["error.type"] == node_span.attributes["error.type"]
        assert run.events == ()  # the exception is recorded once, where it was raised
    elif ending == "cancelled" and kind == "sync":  # a KeyboardInterrupt in a node
        assert status is StatusCode.ERROR
        assert run.attributes["error.type"] == "KeyboardInterrupt"
    else:  # consumer left, cancelled, timed out (async): cancelled, not completed
        assert status is StatusCode.ERROR
        assert run.attributes["error.type"] == "cancelled"


def test_a_failure_outside_any_node_is_recorded_on_the_run_span(tracing: Tracing) -> None:
    @node(output_name="n")
    def again(n: int) -> int:
        return n + 1

    @route(targets=["again", END])
    def loop(n: int) -> str:
        return "again"

    graph = Graph([again, loop], name="loop")
    result = SyncRunner().run(
        graph,
        n=0,
        max_iterations=3,
        error_handling="continue",
        event_processors=[tracing.processor],
    )

    assert result.status is RunStatus.FAILED
    run = tracing.named("invoke_workflow loop")
    assert run.status.status_code is StatusCode.ERROR
    assert run.attributes is not None
    assert run.attributes["error.type"] == "hypergraph.errors.InfiniteLoopError"
    assert [e.name for e in run.events] == ["exception"]


def test_leaving_an_async_map_iter_early_ends_the_spans_of_the_items_in_flight(
    tracing: Tracing, caplog: pytest.LogCaptureFixture
) -> None:
    @node(output_name="y")
    async def slow_after_first(x: int) -> int:
        if x > 1:
            await asyncio.Event().wait()  # until cancelled
        return x

    graph = Graph([slow_after_first], name="g")

    async def main() -> None:
        runs = AsyncRunner().map_iter(
            graph, {"x": [1, 2, 3, 4]}, map_over="x", max_concurrency=2,
            event_processors=[tracing.processor],
        )  # fmt: skip
        async with aclosing(runs):
            async for _ in runs:
                break  # took item 0; item 1 is in flight, 2 and 3 never start

    run_async(main())

    items = [s for s in tracing.spans if s.name == "invoke_workflow g"]
    assert sorted(str(s.status.status_code) for s in items) == [
        "StatusCode.ERROR",
        "StatusCode.UNSET",
    ]
    tracing.assert_every_span_ended_once(caplog)


# -- SDK spans inside nodes ---------------------------------------------------------------


def sdk_node(kind: str, tracer: Any) -> Any:
    """A node of `kind` that opens an SDK span, as an instrumented client would."""
    if kind == "def":

        def call(x: int) -> int:
            with tracer.start_as_current_span("sdk.request"):
                return x

    elif kind == "async def":

        async def call(x: int) -> int:  # type: ignore[misc]
            with tracer.start_as_current_span("sdk.request"):
                return x

    elif kind == "generator":

        def call(x: int) -> Iterator[int]:  # type: ignore[misc]
            with tracer.start_as_current_span("sdk.request"):
                yield x

    elif kind == "async generator":

        async def call(x: int) -> AsyncIterator[int]:  # type: ignore[misc]
            with tracer.start_as_current_span("sdk.request"):
                yield x

    else:  # a def node that streams with ctx.stream, in its worker thread

        def call(x: int, ctx: NodeContext) -> int:  # type: ignore[misc]
            with tracer.start_as_current_span("sdk.request"):
                ctx.stream(x)
                return x

    return node(call, output_name="y")


SDK_CASES = [
    ("sync", "def"),
    ("sync", "generator"),
    ("sync", "ctx.stream"),
    ("async", "def"),
    ("async", "async def"),
    ("async", "generator"),
    ("async", "async generator"),
    ("async", "ctx.stream"),
]


@pytest.mark.parametrize(("kind", "node_kind"), SDK_CASES)
def test_a_span_an_sdk_opens_inside_a_node_is_a_child_of_the_node_span(
    kind: str, node_kind: str, tracing: Tracing, caplog: pytest.LogCaptureFixture
) -> None:
    graph = Graph([sdk_node(node_kind, tracing.tracer)], name="g")

    run_with(kind, graph, {"x": 1}, event_processors=[tracing.processor])

    sdk = tracing.named("sdk.request")
    assert tracing.parent_of(sdk) is tracing.named("call")
    assert tracing.parent_of(tracing.named("call")) is tracing.named("invoke_workflow g")
    tracing.assert_every_span_ended_once(caplog)


def test_after_a_node_the_callers_span_is_current_again(tracing: Tracing) -> None:
    from opentelemetry import trace

    seen = []

    @node(output_name="y")
    def step(x: int) -> int:
        seen.append(trace.get_current_span())
        return x

    then = sdk_node("def", tracing.tracer).with_inputs(x="y").with_outputs(y="z")
    with tracing.tracer.start_as_current_span("caller") as caller:
        SyncRunner().run(Graph([step, then]), x=1, event_processors=[tracing.processor])
        assert trace.get_current_span() is caller
    assert seen[0] is not caller
    assert tracing.parent_of(tracing.named("sdk.request")) is tracing.named("call")


def test_one_processor_serves_concurrent_runs(
    tracing: Tracing, caplog: pytest.LogCaptureFixture
) -> None:
    graph = Graph([sdk_node("async def", tracing.tracer)], name="g")

    async def main() -> None:
        runner = AsyncRunner()
        await asyncio.gather(
            *(runner.run(graph, x=i, event_processors=[tracing.processor]) for i in range(20))
        )

    run_async(main())

    requests = [s for s in tracing.spans if s.name == "sdk.request"]
    assert len(requests) == 20
    assert len({s.context.trace_id for s in requests if s.context}) == 20  # 20 separate traces
    assert all(tracing.parent_of(s).name == "call" for s in requests)  # type: ignore[union-attr]
    tracing.assert_every_span_ended_once(caplog)


# -- without an SDK ------------------------------------------------------------------------


def test_with_the_apis_no_op_tracer_the_processor_sits_runs_out_and_nothing_changes(
    tracing: Tracing,
) -> None:
    from opentelemetry.trace import NoOpTracerProvider

    from hypergraph.events.dispatch import dispatcher_for

    idle = OpenTelemetryProcessor(tracer_provider=NoOpTracerProvider())
    graph = Graph([sdk_node("def", tracing.tracer)], name="g")

    assert not idle.wants_events()
    assert not dispatcher_for([idle])  # the run builds no events, nodes keep the fast path
    with tracing.tracer.start_as_current_span("caller"):
        result = SyncRunner().run(graph, x=1, event_processors=[idle])

    assert result["y"] == 1
    # As with no-op node spans made current: the SDK span's parent is the caller's span.
    assert tracing.parent_of(tracing.named("sdk.request")) is tracing.named("caller")


def test_on_the_global_provider_the_processor_traces_only_once_an_sdk_is_installed(
    tracing: Tracing, monkeypatch: pytest.MonkeyPatch
) -> None:
    from opentelemetry import trace

    processor = OpenTelemetryProcessor()  # the global provider, looked up as each run starts
    monkeypatch.setattr(trace, "get_tracer_provider", lambda: trace.ProxyTracerProvider())
    assert not processor.wants_events()
    monkeypatch.setattr(trace, "get_tracer_provider", lambda: trace.NoOpTracerProvider())
    assert not processor.wants_events()
    monkeypatch.setattr(trace, "get_tracer_provider", lambda: tracing.provider)
    assert processor.wants_events()
    assert OpenTelemetryProcessor(tracer_provider=tracing.provider).wants_events()


# -- the extra ----------------------------------------------------------------------------


def test_without_opentelemetry_the_processor_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "opentelemetry", None)

    with pytest.raises(MissingExtraError, match=r'pip install "hypergraph\[otel\]"') as err:
        OpenTelemetryProcessor()
    assert isinstance(err.value, ImportError)


def test_importing_hypergraph_or_the_integrations_loads_neither_opentelemetry_nor_rich() -> None:
    code = (
        "import sys, hypergraph, hypergraph.integrations.otel, hypergraph.integrations.progress\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('opentelemetry', 'rich')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_examples_in_the_docstrings_run() -> None:
    import doctest

    import hypergraph.integrations.extras
    import hypergraph.integrations.otel

    for module in (hypergraph.integrations.otel, hypergraph.integrations.extras):
        failed, attempted = doctest.testmod(module)
        assert attempted and not failed, module.__name__
