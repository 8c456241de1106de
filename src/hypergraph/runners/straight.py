"""The straight-line path: a quiet run compiled to one plain Python function.

When nobody watches a run (no event processors, no iter() consumer, no stop handle, no
cache or checkpointer) and every node is a plain function, a gate or a nested graph of
the same kind, the scheduler's decisions can be made once, when the function is
written (`straight_code.py`): the nodes are called in order, a gate's targets run under
an `if`, a node whose producer may not have run reads its default, a cycle is a `while`
loop. The function is generated as readable source (`source(graph)` returns it),
compiled once per graph and kind of run, and gives exactly the values, errors, partial
values and result of the general path (decisions 0035, 0041). Anything it cannot
express falls back to the general path: `why_not` says why.

The runners call `run_sync`, `run_async` and `map_sync` at their entry; each returns
None when the run must take the general path.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import Any

from ..events.types import RunStatus
from ..graph.graph import Graph
from ..run.execution import merge_inputs, new_id
from ..run.options import DEFAULT_MAX_ITERATIONS
from ..run.result import MapResult, PauseInfo, RunResult
from .straight_code import Straight, compiled_for

enabled = True
"""False sends every run down the general path (the parity tests compare both)."""


class StraightResult(RunResult):
    """The result of a straight-line run: a RunResult whose id and partial dict are made
    only when first read (a `map_iter` of small items makes millions of them)."""

    status = RunStatus.COMPLETED
    error: BaseException | None = None
    workflow_id: str | None = None

    def __init__(
        self,
        values: dict[str, Any],
        status: RunStatus = RunStatus.COMPLETED,
        run_id: str | None = None,
        error: BaseException | None = None,
        partial: dict[str, list[Any]] | None = None,
        workflow_id: str | None = None,
        pauses: list[PauseInfo] | None = None,
    ) -> None:
        # RunResult's fields, so that dataclasses.replace works; what is left out is made
        # when first read.
        self.values = values
        if status is not RunStatus.COMPLETED:
            self.status = status
        if run_id is not None:
            self.run_id = run_id
        if error is not None:
            self.error = error
        if partial is not None:
            self.partial = partial
        if workflow_id is not None:
            self.workflow_id = workflow_id
        if pauses:
            self.pauses = pauses

    @functools.cached_property
    def run_id(self) -> str:  # type: ignore[override]
        return new_id()

    @functools.cached_property
    def partial(self) -> dict[str, list[Any]]:  # type: ignore[override]
        return {}  # no node of a straight-line run streams

    @functools.cached_property
    def pauses(self) -> list[PauseInfo]:  # type: ignore[override]
        return []  # a straight-line run has no interrupt

    def _plain(self) -> RunResult:
        return RunResult(
            self.values, self.status, self.run_id, self.error, self.partial, self.workflow_id
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RunResult) and self._plain() == (
            other._plain() if isinstance(other, StraightResult) else other
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return repr(self._plain())

    def __reduce__(self) -> tuple[Any, ...]:
        return (RunResult, (self.values, self.status, self.run_id, self.error, self.partial))


# -- entry points (the runners' hooks) -------------------------------------------------------


def run_sync(
    graph: Graph,
    values: Mapping[str, Any] | None,
    inputs: dict[str, Any],
    error_handling: str,
    max_iterations: object,
) -> RunResult | None:
    """`SyncRunner.run` on the straight-line path, or None when it must take the general one.
    The caller has checked that nobody listens and nothing is cached or checkpointed."""
    found = _for_run(graph, values, inputs, False, error_handling, max_iterations)
    if found is None:
        return None
    compiled, fn, start = found
    return _completed(fn(start)) if compiled.raises else _result(*fn(start))


def _for_run(
    graph: Graph,
    values: Mapping[str, Any] | None,
    inputs: dict[str, Any],
    is_async: bool,
    error_handling: str,
    max_iterations: object,
) -> tuple[Straight, Callable[[dict[str, Any]], Any], dict[str, Any]] | None:
    """The function for one run (see `_for_start`) and the run's start values, checked."""
    compiled = _compiled(graph, is_async, error_handling, max_iterations)
    if compiled is None:
        return None
    start = graph._start_values(merge_inputs(values, inputs))
    if compiled.cycle is None:  # the usual case, once per run: no call to `_for_start`
        return compiled, compiled.fn, start
    found = _for_start(graph, compiled, start, max_iterations, is_async)
    return None if found is None else (found[0], found[1], start)


