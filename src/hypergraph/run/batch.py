"""Preparing `runner.map` / `runner.map_iter`: one value dict per item, checked up front."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .._names import quoted, suggest
from ..errors import InputValueError
from ..events.types import RunStatus
from ..graph.graph import Graph
from ..graph.inputs import split_answers
from ..nodes.graph_node import MAP_MODES, map_items
from .execution import check_graph, new_id
from .options import RunOptions
from .result import RunResult

DEFAULT_MAP_ITER_CONCURRENCY = 64


def prepare_items(
    graph: Graph,
    values: dict[str, Any],
    map_over: str | Iterable[str],
    map_mode: str,
) -> list[dict[str, Any]]:
    """Item value dicts for mapping `graph` over the `map_over` lists of `values`.

    The items' names are checked against the graph here; run them with `checked=True`.
    """
    check_graph(graph)
    over = [map_over] if isinstance(map_over, str) else list(map_over)
    if not over:
        raise InputValueError("map needs map_over: the input name(s) to map over.", names=[])
    if map_mode not in MAP_MODES:
        raise InputValueError(
            f"map_mode={map_mode!r} is not one of {quoted(MAP_MODES)}.", names=["map_mode"]
        )
    for name in over:
        if name not in graph.inputs.all:
            raise InputValueError(
                f"Cannot map over '{name}': it is not an input of the graph."
                f"{suggest(name, graph.inputs.all)}\nInputs: {quoted(graph.inputs.all)}.",
                names=[name],
            )
        if name not in values:
            raise InputValueError(
                f"map_over names '{name}', but no list was given for it.\n"
                f"How to fix: pass {name}=[...] with the items to map over.",
                names=[name],
            )
    # Every item has the same names, so they are checked once here (MissingInputError and
    # unknown names surface before any item runs), and each item's run skips the check.
    # Answers to interrupts go to every item (each item's run sorts them out again).
    answers: dict[str, Any] = {}
    if graph._plan.asks:
        values, answers = split_answers(graph._plan, values)
    items = map_items("map", graph._start_values(values), over, map_mode)
    return [{**item, **answers} for item in items] if answers else items


def item_workflow(options: RunOptions, k: int) -> str | None:
    """Map item `k`'s workflow id: the map's id with the item's index (`"batch-1[3]"`), so
    a resumed map finds each item's checkpoint; None lets the run make one up."""
    wid = options.workflow_id
    return None if wid is None else f"{wid}[{k}]"


def not_started() -> RunResult:
    """The result of a map item that a stop kept from starting."""
    return RunResult(values={}, status=RunStatus.STOPPED, run_id=new_id())
