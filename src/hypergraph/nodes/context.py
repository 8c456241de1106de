"""NodeContext: what a running node may ask of the run it belongs to."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class NodeContext:
    """Injected into a node that declares a parameter annotated `NodeContext`.

    It is not an input of the graph and cannot be bound; the runner supplies a fresh
    one for every execution.

    >>> from hypergraph import Graph, SyncRunner, node
    >>> @node(output_name="text")
    ... def write(prompt: str, ctx: NodeContext) -> str:
    ...     for token in ("Hel", "lo"):
    ...         ctx.stream(token)          # consumers see it now
    ...     return "Hello"
    >>> with SyncRunner().iter(Graph([write]), prompt="hi") as run:
    ...     chunks = [e.chunk for e in run if e.kind == "chunk"]
    >>> chunks
    ['Hel', 'lo']
    """

    __slots__ = ("_key", "_send", "_stopped", "node_name")

    def __init__(
        self,
        node_name: str,
        send: Callable[[Any], None],
        stopped: Callable[[], bool],
        key: Callable[[], str] = lambda: "",
    ) -> None:
        self.node_name = node_name
        self._send = send
        self._stopped = stopped
        self._key = key

    @property
    def idempotency_key(self) -> str:
        """A key naming this node execution, the same for each of its attempts and, in a
        checkpointed run, the same when a resume runs it again: hand it to a payment or
        model API that deduplicates requests, so a retried or resumed call happens once.

        `"<workflow id>/<node path>#<execution>"` in a checkpointed run; else the run id
        takes the workflow id's place."""
        return self._key()

    def stream(self, chunk: Any) -> None:
        """Deliver `chunk` to the run's consumers now, without changing the return value."""
        self._send(chunk)

    @property
    def stop_requested(self) -> bool:
        """True once somebody asked the run to stop: finish early if you can."""
        return self._stopped()
