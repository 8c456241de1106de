"""Mermaid flowchart text of a graph: what `Graph.to_mermaid()` returns.

The picture is drawn from the declarations alone, never from a run: data edges come
from output and parameter names, gate edges from each gate's declared targets (route
`targets`, ifelse `when_true` / `when_false`), so a conditional edge is never guessed.

Legend:

- graph inputs are parallelograms (`[/"x"/]`); optional and bound ones say so and
  have a dashed border;
- function nodes are rectangles, streaming (generator) nodes have double side bars
  (`[["tokens"]]`), gates are diamonds, interrupts (a human answers) are hexagons;
- a data edge is a solid arrow labelled with the value(s) it carries; a gate edge is
  a dotted arrow labelled with what the gate returns to take it (a target name,
  `END`, `True` / `False`, `(fallback)`);
- a nested graph (`GraphNode`, mapped or not) is a subgraph drawn recursively;
  edges of the outer graph end at its border;
- each graph that can route to END gets its own END circle;
- the top graph's results are the outputs no node reads (and, after `select`, the
  selected ones), drawn as slanted boxes.

Every node gets a generated id (`n3`, `s1`, ...) and every user-given name appears
only inside a quoted label with every character that Mermaid could read as syntax
written as an entity (`#34;`), so no name (`end`, quotes, brackets, `<b>`, `%%`,
newlines) can break the diagram. Pure text, standard library, no network.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from ..errors import GraphConfigError
from ..nodes.base import HyperNode
from ..nodes.gate import END, GateNode, IfElseNode, RouteNode
from ..nodes.graph_node import GraphNode
from ..nodes.interrupt import InterruptNode

if TYPE_CHECKING:
    from .graph import Graph

DIRECTIONS = ("TD", "TB", "BT", "LR", "RL")

# Characters written as themselves inside a quoted label; any other ASCII character
# becomes an entity, because inside quotes Mermaid still reads `<` as HTML, `#...;` and
# `&...;` as entities and backticks as Markdown. Letters and digits of other scripts
# stay readable: they are never syntax.
_SAFE = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 _-.,:'()/?!=+*@$~"
)

_CLASSES = (
    "classDef hgInput fill:#e8f1fb,stroke:#4a7fc1",
    "classDef hgOptional fill:#f6f6f6,stroke:#8c8c8c,stroke-dasharray:4 3",
    "classDef hgStream fill:#eaf7e6,stroke:#3c9a2f,stroke-width:2px",
    "classDef hgGate fill:#fff4dc,stroke:#c98a00",
    "classDef hgAsk fill:#fde8ec,stroke:#c1414f",
    "classDef hgEnd fill:#3b3b3b,stroke:#3b3b3b,color:#ffffff",
    "classDef hgOutput fill:#f1eafd,stroke:#7a4fc1",
)


def to_mermaid(graph: Graph, *, direction: str = "TD") -> str:
    """Mermaid flowchart text of `graph` (see the module docstring for the legend)."""
    if direction not in DIRECTIONS:
        raise GraphConfigError(
            f"to_mermaid(direction={direction!r}) is not a Mermaid direction.\n"
            f"How to fix: use one of {', '.join(repr(d) for d in DIRECTIONS)} "
            "('TD' top-down, 'LR' left to right)."
        )
    writer = _Writer()
    writer.line(0, f"flowchart {direction}")
    writer.graph(graph, depth=1, top=True)
    text = "\n".join(writer.lines)
    for style in _CLASSES:
        if f":::{style.split()[1]}" in text:
            writer.line(1, style)
    return "\n".join(writer.lines) + "\n"


def label(text: str) -> str:
    """`text` as a quoted Mermaid label that renders as exactly `text`.

    >>> label('say "end"')
    '"say #34;end#34;"'
    """
    return '"' + "".join(_char(c) for c in text) + '"'


def _char(c: str) -> str:
    if c in _SAFE or (c.isalnum() and not c.isascii()):
        return c
    # Mermaid turns `#<code>;` into the HTML entity `&#<code>;` after parsing.
    return f"#{ord(c)};"


class _Writer:
    """Collects the lines of one diagram and hands out ids unique across all levels."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self._count = 0

    def line(self, depth: int, text: str) -> None:
        self.lines.append("    " * depth + text)

    def new_id(self, prefix: str) -> str:
        self._count += 1
        return f"{prefix}{self._count}"

    def graph(self, graph: Graph, depth: int, top: bool) -> None:
        """Declare the inputs, nodes, subgraphs and END of one level, then its edges."""
        # The nodes a run of this graph would run: after `select` or `with_entrypoint`
        # that is fewer than `graph.nodes`, and the picture shows what runs.
        nodes = graph._plan.nodes
        ids: dict[str, str] = {}
        edges: list[str] = []

        inputs = self._inputs(graph, depth)
        for n in nodes:
            if isinstance(n, GraphNode):
                ids[n.name] = self.new_id("s")
                self.line(depth, f"subgraph {ids[n.name]} [{label(_graph_title(n))}]")
                self.graph(n.graph, depth + 1, top=False)
                self.line(depth, "end")
            else:
                ids[n.name] = self.new_id("n")
                self.line(depth, _node_line(n, ids[n.name]))

        end_id = None
        if any(isinstance(n, GateNode) and END in n.targets for n in nodes):
            end_id = self.new_id("e")
            self.line(depth, f'{end_id}(("END")):::hgEnd')

        edges.extend(_data_edges(nodes, ids, inputs))
        for n in nodes:
            if isinstance(n, GateNode):
                edges.extend(_gate_edges(n, ids, end_id))
        if top:
            for name, producers in _results(graph, nodes).items():
                out_id = self.new_id("r")
                self.line(depth, f"{out_id}[\\{label(name)}\\]:::hgOutput")
                edges.extend(f"{ids[p]} --> {out_id}" for p in producers)
        for edge in edges:
            self.line(depth, edge)

    def _inputs(self, graph: Graph, depth: int) -> dict[str, str]:
        ids: dict[str, str] = {}
        spec = graph.inputs
        for name in spec.all:
            ids[name] = self.new_id("i")
            if name in spec.bound:
                text, style = f"{name} (bound)", "hgOptional"
            elif name in spec.optional:
                text, style = f"{name} (optional)", "hgOptional"
            else:
                text, style = name, "hgInput"
            self.line(depth, f"{ids[name]}[/{label(text)}/]:::{style}")
        return ids


