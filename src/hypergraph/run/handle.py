"""What the sync and async `iter()` handles share: the run they watch and its channel."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Generic, TypeVar

from .execution import Execution

if TYPE_CHECKING:
    from ..streaming.async_channel import AsyncChannel
    from ..streaming.channel import ThreadChannel

C = TypeVar("C", "AsyncChannel", "ThreadChannel")


class RunHandle(Generic[C]):
    """A run in progress whose events are being read (`runner.iter(...)`)."""

    ex: Execution
    channel: C

    def stop(self) -> None:
        """No new node starts; generator nodes close at their next yield."""
        self.ex.request_stop()

    @property
    def run_id(self) -> str:
        return self.ex.run_id

    @property
    def dropped(self) -> int:
        """Chunks dropped by `overflow="drop_oldest"` (always 0 with the default policy)."""
        return self.channel.dropped

    @property
    def partial(self) -> dict[str, list[Any]]:
        """Chunks of nodes that failed or were stopped mid-stream, by node path."""
        return self.ex.partial
