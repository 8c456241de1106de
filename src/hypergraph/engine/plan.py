"""The compiled plan of a graph: everything a run needs, computed once per graph.

A plan numbers the nodes (in graph order) and precomputes who consumes what, which
gate controls which node, and how the graph breaks into *units*: a unit is a strongly
connected component, so either one node or one cycle. Between units the graph is a
DAG, and a node waits for each unit upstream of it with a plain counter (Kahn's
algorithm), so the cost of running a node does not grow with the size of the graph.

Inside a cycle, which edges go "forward" depends on where the cycle starts, and a
cycle starts from the nodes that are ready with the values given. `cycle_order`
computes that once per (cycle, seed names) and caches it.
"""

from __future__ import annotations

from collections.abc import Iterable
from types import CodeType
from typing import Any

from ..nodes.base import HyperNode
from ..nodes.gate import GateNode
from ..nodes.graph_node import GraphNode
from ..nodes.interrupt import InterruptNode

NO_DEFAULT: Any = object()


class CycleOrder:
    """How one cycle unit runs, given its entry nodes (computed once, then read-only)."""

    __slots__ = ("ancestors", "back", "entries", "forward_gated")

    def __init__(
        self,
        entries: tuple[int, ...],
        ancestors: dict[int, frozenset[int]],
        back: frozenset[tuple[int, int]],
        forward_gated: frozenset[int],
    ) -> None:
        self.entries = entries
        self.ancestors = ancestors
        """For each member, the members upstream of it along forward edges."""
        self.back = back
        """Edges (src, dst) that lead back to the start of the cycle: a write along one
        starts the next round (wave) rather than continuing the current one."""
        self.forward_gated = forward_gated
        """Members whose gate runs before them in the first round (they wait to be chosen)."""


