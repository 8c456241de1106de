"""Channels carry a run's events to an `iter()` consumer, bounded, in order.

Policy (SPEC §8): lossless by default. A producer that can wait (a generator node, a
node in a worker thread) waits for room, so memory stays bounded by `buffer_size`. A
producer that cannot wait (the runner's own lifecycle events, `ctx.stream` called
from an `async def` on the loop) is always accepted, past the bound if need be, never
dropped. With `overflow="drop_oldest"` nobody waits: when the buffer is full the oldest
*chunk* is dropped and counted in `dropped`; lifecycle events are never dropped.

Two twins share that policy: `ThreadChannel` here (a producer thread and a consumer
thread) and `AsyncChannel` in `async_channel.py` (producer and consumer on one event
loop, plus threads that put through the loop), kept apart so that synchronous use
never imports asyncio.
"""

from __future__ import annotations

import threading
from collections import deque

from ..events.types import BaseEvent, StreamingChunkEvent

DEFAULT_BUFFER_SIZE = 1024


class ConsumerGone(BaseException):
    """Raised inside a producer when the consumer left: unwinds the node like a cancel.

    A BaseException, so a node's `except Exception` does not swallow it and its
    `finally` / `with` blocks (an SDK stream) close on the way out.
    """


class _Buffer:
    """The bounded deque and the drop-oldest rule, shared by both channels."""

    def __init__(self, size: int, overflow: str) -> None:
        # size and overflow were checked with the run's options (RunOptions)
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


class ThreadChannel:
    """Events from a run in a worker thread to a consumer thread."""

    def __init__(self, size: int = DEFAULT_BUFFER_SIZE, overflow: str = "wait") -> None:
        self.buf = _Buffer(size, overflow)
        self._cond = threading.Condition()

    @property
    def dropped(self) -> int:
        return self.buf.dropped

    def offer(self, event: BaseEvent) -> None:
        """Accept `event` now, without waiting (lifecycle events, from any thread)."""
        self.put(event, wait=False)

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
