"""AsyncRunner: run, stream (`iter`), map and map_iter on an asyncio event loop.

How nodes are scheduled and executed is in `async_drive.py`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Iterable, Mapping
from typing import Any

from ..events.dispatch import dispatcher_for
from ..events.types import BaseEvent
from ..graph.graph import Graph
from ..run.batch import DEFAULT_MAP_ITER_CONCURRENCY, prepare_items
from ..run.execution import Control, Execution, merge_inputs
from ..run.handle import RunHandle
from ..run.result import MapResult, RunResult
from ..run.tracking import RunRegistry
from ..streaming.async_channel import AsyncChannel
from ..streaming.channel import DEFAULT_BUFFER_SIZE
from .async_drive import drive


class AsyncRunner:
    """Run a graph on an asyncio event loop.

    >>> result = await AsyncRunner().run(graph, {"x": 5})
    >>> async with AsyncRunner().iter(graph, {"x": 5}) as run:
    ...     async for event in run:
    ...         print(event)
    ...     result = await run.result()
    """

    def __init__(self) -> None:
        self._runs = RunRegistry()

    async def run(
        self,
        graph: Graph,
        values: Mapping[str, Any] | None = None,
        *,
        max_iterations: int | None = None,
        error_handling: str = "raise",
        event_processors: Iterable[object] | None = None,
        max_concurrency: int | None = None,
        **inputs: Any,
    ) -> RunResult:
        """Run `graph` with `values` (a dict, or keyword arguments) and return its result."""
        _check_concurrency(max_concurrency)
        ex = Execution(
            graph,
            merge_inputs(values, inputs),
            max_iterations=max_iterations,
            error_handling=error_handling,
            dispatcher=dispatcher_for(event_processors),
        )
        with self._runs.track(ex):
            try:
                await drive(ex, max_concurrency, None)
            finally:
                await ex.dispatcher.ashutdown()
        return ex.outcome()

    def iter(
        self,
        graph: Graph,
        values: Mapping[str, Any] | None = None,
        *,
        max_iterations: int | None = None,
        error_handling: str = "raise",
        event_processors: Iterable[object] | None = None,
        max_concurrency: int | None = None,
        buffer_size: int = DEFAULT_BUFFER_SIZE,
        overflow: str = "wait",
        **inputs: Any,
    ) -> AsyncRun:
        """Run `graph` and stream its events: `async with runner.iter(g, v) as run: ...`."""
        _check_concurrency(max_concurrency)

        def start(channel: AsyncChannel) -> Execution:
            return Execution(
                graph,
                merge_inputs(values, inputs),
                max_iterations=max_iterations,
                error_handling=error_handling,
                dispatcher=dispatcher_for(event_processors),
                deliver=channel.offer,
            )

        return AsyncRun(self._runs, start, max_concurrency, buffer_size, overflow)

    async def map(
        self,
        graph: Graph,
        values: Mapping[str, Any] | None = None,
        *,
        map_over: str | Iterable[str],
        map_mode: str = "zip",
        error_handling: str = "raise",
        max_iterations: int | None = None,
        event_processors: Iterable[object] | None = None,
        max_concurrency: int | None = None,
        **inputs: Any,
    ) -> MapResult:
        """Run `graph` once per item of the `map_over` lists, items concurrently.

        `max_concurrency` caps node executions across all items (and items in flight).
        With error_handling="raise", the error of the first failing item *by index* is
        raised once all items ended, so the outcome does not depend on timing.
        """
        _check_concurrency(max_concurrency)
        items = prepare_items(graph, merge_inputs(values, inputs), map_over, map_mode)
        results: list[RunResult] = [None] * len(items)  # type: ignore[list-item]
        runs = self._map_runs(
            graph, items, error_handling, max_iterations, event_processors, max_concurrency,
            in_flight=max_concurrency or len(items), raising=False,
        )  # fmt: skip
        async with contextlib.aclosing(runs):
            async for k, result in runs:
                results[k] = result
        failed = next((r for r in results if r.error is not None), None)
        if failed is not None and error_handling == "raise":
            raise failed.error  # type: ignore[misc]
        return MapResult(results)

    def map_iter(
        self,
        graph: Graph,
        values: Mapping[str, Any] | None = None,
        *,
        map_over: str | Iterable[str],
        map_mode: str = "zip",
        error_handling: str = "raise",
        max_iterations: int | None = None,
        event_processors: Iterable[object] | None = None,
        max_concurrency: int | None = None,
        **inputs: Any,
    ) -> AsyncGenerator[tuple[int, RunResult], None]:
        """Yield `(index, RunResult)` as items finish, at most `max_concurrency` in flight.

        Memory stays bounded: a new item starts only when the consumer has taken a
        finished one. Leaving the loop early (best inside `contextlib.aclosing`) cancels
        the items in flight.
        """
        _check_concurrency(max_concurrency)
        items = prepare_items(graph, merge_inputs(values, inputs), map_over, map_mode)
        return self._map_runs(
            graph, items, error_handling, max_iterations, event_processors, max_concurrency,
            in_flight=max_concurrency or DEFAULT_MAP_ITER_CONCURRENCY, raising=True,
        )  # fmt: skip

    async def _map_runs(
        self,
        graph: Graph,
        items: list[dict[str, Any]],
        error_handling: str,
        max_iterations: int | None,
        event_processors: Iterable[object] | None,
        max_concurrency: int | None,
        in_flight: int,
        raising: bool,
    ) -> AsyncGenerator[tuple[int, RunResult], None]:
        dispatcher = dispatcher_for(event_processors)
        control = Control()
        if max_concurrency:
            control.limiter = asyncio.Semaphore(max_concurrency)
        todo = iter(enumerate(items))
        running: dict[asyncio.Task[None], tuple[int, Execution]] = {}
        loop = asyncio.get_running_loop()
        try:
            while True:
                while len(running) < in_flight and (nxt := next(todo, None)) is not None:
                    k, item = nxt
                    ex = Execution(
                        graph,
                        item,
                        max_iterations=max_iterations,
                        error_handling=error_handling,
                        dispatcher=dispatcher,
                        control=control,
                        checked=True,
                    )
                    running[loop.create_task(self._tracked(ex))] = (k, ex)
                if not running:
                    return
                done, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                for task in sorted(done, key=lambda t: running[t][0]):
                    k, ex = running.pop(task)
                    task.result()
                    yield k, ex.outcome() if raising else ex.result()
        finally:
            control.cancelled = True
            for task in running:
                task.cancel()
            if running:
                await asyncio.gather(*running, return_exceptions=True)
            await dispatcher.ashutdown()

    async def _tracked(self, ex: Execution) -> None:
        with self._runs.track(ex):
            await drive(ex, None, None)

    def stop(self, run_id: str) -> None:
        """Ask the run `run_id` to stop: nothing new starts; streaming nodes close."""
        self._runs.stop(run_id)


class AsyncRun(RunHandle[AsyncChannel]):
    """An async run whose events are read as they happen. Leave the `async with` to cancel it."""

    def __init__(
        self,
        registry: RunRegistry,
        start: Any,
        max_concurrency: int | None,
        buffer_size: int,
        overflow: str,
    ) -> None:
        self._registry = registry
        self._start = start
        self._cap = max_concurrency
        self._size = buffer_size
        self._overflow = overflow
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> AsyncRun:
        self.channel = AsyncChannel(self._size, self._overflow)
        self.ex: Execution = self._start(self.channel)
        self._task = asyncio.get_running_loop().create_task(self._main())
        return self

    async def _main(self) -> None:
        with self._registry.track(self.ex):
            try:
                await drive(self.ex, self._cap, self.channel)
            finally:
                await self.ex.dispatcher.ashutdown()
                self.channel.finish()

    def __aiter__(self) -> AsyncIterator[BaseEvent]:
        return self

    async def __anext__(self) -> BaseEvent:
        event = self.channel.take() or await self.channel.get()
        if event is None:
            raise StopAsyncIteration
        return event

    async def result(self) -> RunResult:
        """Wait for the run to end (events not read yet are skipped) and return its result."""
        assert self._task is not None, "use `async with runner.iter(...) as run`"
        self.channel.discard()
        await asyncio.shield(self._task)
        return self.ex.outcome()

    async def __aexit__(self, *exc_info: object) -> None:
        task = self._task
        if task is None or task.done():
            return
        # The consumer left early: cancel the run and wait until nothing of it is running.
        self.ex.control.cancel()
        self.channel.close()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def _check_concurrency(max_concurrency: int | None) -> None:
    if max_concurrency is not None and (type(max_concurrency) is not int or max_concurrency < 1):
        from ..errors import InputValueError

        raise InputValueError(
            f"max_concurrency must be a positive int or None, got {max_concurrency!r}.",
            names=["max_concurrency"],
        )
