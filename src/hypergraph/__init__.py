"""hypergraph: plain functions wired into graphs by name, run sync or async, streamed live.

>>> from hypergraph import Graph, node, SyncRunner
>>> @node(output_name="greeting")
... def greet(name: str) -> str:
...     return f"Hello, {name}"
>>> SyncRunner().run(Graph([greet]), name="Ada")["greeting"]
'Hello, Ada'
"""

from typing import TYPE_CHECKING, Any

from .errors import (
    GraphConfigError,
    HypergraphError,
    IncompatibleRunnerError,
    InfiniteLoopError,
    MissingInputError,
    NodeTimeoutError,
    RenameError,
)
from .events.processor import AsyncEventProcessor, EventProcessor, TypedEventProcessor
from .events.types import (
    InterruptEvent,
    NodeEndEvent,
    NodeErrorEvent,
    NodeRetryEvent,
    NodeStartEvent,
    RouteDecisionEvent,
    RunEndEvent,
    RunStartEvent,
    RunStatus,
    StopRequestedEvent,
    StreamingChunkEvent,
)
from .graph.graph import Graph
from .graph.inputs import InputSpec
from .nodes.context import NodeContext
from .nodes.function import FunctionNode, node
from .nodes.gate import END, IfElseNode, RouteNode, ifelse, route
from .nodes.graph_node import GraphNode
from .nodes.interrupt import InterruptNode, interrupt
from .run.result import MapResult, PauseInfo, RunResult
from .runners.sync import SyncRunner

if TYPE_CHECKING:
    from .durable.cache import InMemoryCache
    from .durable.checkpoint import MemoryCheckpointer
    from .durable.checkpoint_sqlite import SqliteCheckpointer
    from .durable.disk_cache import DiskCache
    from .nodes.retry import RetryPolicy
    from .runners.async_ import AsyncRunner


def __getattr__(name: str) -> Any:
    # AsyncRunner (and with it asyncio) and the cache stores (hashlib, pickle, sqlite3)
    # load on first use: `import hypergraph` stays light for programs that do not use them.
    if name == "AsyncRunner":
        from .runners.async_ import AsyncRunner

        return AsyncRunner
    if name == "RetryPolicy":
        from .nodes.retry import RetryPolicy

        return RetryPolicy
    if name == "InMemoryCache":
        from .durable.cache import InMemoryCache

        return InMemoryCache
    if name == "DiskCache":
        from .durable.disk_cache import DiskCache

        return DiskCache
    if name == "MemoryCheckpointer":
        from .durable.checkpoint import MemoryCheckpointer

        return MemoryCheckpointer
    if name == "SqliteCheckpointer":
        from .durable.checkpoint_sqlite import SqliteCheckpointer

        return SqliteCheckpointer
    raise AttributeError(f"module 'hypergraph' has no attribute '{name}'")


__all__ = [
    "END",
    "AsyncEventProcessor",
    "AsyncRunner",
    "DiskCache",
    "EventProcessor",
    "FunctionNode",
    "Graph",
    "GraphConfigError",
    "GraphNode",
    "HypergraphError",
    "IfElseNode",
    "InMemoryCache",
    "IncompatibleRunnerError",
    "InfiniteLoopError",
    "InputSpec",
    "InterruptEvent",
    "InterruptNode",
    "MapResult",
    "MemoryCheckpointer",
    "MissingInputError",
    "NodeContext",
    "NodeEndEvent",
    "NodeErrorEvent",
    "NodeRetryEvent",
    "NodeStartEvent",
    "NodeTimeoutError",
    "PauseInfo",
    "RenameError",
    "RetryPolicy",
    "RouteDecisionEvent",
    "RouteNode",
    "RunEndEvent",
    "RunResult",
    "RunStartEvent",
    "RunStatus",
    "SqliteCheckpointer",
    "StopRequestedEvent",
    "StreamingChunkEvent",
    "SyncRunner",
    "TypedEventProcessor",
    "ifelse",
    "interrupt",
    "node",
    "route",
]
