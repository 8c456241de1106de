"""SyncRunner: runs nodes one at a time, in graph order.

`run` executes in the calling thread. `iter` executes in one worker thread so that the
caller can read events while nodes stream (even a plain `def` node calling
`ctx.stream`), with the thread waiting whenever the caller falls behind.
"""

from __future__ import annotations

import heapq
import threading
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from .._names import quoted
from ..errors import IncompatibleRunnerError
from ..events.dispatch import Dispatcher, dispatcher_for
from ..events.types import BaseEvent
from ..graph.graph import Graph
from ..nodes.graph_node import GraphNode
from ..run import nesting
from ..run.batch import prepare_items
from ..run.execution import Control, Execution, merge_inputs
from ..run.handle import RunHandle
from ..run.result import MapResult, RunResult
from ..run.tracking import RunRegistry
from ..streaming.channel import DEFAULT_BUFFER_SIZE, ConsumerGone, ThreadChannel


class SyncRunner:
    """Run a graph synchronously.

    >>> result = SyncRunner().run(graph, {"x": 5})
    >>> with SyncRunner().iter(graph, {"x": 5}) as run:
    ...     for event in run:
    ...         print(event)
    ...     result = run.result()
    """

    def __init__(self) -> None:
        self._runs = RunRegistry()

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
        ex = self._execution(
            graph, values, inputs, max_iterations, error_handling, event_processors
        )
        with self._runs.track(ex):
            try:
                drive(ex)
            finally:
                ex.dispatcher.shutdown()
        return ex.outcome()

    def iter(
        self,
        graph: Graph,
        values: Mapping[str, Any] | None = None,
        *,
        max_iterations: int | None = None,
        error_handling: str = "raise",
        event_processors: Iterable[object] | None = None,
        buffer_size: int = DEFAULT_BUFFER_SIZE,
        overflow: str = "wait",
        **inputs: Any,
    ) -> SyncRun:
        """Run `graph` and stream its events: `with runner.iter(g, v) as run: for e in run: ...`."""
        channel = ThreadChannel(buffer_size, overflow)
        ex = self._execution(
            graph, values, inputs, max_iterations, error_handling, event_processors, channel
        )
        return SyncRun(self._runs, ex, channel)

    def map(
        self,
        graph: Graph,
        values: Mapping[str, Any] | None = None,
        *,
        map_over: str | Iterable[str],
        map_mode: str = "zip",
        error_handling: str = "raise",
        max_iterations: int | None = None,
        event_processors: Iterable[object] | None = None,
        **inputs: Any,
    ) -> MapResult:
        """Run `graph` once per item of the `map_over` lists; values not mapped are shared.

        >>> SyncRunner().map(graph, {"x": [1, 2, 3]}, map_over="x")["doubled"]
        [2, 4, 6]
        """
        items = self.map_iter(
            graph,
            values,
            map_over=map_over,
            map_mode=map_mode,
            error_handling=error_handling,
            max_iterations=max_iterations,
            event_processors=event_processors,
            **inputs,
        )
        return MapResult([result for _, result in items])

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
        **inputs: Any,
    ) -> Iterator[tuple[int, RunResult]]:
        """Like `map`, but yields `(index, RunResult)` lazily, in input order, one at a time."""
        items = prepare_items(graph, merge_inputs(values, inputs), map_over, map_mode)
        dispatcher = dispatcher_for(event_processors)
        _refuse_async(graph, dispatcher)
        control = Control()

        def results() -> Iterator[tuple[int, RunResult]]:
            try:
                for k, item in enumerate(items):
                    ex = Execution(
                        graph,
                        item,
                        max_iterations=max_iterations,
                        error_handling=error_handling,
                        dispatcher=dispatcher,
                        control=control,
                        checked=True,
                    )
                    with self._runs.track(ex):
                        drive(ex)
                    yield k, ex.outcome()
            finally:
                dispatcher.shutdown()

        return results()

    def stop(self, run_id: str) -> None:
        """Ask the run `run_id` to stop: nothing new starts; streaming nodes close."""
        self._runs.stop(run_id)

    def _execution(
        self,
        graph: Graph,
        values: Mapping[str, Any] | None,
        inputs: dict[str, Any],
        max_iterations: int | None,
        error_handling: str,
        event_processors: Iterable[object] | None,
        channel: ThreadChannel | None = None,
    ) -> Execution:
        dispatcher = dispatcher_for(event_processors)
        _refuse_async(graph, dispatcher)
        return Execution(
            graph,
            merge_inputs(values, inputs),
            max_iterations=max_iterations,
            error_handling=error_handling,
            dispatcher=dispatcher,
            # Lifecycle events never wait (a stop from the consumer's own thread must not
            # block on a full buffer); chunks wait for room, which bounds memory.
            deliver=None if channel is None else channel.offer,
            deliver_chunk=None if channel is None else channel.put,
        )


