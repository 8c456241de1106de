"""SyncRunner: runs nodes one at a time, in graph order, in the calling thread."""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping
from typing import Any

from .._names import quoted
from ..errors import IncompatibleRunnerError
from ..events.dispatch import Dispatcher
from ..graph.graph import Graph
from .execution import Execution, merge_inputs
from .result import RunResult


class SyncRunner:
    """Run a graph synchronously.

    >>> result = SyncRunner().run(graph, {"x": 5})
    >>> result["doubled"]
    10
    """

    def run(
        self,
        graph: Graph,
        values: Mapping[str, Any] | None = None,
        *,
        max_iterations: int | None = None,
        error_handling: str = "raise",
        event_processors: Iterable[object] | None = None,
        **inputs: Any,
    ) -> RunResult:
        """Run `graph` with `values` (a dict, or keyword arguments) and return its result."""
        dispatcher = Dispatcher(event_processors or ())
        _refuse_async(graph, dispatcher)
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
            ready = ex.sched.start()
            heapq.heapify(ready)
            while ready and not ex.halted:
                i = heapq.heappop(ready)
                for r in self._execute(ex, i):
                    heapq.heappush(ready, r)
        finally:
            if ex.events:
                ex.emit(ex.run_end_event())
                ex.events.shutdown()
        if ex.error is not None and ex.raise_errors:
            raise ex.error
        return ex.result()

    def _execute(self, ex: Execution, i: int) -> list[int]:
        node = ex.nodes[i]
        chunks: list[Any] = []

        def send(chunk: Any) -> None:
            if ex.events:
                ex.emit(ex.chunk_event(i, chunk, len(chunks)))
            chunks.append(chunk)

        args = ex.call_args(i, send)
        if ex.events:
            ex.emit(ex.node_start_event(i))
        try:
            if node.is_generator:
                for item in node.func(**args):  # type: ignore[attr-defined]
                    send(item)
                result: Any = chunks
            else:
                result = node.func(**args)  # type: ignore[attr-defined]
            return ex.finish(i, result)
        except Exception as exc:
            if chunks:
                ex.keep_partial(i, chunks)
            return ex.fail(i, exc)


def _refuse_async(graph: Graph, dispatcher: Dispatcher) -> None:
    if isinstance(graph, Graph) and graph.has_async_nodes:
        names = [n.name for n in graph._plan.nodes if n.is_async]
        raise IncompatibleRunnerError(
            f"SyncRunner cannot run async nodes: {quoted(names)}.\n"
            "How to fix: use AsyncRunner (await AsyncRunner().run(graph, values)), or make "
            "those nodes plain def functions.",
            nodes=names,
        )
    if dispatcher.async_:
        raise IncompatibleRunnerError(
            "SyncRunner cannot await async event processors "
            f"({', '.join(type(p).__name__ for p in dispatcher.async_)}).\n"
            "How to fix: use AsyncRunner, or give the processor a plain def on_event."
        )