def _for_start(
    graph: Graph, compiled: Straight, start: dict[str, Any], max_iterations: object, is_async: bool
) -> tuple[Straight, Callable[[dict[str, Any]], Any]] | None:
    """The function for runs that start with the names of `start`, called with the start
    values alone. With a cycle: the one written for the names of the cycle they give, with
    `max_iterations` (None if that one cannot be written)."""
    if compiled.cycle is None:
        return compiled, compiled.fn
    seeds = compiled.cycle.intersection(start)
    if seeds != compiled.seeds:
        found = compiled_for(graph, is_async, compiled.raises, seeds)
        if isinstance(found, str):
            return None
        compiled = found
    return compiled, functools.partial(compiled.fn, _max=max_iterations or DEFAULT_MAX_ITERATIONS)


async def run_async(
    graph: Graph,
    values: Mapping[str, Any] | None,
    inputs: dict[str, Any],
    error_handling: str,
    max_iterations: object,
    max_concurrency: object,
) -> RunResult | None:
    """`AsyncRunner.run` on the straight-line path, or None (see `run_sync`)."""
    if max_concurrency is not None and not _positive(max_concurrency):
        return None
    found = _for_run(graph, values, inputs, True, error_handling, max_iterations)
    if found is None:
        return None
    compiled, fn, start = found
    out = await _watched(compiled, fn(start))
    return _completed(out) if compiled.raises else _result(*out)


async def _watched(compiled: Straight, running: Awaitable[Any]) -> Any:
    """`running` awaited while the loop watchdog knows the graph's async nodes."""
    from . import watchdog  # loads asyncio: only once an async run starts

    watched: Any = compiled  # the watchdog reads `.plan`, as on an Execution
    watchdog.watch(watched)
    try:
        return await running
    finally:
        watchdog.unwatch(watched)


async def map_async(
    graph: Graph, items: list[dict[str, Any]], error_handling: str, max_iterations: object
) -> MapResult | None:
    """`AsyncRunner.map` (items already checked, no cap on concurrency) on the straight-line
    path: every item a task at once, as on the general path; with "raise", the error of
    the first failing item by index, once all items ended."""
    found = _for_items(graph, items, True, error_handling, max_iterations)
    if found is None:
        return None
    compiled, fn = found
    outs = await _watched(compiled, _all_items(fn, items))
    failed = next((out for out in outs if isinstance(out, BaseException)), None)
    if failed is not None:  # "raise": the first failing item by index
        raise failed
    return MapResult.of_values(outs, None, _result) if compiled.raises else _mapped_result(outs)


async def _all_items(fn: Callable[[dict[str, Any]], Any], items: list[dict[str, Any]]) -> list[Any]:
    """Each item's outcome (its error, with "raise"), once every item ended: as on the
    general path, an item that raises what is not an `Exception` ends the map at once
    instead, and what is still running is cancelled and awaited (none is left running)."""
    import asyncio  # async runs only

    loop = asyncio.get_running_loop()
    abort = loop.create_future()

    def ended(task: asyncio.Task[Any]) -> None:
        if not task.cancelled() and not abort.done():
            error = task.exception()
            if error is not None and not isinstance(error, Exception):
                abort.set_result(error)

    tasks = [loop.create_task(fn(item)) for item in items]
    for task in tasks:
        task.add_done_callback(ended)
    every = asyncio.gather(*tasks, return_exceptions=True)
    try:
        await asyncio.wait((every, abort), return_when=asyncio.FIRST_COMPLETED)
    finally:
        if not every.done():
            for task in tasks:
                task.cancel()
            await asyncio.wait(tasks)
    if abort.done():
        raise abort.result()
    outs: list[Any] = every.result()
    return outs


def _mapped_result(outs: list[tuple[dict[str, Any], BaseException | None]]) -> MapResult:
    """The MapResult of the items' (values, error) of a run with "continue"."""
    errors = [error for _, error in outs]
    failed = any(error is not None for error in errors)
    return MapResult.of_values([values for values, _ in outs], errors if failed else None, _result)


def map_sync(
    graph: Graph, items: list[dict[str, Any]], error_handling: str, max_iterations: object
) -> MapItems | None:
    """The items of `SyncRunner.map_iter` (already checked) on the straight-line path."""
    found = _for_items(graph, items, False, error_handling, max_iterations)
    return None if found is None else MapItems(*found, items)


