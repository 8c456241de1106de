"""`map(..., executor=...)`: the one place both runners hand a map to `run/executor_map.py`."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from ..errors import InputValueError
from ..run.execution import merge_inputs

if TYPE_CHECKING:
    from ..graph.graph import Graph
    from ..run.executor_map import ChunkedMap
    from ..run.options import RunOptions


def chunked_map(
    graph: Graph,
    values: Mapping[str, Any] | None,
    inputs: dict[str, Any],
    map_over: str | Iterable[str],
    map_mode: str,
    options: RunOptions,
    executor: Any,
    chunksize: int | None,
    *,
    is_async: bool,
) -> ChunkedMap:
    """The map's items in chunks for `executor` (checked before anything is submitted).

    Items on an executor are not checkpointed: a runner's checkpointer stays local."""
    if options.workflow_id is not None:
        raise InputValueError(
            "map(..., executor=...) does not checkpoint its items, so a workflow_id cannot "
            "be resumed there.\nHow to fix: drop executor= to checkpoint each item as "
            "workflow f'{workflow_id}[k]', or drop workflow_id.",
            names=["workflow_id"],
        )
    if options.checkpointer is not None:
        options = dataclasses.replace(options, checkpointer=None)
    from ..run import executor_map  # loads with the first map on an executor
    from .async_ import AsyncRunner
    from .sync import SyncRunner

    return executor_map.ChunkedMap(
        graph,
        merge_inputs(values, inputs),
        map_over,
        map_mode,
        options,
        executor_map.ScaleOut.build(executor, chunksize),
        (SyncRunner, AsyncRunner),
        is_async=is_async,
    )