def _node_line(n: HyperNode, node_id: str) -> str:
    if isinstance(n, GateNode):
        return f"{node_id}{{{label(n.name)}}}:::hgGate"
    if n.is_generator:
        return f"{node_id}[[{label(n.name)}]]:::hgStream"
    if isinstance(n, InterruptNode):
        return f"{node_id}{{{{{label(n.name)}}}}}:::hgAsk"
    return f"{node_id}[{label(n.name)}]"


def _graph_title(n: GraphNode) -> str:
    if not n.map_params:
        return n.name
    over = ", ".join(n.map_params)
    return f"{n.name} (map over {over}, {n.map_mode})"


def _data_edges(
    nodes: tuple[HyperNode, ...], ids: dict[str, str], inputs: dict[str, str]
) -> Iterator[str]:
    """One arrow per (source, consumer) pair, labelled with every value it carries."""
    producers: dict[str, list[str]] = {}
    for n in nodes:
        for out in n.outputs:
            producers.setdefault(out, []).append(n.name)
    carried: dict[tuple[str, str], list[str]] = {}
    for n in nodes:
        for name in n.inputs:
            if name in inputs:
                carried.setdefault((inputs[name], ids[n.name]), [])
            for p in producers.get(name, ()):
                carried.setdefault((ids[p], ids[n.name]), []).append(name)
    for (src, dst), names in carried.items():
        yield f"{src} -->|{label(', '.join(names))}| {dst}" if names else f"{src} --> {dst}"


def _gate_edges(gate: GateNode, ids: dict[str, str], end_id: str | None) -> Iterator[str]:
    src = ids[gate.name]
    for target in gate.targets:
        dst = end_id if target is END else ids.get(str(target))
        if dst is None:
            continue  # a target left out by `select` / `with_entrypoint` does not run
        yield f"{src} -.->|{label(_gate_choice(gate, target))}| {dst}"


def _gate_choice(gate: GateNode, target: object) -> str:
    """What the gate returns to send control to `target`."""
    if isinstance(gate, IfElseNode):
        branches = ((True, gate.when_true), (False, gate.when_false))
        return " / ".join(str(v) for v, t in branches if t == target)
    text = "END" if target is END else str(target)
    if isinstance(gate, RouteNode) and gate.fallback == target:
        text += " (fallback)"
    return text


def _results(graph: Graph, nodes: tuple[HyperNode, ...]) -> dict[str, list[str]]:
    """The outputs drawn as results, with the nodes that produce each."""
    read = {name for n in nodes for name in n.inputs}
    produced = {out for n in nodes for out in n.outputs}
    selected = set(graph.outputs) != produced
    return {
        name: [n.name for n in nodes if name in n.outputs]
        for name in graph.outputs
        if selected or name not in read
    }
