"""Streaming guarantees (SPEC §8, decisions 0005 and 0008), each under both runners.

No network here: producers are generator nodes and `ctx.stream` calls. Nothing sleeps to
wait for something; tests wait on events with timeouts, and a run that should not hang
fails after the `run_async` timeout (async) or the module's timeout (sync).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from conftest import run_async
from hypergraph import (
    AsyncRunner,
    EventProcessor,
    Graph,
    NodeContext,
    NodeEndEvent,
    NodeErrorEvent,
    NodeStartEvent,
    RunEndEvent,
    RunStartEvent,
    RunStatus,
    StopRequestedEvent,
    StreamingChunkEvent,
    SyncRunner,
    node,
)
from streaming_graphs import (
    WAIT,
    Consumed,
    Probe,
    async_ctx_counter,
    consume,
    counter,
    ctx_counter,
    each_producer,
    each_runner,
    run_threads,
    stop_at,
    total,
    until,
)

pytestmark = pytest.mark.timeout(20)

# A streaming node that a stop must close makes this many chunks if it is not closed (a
# finite count, so that a broken stop fails the test instead of hanging it).
UNSTOPPED = 10_000


def is_prefix_of_naturals(items: list[Any]) -> bool:
    return items == list(range(len(items)))


# -- lossless and ordered -------------------------------------------------------------------


def assert_every_chunk_arrived_in_order(mode: str, kind: str, n: int = 100_000) -> None:
    probe = Probe()
    seen = consume(mode, Graph([counter(kind, probe)]), {"n": n})
    chunk_events = seen.chunk_events()
    assert len(chunk_events) == probe.produced == n
    assert [e.sequence for e in chunk_events] == list(range(n))
    assert [e.chunk for e in chunk_events] == list(range(n))
    assert seen.result is not None and seen.result.status is RunStatus.COMPLETED
    assert seen.result["tokens"] == list(range(n))
    assert seen.dropped == 0


def test_every_chunk_of_a_tight_async_generator_arrives_in_order() -> None:
    assert_every_chunk_arrived_in_order("async", "async def")


def test_every_chunk_of_a_sync_generator_arrives_in_order_under_the_sync_runner() -> None:
    assert_every_chunk_arrived_in_order("sync", "def")


def test_every_chunk_of_a_sync_generator_in_a_worker_thread_arrives_in_order() -> None:
    assert_every_chunk_arrived_in_order("async", "def")


@each_producer
def test_events_arrive_in_execution_order_around_the_chunks(mode: str, kind: str) -> None:
    seen = consume(mode, Graph([counter(kind, Probe()), total]), {"n": 3})
    assert [(type(e).__name__, getattr(e, "node_name", None)) for e in seen.events] == [
        ("RunStartEvent", None),
        ("NodeStartEvent", "tokens"),
        ("StreamingChunkEvent", "tokens"),
        ("StreamingChunkEvent", "tokens"),
        ("StreamingChunkEvent", "tokens"),
        ("NodeEndEvent", "tokens"),
        ("NodeStartEvent", "total"),
        ("NodeEndEvent", "total"),
        ("RunEndEvent", None),
    ]
    chunk = seen.chunk_events()[1]
    assert (chunk.chunk, chunk.sequence, chunk.node_name) == (1, 1, "tokens")
    assert (chunk.run_id, chunk.graph_path, chunk.path) == (seen.run_id, (), "tokens")
    assert chunk.span_id and chunk.span_id == seen.events[1].span_id  # the node's span
    assert seen.result is not None and seen.result["total"] == 3


# -- bounded memory -------------------------------------------------------------------------


@each_producer
def test_a_slow_consumer_holds_a_generator_within_the_buffer_size(mode: str, kind: str) -> None:
    size, n, slack = 16, 2_000, 2
    probe = Probe()
    graph = Graph([counter(kind, probe)])
    gaps: list[int] = []  # produced - received, at each received chunk

    def received(event: StreamingChunkEvent) -> int:
        got = event.sequence + 1
        gaps.append(probe.produced - got)
        return got

    if mode == "sync":
        with SyncRunner().iter(graph, n=n, buffer_size=size) as run:
            for event in run:
                if isinstance(event, StreamingChunkEvent):
                    got = received(event)
                    sum(range(500))  # a little work per chunk
                    if event.sequence % 200 == 0 and got + size < n:
                        # Let the producer run ahead as far as it may: it stops at the bound.
                        assert probe.wait_produced(got + size)
                        gaps.append(probe.produced - got)
            result = run.result()
    else:

        async def slow_consumer() -> Any:
            async with AsyncRunner().iter(graph, n=n, buffer_size=size) as run:
                async for event in run:
                    if isinstance(event, StreamingChunkEvent):
                        got = received(event)
                        for _ in range(3):  # a little work per chunk
                            await asyncio.sleep(0)
                        if event.sequence % 200 == 0 and got + size < n:
                            assert await probe.until_produced(got + size)
                            gaps.append(probe.produced - got)
                return await run.result()

        result = run_async(slow_consumer())

    assert len(gaps) >= n
    assert max(gaps) <= size + slack, f"the producer ran {max(gaps)} chunks ahead"
    assert max(gaps) >= size  # the consumer really was behind: the bound was exercised
    assert result.status is RunStatus.COMPLETED
    assert result["tokens"] == list(range(n))


def test_a_def_node_streaming_from_a_worker_thread_waits_for_a_slow_consumer() -> None:
    size, n = 8, 300
    probe = Probe()
    graph = Graph([ctx_counter(probe)])
    gaps: list[int] = []

    async def slow_consumer() -> Any:
        async with AsyncRunner().iter(graph, n=n, buffer_size=size) as run:
            async for event in run:
                if isinstance(event, StreamingChunkEvent):
                    got = event.sequence + 1
                    if event.sequence % 50 == 0 and got + size < n:
                        assert await probe.until_produced(got + size)
                    gaps.append(probe.produced - got)
            return await run.result()

    result = run_async(slow_consumer())
    assert size <= max(gaps) <= size + 2
    assert result["count"] == n


# -- drop_oldest ----------------------------------------------------------------------------


@each_producer
def test_drop_oldest_keeps_the_newest_chunks_and_counts_exactly_what_it_dropped(
    mode: str, kind: str
) -> None:
    size, n = 10, 1_000
    probe = Probe()
    graph = Graph([counter(kind, probe), total])
    options = {"buffer_size": size, "overflow": "drop_oldest"}

    if mode == "sync":
        with SyncRunner().iter(graph, n=n, **options) as run:
            # Read nothing until the node has produced (and handed over) all n chunks.
            assert probe.closed.wait(WAIT)
            seen = Consumed(events=list(run), result=run.result(), dropped=run.dropped)
    else:

        async def late_consumer() -> Consumed:
            async with AsyncRunner().iter(graph, n=n, **options) as run:
                assert await until(probe.closed.is_set)
                # A generator in a worker thread hands its chunks to the loop as queued
                # callbacks, all queued before its `finally` set `closed`; the loop runs
                # callbacks in order, so one turn of the loop delivers every one of them.
                await asyncio.sleep(0)
                events = [event async for event in run]
                return Consumed(events=events, result=await run.result(), dropped=run.dropped)

        seen = run_async(late_consumer())

    chunks = seen.chunks()
    assert seen.dropped > 0
    assert len(chunks) + seen.dropped == n
    assert chunks == list(range(n - len(chunks), n))  # the newest ones, in order
    assert [e.sequence for e in seen.chunk_events()] == chunks
    lifecycle = [(type(e).__name__, getattr(e, "node_name", None)) for e in seen.events]
    lifecycle = [k for k in lifecycle if k[0] != "StreamingChunkEvent"]
    assert lifecycle == [
        ("RunStartEvent", None),
        ("NodeStartEvent", "tokens"),
        ("NodeEndEvent", "tokens"),
        ("NodeStartEvent", "total"),
        ("NodeEndEvent", "total"),
        ("RunEndEvent", None),
    ]
    # Dropping is about delivery only: the node's output is whole.
    assert seen.result is not None and seen.result["tokens"] == list(range(n))


@each_producer
def test_without_drop_oldest_a_late_consumer_still_gets_every_chunk(mode: str, kind: str) -> None:
    n = 200
    seen = consume(mode, Graph([counter(kind, Probe())]), {"n": n}, buffer_size=4)
    assert seen.chunks() == list(range(n))
    assert seen.dropped == 0


def test_ctx_stream_from_an_async_def_node_that_never_waits_loses_nothing() -> None:
    # ctx.stream on the loop cannot wait for room, so it goes past the bound: never dropped.
    n, size = 5_000, 16

    @node(output_name="count")
    async def flood(ctx: NodeContext) -> int:
        for i in range(n):
            ctx.stream(i)
        return n

    seen = consume("async", Graph([flood]), buffer_size=size)
    assert seen.chunks() == list(range(n))
    assert seen.dropped == 0
    assert seen.result is not None and seen.result["count"] == n


def test_drop_oldest_counts_what_it_drops_from_an_async_def_node_too() -> None:
    n, size = 5_000, 16

    @node(output_name="count")
    async def flood(ctx: NodeContext) -> int:
        for i in range(n):
            ctx.stream(i)
        return n

    seen = consume("async", Graph([flood]), buffer_size=size, overflow="drop_oldest")
    chunks = seen.chunks()
    assert seen.dropped > 0
    assert len(chunks) + seen.dropped == n
    assert chunks == list(range(n - len(chunks), n))


@each_producer
def test_result_in_the_middle_of_the_stream_skips_the_rest_and_waits_for_the_end(
    mode: str, kind: str
) -> None:
    n = 2_000
    probe = Probe()
    graph = Graph([counter(kind, probe), total])

    def take_three_then_result(event: Any, run: Any) -> bool:
        return isinstance(event, StreamingChunkEvent) and event.sequence == 2

    if mode == "sync":
        with SyncRunner().iter(graph, n=n, buffer_size=4) as run:
            for event in run:
                if take_three_then_result(event, run):
                    break
            result = run.result()
    else:

        async def consumer() -> Any:
            async with AsyncRunner().iter(graph, n=n, buffer_size=4) as run:
                async for event in run:
                    if take_three_then_result(event, run):
                        break
                return await run.result()

        result = run_async(consumer())
    assert result.status is RunStatus.COMPLETED
    assert result["tokens"] == list(range(n))
    assert result["total"] == sum(range(n))
    assert probe.exit is None  # it ran to its end, it was not closed


# -- ctx.stream -----------------------------------------------------------------------------


def writer(kind: str, words: list[str]) -> Any:
    """A node that streams `words` with ctx.stream and returns something else."""
    if kind == "async def":

        @node(output_name="text")
        async def write_async(prompt: str, ctx: NodeContext) -> str:
            for word in words:
                ctx.stream(word)
                await asyncio.sleep(0)
            return prompt.upper()

        return write_async

    @node(output_name="text")
    def write(prompt: str, ctx: NodeContext) -> str:
        for word in words:
            ctx.stream(word)
        return prompt.upper()

    return write


WORDS = [f"w{i}" for i in range(50)]


@pytest.mark.parametrize(
    ("mode", "kind"),
    [
        pytest.param("async", "async def", id="AsyncRunner-async-def"),
        pytest.param("async", "def", id="AsyncRunner-def-in-thread"),
        pytest.param("sync", "def", id="SyncRunner-def"),
    ],
)
def test_ctx_stream_chunks_arrive_in_order_between_node_start_and_end(mode: str, kind: str) -> None:
    seen = consume(mode, Graph([writer(kind, WORDS)]), {"prompt": "hi"})
    assert seen.chunks() == WORDS
    assert [e.sequence for e in seen.chunk_events()] == list(range(len(WORDS)))
    kinds = seen.kinds()
    assert kinds == [
        "RunStartEvent",
        "NodeStartEvent",
        *["StreamingChunkEvent"] * len(WORDS),
        "NodeEndEvent",
        "RunEndEvent",
    ]
    assert seen.result is not None and seen.result["text"] == "HI"  # return value untouched


class ChunkRecorder(EventProcessor):
    def __init__(self) -> None:
        self.chunks: list[tuple[str, Any, int]] = []

    def on_event(self, event: Any) -> None:
        if isinstance(event, StreamingChunkEvent):
            self.chunks.append((event.node_name, event.chunk, event.sequence))


def test_an_event_processor_sees_ctx_stream_chunks_of_a_plain_run(run: Any) -> None:
    recorder = ChunkRecorder()
    result = run(Graph([writer("def", WORDS)]), {"prompt": "hi"}, event_processors=[recorder])
    assert recorder.chunks == [("write", w, k) for k, w in enumerate(WORDS)]
    assert result["text"] == "HI"


def test_an_event_processor_sees_ctx_stream_chunks_of_an_async_def_node() -> None:
    recorder = ChunkRecorder()
    graph = Graph([writer("async def", WORDS)])
    result = run_async(AsyncRunner().run(graph, {"prompt": "hi"}, event_processors=[recorder]))
    assert recorder.chunks == [("write_async", w, k) for k, w in enumerate(WORDS)]
    assert result["text"] == "HI"


@each_producer
def test_an_event_processor_sees_generator_chunks_of_an_iter_run_too(mode: str, kind: str) -> None:
    recorder = ChunkRecorder()
    seen = consume(mode, Graph([counter(kind, Probe())]), {"n": 20}, event_processors=[recorder])
    assert [c for _, c, _ in recorder.chunks] == seen.chunks() == list(range(20))


# -- failure mid-stream ---------------------------------------------------------------------


@node(output_name="side")
def side(x: int) -> int:
    """Independent of the streaming node: finishes whatever it does."""
    return x * 10


@each_producer
def test_a_generator_that_fails_mid_stream_keeps_its_chunks_in_partial(
    mode: str, kind: str
) -> None:
    probe = Probe()
    graph = Graph([counter(kind, probe, fail_after=5), side])
    seen = consume(mode, graph, {"x": 4}, error_handling="continue")
    result = seen.result
    assert result is not None
    assert result.status is RunStatus.FAILED
    assert result.error is probe.raised
    assert "raised by node 'tokens'" in str(result.error.__notes__)
    assert result.partial == {"tokens": [0, 1, 2, 3, 4]}
    assert result["side"] == 40  # the independent node's value is kept
    assert "tokens" not in result  # a failed node writes no output
    # The consumer saw the same five chunks, then the node's error.
    assert seen.chunks() == [0, 1, 2, 3, 4]
    errors = [e for e in seen.events if isinstance(e, NodeErrorEvent)]
    assert [(e.node_name, e.error) for e in errors] == [("tokens", probe.raised)]
    assert isinstance(seen.events[-1], RunEndEvent)
    assert seen.events[-1].status is RunStatus.FAILED


@each_producer
def test_with_error_handling_raise_result_raises_the_nodes_exception_and_partial_is_kept(
    mode: str, kind: str
) -> None:
    probe = Probe()
    graph = Graph([counter(kind, probe, fail_after=5), side])
    seen = consume(mode, graph, {"x": 4}, error_handling="raise")
    assert seen.result is None
    assert probe.raised is not None
    assert seen.raised is probe.raised
    assert "raised by node 'tokens'" in str(seen.raised.__notes__)
    assert seen.partial["tokens"] == [0, 1, 2, 3, 4]
    assert seen.chunks("tokens") == [0, 1, 2, 3, 4]
    assert isinstance(seen.events[-1], RunEndEvent)
    assert seen.events[-1].status is RunStatus.FAILED
    assert seen.events[-1].error is probe.raised


def test_a_failure_that_cancels_a_node_in_a_thread_still_delivers_every_buffered_event() -> None:
    # error_handling="raise": `check` fails while `slow` (a def node, in a worker thread)
    # is still running, so the run cancels `slow`. The consumer, behind, has not read the
    # ten chunks yet; it still must get all of them, the error, and the run's end.
    release = threading.Event()
    probe = Probe()
    failed = ValueError("bad tokens")
    slow_started = threading.Event()

    @node(output_name="checked")
    async def check(tokens: list[int]) -> bool:
        raise failed

    @node(output_name="slow")
    def slow(x: int) -> int:
        slow_started.set()
        assert release.wait(WAIT)
        return x

    graph = Graph([counter("async def", probe), check, slow])

    async def late_consumer() -> list[Any]:
        async with AsyncRunner().iter(graph, n=10, x=1) as run:
            assert await until(lambda: slow_started.is_set() and probe.closed.is_set())
            for _ in range(50):  # loop turns for the run to fail and cancel `slow`
                await asyncio.sleep(0)
            release.set()
            events = [event async for event in run]
            with pytest.raises(ValueError) as raised:
                await run.result()
            assert raised.value is failed
            return events

    events = run_async(late_consumer())
    assert [e.chunk for e in events if isinstance(e, StreamingChunkEvent)] == list(range(10))
    assert [e.error for e in events if isinstance(e, NodeErrorEvent)][:1] == [failed]
    assert isinstance(events[-1], RunEndEvent)
    assert events[-1].status is RunStatus.FAILED


@each_runner
def test_a_def_node_that_fails_after_ctx_stream_keeps_its_chunks(mode: str) -> None:
    boom = RuntimeError("provider went away")

    @node(output_name="text")
    def answer(prompt: str, ctx: NodeContext) -> str:
        for word in ("a", "b", "c"):
            ctx.stream(word)
        raise boom

    seen = consume(mode, Graph([answer]), {"prompt": "q"}, error_handling="continue")
    assert seen.result is not None and seen.result.status is RunStatus.FAILED
    assert seen.result.error is boom
    assert seen.result.partial == {"answer": ["a", "b", "c"]}


# -- stop -----------------------------------------------------------------------------------


@each_producer
@pytest.mark.parametrize("how", ["run.stop()", "runner.stop(run_id)"])
def test_stop_closes_a_streaming_generator_and_starts_nothing_new(
    mode: str, kind: str, how: str
) -> None:
    size = 4
    probe = Probe()
    runner = SyncRunner() if mode == "sync" else AsyncRunner()

    def request_stop(run: Any) -> None:
        if how == "run.stop()":
            run.stop()
        else:
            runner.stop(run.run_id)

    graph = Graph([counter(kind, probe), total])
    seen = consume(
        mode,
        graph,
        {"n": UNSTOPPED},
        on_event=stop_at(2, request_stop),
        runner=runner,
        buffer_size=size,
    )
    result = seen.result
    assert result is not None
    assert result.status is RunStatus.STOPPED
    assert probe.closed.is_set()  # its finally ran
    partial = result.partial["tokens"]
    assert is_prefix_of_naturals(partial)
    # Closed right after its current chunk: at most a buffer's worth past the stop.
    assert 3 <= len(partial) <= 3 + size + 2
    assert seen.chunks() == partial  # everything it produced was delivered
    assert not seen.started("total")  # no new node started
    assert "total" not in result and "tokens" not in result
    (end,) = [e for e in seen.events if isinstance(e, NodeEndEvent) and e.node_name == "tokens"]
    assert end.outputs == {}  # a closed streaming node writes no output
    assert seen.kinds().count("StopRequestedEvent") == 1
    assert isinstance(seen.events[-1], RunEndEvent)
    assert seen.events[-1].status is RunStatus.STOPPED


@each_producer
@pytest.mark.parametrize("how", ["run.stop()", "runner.stop(run_id)"])
def test_a_consumer_that_fell_behind_can_stop_the_run_without_blocking(
    mode: str, kind: str, how: str
) -> None:
    # The producer has filled the buffer and waits for room; the consumer, instead of
    # reading, asks for a stop. Asking must return at once (the consumer is the only one
    # who could make room), then the consumer reads what is left and the run ends.
    size = 4
    probe = Probe()
    runner = SyncRunner() if mode == "sync" else AsyncRunner()
    graph = Graph([counter(kind, probe), total])

    def request_stop(run: Any) -> None:
        if how == "run.stop()":
            run.stop()
        else:
            runner.stop(run.run_id)

    def stop_returns_promptly(run: Any) -> bool:
        # Called from a helper thread so that a stop that blocks fails the test, not hangs it.
        def call() -> None:
            with contextlib.suppress(BaseException):  # what a blocked stop raises on exit
                request_stop(run)

        stopper = threading.Thread(target=call, daemon=True)
        stopper.start()
        stopper.join(2.0)  # a plain flag and an event: far more than it needs
        return not stopper.is_alive()

    if mode == "sync":
        with runner.iter(graph, n=UNSTOPPED, buffer_size=size) as run:
            events = iter(run)
            while not isinstance(first := next(events), StreamingChunkEvent):
                pass
            assert probe.wait_produced(first.sequence + 1 + size)  # the buffer is full
            returned = stop_returns_promptly(run)
            rest = list(events) if returned else []
            result = run.result() if returned else None
    else:

        async def consumer() -> tuple[bool, list[Any], Any]:
            async with runner.iter(graph, n=UNSTOPPED, buffer_size=size) as run:
                async for first in run:
                    if isinstance(first, StreamingChunkEvent):
                        break
                assert await probe.until_produced(first.sequence + 1 + size)
                request_stop(run)  # on the loop: it must not await anything
                rest = [event async for event in run]
                return True, rest, await run.result()

        returned, rest, result = run_async(consumer())

    assert returned, f"{how} blocked while the consumer was not reading"
    assert result is not None and result.status is RunStatus.STOPPED
    assert probe.closed.is_set()
    assert len(result.partial["tokens"]) <= 1 + size + 2
    assert any(isinstance(e, StopRequestedEvent) for e in rest)
    assert not any(isinstance(e, NodeStartEvent) for e in rest)


@pytest.mark.parametrize(
    ("mode", "make"),
    [
        pytest.param("sync", ctx_counter, id="SyncRunner-def"),
        pytest.param("async", ctx_counter, id="AsyncRunner-def-in-thread"),
        pytest.param("async", async_ctx_counter, id="AsyncRunner-async-def"),
    ],
)
def test_a_ctx_node_sees_stop_requested_and_finishes_with_its_output(mode: str, make: Any) -> None:
    probe = Probe()

    @node(output_name="doubled")
    def after(count: int) -> int:
        return 2 * count

    seen = consume(mode, Graph([make(probe), after]), {"n": UNSTOPPED}, on_event=stop_at(3))
    result = seen.result
    assert result is not None
    assert probe.saw_stop
    assert result.status is RunStatus.STOPPED
    assert result["count"] >= 4  # it finished normally and kept its output
    assert seen.chunks() == list(range(result["count"]))
    assert not seen.started("after")
    stop_index = seen.kinds().index("StopRequestedEvent")
    assert not any(isinstance(e, NodeStartEvent) for e in seen.events[stop_index:])


@each_runner
def test_a_stopped_run_keeps_the_outputs_of_nodes_that_finished(mode: str) -> None:
    probe = Probe()

    @node(output_name="n")
    def first(x: int) -> int:
        return x

    seen = consume(
        mode, Graph([first, counter("def", probe), total]), {"x": UNSTOPPED}, on_event=stop_at(0)
    )
    assert seen.result is not None
    assert seen.result.status is RunStatus.STOPPED
    assert seen.result.values == {"n": UNSTOPPED}
    assert probe.closed.is_set() and len(seen.result.partial["tokens"]) < UNSTOPPED


def test_stopping_a_finished_run_through_the_runner_is_an_error_naming_it() -> None:
    runner = SyncRunner()
    with runner.iter(Graph([side]), x=1) as run:
        list(run)
        run.result()
    with pytest.raises(Exception, match=run.run_id):
        runner.stop(run.run_id)


# -- leaving early --------------------------------------------------------------------------


def test_leaving_the_async_with_early_closes_an_async_generator_and_leaves_no_task() -> None:
    probe = Probe()

    async def leave_early() -> None:
        graph = Graph([counter("async def", probe), total])
        async with AsyncRunner().iter(graph, n=UNSTOPPED) as run:
            async for event in run:
                if isinstance(event, StreamingChunkEvent) and event.sequence == 2:
                    break
        assert probe.closed.is_set()  # the generator's finally ran before we got here
        assert probe.produced < UNSTOPPED
        assert asyncio.all_tasks() == {asyncio.current_task()}
        produced = probe.produced
        for _ in range(20):
            await asyncio.sleep(0)
        assert probe.produced == produced

    run_async(leave_early())


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda p: counter("def", p, slow_close=0.05), id="def-generator"),
        pytest.param(
            lambda p: ctx_counter(p, output="tokens", watch_stop=False, slow_close=0.05),
            id="def-with-ctx-stream",
        ),
    ],
)
def test_leaving_the_async_with_early_unwinds_a_def_node_in_its_worker_thread(make: Any) -> None:
    probe = Probe()

    async def leave_early() -> None:
        before = run_threads()
        graph = Graph([make(probe), total])
        async with AsyncRunner().iter(graph, n=UNSTOPPED, buffer_size=4) as run:
            async for event in run:
                if isinstance(event, StreamingChunkEvent) and event.sequence == 2:
                    break
        # The node function has returned (its finally ran) before the with block ended.
        assert probe.closed.is_set()
        assert probe.produced < UNSTOPPED
        assert asyncio.all_tasks() == {asyncio.current_task()}
        assert run_threads() == before
        produced = probe.produced
        for _ in range(20):
            await asyncio.sleep(0)
        assert probe.produced == produced

    run_async(leave_early())
    # A node's `except Exception` around ctx.stream does not keep it alive.
    assert probe.swallowed == []
    assert probe.exit is not None and not isinstance(probe.exit, Exception)


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda p: counter("def", p, slow_close=0.05), id="def-generator"),
        pytest.param(
            lambda p: ctx_counter(p, output="tokens", watch_stop=False, slow_close=0.05),
            id="def-with-ctx-stream",
        ),
    ],
)
def test_leaving_the_with_early_unwinds_the_sync_runs_thread(make: Any) -> None:
    probe = Probe()
    before = set(threading.enumerate())
    with SyncRunner().iter(Graph([make(probe), total]), n=UNSTOPPED, buffer_size=4) as run:
        for event in run:
            if isinstance(event, StreamingChunkEvent) and event.sequence == 2:
                break
    assert probe.closed.is_set()
    assert probe.produced < UNSTOPPED
    assert set(threading.enumerate()) == before  # the run's thread has ended
    assert probe.swallowed == []
    assert probe.exit is not None and not isinstance(probe.exit, Exception)


@each_producer
def test_an_exception_in_the_consumer_cancels_the_run_and_propagates(mode: str, kind: str) -> None:
    probe = Probe()

    class ConsumerBroke(Exception):
        pass

    def on_event(event: Any, run: Any) -> None:
        if isinstance(event, StreamingChunkEvent) and event.sequence == 1:
            raise ConsumerBroke

    before = run_threads()
    with pytest.raises(ConsumerBroke):
        consume(mode, Graph([counter(kind, probe), total]), {"n": UNSTOPPED}, on_event=on_event)
    assert probe.closed.is_set()
    assert probe.produced < UNSTOPPED
    assert run_threads() == before


# -- live -----------------------------------------------------------------------------------


@each_producer
def test_the_first_chunk_reaches_a_waiting_consumer_while_the_producer_waits_for_it(
    mode: str, kind: str
) -> None:
    # The producer yields chunk 0 and then waits for a signal the consumer sends only
    # once it holds chunk 0. Delivery that is not live deadlocks (and times out).
    go: Any = threading.Event() if kind == "def" else None
    probe = Probe()

    if mode == "sync":
        graph = Graph([counter(kind, probe, hold_after_first=go)])
        with SyncRunner().iter(graph, n=5) as run:
            chunks = []
            for event in run:
                if isinstance(event, StreamingChunkEvent):
                    chunks.append(event.chunk)
                    if event.sequence == 0:
                        assert probe.produced == 1
                        go.set()
            result = run.result()
    else:

        async def consumer() -> tuple[list[int], Any]:
            nonlocal go
            if go is None:
                go = asyncio.Event()
            graph = Graph([counter(kind, probe, hold_after_first=go)])
            chunks = []
            async with AsyncRunner().iter(graph, n=5) as run:
                async for event in run:
                    if isinstance(event, StreamingChunkEvent):
                        chunks.append(event.chunk)
                        if event.sequence == 0:
                            assert probe.produced == 1
                            go.set()
                return chunks, await run.result()

        chunks, result = run_async(consumer())

    assert chunks == [0, 1, 2, 3, 4]
    assert result.status is RunStatus.COMPLETED


def test_a_tight_async_generator_does_not_hold_chunks_back_from_a_waiting_consumer() -> None:
    # Between chunks the producer computes for 3 ms without ever awaiting. A waiting
    # consumer must get each chunk before the producer starts on the next one.
    n, busy = 8, 0.003
    produced_at_receipt: list[int] = []
    made = 0

    @node(output_name="tokens")
    async def tight() -> AsyncIterator[int]:
        nonlocal made
        for i in range(n):
            end = time.perf_counter() + busy
            while time.perf_counter() < end:
                pass
            made += 1
            yield i

    async def consumer() -> None:
        async with AsyncRunner().iter(Graph([tight])) as run:
            async for event in run:
                if isinstance(event, StreamingChunkEvent):
                    produced_at_receipt.append(made)
            await run.result()

    run_async(consumer())
    assert produced_at_receipt == list(range(1, n + 1))


# -- nested graphs and map items ------------------------------------------------------------


@each_producer
def test_chunks_of_a_nested_graph_reach_the_outer_consumer_with_their_path(
    mode: str, kind: str
) -> None:
    inner = Graph([counter(kind, Probe())], name="inner")
    outer = Graph([inner.as_node(), total], name="outer")
    seen = consume(mode, outer, {"n": 4})
    chunk_events = seen.chunk_events()
    assert [e.chunk for e in chunk_events] == [0, 1, 2, 3]
    assert {(e.path, e.graph_path, e.node_name) for e in chunk_events} == {
        ("inner/tokens", ("inner",), "tokens")
    }
    assert [e.sequence for e in chunk_events] == [0, 1, 2, 3]
    assert {e.run_id for e in chunk_events} != {""}
    assert seen.result is not None and seen.result["total"] == 6


@each_producer
def test_chunks_of_map_items_reach_the_outer_consumer_labelled_by_item(
    mode: str, kind: str
) -> None:
    inner = Graph([counter(kind, Probe())], name="inner")
    outer = Graph([inner.as_node().map_over("n")], name="outer")
    sizes = [3, 1, 4]
    seen = consume(mode, outer, {"n": sizes})
    for k, size in enumerate(sizes):
        item = seen.chunk_events(f"inner[{k}]/tokens")
        assert [e.chunk for e in item] == list(range(size))
        assert [e.sequence for e in item] == list(range(size))
        assert {e.graph_path for e in item} == {(f"inner[{k}]",)}
    assert len(seen.chunk_events()) == sum(sizes)
    assert seen.result is not None and seen.result["tokens"] == [[0, 1, 2], [0], [0, 1, 2, 3]]


@each_runner
def test_a_nested_generator_that_fails_keeps_its_chunks_under_its_path(mode: str) -> None:
    probe = Probe()
    inner = Graph([counter("def", probe, fail_after=2)], name="inner")
    seen = consume(mode, Graph([inner.as_node(), side]), {"x": 1}, error_handling="continue")
    assert seen.result is not None and seen.result.status is RunStatus.FAILED
    assert seen.result.error is probe.raised
    assert seen.result.partial == {"inner/tokens": [0, 1]}
    assert seen.result["side"] == 10
    assert seen.chunks("inner/tokens") == [0, 1]


@each_runner
def test_a_map_item_that_fails_mid_stream_keeps_its_chunks_under_its_item_path(
    mode: str,
) -> None:
    probe = Probe()
    inner = Graph([counter("def", probe, fail_after=2)], name="inner")
    outer = Graph([inner.as_node().map_over("n", error_handling="continue")])
    seen = consume(mode, outer, {"n": [1, 5, 1]}, error_handling="continue")
    assert seen.result is not None
    assert seen.result.partial == {"inner[1]/tokens": [0, 1]}
    assert seen.result["tokens"] == [[0], None, [0]]
    assert seen.chunks("inner[1]/tokens") == [0, 1]


@each_runner
def test_stop_reaches_a_generator_inside_a_nested_graph(mode: str) -> None:
    probe = Probe()
    inner = Graph([counter("def", probe)], name="inner")
    seen = consume(mode, Graph([inner.as_node(), total]), {"n": UNSTOPPED}, on_event=stop_at(2))
    assert seen.result is not None and seen.result.status is RunStatus.STOPPED
    assert probe.closed.is_set()
    assert len(seen.result.partial["inner/tokens"]) >= 3
    assert not seen.started("total")


# -- events are frozen records of the stream ------------------------------------------------


def test_iter_rejects_a_bad_buffer_size_or_overflow_policy() -> None:
    graph = Graph([side])
    with pytest.raises(Exception, match="buffer_size"):
        SyncRunner().iter(graph, x=1, buffer_size=0)
    with pytest.raises(Exception, match="overflow"):
        SyncRunner().iter(graph, x=1, overflow="drop_newest")

    async def bad() -> None:
        async with AsyncRunner().iter(graph, x=1, overflow="lossy") as run:
            await run.result()

    with pytest.raises(Exception, match="overflow"):
        run_async(bad())


def test_sequence_numbers_restart_for_each_execution_of_a_node_in_a_loop() -> None:
    from hypergraph import END, route

    @node(output_name="tokens")
    def speak(turn: int) -> Iterator[str]:
        yield from (f"{turn}a", f"{turn}b")

    @node(output_name="turn")
    def next_turn(tokens: list[str], turn: int) -> int:
        return turn + 1

    @route(targets=["speak", END])
    def again(turn: int) -> object:
        return "speak" if turn < 3 else END

    graph = Graph([speak, next_turn, again])
    for mode in ("sync", "async"):
        seen = consume(mode, graph, {"turn": 1})
        pairs = [(e.chunk, e.sequence) for e in seen.chunk_events()]
        assert pairs == [("1a", 0), ("1b", 1), ("2a", 0), ("2b", 1)], mode


def test_run_start_and_end_bracket_every_iter_run() -> None:
    for mode in ("sync", "async"):
        seen = consume(mode, Graph([side]), {"x": 1})
        assert isinstance(seen.events[0], RunStartEvent)
        assert isinstance(seen.events[-1], RunEndEvent)
        assert [type(e) for e in seen.events[1:-1]] == [NodeStartEvent, NodeEndEvent]
        assert not any(isinstance(e, StopRequestedEvent) for e in seen.events)
        assert isinstance(seen.events[2], NodeEndEvent) and seen.events[2].outputs == {"side": 10}


# -- the async handle's readers -------------------------------------------------------------


def test_breaking_out_of_async_for_and_iterating_again_continues_with_the_next_event() -> None:
    async def read_in_two_loops() -> tuple[list[int], list[int], Any]:
        graph = Graph([counter("async def", Probe())])
        first: list[int] = []
        rest: list[int] = []
        async with AsyncRunner().iter(graph, n=2_000, buffer_size=8) as run:
            async for event in run:
                if isinstance(event, StreamingChunkEvent):
                    first.append(event.chunk)
                    if len(first) == 5:
                        break
            async for event in run:
                if isinstance(event, StreamingChunkEvent):
                    rest.append(event.chunk)
            result = await run.result()
        return first, rest, result

    first, rest, result = run_async(read_in_two_loops())
    assert first + rest == list(range(2_000))
    assert result["tokens"] == list(range(2_000))


def test_anext_and_async_for_read_one_stream_in_order_without_loss() -> None:
    async def mixed() -> tuple[list[Any], BaseException | None]:
        graph = Graph([counter("async def", Probe())])
        kinds: list[Any] = []
        async with AsyncRunner().iter(graph, n=500, buffer_size=4) as run:
            for _ in range(3):  # run start, node start, chunk 0
                kinds.append(await anext(run))
            async for event in run:
                kinds.append(event)
                if isinstance(event, StreamingChunkEvent) and event.sequence == 100:
                    break
            while True:
                try:
                    kinds.append(await run.__anext__())
                except StopAsyncIteration as end:
                    return kinds, end

    events, end = run_async(mixed())
    assert isinstance(end, StopAsyncIteration)
    assert [e.chunk for e in events if isinstance(e, StreamingChunkEvent)] == list(range(500))
    assert isinstance(events[0], RunStartEvent) and isinstance(events[-1], RunEndEvent)


def test_a_loop_left_with_break_is_closed_when_the_async_with_ends() -> None:
    async def leave() -> Any:
        graph = Graph([counter("async def", Probe())])
        async with AsyncRunner().iter(graph, n=UNSTOPPED) as run:
            reader = aiter(run)
            async for _event in reader:
                break
            assert reader.ag_frame is not None  # type: ignore[attr-defined]
        return reader

    reader = run_async(leave())
    assert reader.ag_frame is None  # finished: no task is left to close it later


def test_a_node_base_exception_reaches_a_consumer_reading_with_async_for() -> None:
    class Abort(BaseException):
        pass

    @node(output_name="tokens")
    async def aborts(n: int) -> AsyncIterator[int]:
        yield 0
        raise Abort("stop everything")

    async def read() -> list[Any]:
        chunks: list[Any] = []
        async with AsyncRunner().iter(Graph([aborts]), n=1) as run:
            async for event in run:
                if isinstance(event, StreamingChunkEvent):
                    chunks.append(event.chunk)
        return chunks

    with pytest.raises(Abort, match="stop everything"):
        run_async(read())
