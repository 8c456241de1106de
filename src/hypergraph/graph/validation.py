"""Build-time checks of a graph. Each failure is a GraphConfigError saying what, why, how to fix."""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Sequence
from typing import Any

from .._introspect import check_callable, wrong_kind_message
from .._names import quoted, suggest
from ..engine.plan import Plan
from ..errors import GraphConfigError, NodeTypeError
from ..nodes.base import HyperNode
from ..nodes.gate import END, GateNode
from .branches import Branches


def check_nodes(items: object) -> tuple[HyperNode, ...]:
    """The nodes of `Graph(items)`, or a clear error for anything that is not a node."""
    wrong_kind = wrong_kind_message(items, "Graph")
    if wrong_kind:
        raise NodeTypeError(wrong_kind)
    if isinstance(items, HyperNode) or not isinstance(items, Sequence | set | frozenset):
        raise NodeTypeError(
            f"Graph takes a list of nodes, got {type(items).__name__}.\n"
            "How to fix: Graph([first, second, ...])."
        )
    nodes: list[HyperNode] = []
    for item in items:
        if isinstance(item, HyperNode):
            nodes.append(item)
            continue
        check_callable(item, "Graph")
        name = getattr(item, "__name__", type(item).__name__)
        raise NodeTypeError(
            f"Graph got the plain function '{name}', not a node.\n"
            "A node needs to know the names of its outputs to be wired.\n"
            f'How to fix: decorate it with @node(output_name="...") or pass node({name}, "...").'
        )
    seen: dict[str, HyperNode] = {}
    for n in nodes:
        if n.name in seen:
            raise GraphConfigError(
                f"Two nodes are named '{n.name}'. Node names identify nodes in routes, "
                "events and results, so they must be unique in a graph.\n"
                f'How to fix: rename one, e.g. {n.name}.with_name("{n.name}_2").'
            )
        seen[n.name] = n
    return tuple(nodes)


def check_gates(nodes: tuple[HyperNode, ...]) -> None:
    names = [n.name for n in nodes]
    for g in nodes:
        if not isinstance(g, GateNode):
            continue
        for t in g.targets:
            if t is END:
                continue
            if t == g.name:
                raise GraphConfigError(
                    f"Gate '{g.name}' lists itself as a target; a gate cannot choose itself.\n"
                    "How to fix: target the node that should run next."
                )
            if t not in names:
                raise GraphConfigError(
                    f"Gate '{g.name}' targets '{t}', which is not a node of this graph."
                    f"{suggest(str(t), names)}\nNodes: {quoted(names)}.\n"
                    f"How to fix: add '{t}' to the graph or correct the target name."
                )


def check_producers(plan: Plan, entrypoint: tuple[str, ...] = ()) -> None:
    """One producer per output, unless at most one of the producers can run (decision 0011).

    Producers are exclusive when each runs only after a different target of one gate
    that chooses a single target: the targets themselves (the gate decides between
    them), or nodes that cannot run unless such a target ran first.
    """
    nodes = plan.nodes
    one_choice = [set(g.targets) for g in nodes if isinstance(g, GateNode) and not g.multi_target]
    branches: Branches | None = None
    for out, producers in plan.producers.items():
        if len(producers) < 2:
            continue
        names = {nodes[p].name for p in producers}
        if any(names <= targets for targets in one_choice):
            continue  # direct targets of one gate: the rule since the first release
        branches = branches or Branches(plan)
        clash = branches.first_clash(producers)
        if clash is None:
            continue
        second = nodes[clash[1]].name
        why, fix = branches.explain(*clash)
        where = ""
        if entrypoint:
            # The full graph passed this check: the entrypoint skipped the gate.
            where = (
                f"With the entrypoint {quoted(entrypoint)}, the gate that kept them apart "
                "does not run, so both can.\n"
            )
            fix = "start at the gate that chooses between them, or before it"
        raise GraphConfigError(
            f"Output '{out}' has {len(producers)} producers: "
            f"{quoted(nodes[p].name for p in producers)}.\n"
            "A value needs one producer unless at most one of them can run: each runs only "
            "after a different target of one @route or @ifelse gate (not multi_target).\n"
            f"{where}{why}"
            f'How to fix: rename one output ({second}.with_outputs({out}="{out}_2")) or '
            f"{fix}."
        )


def check_defaults(nodes: tuple[HyperNode, ...]) -> None:
    seen: dict[str, tuple[str, Any]] = {}
    for n in nodes:
        for name, value in n.defaults.items():
            if name not in seen:
                seen[name] = (n.name, value)
                continue
            other, other_value = seen[name]
            if not _same(value, other_value):
                raise GraphConfigError(
                    f"Input '{name}' has different defaults: {other_value!r:.40} in "
                    f"'{other}' and {value!r:.40} in '{n.name}'.\n"
                    "One input name is one value in a run, so its default must agree.\n"
                    f"How to fix: use the same default in both, or rename one input "
                    f'({n.name}.with_inputs({name}="{n.name}_{name}")).'
                )