class Plan:
    """Compiled structure of the nodes that a graph runs."""

    def __init__(self, nodes: tuple[HyperNode, ...], entrypoint: tuple[str, ...] = ()) -> None:
        self.nodes = nodes
        self.index = {n.name: i for i, n in enumerate(nodes)}
        self.entrypoint = frozenset(self.index[e] for e in entrypoint if e in self.index)
        count = len(nodes)
        self.is_gate = [isinstance(n, GateNode) for n in nodes]
        producers: dict[str, list[int]] = {}
        consumers: dict[str, list[int]] = {}
        for i, n in enumerate(nodes):
            for out in n.outputs:
                producers.setdefault(out, []).append(i)
            for inp in n.inputs:
                consumers.setdefault(inp, []).append(i)
        self.producers = {k: tuple(v) for k, v in producers.items()}
        self.consumers = {k: tuple(v) for k, v in consumers.items()}
        self.gate_targets: list[tuple[int, ...]] = [
            tuple(self.index[t] for t in n.targets if isinstance(t, str) and t in self.index)
            if isinstance(n, GateNode)
            else ()
            for n in nodes
        ]
        controllers: list[list[int]] = [[] for _ in range(count)]
        for g, targets in enumerate(self.gate_targets):
            for t in targets:
                controllers[t].append(g)
        self.controllers = [tuple(c) for c in controllers]
        self.gated = [bool(c) for c in controllers]

        preds: list[set[int]] = [set(c) for c in controllers]
        for i, n in enumerate(nodes):
            for inp in n.inputs:
                preds[i].update(p for p in producers.get(inp, ()) if p != i)
        self.preds = [tuple(sorted(p)) for p in preds]
        succs: list[list[int]] = [[] for _ in range(count)]
        for i, ps in enumerate(self.preds):
            for p in ps:
                succs[p].append(i)
        self.succs = [tuple(s) for s in succs]

        self.units = _strongly_connected(self.succs)
        self.unit_of = [0] * count
        for u, members in enumerate(self.units):
            for m in members:
                self.unit_of[m] = u
        self.is_cycle = [len(m) > 1 for m in self.units]
        self.unit_sizes = [len(m) for m in self.units]
        self.cycle_units = tuple(u for u, cyc in enumerate(self.is_cycle) if cyc)
        ext: list[set[int]] = [
            {self.unit_of[p] for p in self.preds[i]} - {self.unit_of[i]} for i in range(count)
        ]
        self.ext_count = [len(e) for e in ext]
        self.sources = tuple(i for i, c in enumerate(self.ext_count) if c == 0)
        notify: list[list[int]] = [[] for _ in self.units]
        for i, units in enumerate(ext):
            for u in units:
                notify[u].append(i)
        self.notify = [tuple(sorted(n)) for n in notify]
        self.produced_in: list[frozenset[str]] = [
            frozenset(o for m in members for o in nodes[m].outputs) for members in self.units
        ]
        self.cyclic = [self.is_cycle[u] for u in self.unit_of]
        # For a node in a cycle: the other members of its cycle that a write of its
        # re-triggers (gate-controlled members only run again when a gate chooses them).
        self.cycle_consumers = [
            tuple(
                sorted(
                    {
                        c
                        for out in n.outputs
                        for c in self.consumers.get(out, ())
                        if c != i and self.unit_of[c] == self.unit_of[i] and not self.gated[c]
                    }
                )
            )
            if self.cyclic[i]
            else ()
            for i, n in enumerate(nodes)
        ]
        # What filling a node's arguments needs: (input name, parameter name, default
        # or _NO_DEFAULT, whether the default must be copied per use).
        self.arg_specs: list[tuple[tuple[str, str, Any, bool], ...]] = [
            tuple(
                (
                    name,
                    param,
                    n.defaults.get(name, NO_DEFAULT),
                    name in n.copied_defaults,
                )
                for name, param in zip(n.inputs, n._params, strict=True)
            )
            for n in nodes
        ]
        # How runners call each node, decided once instead of on every run.
        self.context_params = [getattr(n, "context_param", None) for n in nodes]
        # Function nodes with one output: their result needs no shaping or checking.
        self.single_output = [
            n.outputs[0] if len(n.outputs) == 1 and _is_function(n) else None for n in nodes
        ]
        # Plain function nodes and gates: called with their arguments, nothing streamed,
        # no retry, timeout or cache to apply.
        # (An interrupt asks before it is called: it takes the general path.)
        self.plain = [
            hasattr(n, "func")
            and not n.is_generator
            and c is None
            and n.policy is None
            and not isinstance(n, InterruptNode)
            for n, c in zip(nodes, self.context_params, strict=True)
        ]
        # The interrupts, by the name their answer is given under; `asks`: an interrupt
        # here or in a nested graph (a run then sorts the answers out of its values).
        self.answers = {
            n.outputs[0]: i for i, n in enumerate(nodes) if isinstance(n, InterruptNode)
        }
        self.asks: bool = bool(self.answers) or any(
            n.graph._plan.asks for n in nodes if isinstance(n, GraphNode)
        )
        # The code of each `async def` node's function: how the loop watchdog recognises
        # a node that holds the event loop.
        self.async_codes: dict[CodeType, str] = {
            code: n.name
            for n in nodes
            if n.is_async and (code := getattr(getattr(n, "func", None), "__code__", None))
        }
        self.no_plain = [False] * count  # for runs whose every node takes the general path
        self._orders: dict[tuple[int, frozenset[str]], CycleOrder] = {}
        self.seeds = self._seed_names()

    # -- cycles -------------------------------------------------------------------------

    def cycle_order(self, unit: int, given: Iterable[str]) -> CycleOrder:
        """The order of a cycle unit when the run starts with values for `given` names."""
        key = (unit, self.produced_in[unit].intersection(given))
        order = self._orders.get(key)
        if order is None:
            order = self._orders[key] = self._order(unit, self._entries(unit, key[1]))
        return order

    def _entries(self, unit: int, seeded: frozenset[str]) -> tuple[int, ...]:
        members = self.units[unit]
        fixed = tuple(m for m in members if m in self.entrypoint)
        if fixed:
            return fixed
        inside = self.produced_in[unit]
        ready = tuple(
            m
            for m in members
            if all(
                i in seeded or i in self.nodes[m].defaults or i not in inside
                for i in self.nodes[m].inputs
            )
        )
        if ready:
            return ready
        heads = tuple(t for m in members for t in self.gate_targets[m] if t in members)
        return tuple(sorted(set(heads))) or (members[0],)

    def _order(self, unit: int, entries: tuple[int, ...]) -> CycleOrder:
        members = set(self.units[unit])
        inner = {m: sorted(s for s in self.succs[m] if s in members) for m in members}
        # Gates first, so a gate that is ready with its targets decides before they run.
        roots = sorted(entries, key=lambda i: (not self.is_gate[i], i))
        roots += sorted(members - set(entries))
        state = dict.fromkeys(members, 0)  # 0 unseen, 1 on the DFS stack, 2 finished
        back: set[tuple[int, int]] = set()
        finished: list[int] = []
        for root in roots:
            if state[root]:
                continue
            state[root] = 1
            stack = [(root, iter(inner[root]))]
            while stack:
                node, todo = stack[-1]
                nxt = next(todo, None)
                if nxt is None:
                    stack.pop()
                    state[node] = 2
                    finished.append(node)
                elif state[nxt] == 1:
                    back.add((node, nxt))
                elif state[nxt] == 0:
                    state[nxt] = 1
                    stack.append((nxt, iter(inner[nxt])))
        ancestors: dict[int, frozenset[int]] = {}
        for node in reversed(finished):  # reverse postorder is a topological order
            up: set[int] = set()
            for p in self.preds[node]:
                if p in members and (p, node) not in back:
                    up.add(p)
                    up.update(ancestors[p])
            ancestors[node] = frozenset(up)
        forward_gated = frozenset(
            m
            for m in members
            if any(g not in members or (g, m) not in back for g in self.controllers[m])
        )
        return CycleOrder(tuple(entries), ancestors, frozenset(back), forward_gated)

    # -- inputs -------------------------------------------------------------------------

    def _seed_names(self) -> dict[str, bool]:
        """Produced names a run must (True) or may (False) provide so that cycles can start.

        A name is a seed when a node reads it before any producer in the run could have
        written it: along a back edge of a cycle, or from itself (an accumulator).
        """
        seeds: dict[str, bool] = {}

        def add(consumer: int, names: Iterable[str]) -> None:
            for name in names:
                required = name not in self.nodes[consumer].defaults
                seeds[name] = seeds.get(name, False) or required

        for i, n in enumerate(self.nodes):
            add(i, set(n.inputs) & set(n.outputs))
        for u, _members in enumerate(self.units):
            if not self.is_cycle[u]:
                continue
            order = self.cycle_order(u, ())
            for src, dst in order.back:
                add(dst, set(self.nodes[src].outputs) & set(self.nodes[dst].inputs))
        return seeds

    def seedable(self, name: str) -> bool:
        """True if a run may give a value for `name` although a node produces it."""
        if name in self.seeds:
            return True
        unit_of = self.unit_of
        return any(
            self.is_cycle[unit_of[p]]
            and any(unit_of[c] == unit_of[p] for c in self.consumers.get(name, ()))
            for p in self.producers.get(name, ())
        )


def _is_function(node: HyperNode) -> bool:
    """A FunctionNode that is not a gate (gates return decisions, not outputs)."""
    return hasattr(node, "func") and not isinstance(node, GateNode)


def _strongly_connected(succs: list[tuple[int, ...]]) -> list[tuple[int, ...]]:
    """Tarjan's algorithm, iterative; units come out in graph order of their first member."""
    index: dict[int, int] = {}
    low: dict[int, int] = {}
    on_stack: set[int] = set()
    stack: list[int] = []
    found: list[tuple[int, ...]] = []
    counter = 0
    for root in range(len(succs)):
        if root in index:
            continue
        work = [(root, iter(succs[root]))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    members = []
                    while True:
                        m = stack.pop()
                        on_stack.discard(m)
                        members.append(m)
                        if m == node:
                            break
                    found.append(tuple(sorted(members)))
            elif child not in index:
                index[child] = low[child] = counter
                counter += 1
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(succs[child])))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return sorted(found, key=lambda m: m[0])
