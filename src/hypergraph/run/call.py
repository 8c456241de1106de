"""NodeCall: one execution of a node that streams, takes a NodeContext, or runs a graph.

Both runners call such a node through this one object; they differ only in the I/O
(inline, awaited, in a worker thread). It owns what is the same everywhere: the start
event, the arguments with the NodeContext, each chunk kept *before* it is delivered (so
the output or the partial holds every chunk that was produced, whatever happens to its
delivery), and the one outcome of the execution. Plain nodes (a function, no stream, no
context) skip it: the runners' fast path calls them directly.

`drain` is the one loop over a sync generator node, used by SyncRunner in its own
thread and by AsyncRunner in a worker thread.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import TYPE_CHECKING, Any

from ..events.dispatch import log_failure

if TYPE_CHECKING:
    from ..events.types import NodeStartEvent, StreamingChunkEvent
    from .execution import Control, Execution


class NodeCall:
    """The state of one execution of node `i` of `ex`, from its start to its outcome."""

    __slots__ = ("chunks", "ex", "i", "make", "node", "scopes")

    def __init__(self, ex: Execution, i: int) -> None:
        self.ex = ex
        self.i = i
        self.node = ex.nodes[i]
        self.chunks: list[Any] = []
        self.scopes: ExitStack | None = None
        if ex.events:  # the chunk events share the execution's span: it must exist first
            start = ex.node_start_event(i)
            ex.emit(start)
            if ex.dispatcher.scopes:
                self.scopes = _enter_scopes(ex, start)
        self.make = ex.chunk_maker(i) if ex.events else None

    def close(self) -> None:
        """Leave the processors' scopes (in the context that entered them): always called
        once the execution is over, however it ended."""
        if self.scopes is not None:
            scopes, self.scopes = self.scopes, None
            try:
                scopes.close()
            except Exception:
                log_failure(scopes, "leaving a node scope")

    def args(self, send: Callable[[Any], None]) -> dict[str, Any]:
        """The function's keyword arguments; `ctx.stream(chunk)` calls `send(chunk)`."""
        return self.ex.call_args(self.i, send)

    def record(self, chunk: Any) -> StreamingChunkEvent | None:
        """Keep `chunk`; the event that delivers it, if anybody listens."""
        make = self.make
        event = None if make is None else make(chunk, len(self.chunks))
        self.chunks.append(chunk)
        return event

    def finish(self, result: Any) -> list[int]:
        return self.ex.finish(self.i, result)

    def fail(self, exc: BaseException) -> list[int]:
        if self.chunks:
            self.ex.keep_partial(self.i, self.chunks)
        return self.ex.fail(self.i, exc)

    def stopped(self) -> list[int]:
        """Closed before it finished (stop, or the consumer left): keep what it streamed."""
        return self.ex.stopped(self.i, self.chunks)


def _enter_scopes(ex: Execution, start: NodeStartEvent) -> ExitStack:
    """Enter each processor's `node_scope(start_event)`; one that fails is logged and skipped."""
    stack = ExitStack()
    for processor in ex.dispatcher.scopes:
        try:
            stack.enter_context(processor.node_scope(start))
        except Exception:
            log_failure(processor, "entering a node scope")
    return stack


def drain(gen: Iterator[Any], send: Callable[[Any], None], control: Control) -> bool:
    """Run a sync generator node to its end, sending each item; True if a stop closed it.

    The generator is closed on every way out, so its `finally` blocks (an SDK stream's
    `with`) run; an error while closing is the node's error.
    """
    try:
        for item in gen:
            send(item)
            if control.stop_requested:
                return True
    finally:
        close = getattr(gen, "close", None)
        if close is not None:
            close()
    return False
