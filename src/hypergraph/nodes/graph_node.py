"""GraphNode: a whole graph used as one node of another graph."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import GraphConfigError
from .base import HyperNode

if TYPE_CHECKING:
    from ..graph.graph import Graph


class GraphNode(HyperNode):
    """A graph as a node: its inputs and outputs are the inner graph's."""

    def __init__(self, graph: Graph, name: str | None = None) -> None:
        name = name or graph.name
        if not name:
            raise GraphConfigError(
                "A graph used as a node needs a name, and this graph has none.\n"
                'How to fix: Graph([...], name="rag").as_node() or graph.as_node(name="rag").'
            )
        self.graph = graph
        self.name = name
        spec = graph.inputs
        self.inputs = self._params = spec.all
        self.defaults: dict[str, Any] = {}
        self.outputs = graph.outputs
        self.is_async = graph.has_async_nodes
        self.is_generator = False
