"""The AsyncRunner's driver: one task per running node, launched the moment it is ready.

Each node runs in its own task; when it finishes, that same task records the outcome
and carries on with one node it made ready (the others get tasks of their own), so an
independent fast branch never waits for a slow sibling. `async def` nodes are awaited
on the loop; plain `def` nodes run in worker threads (`threads.py`) so they cannot
block it (gates excepted: they only decide, quickly). Streaming nodes feed the run's
channel, waiting for room where they can.

A node that raises a BaseException that is not an Exception (KeyboardInterrupt, a
test framework's skip, a CancelledError of its own) aborts the whole run: everything in
flight is cancelled and awaited, then the exception reaches the caller.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

from ..nodes.gate import GateNode
from ..nodes.graph_node import GraphNode
from ..run import nesting
from ..run.call import NodeCall, drain
from ..run.execution import Execution
from ..streaming.async_channel import AsyncChannel, ThreadFeed
from ..streaming.channel import ConsumerGone
from . import watchdog
from .threads import in_thread, outcome


async def drive(ex: Execution, channel: AsyncChannel | None) -> None:
    """Run `ex` to the end on the current loop."""
    cap = ex.options.max_concurrency
    if cap and ex.control.limiter is None:
        ex.control.limiter = asyncio.Semaphore(cap)
    watchdog.watch(ex)
    try:
        await _Drive(ex, channel).run()
    finally:
        watchdog.unwatch(ex)
        ex.end()


class _Drive:
    """The tasks of one run."""

    def __init__(self, ex: Execution, channel: AsyncChannel | None) -> None:
        self.ex = ex
        self.channel = channel
        self.tasks: set[asyncio.Task[None]] = set()
        self.loop = asyncio.get_running_loop()
        self.done = self.loop.create_future()
        self.closing = False  # cancelling what is in flight: streaming nodes stop at once
        self.aborted: BaseException | None = None

    async def run(self) -> None:
        ex = self.ex
        ex.on_loop(self.loop)  # a stop from another thread is handed to this loop
        self.launch(ex.start())
        self.check_done()
        try:
            await self.done
        except asyncio.CancelledError:
            # Our caller left: the whole run tree unwinds. A nested run is cancelled by its
            # parent instead, which either did this already or is failing on its own; it
            # must not cancel the control it shares (with other map items, say), but it
            # did not complete: it ends STOPPED.
            if not ex.graph_path:
                ex.control.cancel()
            ex.interrupted = True
            raise
        finally:
            # A failure, or our caller left: cancel what is in flight and wait for it, so
            # nothing of this run keeps running after it returns, even if we are
            # cancelled again while we wait.
            self.closing = True
            for t in self.tasks:
                t.cancel()
            again = False
            while self.tasks:
                try:
                    await asyncio.wait(set(self.tasks))
                except asyncio.CancelledError:
                    again = True
            if again:
                raise asyncio.CancelledError()
        if self.aborted is not None:
            raise self.aborted

    def launch(self, ready: list[int]) -> None:
        if not self.ex.halted:
            for i in ready:
                self.tasks.add(self.loop.create_task(self.node(i)))

    def check_done(self) -> None:
        ex = self.ex
        finished = not self.tasks or (ex.failed and ex.raise_errors) or self.aborted
        if finished and not self.done.done():
            self.done.set_result(None)

    async def node(self, i: int) -> None:
        """Run node `i`, then carry on with one node it made ready (the rest get tasks)."""
        task = asyncio.current_task()
        ex = self.ex
        plain = ex.plain
        try:
            while True:
                # A plain node, nothing capped: its execution directly (one frame less).
                if plain[i] and ex.control.limiter is None:
                    ready = await self.execute(i)
                else:
                    ready = await self.one(i)
                if not ready or ex.halted:
                    break
                ready.sort()
                i = ready[0]
                self.launch(ready[1:])
        except asyncio.CancelledError:
            if task is None or task.cancelling():
                raise  # our own cancellation
            self.abort(asyncio.CancelledError())  # the node raised it itself
        except BaseException as exc:
            self.abort(exc)
        finally:
            if task is not None:
                self.tasks.discard(task)
        self.check_done()

    def abort(self, exc: BaseException) -> None:
        if self.aborted is None:
            self.aborted = exc
        self.ex.abort(exc)

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
        call = NodeCall(self.ex, i)
        try:
            runs = nesting.children(self.ex, i, call.args(nesting.no_chunks))
            await asyncio.gather(*(drive(run, self.channel) for run in runs))
            return nesting.outcome(call, runs)
        except Exception as exc:
            return call.fail(exc)
        finally:
            call.close()

    async def execute(self, i: int) -> list[int]:
        ex = self.ex
        if not ex.plain[i]:
            return await self.execute_call(NodeCall(ex, i))
        # The fast path: a plain function, nothing streamed.
        node = ex.nodes[i]
        args = ex.inputs_for(i)
        if ex.events:
            ex.emit(ex.node_start_event(i))
        func = node.func  # type: ignore[attr-defined]
        try:
            if node.is_async:
                result = await func(**args)
            elif isinstance(node, GateNode):
                result = func(**args)
            else:
                result = outcome(await in_thread(lambda: func(**args)))
        except Exception as exc:
            return ex.fail(i, exc)
        return ex.finish(i, result)

    async def execute_call(self, call: NodeCall) -> list[int]:
        """A node that streams or takes a NodeContext: its one execution, to its outcome."""
        try:
            return await self._execute_call(call)
        finally:
            call.close()

    async def _execute_call(self, call: NodeCall) -> list[int]:
        try:
            answered = call.answered()
            if answered is not None:
                return answered
            entry = call.cached_entry()
            if entry is not None:  # a hit: the same stream, then the same result
                await self.replay(call, entry.chunks)
                return call.finish(entry.value, cached=True)
            while True:
                call.begin_attempt()
                try:
                    stopped, result = await self.guarded_attempt(call)
                except Exception as exc:
                    delay = call.retry_delay(exc)
                    if delay is None:
                        return call.fail(exc)
                    await asyncio.sleep(delay)
                    continue
                if stopped:
                    return call.stopped()
                call.store(result)
                return call.finish(result)
        except ConsumerGone:  # the consumer left while this node was streaming
            return call.stopped()
        except asyncio.CancelledError:
            call.stopped()  # the run is being cancelled: this execution ends here
            raise

    async def guarded_attempt(self, call: NodeCall) -> tuple[bool, Any]:
        """One attempt, within its `timeout` and `idle_timeout` if the node has them.

        The limits are one `asyncio.timeout`: set to the attempt's deadline, and moved to
        "now" by an idle watch that wakes once per `idle_timeout` (not once per chunk) and
        finds the last chunk too old. Expiry cancels the attempt: a generator is closed
        (its `finally` runs, an SDK stream closes); a def node's thread is told to stop
        and awaited.
        """
        policy = call.policy
        if policy is None or (policy.timeout is None and policy.idle_timeout is None):
            return await self.attempt(call)
        loop = self.loop
        watch: asyncio.TimerHandle | None = None
        try:
            async with asyncio.timeout_at(call.deadline) as limit:
                if policy.idle_timeout is not None:
                    idle = policy.idle_timeout

                    def check() -> None:
                        nonlocal watch
                        if time.monotonic() - call.last_chunk >= idle:
                            call.expired_kind = "idle_timeout"
                            limit.reschedule(loop.time())
                        else:
                            watch = loop.call_at(call.last_chunk + idle, check)

                    watch = loop.call_at(call.last_chunk + idle, check)
                return await self.attempt(call)
        except TimeoutError:
            if not limit.expired():
                raise  # the node's own TimeoutError
            node = call.node
            raise call.timeout_error(interrupted=node.is_async or node.is_generator) from None
        finally:
            if watch is not None:
                watch.cancel()

    async def attempt(self, call: NodeCall) -> tuple[bool, Any]:
        """Call the node once: (True, None) if a stop closed it, else (False, result)."""
        node = call.node
        func = node.func  # type: ignore[attr-defined]
        if node.is_async or isinstance(node, GateNode):
            args = call.args(self.send_on_loop(call))
            if node.is_generator:
                return await self.drain_async(call, func(**args)), call.chunks
            if node.is_async:
                return False, await func(**args)
            return False, func(**args)
        feed = self.feed()
        send = self.send_from_thread(call, feed)
        args = call.args(send)
        # Only a node that may wait for its consumer needs a thread of its own; a plain
        # def node (guarded by a policy, or traced) takes a pool thread.
        own = node.is_generator or self.ex.context_params[call.i] is not None
        if node.is_generator:
            control = self.ex.control
            stopped = outcome(
                await in_thread(
                    lambda: drain(func(**args), send, control),
                    own_thread=True,
                    unwind=feed.abandon,
                )
            )
            return stopped, call.chunks
        return False, outcome(
            await in_thread(lambda: func(**args), own_thread=own, unwind=feed.abandon)
        )

    async def replay(self, call: NodeCall, chunks: tuple[Any, ...]) -> None:
        """Deliver a cache hit's chunks as the node once streamed them, in order."""
        ex = self.ex
        channel = self.channel
        for chunk in chunks:
            event = call.record(chunk)
            if event is not None:
                ex.dispatcher.emit(event)
                if channel is not None:
                    await channel.put(event)

    async def drain_async(self, call: NodeCall, agen: Any) -> bool:
        """The one loop over an async generator node; True if a stop (or the run's
        cancellation, even one the generator swallowed) closed it."""
        ex = self.ex
        control = ex.control
        channel = self.channel
        processors = ex.dispatcher.emit if ex.dispatcher else None
        # `call.record(item)`, inlined: this loop runs once per token, and a call per
        # chunk is a measurable share of it (W4). An attempt keeps its chunk list and
        # maker from start to end, so binding them here is safe.
        make, chunks = call.make, call.chunks
        timed = call.policy is not None
        try:
            async for item in agen:
                event = None if make is None else make(item, len(chunks))
                chunks.append(item)
                if event is not None:
                    if processors is not None:
                        processors(event)
                    if channel is not None and not channel.try_put(event):
                        await channel.put(event)
                if timed:
                    call.last_chunk = time.monotonic()
                if control.stop_requested or self.closing:
                    return True
        finally:
            await agen.aclose()
        return False

    def send_on_loop(self, call: NodeCall) -> Any:
        """`ctx.stream` of a node on the loop: it cannot wait, so the chunk is always
        taken. Called from a helper thread of that node, it goes through a ThreadFeed,
        which wakes the loop (and may wait: a helper thread can)."""
        ex = self.ex
        control = ex.control
        loop_thread = threading.get_ident()
        feed: ThreadFeed | None = None

        def send(chunk: Any) -> None:
            nonlocal feed
            if threading.get_ident() != loop_thread:
                if feed is None:
                    feed = self.feed()
                self.send_from_thread(call, feed)(chunk)
                return
            if control.cancelled:
                raise ConsumerGone()
            event = call.record(chunk)
            if event is not None:
                ex.emit(event)

        return send

    def send_from_thread(self, call: NodeCall, feed: ThreadFeed) -> Any:
        control = self.ex.control

        def send(chunk: Any) -> None:
            if control.cancelled:
                raise ConsumerGone()
            event = call.record(chunk)
            if event is not None:
                feed.put(event)
            elif feed.abandoned.is_set():
                raise ConsumerGone()

        return send

    def feed(self) -> ThreadFeed:
        ex = self.ex
        return ThreadFeed(self.loop, ex.emit, self.channel, ex.dispatcher.emit)
