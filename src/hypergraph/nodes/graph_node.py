"""GraphNode: a whole graph used as one node of another graph.

Its inputs and outputs are the inner graph's (after the inner `select` and `bind`),
under names that renames may change; `_params` and `inner_outputs` keep the inner
name of each port. It runs with the outer runner: same concurrency cap, stop signal
and event listeners.
"""

from __future__ import annotations

import inspect
import itertools
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from .._introspect import needs_copy
from .._names import quoted, suggest
from ..errors import GraphConfigError, InputValueError
from .base import HyperNode, check_node_name

if TYPE_CHECKING:
    from ..graph.graph import Graph

MAP_MODES = ("zip", "product")
ERROR_MODES = ("raise", "continue")


class GraphNode(HyperNode):
    """A graph as a node. Make one with `graph.as_node()`.

    >>> from hypergraph import Graph, SyncRunner, node
    >>> @node(output_name="hits")
    ... def search(query: str) -> list[str]:
    ...     return [query.upper()]
    >>> @node(output_name="answer")
    ... def answer(hits: list[str]) -> str:
    ...     return hits[0]
    >>> retrieve = Graph([search], name="retrieve").as_node()
    >>> SyncRunner().run(Graph([retrieve, answer]), query="q")["answer"]
    'Q'
    """

    def __init__(self, graph: Graph, name: str | None = None) -> None:
        name = name or graph.name
        if not name:
            raise GraphConfigError(
                "A graph used as a node needs a name, and this graph has none.\n"
                'How to fix: Graph([...], name="rag").as_node() or graph.as_node(name="rag").'
            )
        check_node_name(name)
        self.graph = graph
        self.name = name
        spec = graph.inputs
        self.inputs = self._params = spec.all
        self.defaults = _inner_defaults(graph)
        self.copied_defaults = frozenset(k for k, v in self.defaults.items() if needs_copy(v))
        self.outputs = self.inner_outputs = graph.outputs
        self.is_async = graph.has_async_nodes
        self.is_generator = False
        self.map_params: tuple[str, ...] = ()
        self.map_mode = "zip"
        self.map_errors = "raise"

    def map_over(self, *params: str, mode: str = "zip", error_handling: str = "raise") -> GraphNode:
        """A copy that runs the inner graph once per item of the `params` lists.

        Each output becomes a list in item order. `mode="zip"` pairs the lists item by
        item (equal lengths); `"product"` runs every combination. With
        `error_handling="continue"` a failed item gives None in each output list.
        """
        if not params:
            raise GraphConfigError(f"map_over on '{self.name}' needs at least one input name.")
        for p in params:
            if p not in self.inputs:
                raise GraphConfigError(
                    f"Cannot map '{self.name}' over '{p}': it has no such input."
                    f"{suggest(p, self.inputs)}\nIts inputs are: {quoted(self.inputs)}."
                )
        if mode not in MAP_MODES:
            raise GraphConfigError(f"map_over mode={mode!r} is not one of 'zip', 'product'.")
        if error_handling not in ERROR_MODES:
            raise GraphConfigError(
                f"map_over error_handling={error_handling!r} is not one of 'raise', 'continue'."
            )
        clone = self.with_name(self.name)
        clone.map_params = tuple(dict.fromkeys(params))
        clone.map_mode = mode
        clone.map_errors = error_handling
        return clone

    def input_types(self) -> dict[str, list[tuple[str, Any]]]:
        """The annotations of the inner nodes that read each input, under their paths."""
        inner = self._inner_ports(lambda n: n.input_types())
        return {
            outer: self._typed(inner.get(param, []), mapped=outer in self.map_params)
            for outer, param in zip(self.inputs, self._params, strict=True)
        }

    def output_types(self) -> dict[str, list[tuple[str, Any]]]:
        """The annotations of the inner nodes that write each output, under their paths."""
        inner = self._inner_ports(lambda n: n.output_types())
        return {
            outer: self._typed(inner.get(name, []), mapped=bool(self.map_params), out=True)
            for outer, name in zip(self.outputs, self.inner_outputs, strict=True)
        }

    def _inner_ports(
        self, ports_of: Callable[[HyperNode], dict[str, list[tuple[str, Any]]]]
    ) -> dict[str, list[tuple[str, Any]]]:
        ports: dict[str, list[tuple[str, Any]]] = {}
        for n in self.graph._plan.nodes:  # the nodes a run of the inner graph can run
            for name, entries in ports_of(n).items():
                ports.setdefault(name, []).extend(entries)
        return ports

    def _typed(
        self, entries: list[tuple[str, Any]], *, mapped: bool, out: bool = False
    ) -> list[tuple[str, Any]]:
        result = []
        for who, t in entries:
            if mapped and t is not inspect.Parameter.empty:
                # Mapped: the outer value is a sequence of items; each output a list.
                t = list[t] if out else Sequence[t]  # type: ignore[valid-type]
            result.append((f"{self.name}/{who}", t))
        return result

    def _rename_inputs(self, changes: dict[str, str]) -> None:
        super()._rename_inputs(changes)
        self.copied_defaults = frozenset(changes.get(k, k) for k in self.copied_defaults)
        self.map_params = tuple(changes.get(p, p) for p in self.map_params)


def map_items(
    who: str, values: dict[str, Any], over: Sequence[str], mode: str
) -> list[dict[str, Any]]:
    """The value dicts of a map, one per item; shared values appear in every item."""
    lists: dict[str, Sequence[Any]] = {}
    for name in over:
        value = values[name]
        if isinstance(value, str | bytes) or not isinstance(value, Sequence):
            raise InputValueError(
                f"'{who}' maps over '{name}', so '{name}' must be a list (or another "
                f"sequence), got {type(value).__name__} {value!r:.40}.\n"
                f"How to fix: pass a list, e.g. {name}=[...].",
                names=[name],
            )
        lists[name] = value
    if mode == "zip":
        lengths = {name: len(v) for name, v in lists.items()}
        if len(set(lengths.values())) > 1:
            detail = ", ".join(f"'{n}' has {k}" for n, k in lengths.items())
            raise InputValueError(
                f"'{who}' zips {quoted(lists)} item by item, but their lengths differ: "
                f'{detail}.\nHow to fix: give lists of equal length, or use mode="product" '
                "for every combination.",
                names=list(lists),
            )
        rows: Any = zip(*lists.values(), strict=True)
    else:
        rows = itertools.product(*lists.values())
    shared = {k: v for k, v in values.items() if k not in lists}
    if len(lists) == 1:  # the usual map: one dict display per item, no zip of names
        ((name, items),) = lists.items()
        if not shared:
            return [{name: item} for item in items]
        return [{**shared, name: item} for item in items]
    return [{**shared, **dict(zip(lists, row, strict=True))} for row in rows]


def _inner_defaults(graph: Graph) -> dict[str, Any]:
    """Defaults of the optional inner inputs, so the outer graph knows they may be left out."""
    defaults: dict[str, Any] = dict(graph.inputs.bound)
    for node in graph.nodes.values():
        for name, value in node.defaults.items():
            if name in graph.inputs.optional:
                defaults.setdefault(name, value)
    return defaults
