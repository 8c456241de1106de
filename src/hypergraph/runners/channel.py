"""Channels carry a run's events to an `iter()` consumer, bounded, in order.

Policy (SPEC §8): lossless by default. A producer that can wait (a generator node, a
node in a worker thread) waits for room, so memory stays bounded by `buffer_size`. A
producer that cannot wait (the runner's own lifecycle events, `ctx.stream` called
from an `async def` on the loop) is always accepted, past the bound if need be, never
dropped. With `overflow="drop_oldest"` nobody waits: when the buffer is full the oldest
*chunk* is dropped and counted in `dropped`; lifecycle events are never dropped.

Two twins share that policy: `AsyncChannel` (producer and consumer on one event loop,
plus threads that put through the loop) and `ThreadChannel` (a producer thread and a
consumer thread).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from concurrent.futures import CancelledError as FutureCancelled

from ..errors import InputValueError
from ..events.types import BaseEvent, StreamingChunkEvent

OVERFLOW_POLICIES = ("wait", "drop_oldest")
DEFAULT_BUFFER_SIZE = 1024
_LIVE_WITHIN = 0.0005  # seconds: a waiting consumer sees a chunk at most this late


class ConsumerGone(BaseException):
    """Raised inside a producer when the consumer left: unwinds the node like a cancel.

    A BaseException, so a node's `except Exception` does not swallow it and its
    `finally` / `with` blocks (an SDK stream) close on the way out.
    """


def check_policy(buffer_size: int, overflow: str) -> None:
    if not isinstance(buffer_size, int) or buffer_size < 1:
        raise InputValueError(
            f"buffer_size must be a positive int, got {buffer_size!r}.", names=["buffer_size"]
        )
    if overflow not in OVERFLOW_POLICIES:
        raise InputValueError(
            f"overflow={overflow!r} is not one of 'wait', 'drop_oldest'.\n"
            "'wait' (default) never loses a chunk; 'drop_oldest' keeps memory fixed and "
            "counts what it dropped.",
            names=["overflow"],
        )


class _Buffer:
    """The bounded deque and the drop-oldest rule, shared by both channels."""

    def __init__(self, size: int, overflow: str) -> None:
        check_policy(size, overflow)
        self.items: deque[BaseEvent] = deque()
        self.size = size
        self.dropping = overflow == "drop_oldest"
        self.dropped = 0
        self.closed = False  # the consumer left: nothing more is accepted
        self.finished = False  # the producer is done: the consumer drains and stops
        self.discarding = False  # the consumer stopped reading but wants the run to finish

    def full(self) -> bool:
        return len(self.items) >= self.size and not self.dropping

    def add(self, event: BaseEvent) -> None:
        if self.discarding:
            return
        items = self.items
        if self.dropping and len(items) >= self.size and isinstance(event, StreamingChunkEvent):
            for k, old in enumerate(items):
                if isinstance(old, StreamingChunkEvent):
                    del items[k]
                    self.dropped += 1
                    break
        items.append(event)


class AsyncChannel:
    """Events from a run on the loop to an `async for` consumer on the same loop."""

    def __init__(self, size: int = DEFAULT_BUFFER_SIZE, overflow: str = "wait") -> None:
        self.buf = _Buffer(size, overflow)
        self.loop = asyncio.get_running_loop()
        self._readable = asyncio.Event()
        self._writable = asyncio.Event()
        self._last_yield = time.perf_counter()

    @property
    def dropped(self) -> int:
        return self.buf.dropped

    def offer(self, event: BaseEvent) -> None:
        """Accept `event` now, without waiting (producers that cannot wait)."""
        if not self.buf.closed:
            self.buf.add(event)
            self._readable.set()

    def try_put(self, event: BaseEvent) -> bool:
        """Accept `event` if there is room, without waiting; False if the producer must wait.

        Raises ConsumerGone if the consumer left. A producer that never awaits (a tight
        generator) would starve the consumer until the buffer fills, so this also says
        False once every _LIVE_WITHIN: the producer then awaits `put`, which gives the
        loop a turn. That is one turn per many chunks, and delivery stays live.
        """
        buf = self.buf
        if buf.closed:
            raise ConsumerGone()
        if buf.full():
            return False
        now = time.perf_counter()
        if now - self._last_yield > _LIVE_WITHIN:
            return False
        buf.add(event)
        if not self._readable.is_set():
            self._readable.set()
        return True

    async def put(self, event: BaseEvent) -> None:
        """Accept `event`, waiting for room; raises ConsumerGone if the consumer left."""
        buf = self.buf
        while buf.full() and not buf.closed:
            self._writable.clear()
            await self._writable.wait()
        if buf.closed:
            raise ConsumerGone()
        buf.add(event)
        if not self._readable.is_set():
            self._readable.set()
        self._last_yield = time.perf_counter()
        await asyncio.sleep(0)

    def put_from_thread(self, event: BaseEvent) -> None:
        """`put` from a worker thread: blocks that thread until there is room."""
        future = asyncio.run_coroutine_threadsafe(self.put(event), self.loop)
        try:
            future.result()
        except FutureCancelled:
            raise ConsumerGone() from None

    def take(self) -> BaseEvent | None:
        """The next event if one is buffered, without waiting."""
        items = self.buf.items
        if not items:
            return None
        self._writable.set()
        return items.popleft()

    async def get(self) -> BaseEvent | None:
        """The next event, or None once the producer finished and the buffer is empty."""
        buf = self.buf
        while not buf.items:
            if buf.finished or buf.closed:
                return None
            self._readable.clear()
            await self._readable.wait()
        event = buf.items.popleft()
        self._writable.set()
        return event

    def finish(self) -> None:
        self.buf.finished = True
        self._readable.set()

    def close(self) -> None:
        """The consumer left: drop what is buffered and make waiting producers give up."""
        self.buf.closed = True
        self.buf.items.clear()
        self._writable.set()
        self._readable.set()

    def discard(self) -> None:
        """The consumer wants only the result now: accept and forget further events."""
        self.buf.discarding = True
        self.buf.items.clear()
        self._writable.set()


class ThreadChannel:
    """Events from a run in a worker thread to a consumer thread."""

    def __init__(self, size: int = DEFAULT_BUFFER_SIZE, overflow: str = "wait") -> None:
        self.buf = _Buffer(size, overflow)
        self._cond = threading.Condition()

    @property
    def dropped(self) -> int:
        return self.buf.dropped

    def put(self, event: BaseEvent, wait: bool = True) -> None:
        """Accept `event`, waiting for room if `wait`; raises ConsumerGone if the consumer left."""
        with self._cond:
            buf = self.buf
            while wait and buf.full() and not buf.closed:
                self._cond.wait()
            if buf.closed:
                raise ConsumerGone()
            buf.add(event)
            self._cond.notify_all()

    def get(self) -> BaseEvent | None:
        with self._cond:
            buf = self.buf
            while not buf.items:
                if buf.finished or buf.closed:
                    return None
                self._cond.wait()
            event = buf.items.popleft()
            self._cond.notify_all()
            return event

    def finish(self) -> None:
        with self._cond:
            self.buf.finished = True
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self.buf.closed = True
            self.buf.items.clear()
            self._cond.notify_all()

    def discard(self) -> None:
        with self._cond:
            self.buf.discarding = True
            self.buf.items.clear()
            self._cond.notify_all()
