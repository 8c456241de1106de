"""AsyncChannel: a run's events to an `async for` consumer on the same event loop.

The delivery policy (bounded, lossless by default, drop-oldest on request) is the
shared `_Buffer` of `channel.py`; this module adds the waiting, on the loop.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from concurrent.futures import CancelledError as FutureCancelled
from concurrent.futures import Future

from ..events.types import BaseEvent
from .channel import DEFAULT_BUFFER_SIZE, ConsumerGone, _Buffer

_LIVE_WITHIN = 0.0005  # seconds: a waiting consumer sees a chunk at most this late


class AsyncChannel:
    """Events from a run on the loop to an `async for` consumer on the same loop.

    Per chunk, the common case (lossless, room in the buffer, the consumer reading) is a
    deque append on the producer's side and a popleft on the consumer's, with no loop
    turn, no Future and no Event call: the reader and the writers are woken only when
    one of them actually waits (`_readers`, `_writers` count them).
    """

    def __init__(self, size: int = DEFAULT_BUFFER_SIZE, overflow: str = "wait") -> None:
        self.buf = _Buffer(size, overflow)
        self.items = self.buf.items  # the same deque: the hot paths skip one lookup
        self.size = size
        self.quick = not self.buf.dropping  # lossless and open: try_put's short path
        self.loop = asyncio.get_running_loop()
        self._thread = threading.get_ident()
        self._readable = asyncio.Event()
        self._writable = asyncio.Event()
        self._readers = 0  # consumers waiting in `get`
        self._writers = 0  # producers waiting in `put` for room
        self._yield_by = time.perf_counter() + _LIVE_WITHIN  # a tight producer yields then

    @property
    def dropped(self) -> int:
        return self.buf.dropped

    @property
    def pending(self) -> int:
        """Events buffered and not read yet (safe to read from any thread)."""
        return len(self.items)

    @property
    def never_waits(self) -> bool:
        return self.buf.dropping

    def offer(self, event: BaseEvent) -> None:
        """Accept `event` now, without waiting (producers that cannot wait). From another
        thread it goes through the loop, which it wakes."""
        if threading.get_ident() != self._thread:
            self.loop.call_soon_threadsafe(self.offer, event)
            return
        if not self.buf.closed:
            self.buf.add(event)
            if self._readers:
                self._readable.set()

    def try_put(self, event: BaseEvent) -> bool:
        """Accept `event` if there is room, without waiting; False if the producer must wait.

        Raises ConsumerGone if the consumer left. A producer that never awaits (a tight
        generator) would starve the consumer until the buffer fills, so this also says
        False once every _LIVE_WITHIN: the producer then awaits `put`, which gives the
        loop a turn. That is one turn per many chunks, and delivery stays live.
        """
        items = self.items
        if self.quick and len(items) < self.size and time.perf_counter() < self._yield_by:
            items.append(event)
            if self._readers:
                self._readable.set()
            return True
        buf = self.buf
        if buf.closed:
            raise ConsumerGone()
        if buf.discarding:
            return True  # accepted and forgotten
        if buf.dropping and time.perf_counter() < self._yield_by:
            self.offer(event)  # never full: the oldest chunk makes room
            return True
        return False

    async def put(self, event: BaseEvent) -> None:
        """Accept `event`, waiting for room; raises ConsumerGone if the consumer left."""
        buf = self.buf
        waited = False
        while buf.full() and not buf.closed:
            waited = True
            self._writable.clear()
            self._writers += 1
            try:
                await self._writable.wait()
            finally:
                self._writers -= 1
        if buf.closed:
            raise ConsumerGone()
        buf.add(event)
        if self._readers:
            self._readable.set()
        now = time.perf_counter()
        if waited or now >= self._yield_by:
            if not waited:  # the loop had no turn for a while: give the consumer one
                await asyncio.sleep(0)
            self._yield_by = now + _LIVE_WITHIN

    def take(self) -> BaseEvent | None:
        """The next event if one is buffered, without waiting."""
        items = self.items
        if not items:
            return None
        if self._writers:
            self._writable.set()
        return items.popleft()

    async def get(self) -> BaseEvent | None:
        """The next event, or None once the producer finished and the buffer is empty."""
        buf = self.buf
        items = self.items
        while not items:
            if buf.finished or buf.closed:
                return None
            self._readable.clear()
            self._readers += 1
            try:
                await self._readable.wait()
            finally:
                self._readers -= 1
        if self._writers:
            self._writable.set()
        return items.popleft()

    def finish(self) -> None:
        self.buf.finished = True
        self._readable.set()

    def close(self) -> None:
        """The consumer left: drop what is buffered and make waiting producers give up."""
        self.buf.closed = True
        self.quick = False
        self.items.clear()
        self._writable.set()
        self._readable.set()

    def discard(self) -> None:
        """The consumer wants only the result now: accept and forget further events."""
        self.buf.discarding = True
        self.quick = False
        self.items.clear()
        self._writable.set()


class ThreadFeed:
    """Chunk events from a worker thread to the run on the loop: in order, live, bounded.

    An event goes over without waiting (one `call_soon_threadsafe`, which also wakes the
    loop) while fewer than `bound` are in flight or buffered; beyond that the thread waits
    until the loop has taken it, which is the backpressure that bounds memory. With
    `overflow="drop_oldest"` the thread never waits. `sent` is written by the thread
    only and `taken` by the loop only, so their difference is what is still in flight.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        deliver: Callable[[BaseEvent], None],
        channel: AsyncChannel | None,
        processors: Callable[[BaseEvent], None],
    ) -> None:
        self.loop = loop
        self.deliver = deliver  # on the loop: to processors and the consumer, no waiting
        self.channel = channel
        self.processors = processors
        self.bound = channel.buf.size if channel is not None else DEFAULT_BUFFER_SIZE
        self.never_wait = channel is not None and channel.never_waits
        self.sent = 0
        self.taken = 0
        self.abandoned = threading.Event()  # the node was cancelled: its thread unwinds
        self._waiting: Future[None] | None = None

    def put(self, event: BaseEvent) -> None:
        """In the worker thread: hand `event` to the loop; raises ConsumerGone if abandoned."""
        if self.abandoned.is_set():
            raise ConsumerGone()
        buffered = self.channel.pending if self.channel is not None else 0
        if self.never_wait or self.sent - self.taken + buffered < self.bound:
            self.sent += 1
            self.loop.call_soon_threadsafe(self._take, event)  # FIFO: order is kept
            return
        self._waiting = waiting = asyncio.run_coroutine_threadsafe(self._publish(event), self.loop)
        try:
            waiting.result()
        except FutureCancelled:
            raise ConsumerGone() from None

    def _take(self, event: BaseEvent) -> None:
        self.taken += 1
        self.deliver(event)

    async def _publish(self, event: BaseEvent) -> None:
        """On the loop: deliver an event whose producer waits until there is room."""
        if self.channel is None:
            self.deliver(event)
        else:
            self.processors(event)
            await self.channel.put(event)

    def abandon(self) -> None:
        """The node was cancelled: the thread's next chunk (or its wait) raises ConsumerGone."""
        self.abandoned.set()
        if self._waiting is not None:
            self._waiting.cancel()