def _for_items(
    graph: Graph,
    items: list[dict[str, Any]],
    is_async: bool,
    error_handling: str,
    max_iterations: object,
) -> tuple[Straight, Callable[[dict[str, Any]], Any]] | None:
    """The function each item of a map calls (see `_for_start`). The items come from
    `prepare_items`, which gives every item the same names (the mapped ones, the shared
    ones and the bound ones), so the first item picks it for all."""
    compiled = _compiled(graph, is_async, error_handling, max_iterations)
    if compiled is None or not items:
        return None if compiled is None else (compiled, compiled.fn)
    return _for_start(graph, compiled, items[0], max_iterations, is_async)


class MapItems(Iterator[tuple[int, RunResult]]):
    """The items of a SyncRunner map on the straight-line path: yielded one at a time
    (`map_iter`), or run all at once into a MapResult (`map`) that makes its RunResults
    only when they are read."""

    def __init__(
        self, compiled: Straight, fn: Callable[[dict[str, Any]], Any], items: list[dict[str, Any]]
    ) -> None:
        self._raises = compiled.raises
        self._fn = fn
        self._items = items
        self._running: Iterator[tuple[int, RunResult]] | None = None

    def __next__(self) -> tuple[int, RunResult]:
        if self._running is None:
            self._running = _map_items(self._fn, self._raises, self._items)
        return next(self._running)

    def mapped(self) -> MapResult:
        """Every item, run in order (the first error raised, with "raise")."""
        assert self._running is None, "the items are being iterated already"
        fn, items = self._fn, self._items
        if self._raises:
            return MapResult.of_values([fn(item) for item in items], None, _result)
        return _mapped_result([fn(item) for item in items])


def _map_items(
    fn: Callable[[dict[str, Any]], Any], raises: bool, items: list[dict[str, Any]]
) -> Iterator[tuple[int, RunResult]]:
    if raises:
        new = StraightResult.__new__  # `_completed`, in line: once per item
        for k, item in enumerate(items):
            result = new(StraightResult)
            result.values = fn(item)
            yield k, result
    else:
        for k, item in enumerate(items):
            yield k, _result(*fn(item))


def _completed(values: dict[str, Any], _new: Any = StraightResult.__new__) -> StraightResult:
    """The result of a run that completed (`StraightResult(values)` without the call to
    `__init__` and its keywords: a map makes one per item)."""
    result: StraightResult = _new(StraightResult)
    result.values = values
    return result


def _result(values: dict[str, Any], error: BaseException | None) -> StraightResult:
    """The result of a run with error_handling="continue"."""
    if error is None:
        return _completed(values)
    return StraightResult(values, RunStatus.FAILED, error=error)


def source(graph: Graph, *, runner: str = "sync", error_handling: str = "raise") -> str | None:
    """The generated source of `graph`'s straight-line function, or None if it has none.

    >>> from hypergraph import Graph, node
    >>> @node(output_name="doubled")
    ... def double(x: int) -> int:
    ...     return 2 * x
    >>> print(source(Graph([double], name="doubler")), end="")
    def run_doubler(_values, _path=""):
        x = _values['x']
        # node 'double'
        try:
            doubled = _f_double(x)
        except Exception as _exc:
            _note(_exc, _path + 'double')
            raise
        return {'doubled': doubled}
    """
    compiled = compiled_for(graph, runner == "async", error_handling == "raise")
    return None if isinstance(compiled, str) else compiled.source


def why_not(graph: Graph, *, runner: str = "sync", error_handling: str = "raise") -> str | None:
    """Why `graph` takes the general path on quiet runs, or None if it runs straight."""
    compiled = compiled_for(graph, runner == "async", error_handling == "raise")
    return compiled if isinstance(compiled, str) else None


def _compiled(
    graph: Graph, is_async: bool, error_handling: str, max_iterations: object
) -> Straight | None:
    if not enabled or type(graph) is not Graph:
        return None
    if max_iterations is not None and not _positive(max_iterations):
        return None  # the general path says what is wrong with it
    if error_handling == "raise":
        found = compiled_for(graph, is_async, True)
    elif error_handling == "continue":
        found = compiled_for(graph, is_async, False)
    else:
        return None
    return None if isinstance(found, str) else found


def _positive(value: object) -> bool:
    return type(value) is int and value >= 1
