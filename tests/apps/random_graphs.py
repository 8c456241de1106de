"""A seeded generator of valid random graphs: gates, END, cycles, nesting, hostile names.

`random_graph(rng, depth)` returns a graph that `Graph(...)` accepted. It builds
candidates at random and keeps the first one that validates, so the graphs cover what
users can build (gates to earlier nodes make cycles, a node may read its own output,
nested graphs are mapped or bound) without re-deriving the validation rules here.

Names come from a pool chosen to break naive diagram text: Mermaid keywords (`end`),
quotes, brackets, HTML, entity look-alikes, comment markers, arrows, newlines, emoji.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

from hypergraph import END, FunctionNode, Graph, GraphConfigError, GraphNode, IfElseNode, RouteNode
from hypergraph.nodes.base import HyperNode

HOSTILE = [
    "end", "END", "End", "subgraph", "graph", "flowchart", "style", "classDef", "class",
    "click", "default", "direction", "linkStyle", 'say "hi"', "it's", "a[b]", "x{y}",
    "(round)", "((c))", "[[s]]", "[/p/]", "<b>bold</b>", "<script>alert(1)</script>", "a|b",
    "|pipe|", "50% done", "%% not a comment", "#35;", "#quot;", "&amp;", "a;b", "x --> y",
    "A-.->B", "==>", "o", "x", "日本語", "émoji 🚀", "`md`", "a\\b", ":::hgGate",
    "@{ shape: circle }", "two  spaces", "line\nbreak", "tab\there", "__proto__",
    "constructor", "null", "π ≈ 3.14", "-", "_", "1", "e1@", "A&B", "s1", "n2",
]  # fmt: skip
PLAIN = ["fetch", "embed", "search", "answer", "messages", "query", "docs", "score", "tokens"]


def _a1(a: Any) -> Any:
    return a


def _a2(a: Any, b: Any) -> Any:
    return a


def _a3(a: Any, b: Any, c: Any) -> Any:
    return a


def _d1(a: Any = None) -> Any:
    return a


def _d2(a: Any, b: Any = None) -> Any:
    return a


def _d3(a: Any, b: Any, c: Any = None) -> Any:
    return a


def _g1(a: Any) -> Iterator[Any]:
    yield a


def _g2(a: Any, b: Any) -> Iterator[Any]:
    yield a


def _g3(a: Any, b: Any, c: Any = None) -> Iterator[Any]:
    yield a


PLAIN_FUNCS = {1: (_a1, _d1), 2: (_a2, _d2), 3: (_a3, _d3)}
GEN_FUNCS = {1: (_g1,), 2: (_g2,), 3: (_g3,)}
PARAMS = ("a", "b", "c")


class _Names:
    """Names unique within one graph level, drawn from the hostile and plain pools."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.used: set[str] = set()

    def new(self) -> str:
        base = self.rng.choice(HOSTILE if self.rng.random() < 0.7 else PLAIN)
        name, k = base, 2
        while name in self.used:
            name, k = f"{base} {k}", k + 1
        self.used.add(name)
        return name


def random_graph(rng: random.Random, depth: int) -> Graph:
    """A valid graph with nested graphs down to `depth` more levels."""
    while True:
        try:
            return _attempt(rng, depth)
        except GraphConfigError:
            continue


def _attempt(rng: random.Random, depth: int) -> Graph:
    names = _Names(rng)
    # Small levels: mermaid.js lays out about a hundred boxes a second on a busy CI
    # machine, and 200 pictures must render well within a minute.
    count = rng.randint(2, 3) if depth >= 3 else rng.randint(1, 2)
    slots = [names.new() for _ in range(count)]
    nested = 4 if depth > 0 else 0
    kinds = [
        rng.choices(
            ["fn", "gen", "route", "ifelse", "nested"],
            weights=[4, 2, 2, 1, nested] if count > 1 else [4, 2, 0, 0, nested],
        )[0]
        for _ in slots
    ]
    produced = [[] if k in ("route", "ifelse") else [names.new()] for k in kinds]
    fresh: list[str] = []

    def pick(i: int, taken: set[str]) -> str:
        """A value for node `i` to read, different from the ones it already reads."""
        earlier = [v for j in range(i) for v in produced[j] if v not in taken]
        later = [v for j in range(i + 1, count) for v in produced[j] if v not in taken]
        own = [v for v in produced[i][:1] if v not in taken]
        given = [v for v in fresh if v not in taken]
        r = rng.random()
        if earlier and r < 0.55:
            value = rng.choice(earlier)
        elif later and r < 0.65:
            value = rng.choice(later)  # a value from downstream: a cycle (needs a gate)
        elif own and r < 0.68:
            value = own[0]  # reads its own output: an accumulator
        elif given and r < 0.8:
            value = rng.choice(given)
        else:
            value = names.new()
            fresh.append(value)
        taken.add(value)
        return value

    def targets(i: int, k: int) -> list[Any]:
        others = [s for j, s in enumerate(slots) if j != i]
        chosen: list[Any] = rng.sample(others, min(k, len(others)))
        if rng.random() < 0.5 or not chosen:
            chosen.append(END)
        return chosen

    nodes: list[HyperNode] = []
    for i, (slot, kind) in enumerate(zip(slots, kinds, strict=True)):
        node: HyperNode
        if kind == "nested":
            node = _nested(rng, depth, slot)
            node = node.with_outputs({o: names.new() for o in node.outputs})
            produced[i] = list(node.outputs)
            taken: set[str] = set()
            node = node.with_inputs({p: pick(i, taken) for p in node.inputs})
            if node.inputs and rng.random() < 0.3:
                node = node.map_over(rng.choice(node.inputs), mode=rng.choice(["zip", "product"]))
        else:
            arity = rng.choice((1, 1, 2, 3))
            taken = set()
            reads = {PARAMS[k]: pick(i, taken) for k in range(arity)}
            if kind == "route":
                chosen = targets(i, rng.randint(1, 3))
                fallback = rng.choice([None, None, chosen[0]])
                node = RouteNode(PLAIN_FUNCS[arity][0], chosen, fallback=fallback, name=slot)
            elif kind == "ifelse":
                yes, no = [*targets(i, 2), END][:2]
                node = IfElseNode(PLAIN_FUNCS[arity][0], yes, no, name=slot)
            else:
                pool = GEN_FUNCS if kind == "gen" else PLAIN_FUNCS
                func = rng.choice(pool[arity])
                node = FunctionNode(func, name=slot, output_name=produced[i][0])
            node = node.with_inputs(reads)
        nodes.append(node)
    return Graph(nodes)


def _nested(rng: random.Random, depth: int, name: str) -> GraphNode:
    inner = random_graph(rng, depth - 1)
    if inner.inputs.all and rng.random() < 0.3:
        inner = inner.bind(**{rng.choice(inner.inputs.all): 0})
    return inner.as_node(name=name)


def nesting_depth(graph: Graph) -> int:
    """How many levels of nested graphs `graph` holds (0 for a flat graph)."""
    inner = [nesting_depth(n.graph) for n in graph.nodes.values() if isinstance(n, GraphNode)]
    return 1 + max(inner) if inner else 0
