"""The exceptions hypergraph raises on its own account.

Every message says what is wrong, why it matters and how to fix it, and names the
node or parameter involved in quotes. Structured attributes (`err.missing`,
`err.node`) carry the same facts for code. A node's own exception is never wrapped:
with `error_handling="raise"` the runner re-raises the very object the node raised.
"""

from __future__ import annotations

from collections.abc import Iterable


class HypergraphError(Exception):
    """Root of every error hypergraph raises itself."""


class GraphConfigError(HypergraphError, ValueError):
    """A node or graph is built wrongly: found when it is made, before anything runs."""


class NodeTypeError(GraphConfigError, TypeError):
    """A node was made from the wrong kind of object.

    An `async def` or generator function as a gate, something that is not a function,
    or a graph where a node belongs. Both a GraphConfigError and a TypeError.
    """


class RenameError(GraphConfigError):
    """A rename names something the node does not have, or collides with a name it has."""


class MissingInputError(HypergraphError, ValueError):
    """A run was started without values that some node needs and nothing else provides."""

    def __init__(self, message: str, missing: Iterable[str]) -> None:
        super().__init__(message)
        self.missing: list[str] = list(missing)


class InputValueError(HypergraphError, ValueError):
    """Run values that do not fit the graph: unknown names, or values for produced names."""

    def __init__(self, message: str, names: Iterable[str]) -> None:
        super().__init__(message)
        self.names: list[str] = list(names)


class NodeOutputError(HypergraphError, ValueError):
    """A node returned something its declaration does not allow (wrong tuple length, bad route)."""

    def __init__(self, message: str, node: str) -> None:
        super().__init__(message)
        self.node = node


class InfiniteLoopError(HypergraphError, RuntimeError):
    """A node was asked to run more than `max_iterations` times in one run."""

    def __init__(self, message: str, node: str, max_iterations: int) -> None:
        super().__init__(message)
        self.node = node
        self.max_iterations = max_iterations


class IncompatibleRunnerError(HypergraphError, TypeError):
    """The graph needs something this runner cannot do (async nodes on SyncRunner)."""

    def __init__(self, message: str, nodes: Iterable[str] = ()) -> None:
        super().__init__(message)
        self.nodes: list[str] = list(nodes)


class LoopBlockedWarning(RuntimeWarning):
    """An `async def` node held the event loop (a blocking call inside it): every other
    node, stream and consumer of the loop waited. Issued once per node."""


class NodeTimeoutError(HypergraphError, TimeoutError):
    """A node's attempt took longer than its `timeout=`, or went longer than its
    `idle_timeout=` without a chunk. A RetryPolicy may retry it."""

    def __init__(self, message: str, *, node: str, seconds: float, kind: str) -> None:
        super().__init__(message)
        self.node = node
        self.seconds = seconds
        self.kind = kind  # "timeout" or "idle_timeout"
