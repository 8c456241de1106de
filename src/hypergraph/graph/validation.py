"""Build-time checks of a graph. Each failure is a GraphConfigError saying what, why, how to fix."""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Sequence
from typing import Any

from .._introspect import check_callable, param_annotations, return_annotation
from .._names import quoted, suggest
from ..errors import GraphConfigError
from ..nodes.base import HyperNode
from ..nodes.function import FunctionNode
from ..nodes.gate import END, GateNode


def check_nodes(items: object) -> tuple[HyperNode, ...]:
    """The nodes of `Graph(items)`, or a clear error for anything that is not a node."""
    if isinstance(items, HyperNode) or not isinstance(items, Sequence | set | frozenset):
        raise GraphConfigError(
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
        raise GraphConfigError(
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


def check_producers(nodes: tuple[HyperNode, ...]) -> None:
    """One producer per output, unless the producers are exclusive branches of one gate."""
    producers: dict[str, list[str]] = {}
    for n in nodes:
        for out in n.outputs:
            producers.setdefault(out, []).append(n.name)
    exclusive = [set(g.targets) for g in nodes if isinstance(g, GateNode) and not g.multi_target]
    for out, names in producers.items():
        if len(names) < 2:
            continue
        if any(set(names) <= branch for branch in exclusive):
            continue
        first, second = names[0], names[1]
        raise GraphConfigError(
            f"Output '{out}' has {len(names)} producers: {quoted(names)}.\n"
            "A value needs one producer unless the producers are exclusive branches of a "
            "gate (only one of them can run).\n"
            f'How to fix: rename one output ({second}.with_outputs({out}="{out}_2")) or '
            f"route between '{first}' and '{second}' with @route or @ifelse."
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
    """With strict_types=True, connected annotations must agree."""
    produced: dict[str, tuple[str, Any]] = {}
    for n in nodes:
        if not isinstance(n, FunctionNode) or isinstance(n, GateNode):
            continue
        ret = return_annotation(n.func)
        for i, out in enumerate(n.outputs):
            produced[out] = (n.name, _output_type(ret, i, len(n.outputs), n))
    for n in nodes:
        if not isinstance(n, FunctionNode):
            continue
        hints = param_annotations(n.func)
        for inp, param in zip(n.inputs, n._params, strict=True):
            if inp not in produced:
                continue
            producer, out_type = produced[inp]
            in_type = hints.get(param, inspect.Parameter.empty)
            missing = [
                f"'{who}'"
                for who, t in ((producer, out_type), (n.name, in_type))
                if t is inspect.Parameter.empty
            ]
            if missing:
                raise GraphConfigError(
                    f"strict_types: '{inp}' flows from '{producer}' to '{n.name}', but "
                    f"{' and '.join(missing)} has no type annotation for it.\n"
                    "How to fix: annotate both ends, or build the graph with strict_types=False."
                )
            if not _compatible(out_type, in_type):
                raise GraphConfigError(
                    f"strict_types: '{producer}' produces '{inp}' as {_tname(out_type)}, but "
                    f"'{n.name}' expects {_tname(in_type)}.\n"
                    "How to fix: make the annotations agree, or convert the value in a node "
                    "between them."
                )


def _output_type(ret: Any, i: int, count: int, n: FunctionNode) -> Any:
    if ret is inspect.Parameter.empty:
        return ret
    if n.is_generator:
        args = typing.get_args(ret)
        return list[args[0]] if args else list  # type: ignore[valid-type]
    if count == 1:
        return ret
    args = typing.get_args(ret)
    return args[i] if typing.get_origin(ret) is tuple and len(args) == count else ret


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
    return getattr(t, "__name__", None) or str(t).replace("typing.", "")


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
