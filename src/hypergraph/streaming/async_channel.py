"""AsyncChannel: a run's events to an `async for` consumer on the same event loop.

The delivery policy (bounded, lossless by default, drop-oldest on request) is the
shared `_Buffer` of `channel.py`; this module adds the waiting, on the loop.
"""

from __future__ import annotations

import asyncio
import time

from ..events.types import BaseEvent
from .channel import DEFAULT_BUFFER_SIZE, ConsumerGone, _Buffer

_LIVE_WITHIN = 0.0005  # seconds: a waiting consumer sees a chunk at most this late


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
        waited = False
        while buf.full() and not buf.closed:
            waited = True
            self._writable.clear()
            await self._writable.wait()
        if buf.closed:
            raise ConsumerGone()
        buf.add(event)
        if not self._readable.is_set():
            self._readable.set()
        now = time.perf_counter()
        if waited or now - self._last_yield > _LIVE_WITHIN:
            if not waited:  # the loop had no turn for a while: give the consumer one
                await asyncio.sleep(0)
            self._last_yield = now

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
