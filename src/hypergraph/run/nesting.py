"""What both runners do around a GraphNode: item values in, inner results out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..events.types import RunStatus
from ..nodes.graph_node import GraphNode, map_items
from .call import NodeCall
from .execution import Execution
from .result import PauseInfo


def children(ex: Execution, i: int, args: dict[str, Any]) -> list[Execution]:
    """The inner runs of graph node `i`: one, or one per map item (labelled `name[k]`)."""
    node = ex.nodes[i]
    assert isinstance(node, GraphNode)
    if not node.map_params:
        return [ex.nested(i, args, node.name)]
    inner = dict(zip(node.inputs, node._params, strict=True))
    over = [inner[p] for p in node.map_params]
    items = map_items(node.name, args, over, node.map_mode)
    return [ex.nested(i, item, f"{node.name}[{k}]") for k, item in enumerate(items)]


def stopped(runs: Sequence[Execution]) -> bool:
    """True if a stop ended an inner run: the graph node was stopped, not finished."""
    return any(run.status is RunStatus.STOPPED for run in runs)


def outcome(call: NodeCall, runs: Sequence[Execution]) -> list[int]:
    """Graph node `call.node` after its inner runs ended: stopped, waiting for answers,
    finished or failed (both runners); the nodes now ready."""
    node = call.node
    assert isinstance(node, GraphNode)
    if stopped(runs):
        return call.stopped()
    if waiting := pauses(node, runs):
        return call.paused(waiting)
    return call.finish(outputs(node, runs))


def pauses(node: GraphNode, runs: Sequence[Execution]) -> list[PauseInfo]:
    """The interrupts waiting inside the inner runs; none if an inner failure fails the
    graph node (`outputs` raises it). With map errors "continue", failed items ask nothing."""
    if node.map_errors != "continue" and any(run.error is not None for run in runs):
        return []
    return [p for run in runs if run.error is None for p in run.pauses]


def no_chunks(chunk: Any) -> None:
    """The `send` of a graph node: it streams through its inner nodes, never itself."""
    raise AssertionError("a graph node streams through its inner nodes")


def outputs(node: GraphNode, runs: Sequence[Execution]) -> dict[str, Any]:
    """The graph node's outputs; raises the first failed inner run's error unless mapping
    with error_handling="continue", where a failed item gives None in each output list."""
    if not node.map_params:
        (run,) = runs
        if run.error is not None:
            raise run.error
        values = run.sched.values
        return {
            outer: values[inner]
            for outer, inner in zip(node.outputs, node.inner_outputs, strict=True)
            if inner in values
        }
    skip_failed = node.map_errors == "continue"
    columns: dict[str, list[Any]] = {outer: [] for outer in node.outputs}
    for run in runs:
        if run.error is not None and not skip_failed:
            raise run.error
        values = run.sched.values if run.error is None else {}
        for outer, inner in zip(node.outputs, node.inner_outputs, strict=True):
            columns[outer].append(values.get(inner))
    return columns
