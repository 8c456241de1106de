"""What the sync and async `iter()` handles share: the run they watch, its channel, and
the rules of their use (a handle is entered once, then read; misuse says the right form)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Generic, TypeVar

from ..errors import HypergraphError
from .execution import Execution

if TYPE_CHECKING:
    from ..streaming.async_channel import AsyncChannel
    from ..streaming.channel import ThreadChannel

C = TypeVar("C", "AsyncChannel", "ThreadChannel")

_NEW, _OPEN, _CLOSED = "new", "open", "closed"


def misuse(what: str, form: str) -> HypergraphError:
    return HypergraphError(f"{what}\nHow to fix: use the handle like this:\n    {form}")


class RunHandle(Generic[C]):
    """A run in progress whose events are being read (`runner.iter(...)`)."""

    ex: Execution
    channel: C
    _form: str = ""  # the right way to use this handle, shown when it is misused
    _state = _NEW

    def _enter(self) -> None:
        if self._state is not _NEW:
            raise misuse("This run was already started; a handle is entered once.", self._form)
        self._state = _OPEN

    def _exit(self) -> None:
        self._state = _CLOSED

    def _check_open(self, action: str) -> None:
        if self._state is _NEW:
            raise misuse(f"Cannot {action} before the run was started.", self._form)

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
