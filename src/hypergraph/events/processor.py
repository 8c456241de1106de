"""Event processors: the objects users hand to `event_processors=[...]`.

A processor is any object with `on_event(event)`; these base classes add the typed
dispatch (`TypedEventProcessor`) and the async flavour (`AsyncEventProcessor`).
"""

from __future__ import annotations

from .types import (
    BaseEvent,
    NodeEndEvent,
    NodeErrorEvent,
    NodeRetryEvent,
    NodeStartEvent,
    RouteDecisionEvent,
    RunEndEvent,
    RunStartEvent,
    StopRequestedEvent,
    StreamingChunkEvent,
)


class EventProcessor:
    """Receives every event of a run, synchronously, in order.

    >>> class Printer(EventProcessor):
    ...     def on_event(self, event): print(type(event).__name__)
    """

    def on_event(self, event: BaseEvent) -> None:
        """Called once per event. An exception here is logged and never breaks the run."""

    def shutdown(self) -> None:
        """Called once when the run ends."""


class AsyncEventProcessor:
    """Like `EventProcessor`, but awaited by `AsyncRunner` (not usable with `SyncRunner`)."""

    async def on_event(self, event: BaseEvent) -> None:
        """Awaited once per event; exceptions are logged and never break the run."""

    async def shutdown(self) -> None:
        """Awaited once when the run ends."""


class TypedEventProcessor(EventProcessor):
    """Dispatches each event to a method named for its type; override the ones you need.

    >>> class Tokens(TypedEventProcessor):
    ...     def on_streaming_chunk(self, event): print(event.chunk, end="")
    """

    def on_event(self, event: BaseEvent) -> None:
        handler = _HANDLERS.get(type(event))
        if handler is not None:
            getattr(self, handler)(event)

    def on_run_start(self, event: RunStartEvent) -> None: ...
    def on_run_end(self, event: RunEndEvent) -> None: ...
    def on_node_start(self, event: NodeStartEvent) -> None: ...
    def on_node_end(self, event: NodeEndEvent) -> None: ...
    def on_node_error(self, event: NodeErrorEvent) -> None: ...
    def on_node_retry(self, event: NodeRetryEvent) -> None: ...
    def on_route_decision(self, event: RouteDecisionEvent) -> None: ...
    def on_streaming_chunk(self, event: StreamingChunkEvent) -> None: ...
    def on_stop_requested(self, event: StopRequestedEvent) -> None: ...


_HANDLERS: dict[type[BaseEvent], str] = {
    RunStartEvent: "on_run_start",
    RunEndEvent: "on_run_end",
    NodeStartEvent: "on_node_start",
    NodeEndEvent: "on_node_end",
    NodeErrorEvent: "on_node_error",
    NodeRetryEvent: "on_node_retry",
    RouteDecisionEvent: "on_route_decision",
    StreamingChunkEvent: "on_streaming_chunk",
    StopRequestedEvent: "on_stop_requested",
}