def check_gate_free_cycles(nodes: tuple[HyperNode, ...]) -> None:
    """A cycle must pass through a gate-controlled node, or nothing could ever stop it."""
    gated = {t for g in nodes if isinstance(g, GateNode) for t in g.targets if t is not END}
    producers: dict[str, list[str]] = {}
    for n in nodes:
        for out in n.outputs:
            producers.setdefault(out, []).append(n.name)
    # Edges that re-trigger on every write: data edges into nodes no gate controls.
    succ: dict[str, set[str]] = {n.name: set() for n in nodes}
    for n in nodes:
        if n.name in gated:
            continue
        for inp in n.inputs:
            for p in producers.get(inp, ()):
                if p != n.name:  # consuming your own output makes an accumulator, not a cycle
                    succ[p].add(n.name)
    cycle = _find_cycle(succ)
    if cycle:
        path = " -> ".join([*cycle, cycle[0]])
        raise GraphConfigError(
            f"Nodes {quoted(cycle)} form a cycle with no gate: {path}.\n"
            "Every write re-triggers the next node, so this cycle could never stop.\n"
            "How to fix: add a @route or @ifelse gate that decides when to go round "
            "again and when to END."
        )


def check_types(nodes: tuple[HyperNode, ...]) -> None:
    """With strict_types=True, connected annotations must agree, nested graphs included.

    Every node states its ports' annotations (`input_types`/`output_types`); a nested
    graph states those of the inner nodes behind each port, so a value crossing into
    or out of it is checked against the function that really reads or writes it.
    """
    produced: dict[str, list[tuple[str, Any]]] = {}
    for n in nodes:
        for out, writers in n.output_types().items():
            produced.setdefault(out, []).extend(writers)
    for n in nodes:
        for inp, readers in n.input_types().items():
            for producer, out_type in produced.get(inp, ()):
                for reader, in_type in readers:
                    _check_edge(inp, producer, out_type, reader, in_type)


def _check_edge(name: str, producer: str, out_type: Any, reader: str, in_type: Any) -> None:
    missing = [
        f"'{who}'"
        for who, t in ((producer, out_type), (reader, in_type))
        if t is inspect.Parameter.empty
    ]
    if missing:
        raise GraphConfigError(
            f"strict_types: '{name}' flows from '{producer}' to '{reader}', but "
            f"{' and '.join(missing)} has no type annotation for it.\n"
            "How to fix: annotate both ends, or build the graph with strict_types=False."
        )
    if not _compatible(out_type, in_type):
        raise GraphConfigError(
            f"strict_types: '{producer}' produces '{name}' as {_tname(out_type)}, but "
            f"'{reader}' expects {_tname(in_type)}.\n"
            "How to fix: make the annotations agree, or convert the value in a node "
            "between them."
        )


def _compatible(out_type: Any, in_type: Any) -> bool:
    if in_type in (Any, object) or out_type is Any or out_type == in_type:
        return True
    in_origin = typing.get_origin(in_type)
    if in_origin in (typing.Union, types.UnionType):
        return any(_compatible(out_type, arg) for arg in typing.get_args(in_type))
    out_origin = typing.get_origin(out_type)
    if out_origin in (typing.Union, types.UnionType):
        return all(_compatible(arg, in_type) for arg in typing.get_args(out_type))
    out_cls = out_origin or out_type
    in_cls = in_origin or in_type
    if isinstance(out_cls, type) and isinstance(in_cls, type) and issubclass(out_cls, in_cls):
        in_args, out_args = typing.get_args(in_type), typing.get_args(out_type)
        return not in_args or not out_args or in_args == out_args
    return False


def _tname(t: Any) -> str:
    if isinstance(t, type) and not typing.get_args(t):
        return t.__name__
    return str(t).replace("typing.", "").replace("collections.abc.", "")


def _same(a: object, b: object) -> bool:
    try:
        return a is b or bool(a == b)
    except Exception:
        return False


def _find_cycle(succ: dict[str, set[str]]) -> list[str]:
    """One cycle of `succ` as a list of node names, or [] (iterative DFS, colours)."""
    colour = dict.fromkeys(succ, 0)  # 0 new, 1 on stack, 2 done
    for root in succ:
        if colour[root]:
            continue
        stack: list[tuple[str, list[str]]] = [(root, sorted(succ[root]))]
        path = [root]
        colour[root] = 1
        while stack:
            name, todo = stack[-1]
            if not todo:
                stack.pop()
                path.pop()
                colour[name] = 2
                continue
            nxt = todo.pop()
            if colour[nxt] == 1:
                return path[path.index(nxt) :]
            if colour[nxt] == 0:
                colour[nxt] = 1
                path.append(nxt)
                stack.append((nxt, sorted(succ[nxt])))
    return []
