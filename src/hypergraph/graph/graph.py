"""Graph: nodes wired by name, validated and compiled once when it is made."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from .._introspect import wrong_kind_message
from .._names import quoted, suggest
from ..engine.plan import Plan
from ..errors import GraphConfigError, NodeTypeError
from ..nodes.base import HyperNode
from . import validation
from .inputs import InputSpec, context_hint, input_spec, option_hint, start_values

if TYPE_CHECKING:
    from ..nodes.graph_node import GraphNode


class Graph:
    """Functions wired into a graph: an output named `x` feeds every parameter named `x`.

    >>> from hypergraph import node
    >>> @node(output_name="doubled")
    ... def double(x: int) -> int:
    ...     return 2 * x
    >>> g = Graph([double])
    >>> g.inputs.required, g.outputs
    (('x',), ('doubled',))
    """

    name: str | None
    inputs: InputSpec
    outputs: tuple[str, ...]

    def __init__(
        self,
        nodes: Sequence[HyperNode],
        *,
        name: str | None = None,
        entrypoint: str | HyperNode | Iterable[str | HyperNode] | None = None,
        strict_types: bool = False,
    ) -> None:
        all_nodes = validation.check_nodes(nodes)
        validation.check_gates(all_nodes)
        full = Plan(all_nodes)
        validation.check_producers(full)
        validation.check_defaults(all_nodes)
        validation.check_gate_free_cycles(all_nodes)
        if strict_types:
            validation.check_types(all_nodes)
        if name is not None and (not isinstance(name, str) or not name or "/" in name):
            raise GraphConfigError(
                f"Graph name {name!r} is not usable: a name is a non-empty string without '/'."
            )
        self._all = all_nodes
        self._full = full
        self.name = name
        self.strict_types = strict_types
        self._entrypoint = self._entry_names(entrypoint)
        self._selected: tuple[str, ...] | None = None
        self._bound: dict[str, Any] = {}
        self._compile()

    # -- structure ----------------------------------------------------------------------

    @property
    def nodes(self) -> Mapping[str, HyperNode]:
        """Every node of the graph, by name, in graph order."""
        return MappingProxyType({n.name: n for n in self._all})

    @property
    def has_cycles(self) -> bool:
        return any(self._plan.is_cycle)

    @property
    def has_async_nodes(self) -> bool:
        return self._has_async

    @property
    def entrypoint(self) -> tuple[str, ...]:
        return self._entrypoint

    # -- derived graphs -----------------------------------------------------------------

    def bind(self, **values: Any) -> Graph:
        """A copy with these inputs pre-filled; values given to `run` override them."""
        allowed = set(self.inputs.all) | set(self._bound)
        for name in values:
            if name not in allowed and not self._plan.seedable(name):
                producer = self._plan.producers.get(name)
                why = (
                    f"node '{self._plan.nodes[producer[0]].name}' produces it"
                    if producer
                    else "no node reads it"
                )
                hint = (
                    option_hint(name, "bind")
                    or suggest(name, allowed)
                    or context_hint(name, self._all)
                )
                raise GraphConfigError(
                    f"Cannot bind '{name}': {why}.{hint}\n"
                    f"Bindable inputs: {quoted(self.inputs.all)}."
                )
        return self._derive(_bound={**self._bound, **values})

    def select(self, *names: str) -> Graph:
        """A copy that returns only `names` and runs only the nodes needed for them."""
        if len(names) == 1 and not isinstance(names[0], str) and isinstance(names[0], Iterable):
            names = tuple(names[0])
        produced = [o for n in self._all for o in n.outputs]
        for name in names:
            if name not in produced:
                raise GraphConfigError(
                    f"Cannot select '{name}': no node produces it.{suggest(name, produced)}\n"
                    f"Outputs: {quoted(dict.fromkeys(produced))}."
                )
        return self._derive(_selected=tuple(dict.fromkeys(names)))

    def with_entrypoint(self, *nodes: str | HyperNode) -> Graph:
        """A copy that starts at `nodes`; nodes upstream of them do not run."""
        return self._derive(_entrypoint=self._entry_names(nodes))

    def as_node(self, name: str | None = None) -> GraphNode:
        """This graph as one node of another graph."""
        from ..nodes.graph_node import GraphNode

        return GraphNode(self, name=name)

    # -- pictures -----------------------------------------------------------------------

    def to_mermaid(self, *, direction: str = "TD") -> str:
        r"""Mermaid flowchart text of this graph: inputs, nodes, data edges, gates with a
        labelled edge to each declared target and END, cycles, nested graphs as subgraphs.

        Paste it into Markdown (GitHub renders it) or any Mermaid viewer; making it needs
        no network. `direction` is "TD" (top-down), "LR", "BT" or "RL".

        >>> from hypergraph import node
        >>> @node(output_name="doubled")
        ... def double(x: int) -> int:
        ...     return 2 * x
        >>> print(Graph([double]).to_mermaid(), end="")
        flowchart TD
            i1[/"x"/]:::hgInput
            n2["double"]
            r3[\"doubled"\]:::hgOutput
            i1 --> n2
            n2 --> r3
            classDef hgInput fill:#e8f1fb,stroke:#4a7fc1
            classDef hgOutput fill:#f1eafd,stroke:#7a4fc1
        """
        from .mermaid import to_mermaid

        return to_mermaid(self, direction=direction)

    # -- internals ----------------------------------------------------------------------

    def _derive(self, **changes: Any) -> Graph:
        clone = copy.copy(self)
        clone.__dict__.update(changes)
        clone._compile()
        return clone

    def _compile(self) -> None:
        active = self._active()
        self._plan = (
            self._full
            if active == self._all and not self._entrypoint
            else Plan(active, self._entrypoint)
        )
        if self._entrypoint:
            # Starting past a gate can let producers that it kept apart both run.
            validation.check_producers(self._plan, self._entrypoint)
        self._has_async = any(n.is_async for n in self._plan.nodes)
        self.inputs = input_spec(self._plan, self._bound)
        # For the common run: every name a plain input (no seeds), every required one given.
        self._plain_inputs = frozenset(self.inputs.all) - self._plan.producers.keys()
        self._required = frozenset(self.inputs.required)
        self.outputs = self._selected or tuple(
            dict.fromkeys(o for n in self._plan.nodes for o in n.outputs)
        )

    def _active(self) -> tuple[HyperNode, ...]:
        full = self._full
        keep = set(range(len(self._all)))
        if self._entrypoint:
            keep = _closure([full.index[e] for e in self._entrypoint], full.succs)
        if self._selected:
            wanted = [p for s in self._selected for p in full.producers[s] if p in keep]
            preds = [tuple(p for p in ps if p in keep) for ps in full.preds]
            keep = _closure(wanted, preds)
        return tuple(n for i, n in enumerate(self._all) if i in keep)

    def _entry_names(
        self, entrypoint: str | HyperNode | Iterable[str | HyperNode] | None
    ) -> tuple[str, ...]:
        if entrypoint is None:
            return ()
        wrong_kind = wrong_kind_message(entrypoint, "The entrypoint")
        if wrong_kind:
            raise NodeTypeError(wrong_kind)
        if isinstance(entrypoint, str | HyperNode):
            items: list[object] = [entrypoint]
        elif isinstance(entrypoint, Iterable):
            items = list(entrypoint)
        else:
            items = [entrypoint]
        if not items:
            # An empty entrypoint reads as "start nowhere"; silently running the whole
            # graph instead would hide the mistake.
            raise GraphConfigError(
                "An entrypoint needs at least one node, got none.\n"
                "How to fix: name the nodes to start at, e.g. graph.with_entrypoint"
                '("retrieve"), or leave entrypoint out to start wherever the values allow.'
            )
        names = []
        for item in items:
            wrong_kind = wrong_kind_message(item, "The entrypoint")
            if wrong_kind:
                raise NodeTypeError(wrong_kind)
            name = item.name if isinstance(item, HyperNode) else item
            if not isinstance(name, str) or name not in self._full.index:
                raise GraphConfigError(
                    f"Entrypoint '{name}' is not a node of this graph."
                    f"{suggest(str(name), self._full.index)}\n"
                    f"Nodes: {quoted(self._full.index)}."
                )
            names.append(name)
        return tuple(dict.fromkeys(names))

    def _start_values(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """The values a run starts with, bound ones included; raises if they do not fit."""
        keys = values.keys()
        if self._required <= keys and keys <= self._plain_inputs:
            return {**self._bound, **values} if self._bound else dict(values)
        return start_values(self._plan, self.inputs, self._all, values)

    def __repr__(self) -> str:
        label = f"'{self.name}'" if self.name else "unnamed"
        return f"Graph({label}, nodes={list(self.nodes)!r})"


def _closure(start: Iterable[int], edges: Sequence[Sequence[int]]) -> set[int]:
    seen = set(start)
    todo = list(seen)
    while todo:
        for nxt in edges[todo.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen
