"""SyncRunner: runs nodes one at a time, in graph order.

`run` executes in the calling thread. `iter` executes in one worker thread so that the
caller can read events while nodes stream (even a plain `def` node calling
`ctx.stream`), with the thread waiting whenever the caller falls behind.
"""

from __future__ import annotations

import contextvars
import heapq
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from .._names import quoted
from ..errors import IncompatibleRunnerError
from ..events.dispatch import Dispatcher, dispatcher_for
from ..events.types import BaseEvent
from ..graph.graph import Graph
from ..nodes.graph_node import GraphNode
from ..run import nesting
from ..run.batch import item_workflow, not_started, prepare_items
from ..run.call import NodeCall, drain
from ..run.execution import Control, Execution, merge_inputs
from ..run.handle import RunHandle
from ..run.options import DEFAULT_BUFFER_SIZE, ErrorHandling, Overflow, RunOptions
from ..run.progress import counted
from ..run.progress import for_map as progress_for_map
from ..run.progress import for_run as progress_for_run
from ..run.result import MapResult, RunResult
from ..run.tracking import RunRegistry
from ..streaming.channel import ConsumerGone, ThreadChannel
from . import straight
from .scale import chunked_map

if TYPE_CHECKING:
    from ..durable.cache import Cache
    from ..durable.checkpoint import Checkpointer


