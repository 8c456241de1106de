"""Fan events out to processors; a processor that raises is logged and never breaks a run."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Iterable

from .types import BaseEvent

log = logging.getLogger("hypergraph.events")


class Dispatcher:
    """The listeners of one run: sync processors are called, async ones awaited."""

    def __init__(self, processors: Iterable[object]) -> None:
        self.sync: list[object] = []
        self.async_: list[object] = []
        for p in processors:
            handler = getattr(p, "on_event", None)
            if not callable(handler):
                from ..errors import GraphConfigError

                raise GraphConfigError(
                    f"Event processor {p!r:.60} has no on_event(event) method.\n"
                    "How to fix: subclass EventProcessor or TypedEventProcessor, or give the "
                    "object an on_event method."
                )
            (self.async_ if inspect.iscoroutinefunction(handler) else self.sync).append(p)

    def __bool__(self) -> bool:
        return bool(self.sync or self.async_)

    def emit(self, event: BaseEvent) -> None:
        for p in self.sync:
            try:
                p.on_event(event)  # type: ignore[attr-defined]
            except Exception:
                log.exception("event processor %r failed on %s", p, type(event).__name__)

    async def aemit(self, event: BaseEvent) -> None:
        self.emit(event)
        for p in self.async_:
            try:
                await p.on_event(event)  # type: ignore[attr-defined]
            except Exception:
                log.exception("event processor %r failed on %s", p, type(event).__name__)

    def shutdown(self) -> None:
        for p in self.sync:
            _call_quietly(p, "shutdown")

    async def ashutdown(self) -> None:
        self.shutdown()
        for p in self.async_:
            closer = getattr(p, "shutdown", None)
            if closer is not None:
                try:
                    await closer()
                except Exception:
                    log.exception("event processor %r failed to shut down", p)


def _call_quietly(p: object, method: str) -> None:
    fn = getattr(p, method, None)
    if fn is None:
        return
    try:
        fn()
    except Exception:
        log.exception("event processor %r failed in %s()", p, method)
