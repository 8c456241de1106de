"""AsyncRunner: run, stream (`iter`), map and map_iter on an asyncio event loop.

How nodes are scheduled and executed is in `async_drive.py`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from ..events.dispatch import dispatcher_for
from ..events.types import BaseEvent
from ..graph.graph import Graph
from ..run.batch import DEFAULT_MAP_ITER_CONCURRENCY, item_workflow, not_started, prepare_items
from ..run.execution import Control, Execution, merge_inputs
from ..run.handle import RunHandle
from ..run.options import DEFAULT_BUFFER_SIZE, ErrorHandling, Overflow, RunOptions
from ..run.progress import acounted
from ..run.progress import for_map as progress_for_map
from ..run.progress import for_run as progress_for_run
from ..run.result import MapResult, RunResult
from ..run.tracking import RunRegistry
from ..streaming.async_channel import AsyncChannel
from . import straight
from .async_drive import drive
from .scale import chunked_map

if TYPE_CHECKING:
    from ..durable.cache import Cache
    from ..durable.checkpoint import Checkpointer


class AsyncRunner:
    """Run a graph on an asyncio event loop.

    >>> import asyncio
    >>> from hypergraph import Graph, node
    >>> @node(output_name="doubled")
    ... async def double(x: int) -> int:
    ...     return 2 * x
    >>> asyncio.run(AsyncRunner().run(Graph([double]), x=5))["doubled"]
    10

    Streaming: `async with AsyncRunner().iter(graph, values) as run:`, then
    `async for event in run: ...` and `result = await run.result()`.
    """

    def __init__(
        self, *, cache: Cache | None = None, checkpointer: Checkpointer | None = None
    ) -> None:
        """`cache`: where nodes marked `cache=True` keep their results (InMemoryCache(),
        DiskCache(path)); without one, every node runs."""
        self._runs = RunRegistry()
        self._cache = RunOptions(cache=cache).cache  # checked now, not at the first run
        # `checkpointer`: where each finished node execution is recorded, so a run given
        # a `workflow_id` resumes after a crash (SqliteCheckpointer(path)).
        self._checkpointer = RunOptions(checkpointer=checkpointer).checkpointer

    async def run(
        self,
        graph: Graph,
        values: Mapping[str, Any] | None = None,
        *,
        max_iterations: int | None = None,
        error_handling: ErrorHandling = "raise",
        event_processors: Iterable[object] | None = None,
        progress: bool = False,
        max_concurrency: int | None = None,
        run_id: str | None = None,
        workflow_id: str | None = None,
        **inputs: Any,
    ) -> RunResult:
        """Run `graph` with `values` (a dict, or keyword arguments) and return its result.

        `progress=True` shows the run's progress on stderr (needs `hypergraph[progress]`).
        """
        quiet = event_processors is None and not progress and run_id is workflow_id is None
        if quiet and self._cache is None and self._checkpointer is None:
            # Nobody watches: the straight-line path, if the graph has one (decision 0035).
            result = await straight.run_async(
                graph, values, inputs, error_handling, max_iterations, max_concurrency
            )
            if result is not None:
                return result
        options = RunOptions.build(
            cache=self._cache,
            max_iterations=max_iterations,
            error_handling=error_handling,
            event_processors=progress_for_run(progress, event_processors),
            max_concurrency=max_concurrency,
            run_id=run_id,
            checkpointer=self._checkpointer,
            workflow_id=workflow_id,
        )
        ex = _execution(graph, values, inputs, options)
        with self._runs.track(ex):
            try:
                await drive(ex, None)
            finally:
                await ex.dispatcher.ashutdown(drain=not ex.control.cancelled)
        return ex.outcome()

    def iter(
        self,
        graph: Graph,
        values: Mapping[str, Any] | None = None,
        *,
        max_iterations: int | None = None,
        error_handling: ErrorHandling = "raise",
        event_processors: Iterable[object] | None = None,
        progress: bool = False,
        max_concurrency: int | None = None,
        buffer_size: int = DEFAULT_BUFFER_SIZE,
        overflow: Overflow = "wait",
        run_id: str | None = None,
        workflow_id: str | None = None,
        **inputs: Any,
    ) -> AsyncRun:
        """Run `graph` and stream its events: `async with runner.iter(g, v) as run: ...`."""
        options = RunOptions.build(
            cache=self._cache,
            max_iterations=max_iterations,
            error_handling=error_handling,
            event_processors=progress_for_run(progress, event_processors),
            max_concurrency=max_concurrency,
            buffer_size=buffer_size,
            overflow=overflow,
            run_id=run_id,
            checkpointer=self._checkpointer,
            workflow_id=workflow_id,
        )
        return AsyncRun(self._runs, _execution(graph, values, inputs, options))

    async def map(
        self,
        graph: Graph,
        values: Mapping[str, Any] | None = None,
        *,
        map_over: str | Iterable[str],
        map_mode: str = "zip",
        error_handling: ErrorHandling = "raise",
        max_iterations: int | None = None,
        event_processors: Iterable[object] | None = None,
        progress: bool = False,
        max_concurrency: int | None = None,
        executor: Any = None,
        chunksize: int | None = None,
        workflow_id: str | None = None,
        **inputs: Any,
    ) -> MapResult:
        """Run `graph` once per item of the `map_over` lists, items concurrently.

        `max_concurrency` caps node executions across all items (and items in flight).
        With error_handling="raise", the error of the first failing item *by index* is
        raised once all items ended, so the outcome does not depend on timing.
        `executor=` (a concurrent.futures.Executor or a Dask Client) runs the items there,
        `chunksize` items per submit (automatic by default); see docs/scale-out.md.
        With the runner's checkpointer, item `k` is the workflow `f"{workflow_id}[{k}]"`:
        the same map run again runs only the items that had not finished.
        """
        options = self._map_options(
            max_iterations, error_handling, event_processors, max_concurrency, workflow_id
        )
        if executor is not None or chunksize is not None:
            from ..run import executor_map

            chunks = chunked_map(
                graph, values, inputs, map_over, map_mode, options, executor, chunksize,
                is_async=True,
            )  # fmt: skip
            return await executor_map.map_async(chunks)
        items = prepare_items(graph, merge_inputs(values, inputs), map_over, map_mode)
        options, display = progress_for_map(progress, graph, len(items), options)
        quiet = display is None and not options.event_processors and not max_concurrency
        if quiet and options.cache is None and options.checkpointer is None:
            # Nobody watches and nothing is kept: the straight-line path (decision 0041).
            fast = await straight.map_async(
                graph, items, options.error_handling, options.max_iterations
            )
            if fast is not None:
                return fast
        results: list[RunResult] = [None] * len(items)  # type: ignore[list-item]
        runs = self._map_runs(
            graph, items, options, in_flight=max_concurrency or len(items), raising=False
        )
        runs = acounted(runs, display)
        async with contextlib.aclosing(runs):
            async for k, result in runs:
                results[k] = result
        failed = next((r for r in results if r.error is not None), None)
        if failed is not None and options.raise_errors:
            raise failed.error  # type: ignore[misc]
        return MapResult(results)

    def map_iter(
        self,
        graph: Graph,
        values: Mapping[str, Any] | None = None,
        *,
        map_over: str | Iterable[str],
        map_mode: str = "zip",
        error_handling: ErrorHandling = "raise",
        max_iterations: int | None = None,
        event_processors: Iterable[object] | None = None,
        progress: bool = False,
        max_concurrency: int | None = None,
        executor: Any = None,
        chunksize: int | None = None,
        workflow_id: str | None = None,
        **inputs: Any,
    ) -> AsyncGenerator[tuple[int, RunResult], None]:
        """Yield `(index, RunResult)` as items finish, at most `max_concurrency` in flight.

        Memory stays bounded: a new item starts only when the consumer has taken a
        finished one. Leaving the loop early (best inside `contextlib.aclosing`) cancels
        the items in flight. With `executor=`, as chunks finish.
        """
        options = self._map_options(
            max_iterations, error_handling, event_processors, max_concurrency, workflow_id
        )
        if executor is not None or chunksize is not None:
            from ..run import executor_map

            chunks = chunked_map(
                graph, values, inputs, map_over, map_mode, options, executor, chunksize,
                is_async=True,
            )  # fmt: skip
            return executor_map.iter_async(chunks)
        items = prepare_items(graph, merge_inputs(values, inputs), map_over, map_mode)
        options, display = progress_for_map(progress, graph, len(items), options)
        in_flight = max_concurrency or DEFAULT_MAP_ITER_CONCURRENCY
        runs = self._map_runs(graph, items, options, in_flight=in_flight, raising=True)
        return acounted(runs, display)

    def _map_options(
        self,
        max_iterations: int | None,
        error_handling: ErrorHandling,
        event_processors: Iterable[object] | None,
        max_concurrency: int | None,
        workflow_id: str | None,
    ) -> RunOptions:
        return RunOptions.build(
            cache=self._cache,
            max_iterations=max_iterations,
            error_handling=error_handling,
            event_processors=event_processors,
            max_concurrency=max_concurrency,
            checkpointer=self._checkpointer,
            workflow_id=workflow_id,
        )

    async def _map_runs(
        self,
        graph: Graph,
        items: list[dict[str, Any]],
        options: RunOptions,
        in_flight: int,
        raising: bool,
    ) -> AsyncGenerator[tuple[int, RunResult], None]:
        dispatcher = dispatcher_for(options.event_processors)
        control = Control()
        if options.max_concurrency:
            control.limiter = asyncio.Semaphore(options.max_concurrency)
        todo = iter(enumerate(items))
        running: dict[asyncio.Task[None], tuple[int, Execution]] = {}
        loop = asyncio.get_running_loop()
        try:
            while True:
                while len(running) < in_flight:
                    nxt = next(todo, None)
                    if nxt is None:
                        break
                    k, item = nxt
                    if control.halt:  # a stopped map starts no new item
                        yield k, not_started()
                        continue
                    ex = Execution(
                        graph, item, options, dispatcher=dispatcher, control=control,
                        checked=True, workflow_id=item_workflow(options, k),
                    )  # fmt: skip
                    running[loop.create_task(self._tracked(ex))] = (k, ex)
                if not running:
                    return
                done, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                for task in sorted(done, key=lambda t: running[t][0]):
                    k, ex = running.pop(task)
                    task.result()
                    yield k, ex.outcome() if raising else ex.result()
        finally:
            left_early = bool(running)
            control.cancelled = True  # items still in flight unwind
            for task in running:
                task.cancel()
            if running:
                await asyncio.gather(*running, return_exceptions=True)
            await dispatcher.ashutdown(drain=not left_early)

    async def _tracked(self, ex: Execution) -> None:
        with self._runs.track(ex):
            await drive(ex, None)

    def stop(self, run_id: str) -> None:
        """Ask the run `run_id` to stop: nothing new starts; streaming nodes close.
        Safe to call from any thread."""
        self._runs.stop(run_id)


class AsyncRun(RunHandle[AsyncChannel]):
    """An async run whose events are read as they happen. Leave the `async with` to cancel it."""

    _form = "async with runner.iter(graph, values) as run:\n        async for event in run: ..."

    def __init__(self, registry: RunRegistry, ex: Execution) -> None:
        self._registry = registry
        self.ex = ex
        self._task: asyncio.Task[None] | None = None
        self._reading: AsyncGenerator[BaseEvent, None] | None = None  # the last `async for`

    async def __aenter__(self) -> AsyncRun:
        self._enter()
        options = self.ex.options
        self.channel = AsyncChannel(options.buffer_size, options.overflow)
        self.ex.attach(self.channel.offer)
        self._task = asyncio.get_running_loop().create_task(self._main())
        return self

    async def _main(self) -> None:
        with self._registry.track(self.ex):
            try:
                await drive(self.ex, self.channel)
            finally:
                await self.ex.dispatcher.ashutdown(drain=not self.ex.control.cancelled)
                self.channel.finish()

    def __aiter__(self) -> AsyncIterator[BaseEvent]:
        self._check_open("iterate over it")
        self._reading = self.channel.events(self._ended)
        return self._reading

    async def _ended(self) -> None:
        assert self._task is not None
        await asyncio.shield(self._task)  # a node's BaseException reaches the consumer

    async def __anext__(self) -> BaseEvent:
        event = self.channel.take() or await self.channel.get()
        if event is None:
            await self._ended()
            raise StopAsyncIteration
        return event

    async def result(self) -> RunResult:
        """Wait for the run to end (events not read yet are skipped) and return its result."""
        self._check_open("ask for its result")
        assert self._task is not None
        self.channel.discard()
        await asyncio.shield(self._task)
        return self.ex.outcome()

    async def __aexit__(self, *exc_info: object) -> None:
        self._exit()
        reading, self._reading = self._reading, None
        # A loop left with `break` leaves its generator suspended at a yield: close it
        # now rather than in a task the loop starts when it is collected. (One still
        # awaiting in another task is running, and cannot be closed from here.)
        if reading is not None and not getattr(reading, "ag_running", True):
            await reading.aclose()
        task = self._task
        if task is None or task.done():
            if task is not None and not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
            return
        # The consumer left early: cancel the run and wait until nothing of it is running.
        self.ex.control.cancel()
        self.channel.close()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def _execution(
    graph: Graph, values: Mapping[str, Any] | None, inputs: dict[str, Any], options: RunOptions
) -> Execution:
    dispatcher = dispatcher_for(options.event_processors)
    return Execution(graph, merge_inputs(values, inputs), options, dispatcher=dispatcher)