class SyncRunner:
    """Run a graph synchronously.

    >>> from hypergraph import Graph, node
    >>> @node(output_name="doubled")
    ... def double(x: int) -> int:
    ...     return 2 * x
    >>> graph = Graph([double])
    >>> SyncRunner().run(graph, x=5)["doubled"]
    10
    >>> with SyncRunner().iter(graph, x=5) as run:
    ...     kinds = [event.kind for event in run]
    ...     result = run.result()
    >>> kinds
    ['run_start', 'node_start', 'node_end', 'run_end']
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

    def run(
        self,
        graph: Graph,
        values: Mapping[str, Any] | None = None,
        *,
        max_iterations: int | None = None,
        error_handling: ErrorHandling = "raise",
        event_processors: Iterable[object] | None = None,
        progress: bool = False,
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
            result = straight.run_sync(graph, values, inputs, error_handling, max_iterations)
            if result is not None:
                return result
        options = RunOptions.build(
            cache=self._cache,
            max_iterations=max_iterations,
            error_handling=error_handling,
            event_processors=progress_for_run(progress, event_processors),
            run_id=run_id,
            checkpointer=self._checkpointer,
            workflow_id=workflow_id,
        )
        ex = self._execution(graph, values, inputs, options)
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
        error_handling: ErrorHandling = "raise",
        event_processors: Iterable[object] | None = None,
        progress: bool = False,
        buffer_size: int = DEFAULT_BUFFER_SIZE,
        overflow: Overflow = "wait",
        run_id: str | None = None,
        workflow_id: str | None = None,
        **inputs: Any,
    ) -> SyncRun:
        """Run `graph` and stream its events: `with runner.iter(g, v) as run: for e in run: ...`."""
        options = RunOptions.build(
            cache=self._cache,
            max_iterations=max_iterations,
            error_handling=error_handling,
            event_processors=progress_for_run(progress, event_processors),
            buffer_size=buffer_size,
            overflow=overflow,
            run_id=run_id,
            checkpointer=self._checkpointer,
            workflow_id=workflow_id,
        )
        channel = ThreadChannel(options.buffer_size, options.overflow)
        ex = self._execution(graph, values, inputs, options)
        # Lifecycle events never wait (a stop from the consumer's own thread must not
        # block on a full buffer); chunks wait for room, which bounds memory.
        ex.attach(channel.offer, channel.put)
        return SyncRun(self._runs, ex, channel)

    def map(
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
        executor: Any = None,
        chunksize: int | None = None,
        workflow_id: str | None = None,
        **inputs: Any,
    ) -> MapResult:
        """Run `graph` once per item of the `map_over` lists; values not mapped are shared.

        `executor=` (a concurrent.futures.Executor or a Dask Client) runs the items there,
        `chunksize` items per submit (automatic by default); see docs/scale-out.md.
        With the runner's checkpointer, item `k` is the workflow `f"{workflow_id}[{k}]"`:
        the same map run again runs only the items that had not finished.

        >>> from hypergraph import Graph, node
        >>> @node(output_name="doubled")
        ... def double(x: int) -> int:
        ...     return 2 * x
        >>> SyncRunner().map(Graph([double]), {"x": [1, 2, 3]}, map_over="x")["doubled"]
        [2, 4, 6]
        """
        if executor is not None or chunksize is not None:
            options = self._map_options(
                max_iterations, error_handling, event_processors, workflow_id
            )
            from ..run import executor_map

            chunks = chunked_map(
                graph, values, inputs, map_over, map_mode, options, executor, chunksize,
                is_async=False,
            )  # fmt: skip
            return executor_map.map_sync(chunks)
        items = self.map_iter(
            graph,
            values,
            map_over=map_over,
            map_mode=map_mode,
            error_handling=error_handling,
            max_iterations=max_iterations,
            event_processors=event_processors,
            progress=progress,
            workflow_id=workflow_id,
            **inputs,
        )
        if isinstance(items, straight.MapItems):
            return items.mapped()
        return MapResult([result for _, result in items])

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
        executor: Any = None,
        chunksize: int | None = None,
        workflow_id: str | None = None,
        **inputs: Any,
    ) -> Iterator[tuple[int, RunResult]]:
        """Like `map`, but yields `(index, RunResult)` lazily, in input order, one at a time.

        With `executor=`, as chunks finish (the items of a chunk in order)."""
        options = self._map_options(max_iterations, error_handling, event_processors, workflow_id)
        if executor is not None or chunksize is not None:
            from ..run import executor_map

            chunks = chunked_map(
                graph, values, inputs, map_over, map_mode, options, executor, chunksize,
                is_async=False,
            )  # fmt: skip
            return executor_map.iter_sync(chunks)
        items = prepare_items(graph, merge_inputs(values, inputs), map_over, map_mode)
        options, display = progress_for_map(progress, graph, len(items), options)
        if not options.event_processors and options.cache is None and options.checkpointer is None:
            # Nobody watches and nothing is kept: the straight-line path (decision 0035).
            fast = straight.map_sync(graph, items, options.error_handling, options.max_iterations)
            if fast is not None:
                return counted(fast, display)
        dispatcher = dispatcher_for(options.event_processors)
        _refuse_async(graph, dispatcher)
        control = Control()

        def results() -> Iterator[tuple[int, RunResult]]:
            try:
                for k, item in enumerate(items):
                    if control.halt:  # a stopped map starts no new item
                        yield k, not_started()
                        continue
                    ex = Execution(
                        graph, item, options, dispatcher=dispatcher, control=control,
                        checked=True, workflow_id=item_workflow(options, k),
                    )  # fmt: skip
                    with self._runs.track(ex):
                        drive(ex)
                    yield k, ex.outcome()
            finally:
                dispatcher.shutdown()

        return counted(results(), display)

    def _map_options(
        self,
        max_iterations: int | None,
        error_handling: ErrorHandling,
        event_processors: Iterable[object] | None,
        workflow_id: str | None,
    ) -> RunOptions:
        # (On an executor, a workflow_id is refused: items there are not checkpointed.)
        return RunOptions.build(
            cache=self._cache,
            max_iterations=max_iterations,
            error_handling=error_handling,
            event_processors=event_processors,
            checkpointer=self._checkpointer,
            workflow_id=workflow_id,
        )

    def stop(self, run_id: str) -> None:
        """Ask the run `run_id` to stop: nothing new starts; streaming nodes close."""
        self._runs.stop(run_id)

    def _execution(
        self,
        graph: Graph,
        values: Mapping[str, Any] | None,
        inputs: dict[str, Any],
        options: RunOptions,
    ) -> Execution:
        dispatcher = dispatcher_for(options.event_processors)
        _refuse_async(graph, dispatcher)
        return Execution(graph, merge_inputs(values, inputs), options, dispatcher=dispatcher)


class SyncRun(RunHandle[ThreadChannel]):
    """A sync run whose events are read as they happen. Leave the `with` to cancel it."""

    _form = "with runner.iter(graph, values) as run:\n    for event in run: ..."

    def __init__(self, registry: RunRegistry, ex: Execution, channel: ThreadChannel) -> None:
        self._registry = registry
        self.ex = ex
        self.channel = channel
        self._aborted: BaseException | None = None  # a KeyboardInterrupt in a node, say
        # The caller's context variables reach the nodes, as they do in SyncRunner.run.
        context = contextvars.copy_context()
        self._thread = threading.Thread(
            target=context.run, args=(self._main,), name="hypergraph-run", daemon=True
        )

    def __enter__(self) -> SyncRun:
        self._enter()
        self._thread.start()
        return self

    def _main(self) -> None:
        with self._registry.track(self.ex):
            try:
                drive(self.ex)
            except ConsumerGone:
                self.ex.control.cancel()
            except BaseException as exc:  # re-raised in the consumer's thread
                self._aborted = exc
            finally:
                self.ex.dispatcher.shutdown()
                self.channel.finish()

    def __iter__(self) -> Iterator[BaseEvent]:
        self._check_open("iterate over it")
        while (event := self.channel.get()) is not None:
            yield event
        self._reraise()

    def result(self) -> RunResult:
        """Wait for the run to end (events not read yet are skipped) and return its result."""
        self._check_open("ask for its result")
        self.channel.discard()
        self._thread.join()
        self._reraise()
        return self.ex.outcome()

    def _reraise(self) -> None:
        if self._aborted is not None:
            raise self._aborted

    def __exit__(self, *exc_info: object) -> None:
        self._exit()
        if self._thread.is_alive():
            # The consumer left early: the run's next event or chunk raises ConsumerGone
            # in its thread, which unwinds the node; we wait until it has.
            self.ex.control.cancel()
            self.channel.close()
            self._thread.join()


def drive(ex: Execution) -> None:
    """Run `ex` to the end in this thread."""
    try:
        ready = ex.start()
        heapq.heapify(ready)
        control = ex.control
        while ready and not (ex.failed or control.halt):
            for r in _execute(ex, heapq.heappop(ready)):
                heapq.heappush(ready, r)
    except ConsumerGone:
        raise
    except BaseException as exc:  # KeyboardInterrupt in a node, say: it aborts the run
        ex.abort(exc)
        raise
    finally:
        try:
            ex.end()
        except ConsumerGone:  # the consumer left already: nobody reads the end
            ex.control.cancel()


def _execute(ex: Execution, i: int) -> list[int]:
    """Execute node `i`; the nodes it made ready."""
    node = ex.nodes[i]
    if ex.plain[i]:  # the fast path: a plain function, nothing streamed
        args = ex.inputs_for(i)
        if ex.events:
            ex.emit(ex.node_start_event(i))
        try:
            result = node.func(**args)  # type: ignore[attr-defined]
        except Exception as exc:
            return ex.fail(i, exc)
        return ex.finish(i, result)
    call = NodeCall(ex, i)
    try:
        return _graph_node(call) if isinstance(node, GraphNode) else _execute_call(call)
    finally:
        call.close()


def _execute_call(call: NodeCall) -> list[int]:
    """A node that streams, takes a NodeContext or has a policy: its one execution.

    SyncRunner cannot interrupt a call: a timeout is checked at each chunk and when the
    call returns (a call that returned past its deadline failed).
    """
    ex = call.ex
    node = call.node
    control = ex.control
    timed = call.policy is not None

    def send(chunk: Any) -> None:
        if control.cancelled:
            raise ConsumerGone()
        if timed and (late := call.expired()) is not None:
            raise late
        event = call.record(chunk)
        if event is not None:
            ex.emit_chunk(event)

    try:
        answered = call.answered()
        if answered is not None:
            return answered
        entry = call.cached_entry()
        if entry is not None:  # a hit: the same stream, then the same result
            for chunk in entry.chunks:
                send(chunk)
            return call.finish(entry.value, cached=True)
        while True:
            call.begin_attempt()
            try:
                result = node.func(**call.args(send))  # type: ignore[attr-defined]
                if node.is_generator:
                    if drain(result, send, control):
                        return call.stopped()
                    result = call.chunks
                if timed and call.expired() is not None:
                    raise call.timeout_error(interrupted=node.is_generator)
            except Exception as exc:
                delay = call.retry_delay(exc)
                if delay is None:
                    return call.fail(exc)
                time.sleep(delay)  # the backoff: SyncRunner waits in its own thread
                continue
            call.store(result)
            return call.finish(result)
    except ConsumerGone:
        call.stopped()
        raise


def _graph_node(call: NodeCall) -> list[int]:
    node = call.node
    assert isinstance(node, GraphNode)
    try:
        runs = nesting.children(call.ex, call.i, call.args(nesting.no_chunks))
        for run in runs:
            drive(run)
            if run.error is not None and node.map_errors == "raise":
                break  # later items would be wasted: the node fails with this error
        return nesting.outcome(call, runs)
    except Exception as exc:
        return call.fail(exc)


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
