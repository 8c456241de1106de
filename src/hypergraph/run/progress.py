"""`progress=True`: the runners' side of the progress display.

The display is `hypergraph.integrations.progress.ProgressProcessor`. Integrations sit
above the runners and need their extra (here `rich`), so it is loaded by name, and
only when a run asks for it: the runners never import an integration.

A run's display counts its events. A map's display counts its items as the map loop
hands them over, which costs next to nothing; it also takes the items' events only
when the graph streams or nests graphs (whose nodes it then shows), because building
events for every node of every item would cost a fast map more than the display is
worth.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import AsyncGenerator, Iterable, Iterator
from typing import Any

from ..errors import InputValueError
from ..events.types import RunStatus
from ..graph.graph import Graph
from .options import RunOptions
from .result import RunResult

Items = Iterator[tuple[int, RunResult]]
AsyncItems = AsyncGenerator[tuple[int, RunResult], None]


def _display(total: int | None) -> Any:
    module = importlib.import_module("hypergraph.integrations.progress")
    return module.ProgressProcessor(total)


def _check(progress: object) -> None:
    if type(progress) is not bool:
        raise InputValueError(
            f"progress takes True or False, got {progress!r:.60}.\n"
            "How to fix: progress=True to show the progress; if 'progress' is an input of "
            'the graph, give it in the values dict: run(graph, {"progress": ...}).',
            names=["progress"],
        )


def for_run(progress: bool, processors: Iterable[object] | None) -> Iterable[object] | None:
    """`processors`, plus a progress display if `progress` (for `run` and `iter`)."""
    _check(progress)
    if not progress:
        return processors
    return [*(processors or ()), _display(None)]


def for_map(
    progress: bool, graph: Graph, total: int, options: RunOptions
) -> tuple[RunOptions, Any]:
    """The map's options (with the display among its processors if it needs events)
    and its display, or None without `progress`."""
    _check(progress)
    if not progress:
        return options, None
    display = _display(total)
    if not all(graph._plan.plain):  # streaming or nested graphs: show their nodes
        processors = (*options.event_processors, display)
        options = dataclasses.replace(options, event_processors=processors)
    return options, display


def counted(results: Items, display: Any) -> Items:
    """`results`, each item counted by `display` (unchanged without a display)."""
    return results if display is None else _counted(results, display)


def _counted(results: Items, display: Any) -> Items:
    try:
        for k, result in results:
            display.item_done(result.status)
            yield k, result
    except Exception:  # error_handling="raise": the failing item's own exception
        display.item_done(RunStatus.FAILED)
        raise
    finally:
        close = getattr(results, "close", None)
        if close is not None:
            close()
        display.close()


def acounted(results: AsyncItems, display: Any) -> AsyncItems:
    """Like `counted`, for AsyncRunner's maps."""
    return results if display is None else _acounted(results, display)


async def _acounted(results: AsyncItems, display: Any) -> AsyncItems:
    try:
        async for k, result in results:
            display.item_done(result.status)
            yield k, result
    except Exception:
        display.item_done(RunStatus.FAILED)
        raise
    finally:
        await results.aclose()
        display.close()