class SyncRun(RunHandle[ThreadChannel]):
    """A sync run whose events are read as they happen. Leave the `with` to cancel it."""

    def __init__(self, registry: RunRegistry, ex: Execution, channel: ThreadChannel) -> None:
        self._registry = registry
        self.ex = ex
        self.channel = channel
        self._thread = threading.Thread(target=self._main, name="hypergraph-run", daemon=True)

    def __enter__(self) -> SyncRun:
        self._thread.start()
        return self

    def _main(self) -> None:
        with self._registry.track(self.ex):
            try:
                drive(self.ex)
            except ConsumerGone:
                self.ex.control.cancel()
            finally:
                self.ex.dispatcher.shutdown()
                self.channel.finish()

    def __iter__(self) -> Iterator[BaseEvent]:
        while (event := self.channel.get()) is not None:
            yield event

    def result(self) -> RunResult:
        """Wait for the run to end (events not read yet are skipped) and return its result."""
        self.channel.discard()
        self._thread.join()
        return self.ex.outcome()

    def __exit__(self, *exc_info: object) -> None:
        if self._thread.is_alive():
            # The consumer left early: the run's next event or chunk raises ConsumerGone
            # in its thread, which unwinds the node; we wait until it has.
            self.ex.control.cancel()
            self.channel.close()
            self._thread.join()


def drive(ex: Execution) -> None:
    """Run `ex` to the end in this thread; its start event went out when it was made."""
    try:
        ready = ex.sched.start()
        heapq.heapify(ready)
        control = ex.control
        while ready and not (ex.failed or control.halt):
            for r in _execute(ex, heapq.heappop(ready)):
                heapq.heappush(ready, r)
    finally:
        if ex.events:
            try:
                ex.emit(ex.run_end_event())
            except ConsumerGone:  # the consumer left already: nobody reads the end
                ex.control.cancel()


def _execute(ex: Execution, i: int) -> list[int]:
    node = ex.nodes[i]
    if ex.plain[i]:
        args = ex.sched.inputs_for(i)
        if ex.events:
            ex.emit(ex.node_start_event(i))
        try:
            result = node.func(**args)  # type: ignore[attr-defined]
        except Exception as exc:
            return ex.fail(i, exc)
        return ex.finish(i, result)
    chunks: list[Any] = []
    control = ex.control
    if ex.events:
        ex.emit(ex.node_start_event(i))
    make = ex.chunk_maker(i) if ex.events else None

    def send(chunk: Any) -> None:
        if control.cancelled:
            raise ConsumerGone()
        if make is not None:
            ex.emit_chunk(make(chunk, len(chunks)))
        chunks.append(chunk)

    args = ex.call_args(i, send)
    try:
        if isinstance(node, GraphNode):
            runs = nesting.children(ex, i, args)
            for run in runs:
                drive(run)
                if run.error is not None and node.map_errors == "raise":
                    break  # later items would be wasted: the node fails with this error
            return ex.finish(i, nesting.outputs(node, runs))
        if node.is_generator:
            gen = node.func(**args)  # type: ignore[attr-defined]
            try:
                for item in gen:
                    send(item)
                    if control.stop_requested:
                        return ex.stopped(i, chunks)
            finally:
                gen.close()
            result = chunks
        else:
            result = node.func(**args)  # type: ignore[attr-defined]
        return ex.finish(i, result)
    except Exception as exc:
        if chunks:
            ex.keep_partial(i, chunks)
        return ex.fail(i, exc)
    except ConsumerGone:
        ex.stopped(i, chunks)
        raise


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
