"""The AsyncRunner's driver: one task per running node, launched the moment it is ready.

Each node runs in its own task; when it finishes, that same task records the outcome
and carries on with one node it made ready (the others get tasks of their own), so an
independent fast branch never waits for a slow sibling. `async def` nodes are awaited
on the loop; plain `def` nodes run in worker threads so they cannot block it (gates
excepted: they only decide, quickly). Streaming nodes feed the run's channel, waiting
for room where they can.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from concurrent.futures import CancelledError as FutureCancelled
from typing import Any

from ..nodes.gate import GateNode
from ..nodes.graph_node import GraphNode
from ..run import nesting
from ..run.execution import Control, Execution
from ..streaming.async_channel import AsyncChannel
from ..streaming.channel import DEFAULT_BUFFER_SIZE, ConsumerGone


async def drive(ex: Execution, max_concurrency: int | None, channel: AsyncChannel | None) -> None:
    """Run `ex` to the end on the current loop; its start event went out when it was made."""
    if max_concurrency and ex.control.limiter is None:
        ex.control.limiter = asyncio.Semaphore(max_concurrency)
    try:
        await _Drive(ex, channel).run()
    finally:
        if ex.events:
            ex.emit(ex.run_end_event())


class _Drive:
    """The tasks of one run."""

    def __init__(self, ex: Execution, channel: AsyncChannel | None) -> None:
        self.ex = ex
        self.channel = channel
        self.tasks: set[asyncio.Task[None]] = set()
        self.loop = asyncio.get_running_loop()
        self.done = self.loop.create_future()

    async def run(self) -> None:
        self.launch(self.ex.sched.start())
        self.check_done()
        try:
            await self.done
        except asyncio.CancelledError:
            # Our caller left: the whole run tree unwinds. A nested run is cancelled by its
            # parent instead, which either did this already or is failing on its own; it
            # must not cancel the control it shares (with other map items, say).
            if not self.ex.graph_path:
                self.ex.control.cancel()
            raise
        finally:
            # A failure, or our caller left: cancel what is in flight and wait for it, so
            # nothing of this run keeps running after it returns.
            for t in self.tasks:
                t.cancel()
            while self.tasks:
                await asyncio.gather(*self.tasks, return_exceptions=True)

    def launch(self, ready: list[int]) -> None:
        if not self.ex.halted:
            for i in ready:
                self.tasks.add(self.loop.create_task(self.node(i)))

    def check_done(self) -> None:
        ex = self.ex
        if (not self.tasks or (ex.failed and ex.raise_errors)) and not self.done.done():
            self.done.set_result(None)

    async def node(self, i: int) -> None:
        """Run node `i`, then carry on with one node it made ready (the rest get tasks)."""
        task = asyncio.current_task()
        ex = self.ex
        try:
            while True:
                ready = await self.one(i)
                if not ready or ex.halted:
                    break
                ready.sort()
                i = ready[0]
                self.launch(ready[1:])
        finally:
            if task is not None:
                self.tasks.discard(task)
        self.check_done()

    async def one(self, i: int) -> list[int]:
        ex = self.ex
        if isinstance(ex.nodes[i], GraphNode):
            return await self.graph_node(i)  # holds no slot: its inner nodes take them
        limiter = ex.control.limiter
        if limiter is None:
            return await self.execute(i)
        async with limiter:
            return [] if ex.halted else await self.execute(i)

    async def graph_node(self, i: int) -> list[int]:
        ex = self.ex
        node = ex.nodes[i]
        assert isinstance(node, GraphNode)
        args = ex.call_args(i, _no_chunks)
        if ex.events:
            ex.emit(ex.node_start_event(i))
        try:
            runs = nesting.children(ex, i, args)
            await asyncio.gather(*(drive(run, None, self.channel) for run in runs))
            return ex.finish(i, nesting.outputs(node, runs))
        except Exception as exc:
            return ex.fail(i, exc)

    async def execute(self, i: int) -> list[int]:
        ex = self.ex
        if not ex.plain[i]:
            return await self.execute_streaming(i)
        node = ex.nodes[i]
        args = ex.sched.inputs_for(i)
        if ex.events:
            ex.emit(ex.node_start_event(i))
        func = node.func  # type: ignore[attr-defined]
        try:
            if node.is_async:
                result = await func(**args)
            elif isinstance(node, GateNode):
                result = func(**args)
            else:
                result = await self.in_thread(None, func, **args)
        except Exception as exc:
            return ex.fail(i, exc)
        return ex.finish(i, result)

    async def execute_streaming(self, i: int) -> list[int]:
        ex = self.ex
        node = ex.nodes[i]
        chunks: list[Any] = []
        channel = self.channel
        loop = self.loop
        control = ex.control
        # Chunk events share this execution's fields; the node's span must exist first.
        if ex.events:
            ex.emit(ex.node_start_event(i))
        make = ex.chunk_maker(i) if ex.events else None
        processors = ex.dispatcher.emit if ex.dispatcher else None

        async def publish(chunk: Any) -> None:
            """A chunk from a producer that can wait: backpressure through the channel."""
            if make is not None:
                event = make(chunk, len(chunks))
                if processors is not None:
                    processors(event)
                if channel is not None:
                    await channel.put(event)
            chunks.append(chunk)

        def record(chunk: Any) -> None:
            """On the loop: deliver a chunk that needs no waiting, and keep it."""
            if make is not None:
                ex.emit(make(chunk, len(chunks)))
            chunks.append(chunk)

        def offer(chunk: Any) -> None:
            """A chunk from `ctx.stream` on the loop: it cannot wait, so it is always taken."""
            if control.cancelled:
                raise ConsumerGone()
            record(chunk)

        handoff: list[Any] = [None]  # the chunk a worker thread waits to hand to the loop
        abandoned = threading.Event()  # this node was cancelled: its thread must unwind
        # Chunks handed over without waiting: `sent` is written by the thread only,
        # `taken` by the loop only, so their difference is what is still in flight.
        sent = taken = 0
        bound = channel.buf.size if channel is not None else DEFAULT_BUFFER_SIZE
        never_wait = channel is not None and channel.buf.dropping

        def take(chunk: Any) -> None:
            """On the loop: a chunk the thread handed over without waiting (room was free)."""
            nonlocal taken
            taken += 1
            record(chunk)

        def from_thread(chunk: Any) -> None:
            """A chunk from a worker thread: handed over at once while the buffer has
            room, else the thread waits until the loop has taken it (backpressure)."""
            nonlocal sent
            if control.cancelled or abandoned.is_set():
                raise ConsumerGone()
            buffered = len(channel.buf.items) if channel is not None else 0
            if never_wait or sent - taken + buffered < bound:
                sent += 1
                loop.call_soon_threadsafe(take, chunk)  # FIFO: chunk order is kept
                return
            handoff[0] = future = asyncio.run_coroutine_threadsafe(publish(chunk), loop)
            try:
                future.result()
            except FutureCancelled:
                raise ConsumerGone() from None

        def unwind() -> None:
            abandoned.set()
            if handoff[0] is not None:
                handoff[0].cancel()

        on_loop = node.is_async or isinstance(node, GateNode)
        args = ex.call_args(i, offer if on_loop else from_thread)
        func = node.func  # type: ignore[attr-defined]
        try:
            if node.is_async and node.is_generator:
                agen = func(**args)
                try:
                    async for item in agen:
                        # publish(item), inlined: this loop runs once per token
                        if make is not None:
                            event = make(item, len(chunks))
                            if processors is not None:
                                processors(event)
                            if channel is not None and not channel.try_put(event):
                                await channel.put(event)
                        chunks.append(item)
                        if control.stop_requested:
                            return ex.stopped(i, chunks)
                finally:
                    await agen.aclose()
                result: Any = chunks
            elif node.is_async:
                result = await func(**args)
            elif on_loop:
                result = func(**args)
            elif node.is_generator:
                if await self.in_thread(unwind, _drain, func, args, from_thread, control):
                    return ex.stopped(i, chunks)
                result = chunks
            else:
                result = await self.in_thread(unwind, func, **args)
        except Exception as exc:
            if chunks:
                ex.keep_partial(i, chunks)
            return ex.fail(i, exc)
        except ConsumerGone:  # the consumer left while this node was streaming
            return ex.stopped(i, chunks)
        except asyncio.CancelledError:
            if chunks:
                ex.keep_partial(i, chunks)
            raise
        return ex.finish(i, result)

    async def in_thread(
        self, unwind: Callable[[], None] | None, func: Any, *args: Any, **kwargs: Any
    ) -> Any:
        """Run `func` in a worker thread; if we are cancelled, wait for the thread to end.

        A thread cannot be killed: `unwind` tells a streaming one to stop (its next
        chunk raises ConsumerGone); either way we wait, so nothing of the run outlives it.
        """
        future = self.loop.run_in_executor(None, lambda: func(*args, **kwargs))
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            if unwind is not None:
                unwind()
            with contextlib.suppress(BaseException):
                await future
            raise


def _no_chunks(chunk: Any) -> None:
    raise AssertionError("a graph node streams through its inner nodes")


def _drain(func: Any, args: dict[str, Any], send: Any, control: Control) -> bool:
    """Run a sync generator node in a worker thread; True if it was closed by a stop."""
    gen = func(**args)
    try:
        for item in gen:
            send(item)
            if control.stop_requested:
                return True
    finally:
        gen.close()
    return False
