"""AsyncRunner: starts every node the moment it is ready.

Each node runs in its own task; when it finishes, that same task records the outcome
and launches whatever became ready, so an independent fast branch never waits for a
slow sibling. `async def` nodes are awaited on the loop; plain `def` nodes run in
worker threads so they cannot block it (gates excepted: they only decide, quickly).
"""

from __future__ import annotations

import asyncio
import heapq
from collections.abc import Iterable, Mapping
from typing import Any

from ..events.dispatch import Dispatcher
from ..graph.graph import Graph
from ..nodes.gate import GateNode
from .execution import Execution, merge_inputs
from .result import RunResult


class AsyncRunner:
    """Run a graph on an asyncio event loop.

    >>> result = await AsyncRunner().run(graph, {"x": 5})
    """

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
        dispatcher = Dispatcher(event_processors or ())
        ex = Execution(
            graph,
            merge_inputs(values, inputs),
            max_iterations=max_iterations,
            error_handling=error_handling,
            dispatcher=dispatcher,
        )
        if ex.events:
            ex.emit(ex.run_start_event())
        try:
            await _Drive(ex, max_concurrency).run()
        finally:
            if ex.events:
                ex.emit(ex.run_end_event())
                await ex.events.ashutdown()
        if ex.error is not None and ex.raise_errors:
            raise ex.error
        return ex.result()


class _Drive:
    """The tasks of one run, and the cap on how many run at once."""

    def __init__(self, ex: Execution, max_concurrency: int | None) -> None:
        self.ex = ex
        self.cap = max_concurrency or 0
        self.tasks: set[asyncio.Task[None]] = set()
        self.waiting: list[int] = []
        self.loop = asyncio.get_running_loop()
        self.done = self.loop.create_future()

    async def run(self) -> None:
        self.launch(self.ex.sched.start())
        self.check_done()
        try:
            await self.done
        finally:
            # Leaving early (a failure, or our caller was cancelled) cancels what is in flight
            # and waits for it, so nothing keeps running after the run returns.
            for t in self.tasks:
                t.cancel()
            if self.tasks:
                await asyncio.gather(*self.tasks, return_exceptions=True)

    def launch(self, ready: list[int]) -> None:
        for i in ready:
            heapq.heappush(self.waiting, i)
        while self.waiting and not self.ex.halted and (not self.cap or len(self.tasks) < self.cap):
            i = heapq.heappop(self.waiting)
            task = self.loop.create_task(self.node(i))
            self.tasks.add(task)

    def check_done(self) -> None:
        finished = not self.tasks and (self.ex.halted or not self.waiting)
        if (finished or (self.ex.halted and self.ex.raise_errors)) and not self.done.done():
            self.done.set_result(None)

    async def node(self, i: int) -> None:
        task = asyncio.current_task()
        try:
            ready = await self.execute(i)
        finally:
            if task is not None:
                self.tasks.discard(task)
        self.launch(ready)
        self.check_done()

    async def execute(self, i: int) -> list[int]:
        ex = self.ex
        node = ex.nodes[i]
        chunks: list[Any] = []

        def send(chunk: Any) -> None:
            if ex.events:
                ex.emit(ex.chunk_event(i, chunk, len(chunks)))
            chunks.append(chunk)

        def send_from_thread(chunk: Any) -> None:
            self.loop.call_soon_threadsafe(send, chunk)

        args = ex.call_args(
            i, send if node.is_async or isinstance(node, GateNode) else send_from_thread
        )
        if ex.events:
            ex.emit(ex.node_start_event(i))
        func = node.func  # type: ignore[attr-defined]
        try:
            if node.is_async and node.is_generator:
                async for item in func(**args):
                    send(item)
                result: Any = chunks
            elif node.is_async:
                result = await func(**args)
            elif isinstance(node, GateNode):
                result = func(**args)
            elif node.is_generator:
                # Chunks scheduled from the thread run before the thread's completion does:
                # the loop's callback queue is FIFO.
                await asyncio.to_thread(_drain_generator, func, args, send_from_thread)
                result = chunks
            else:
                result = await asyncio.to_thread(func, **args)
            return ex.finish(i, result)
        except Exception as exc:
            if chunks:
                ex.keep_partial(i, chunks)
            return ex.fail(i, exc)


def _drain_generator(func: Any, args: dict[str, Any], send: Any) -> None:
    for item in func(**args):
        send(item)


def _check_concurrency(max_concurrency: int | None) -> None:
    if max_concurrency is not None and (
        not isinstance(max_concurrency, int) or max_concurrency < 1
    ):
        from ..errors import InputValueError

        raise InputValueError(
            f"max_concurrency must be a positive int or None, got {max_concurrency!r}.",
            names=["max_concurrency"],
        )
