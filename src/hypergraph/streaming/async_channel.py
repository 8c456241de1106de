"""AsyncChannel: a run's events to an `async for` consumer on the same event loop.

The delivery policy (bounded, lossless by default, drop-oldest on request) is the
shared `_Buffer` of `channel.py`; this module adds the waiting, on the loop.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from concurrent.futures import CancelledError as FutureCancelled
from concurrent.futures import Future

from ..events.types import BaseEvent
from .channel import DEFAULT_BUFFER_SIZE, ConsumerGone, _Buffer

_LIVE_WITHIN = 0.0005  # seconds: a waiting consumer sees a chunk at most this late
_clock = time.perf_counter  # a module global: one lookup less per chunk


class AsyncChannel:
    """Events from a run on the loop to an `async for` consumer on the same loop.

    Per chunk, the common case (lossless, room in the buffer, the consumer reading) is a
    deque append on the producer's side and a popleft on the consumer's, with no loop
    turn and no call: a side that must wait parks a Future in `_readers` or `_writers`,
    and the other side resolves it and empties the list, so only the first event after
    a wait pays for the wake-up (an `asyncio.Event` would be set again for every event
    until the waiter got its turn).
    """

    def __init__(self, size: int = DEFAULT_BUFFER_SIZE, overflow: str = "wait") -> None:
        self.buf = _Buffer(size, overflow)
        self.items = self.buf.items  # the same deque: the hot paths skip one lookup
        self.size = size
        # try_put's short path takes an event while fewer than `limit` are buffered: the
        # size while lossless and open, 0 (never) once dropping, closed or discarding.
        self.limit = 0 if self.buf.dropping else size
        self.loop = asyncio.get_running_loop()
        self._thread = threading.get_ident()
        self._readers: list[asyncio.Future[None]] = []  # consumers waiting in `get`
        self._writers: list[asyncio.Future[None]] = []  # producers waiting in `put` for room
        self._yield_by = _clock() + _LIVE_WITHIN  # a tight producer yields then

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
                self._wake_readers()

    def try_put(self, event: BaseEvent) -> bool:
        """Accept `event` if there is room, without waiting; False if the producer must wait.

        Raises ConsumerGone if the consumer left. A producer that never awaits (a tight
        generator) would starve the consumer until the buffer fills, so this also says
        False once every _LIVE_WITHIN: the producer then awaits `put`, which gives the
        loop a turn. That is one turn per many chunks, and delivery stays live.
        """
        items = self.items
        if len(items) < self.limit and _clock() < self._yield_by:
            items.append(event)
            if self._readers:
                self._wake_readers()
            return True
        buf = self.buf
        if buf.closed:
            raise ConsumerGone()
        if buf.discarding:
            return True  # accepted and forgotten
        if buf.dropping and _clock() < self._yield_by:
            self.offer(event)  # never full: the oldest chunk makes room
            return True
        return False

    async def put(self, event: BaseEvent) -> None:
        """Accept `event`, waiting for room; raises ConsumerGone if the consumer left."""
        buf = self.buf
        waited = False
        while buf.full() and not buf.closed:
            waited = True
            room = self.loop.create_future()
            self._writers.append(room)
            await room
        if buf.closed:
            raise ConsumerGone()
        buf.add(event)
        if self._readers:
            self._wake_readers()
        now = _clock()
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
            self._wake_writers()
        return items.popleft()

    async def get(self) -> BaseEvent | None:
        """The next event, or None once the producer finished and the buffer is empty."""
        buf = self.buf
        items = self.items
        while not items:
            if buf.finished or buf.closed:
                return None
            ready = self.loop.create_future()
            self._readers.append(ready)
            await ready
        if self._writers:
            self._wake_writers()
        return items.popleft()

    async def events(
        self, ended: Callable[[], Awaitable[object]]
    ) -> AsyncGenerator[BaseEvent, None]:
        """Every event in order, for `async for`, then `await ended()` once the producer
        finished (what it raises reaches the consumer).

        A generator rather than an `__anext__` coroutine per event: `async for` resumes
        its frame, which costs much less, and it hands out every buffered event before
        it waits (decision 0040).
        """
        items = self.items
        take = items.popleft
        while True:
            while items:
                if self._writers:  # a producer waits for room: there is some now
                    self._wake_writers()
                yield take()
            event = await self.get()
            if event is None:
                await ended()
                return
            yield event

    def _wake_readers(self) -> None:
        waiting, self._readers = self._readers, []
        _wake(waiting)

    def _wake_writers(self) -> None:
        waiting, self._writers = self._writers, []
        _wake(waiting)

    def finish(self) -> None:
        self.buf.finished = True
        self._wake_readers()

    def close(self) -> None:
        """The consumer left: drop what is buffered and make waiting producers give up."""
        self.buf.closed = True
        self.limit = 0
        self.items.clear()
        self._wake_writers()
        self._wake_readers()

    def discard(self) -> None:
        """The consumer wants only the result now: accept and forget further events."""
        self.buf.discarding = True
        self.limit = 0
        self.items.clear()
        self._wake_writers()


def _wake(waiting: list[asyncio.Future[None]]) -> None:
    for future in waiting:
        if not future.done():  # a waiter cancelled meanwhile is already done
            future.set_result(None)


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
