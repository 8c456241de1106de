"""Shared pieces of the streaming tests: probes inside producing nodes, and one consumer
loop that reads a run's events the same way under `SyncRunner.iter` and `AsyncRunner.iter`.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from conftest import run_async
from hypergraph import (
    AsyncRunner,
    FunctionNode,
    Graph,
    NodeContext,
    NodeEndEvent,
    NodeStartEvent,
    RunResult,
    StreamingChunkEvent,
    SyncRunner,
    node,
)

WAIT = 5.0  # seconds: the longest any test waits for something that should happen at once

# Which runner consumes, and how the producing node runs under it. A plain `def` node runs
# in the SyncRunner.iter thread, or in a worker thread under AsyncRunner.
PRODUCERS = [
    pytest.param("sync", "def", id="SyncRunner-def-generator"),
    pytest.param("async", "async def", id="AsyncRunner-async-generator"),
    pytest.param("async", "def", id="AsyncRunner-def-generator-in-thread"),
]
each_producer = pytest.mark.parametrize(("mode", "kind"), PRODUCERS)
each_runner = pytest.mark.parametrize("mode", ["sync", "async"])


class Probe:
    """What a producing node reports about itself; safe to read from any thread."""

    def __init__(self) -> None:
        self.produced = 0  # items made so far (counted just before each is handed over)
        self.started = threading.Event()
        self.closed = threading.Event()  # its `finally` ran: the function is no longer running
        self.exit: BaseException | None = None  # what unwound it (None: it ended normally)
        self.swallowed: list[Exception] = []  # what its `except Exception` caught
        self.saw_stop = False  # it read ctx.stop_requested == True
        self.raised: BaseException | None = None  # the exception it raised on purpose
        self._cond = threading.Condition()

    def made_one(self) -> None:
        with self._cond:
            self.produced += 1
            self._cond.notify_all()

    def wait_produced(self, count: int, timeout: float = WAIT) -> bool:
        """Block this thread until `count` items were made (for a producer in another thread)."""
        with self._cond:
            return self._cond.wait_for(lambda: self.produced >= count, timeout)

    async def until_produced(self, count: int, timeout: float = WAIT) -> bool:
        """Yield the loop until `count` items were made (a producer on the loop or in a thread)."""
        return await until(lambda: self.produced >= count, timeout)


async def until(predicate: Callable[[], bool], timeout: float = WAIT) -> bool:
    """Give other tasks (and the loop's thread callbacks) turns until `predicate()` holds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0)
    return True


def _clean_up_slowly(seconds: float) -> None:
    """Stand in for a close that takes a while (an SDK stream's); computes, never sleeps."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def _numbers(n: int | None) -> Iterator[int]:
    i = 0
    while n is None or i < n:
        yield i
        i += 1


def counter(
    kind: str,
    probe: Probe,
    *,
    name: str = "tokens",
    output: str = "tokens",
    fail_after: int | None = None,
    hold_after_first: Any = None,
    slow_close: float = 0.0,
) -> FunctionNode:
    """A generator node yielding 0, 1, 2, ... (`n` of them, forever when `n` is None).

    `fail_after=k`: raises ValueError after k items. `hold_after_first`: an event
    (asyncio.Event for "async def", threading.Event for "def") the node waits for after
    its first item. `slow_close`: its `finally` takes that many seconds before it is done.
    """

    def fail() -> ValueError:
        probe.raised = ValueError(f"{name} broke after {fail_after} items")
        return probe.raised

    if kind == "async def":

        async def produce_async(n: int | None = None) -> AsyncIterator[int]:
            probe.started.set()
            try:
                for i in _numbers(n):
                    if i == fail_after:
                        raise fail()
                    if i == 1 and hold_after_first is not None:
                        await asyncio.wait_for(hold_after_first.wait(), WAIT)
                    probe.made_one()
                    yield i
            except BaseException as exc:
                probe.exit = exc
                raise
            finally:
                probe.closed.set()

        return node(produce_async, output, name=name)

    assert kind == "def", kind

    def produce(n: int | None = None) -> Iterator[int]:
        probe.started.set()
        try:
            for i in _numbers(n):
                if i == fail_after:
                    raise fail()
                if i == 1 and hold_after_first is not None:
                    assert hold_after_first.wait(WAIT), "the consumer never saw chunk 0"
                probe.made_one()
                yield i
        except BaseException as exc:
            probe.exit = exc
            raise
        finally:
            _clean_up_slowly(slow_close)
            probe.closed.set()

    return node(produce, output, name=name)


def ctx_counter(
    probe: Probe,
    *,
    name: str = "tokens",
    output: str = "count",
    watch_stop: bool = True,
    slow_close: float = 0.0,
) -> FunctionNode:
    """A `def` node that streams 0, 1, 2, ... with ctx.stream until asked to stop (or `n`).

    Its `except Exception` around ctx.stream is the common user pattern; it must not
    keep the node alive once the consumer has left. With `watch_stop=False` it never
    looks at ctx.stop_requested, so only ctx.stream itself can end it.
    """

    def stream_numbers(ctx: NodeContext, n: int | None = None) -> int:
        probe.started.set()
        try:
            for i in _numbers(n):
                if watch_stop and ctx.stop_requested:
                    probe.saw_stop = True
                    return i
                probe.made_one()
                try:
                    ctx.stream(i)
                except Exception as exc:
                    probe.swallowed.append(exc)
            return n or 0
        except BaseException as exc:
            probe.exit = exc
            raise
        finally:
            _clean_up_slowly(slow_close)
            probe.closed.set()

    return node(stream_numbers, output, name=name)


def async_ctx_counter(probe: Probe, *, name: str = "tokens", output: str = "count") -> FunctionNode:
    """The `async def` twin of `ctx_counter`."""

    async def stream_numbers(ctx: NodeContext, n: int | None = None) -> int:
        probe.started.set()
        try:
            for i in _numbers(n):
                if ctx.stop_requested:
                    probe.saw_stop = True
                    return i
                probe.made_one()
                ctx.stream(i)
                await asyncio.sleep(0)
            return n or 0
        except BaseException as exc:
            probe.exit = exc
            raise
        finally:
            probe.closed.set()

    return node(stream_numbers, output, name=name)


@node(output_name="total")
def total(tokens: list[int]) -> int:
    """Downstream of a streaming node: runs only once it has finished."""
    return sum(tokens)


# -- consuming -----------------------------------------------------------------------------

# Called for every event with the live run object; return True to leave the loop (and
# the `with` block) at once, without asking for the result.
OnEvent = Callable[[Any, Any], bool | None]


@dataclass
class Consumed:
    """What a consumer saw: its events, and the result (or what `result()` raised)."""

    events: list[Any] = field(default_factory=list)
    result: RunResult | None = None
    raised: BaseException | None = None
    dropped: int = 0
    partial: dict[str, list[Any]] = field(default_factory=dict)
    run_id: str = ""
    left_early: bool = False

    def chunks(self, path: str | None = None) -> list[Any]:
        return [e.chunk for e in self.chunk_events(path)]

    def chunk_events(self, path: str | None = None) -> list[StreamingChunkEvent]:
        return [
            e
            for e in self.events
            if isinstance(e, StreamingChunkEvent) and (path is None or e.path == path)
        ]

    def kinds(self) -> list[str]:
        return [type(e).__name__ for e in self.events]

    def started(self, name: str) -> bool:
        return any(isinstance(e, NodeStartEvent) and e.node_name == name for e in self.events)

    def ended(self, name: str) -> bool:
        return any(isinstance(e, NodeEndEvent) and e.node_name == name for e in self.events)


def consume(
    mode: str,
    graph: Graph,
    values: dict[str, Any] | None = None,
    *,
    on_event: OnEvent | None = None,
    runner: Any = None,
    **options: Any,
) -> Consumed:
    """Read every event of a run through `iter()`, then its result, under one runner."""
    if mode == "sync":
        return _consume_sync(runner or SyncRunner(), graph, values, on_event, options)
    return run_async(consume_async(graph, values, on_event=on_event, runner=runner, **options))


def _consume_sync(
    runner: SyncRunner,
    graph: Graph,
    values: dict[str, Any] | None,
    on_event: OnEvent | None,
    options: dict[str, Any],
) -> Consumed:
    seen = Consumed()
    before = run_threads()
    with runner.iter(graph, values, **options) as run:
        seen.run_id = run.run_id
        for event in run:
            seen.events.append(event)
            if on_event is not None and on_event(event, run):
                seen.left_early = True
                break
        else:
            try:
                seen.result = run.result()
            except Exception as exc:
                seen.raised = exc
        seen.dropped, seen.partial = run.dropped, dict(run.partial)
    # However the run ended, nothing of it is left running once the `with` block is over.
    assert run_threads() == before, "a thread of the run outlived its `with` block"
    return seen


async def consume_async(
    graph: Graph,
    values: dict[str, Any] | None = None,
    *,
    on_event: OnEvent | None = None,
    runner: AsyncRunner | None = None,
    **options: Any,
) -> Consumed:
    """`consume` under AsyncRunner, on the running loop."""
    seen = Consumed()
    before = run_threads()
    async with (runner or AsyncRunner()).iter(graph, values, **options) as run:
        seen.run_id = run.run_id
        async for event in run:
            seen.events.append(event)
            if on_event is not None and on_event(event, run):
                seen.left_early = True
                break
        else:
            try:
                seen.result = await run.result()
            except Exception as exc:
                seen.raised = exc
        seen.dropped, seen.partial = run.dropped, dict(run.partial)
    # However the run ended, nothing of it is left running once the `async with` is over.
    left = asyncio.all_tasks() - {asyncio.current_task()}
    assert not left, f"tasks of the run outlived its `async with` block: {left}"
    assert run_threads() == before, "a thread of the run outlived its `async with` block"
    return seen


def stop_at(sequence: int, how: Callable[[Any], None] | None = None) -> OnEvent:
    """An on_event that asks the run to stop when chunk number `sequence` arrives."""

    def on_event(event: Any, run: Any) -> None:
        if isinstance(event, StreamingChunkEvent) and event.sequence == sequence:
            (how or (lambda r: r.stop()))(run)

    return on_event


def leave_at(sequence: int) -> OnEvent:
    """An on_event that leaves the consumer loop when chunk number `sequence` arrives."""

    def on_event(event: Any, run: Any) -> bool:
        return isinstance(event, StreamingChunkEvent) and event.sequence == sequence

    return on_event


def run_threads() -> set[threading.Thread]:
    """Live threads that a run could have left behind: all of them except idle pool workers
    (the event loop's executor, hypergraph's node pool), the loop watchdog, and the stand-in
    LLM server's own."""
    idle = ("asyncio", "llm-server", "hypergraph-node", "hypergraph-watchdog")
    return {t for t in threading.enumerate() if not t.name.startswith(idle)}
