"""Fan events out to processors; a processor that raises is logged and never breaks a run.

Sync processors are called in line, in order. Async processors are fed, in the same
order, through a queue that one task drains, so awaiting them never holds up the run.
A processor whose `wants_events()` says False as a run starts gets nothing from that
run (and costs it nothing).
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ..errors import GraphConfigError
from .types import BaseEvent

if TYPE_CHECKING:
    import asyncio


def _scope_of(processor: object) -> Any:
    return getattr(processor, "node_scope", None)


def _wants_events(processor: object) -> bool:
    """A processor with `wants_events()` may sit a run out (asked once, as the run starts:
    a tracer with nowhere to send spans); one that raises there gets the events."""
    wants = getattr(processor, "wants_events", None)
    if wants is None:
        return True
    try:
        return bool(wants())
    except Exception:
        log_failure(processor, "in wants_events()")
        return True


def log_failure(processor: object, what: str) -> None:
    """Log a processor's exception (logging loads on the first failure, not at import)."""
    import logging

    logging.getLogger("hypergraph.events").exception(
        "event processor %r failed %s", processor, what
    )


class Dispatcher:
    """The processors of one run."""

    def __init__(self, processors: Iterable[object]) -> None:
        self.sync: list[Any] = []
        self.async_: list[Any] = []
        for p in processors:
            handler = getattr(p, "on_event", None)
            if not callable(handler):
                raise GraphConfigError(
                    f"Event processor {p!r:.60} has no on_event(event) method.\n"
                    "How to fix: subclass EventProcessor or TypedEventProcessor, or give the "
                    "object an on_event method."
                )
            if not _wants_events(p):
                continue
            (self.async_ if inspect.iscoroutinefunction(handler) else self.sync).append(p)
        # Processors that also wrap each node's execution (tracing: the node's span is the
        # current one while its code runs, so SDK spans inside it become its children).
        self.scopes = [p for p in (*self.sync, *self.async_) if callable(_scope_of(p))]
        self._queue: asyncio.Queue[BaseEvent | None] | None = None
        self._pump: asyncio.Task[None] | None = None

    def __bool__(self) -> bool:
        return bool(self.sync or self.async_)

    def emit(self, event: BaseEvent) -> None:
        for p in self.sync:
            try:
                p.on_event(event)
            except Exception:
                log_failure(p, f"on {type(event).__name__}")
        if self.async_:
            if self._queue is None:
                import asyncio  # only async processors need it: keep `import hypergraph` light

                self._queue = asyncio.Queue()
                self._pump = asyncio.get_running_loop().create_task(self._drain(self._queue))
            self._queue.put_nowait(event)

    async def _drain(self, queue: asyncio.Queue[BaseEvent | None]) -> None:
        while (event := await queue.get()) is not None:
            for p in self.async_:
                try:
                    await p.on_event(event)
                except Exception:
                    log_failure(p, f"on {type(event).__name__}")

    def shutdown(self) -> None:
        for p in self.sync:
            _quietly(p.shutdown if hasattr(p, "shutdown") else None, p)

    async def ashutdown(self, drain: bool = True) -> None:
        """Deliver what is queued to async processors (unless `drain` is false: a
        cancelled run does not wait for a slow processor), then shut every processor down."""
        self.shutdown()
        queue, pump = self._queue, self._pump
        if queue is not None and pump is not None:
            if drain:
                queue.put_nowait(None)
                await pump
            else:
                dropped = queue.qsize()
                pump.cancel()
                import asyncio

                with contextlib.suppress(asyncio.CancelledError):
                    await pump
                if dropped:
                    _log_dropped(dropped)
        for p in self.async_:
            closer = getattr(p, "shutdown", None)
            if closer is not None:
                try:
                    await closer()
                except Exception:
                    log_failure(p, "to shut down")


def _log_dropped(count: int) -> None:
    import logging

    logging.getLogger("hypergraph.events").warning(
        "the run was cancelled: %d queued events were not handed to async processors", count
    )


def _quietly(fn: Any, p: object) -> None:
    if fn is None:
        return
    try:
        fn()
    except Exception:
        log_failure(p, "in shutdown()")


_NOBODY = Dispatcher(())


def dispatcher_for(processors: Iterable[object] | None) -> Dispatcher:
    """The dispatcher of a run; runs without processors share one (it has no state then)."""
    return Dispatcher(processors) if processors else _NOBODY
