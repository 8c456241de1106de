"""runner.map(executor=...) in this process (SPEC §14, decision 0026): chunking, checks
before submission, what travels back, events, and error handling.

`PickleInline` is a real `concurrent.futures.Executor` that runs each submit at once in
this thread. It is not a thread pool, so the map pickles everything as for a process pool:
the whole pickling path runs here, in milliseconds, and the executor counts the submits.
Real worker processes (a process pool, a Dask cluster) are in test_executor_remote.py.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import multiprocessing
import pickle
import threading
from collections.abc import Callable
from typing import Any

import pytest

from conftest import run_async
from graphs import remote
from hypergraph import (
    AsyncRunner,
    Graph,
    IncompatibleRunnerError,
    InfiniteLoopError,
    MapResult,
    NodeEndEvent,
    RunEndEvent,
    RunStartEvent,
    RunStatus,
    StreamingChunkEvent,
    SyncRunner,
    node,
)
from hypergraph.errors import InputValueError
from hypergraph.run.executor_map import ChunkedMap, ChunkTask, ScaleOut, run_chunk
from hypergraph.run.options import RunOptions
from hypergraph.run.portable import RemoteError, TransferError, node_function


class PickleInline(cf.Executor):
    """Runs each submitted call at once, here; counts the submits."""

    def __init__(self, max_workers: int = 2) -> None:
        self._max_workers = max_workers
        self.submits = 0

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> cf.Future[Any]:
        self.submits += 1
        future: cf.Future[Any] = cf.Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as exc:
            future.set_exception(exc)
        return future


class Recorder:
    def __init__(self) -> None:
        self.events: list[Any] = []

    def on_event(self, event: Any) -> None:
        self.events.append(event)


def run_map(mode: str, graph: Graph, values: dict[str, Any], **options: Any) -> MapResult:
    if mode == "sync":
        return SyncRunner().map(graph, values, **options)
    return run_async(AsyncRunner().map(graph, values, **options))


def values_of(result: MapResult) -> list[dict[str, Any]]:
    return [{k: v for k, v in r.values.items() if k != "pid"} for r in result]


@pytest.fixture(params=["sync", "async"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


# -- same results, in item order ----------------------------------------------------------


@pytest.mark.parametrize("make", [remote.dag, remote.nested, remote.loop])
def test_map_on_an_executor_gives_the_local_results_in_item_order(
    mode: str, make: Callable[[], Graph]
) -> None:
    values: dict[str, Any] = {
        remote.dag: {"x": list(range(7)), "offset": 5},
        remote.nested: {"a": list(range(7)), "count": 0, "limit": [1, 3]},
        remote.loop: {"limit": list(range(7)), "count": 0},
    }[make]
    over = next(k for k, v in values.items() if isinstance(v, list) and len(v) == 7)
    local = run_map(mode, make(), values, map_over=over)
    pool = PickleInline()
    spread = run_map(mode, make(), values, map_over=over, executor=pool, chunksize=3)
    assert values_of(spread) == values_of(local)
    assert [r.status for r in spread] == [RunStatus.COMPLETED] * 7
    assert pool.submits == 3  # 7 items in chunks of 3


def test_a_thread_pool_runs_graphs_that_could_not_be_pickled(mode: str) -> None:
    shout = Graph([node(lambda word: word.upper(), output_name="loud")])
    with cf.ThreadPoolExecutor(2) as pool:
        result = run_map(mode, shout, {"word": ["a", "b", "c"]}, map_over="word", executor=pool)
    assert result["loud"] == ["A", "B", "C"]


def test_sync_runner_runs_an_async_graph_on_an_executor_with_an_async_runner_there() -> None:
    result = SyncRunner().map(
        remote.async_dag(), {"x": [1, 2, 3]}, map_over="x", executor=PickleInline()
    )
    assert result["y"] == [3, 5, 7]


def test_map_product_on_an_executor_follows_the_local_order(mode: str) -> None:
    values = {"x": [1, 2, 3], "offset": [0, 100]}
    options: dict[str, Any] = {"map_over": ["x", "offset"], "map_mode": "product"}
    local = run_map(mode, remote.dag(), values, **options)
    spread = run_map(mode, remote.dag(), values, executor=PickleInline(), chunksize=4, **options)
    assert spread["y"] == local["y"] == [2, 102, 4, 104, 6, 106]


def test_map_over_no_items_submits_nothing(mode: str) -> None:
    pool = PickleInline()
    result = run_map(mode, remote.dag(), {"x": []}, map_over="x", executor=pool)
    assert len(result) == 0 and result.status is RunStatus.COMPLETED
    assert pool.submits == 0


# -- chunks ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("items", "workers", "submits"), [(200, 2, 8), (5, 2, 5), (100, 1, 4)])
def test_automatic_chunk_size_gives_each_worker_about_four_chunks(
    items: int, workers: int, submits: int
) -> None:
    pool = PickleInline(max_workers=workers)
    result = SyncRunner().map(remote.dag(), {"x": list(range(items))}, map_over="x", executor=pool)
    assert pool.submits == submits
    assert result["y"] == [2 * x + 1 for x in range(items)]


def test_chunksize_sets_the_items_per_submit() -> None:
    pool = PickleInline()
    SyncRunner().map(remote.dag(), {"x": list(range(10))}, map_over="x", executor=pool, chunksize=1)
    assert pool.submits == 10


@pytest.mark.parametrize("chunksize", [0, -1, 2.5, "3"])
def test_a_chunksize_that_is_not_a_positive_int_is_refused(chunksize: Any) -> None:
    with pytest.raises(InputValueError, match="chunksize must be a positive int"):
        SyncRunner().map(
            remote.dag(), {"x": [1]}, map_over="x", executor=PickleInline(), chunksize=chunksize
        )


def test_chunksize_without_an_executor_is_refused_with_how_to_fix() -> None:
    with pytest.raises(InputValueError, match="without an executor") as excinfo:
        SyncRunner().map(remote.dag(), {"x": [1]}, map_over="x", chunksize=10)
    assert "How to fix: pass executor=" in str(excinfo.value)


def test_something_that_is_not_an_executor_is_refused_naming_what_is_accepted() -> None:
    with pytest.raises(InputValueError, match=r"concurrent\.futures\.Executor") as excinfo:
        SyncRunner().map(remote.dag(), {"x": [1]}, map_over="x", executor="tcp://scheduler:8786")
    assert 'pip install "hypergraph[dask]"' in str(excinfo.value)
    assert excinfo.value.names == ["executor"]


def test_a_thread_pool_sees_the_callers_context_variables(mode: str) -> None:
    with cf.ThreadPoolExecutor(2) as pool:
        token = remote.REQUEST.set("req-7")
        try:
            result = run_map(mode, remote.tagged(), {"x": [1, 2]}, map_over="x", executor=pool)
        finally:
            remote.REQUEST.reset(token)
    assert result["tag"] == ["req-7:1", "req-7:2"]


def test_items_on_forked_workers_get_distinct_run_ids() -> None:
    # Forked workers start with the caller's id prefix and counter; they must not share ids.
    fork = multiprocessing.get_context("fork")
    with cf.ProcessPoolExecutor(2, mp_context=fork) as pool:
        result = SyncRunner().map(
            remote.dag(), {"x": list(range(40))}, map_over="x", executor=pool, chunksize=1
        )
    assert len({r.run_id for r in result}) == 40


def test_a_thread_pool_travels_as_objects_and_a_process_pool_pickled() -> None:
    with cf.ThreadPoolExecutor(3) as threads, cf.ProcessPoolExecutor(2) as processes:
        assert ScaleOut.build(threads, None).transport == "objects"
        assert ScaleOut.build(threads, None).workers == 3
        assert ScaleOut.build(processes, None).transport == "pickle"
        assert ScaleOut.build(processes, None).workers == 2


# -- what cannot travel fails before anything is submitted ----------------------------------


def test_a_lambda_node_fails_before_any_submit_naming_the_node() -> None:
    pool = PickleInline()
    shout = Graph([node(lambda word: word.upper(), output_name="loud", name="shout")])
    with pytest.raises(TransferError, match="Node 'shout' cannot be sent") as excinfo:
        SyncRunner().map(shout, {"word": ["a"]}, map_over="word", executor=pool)
    assert "is a lambda" in str(excinfo.value)
    assert "How to fix: define the function with def at the top level" in str(excinfo.value)
    assert excinfo.value.node == "shout"
    assert pool.submits == 0


def test_a_node_defined_inside_a_function_fails_naming_the_node_and_its_nesting() -> None:
    @node(output_name="y")
    def local_step(x: int) -> int:
        return x

    inner = Graph([local_step], name="inner")
    outer = Graph([inner.as_node()])
    pool = PickleInline()
    with pytest.raises(TransferError, match="Node 'inner/local_step'") as excinfo:
        SyncRunner().map(outer, {"x": [1, 2]}, map_over="x", executor=pool)
    assert "defined inside test_a_node_defined_inside_a_function" in str(excinfo.value)
    assert pool.submits == 0


def test_an_unpicklable_shared_value_fails_before_any_submit_naming_it() -> None:
    pool = PickleInline()
    graph = Graph([remote.double, remote.add_offset])
    with pytest.raises(TransferError, match="Input 'offset' \\(shared by every item\\)") as ei:
        SyncRunner().map(
            graph, {"x": [1, 2], "offset": threading.Lock()}, map_over="x", executor=pool
        )
    assert "cannot pickle '_thread.lock'" in str(ei.value)
    assert ei.value.name == "offset" and ei.value.item is None
    assert pool.submits == 0


def test_an_unpicklable_item_value_in_a_late_chunk_fails_before_any_submit() -> None:
    pool = PickleInline()
    xs: list[Any] = [1, 2, 3, 4, 5, threading.Lock()]
    with pytest.raises(TransferError, match="Input 'x' \\(of item 5\\)") as excinfo:
        SyncRunner().map(remote.dag(), {"x": xs}, map_over="x", executor=pool, chunksize=2)
    assert excinfo.value.item == 5
    assert pool.submits == 0


def test_an_unpicklable_bound_value_fails_naming_it() -> None:
    graph = remote.dag().bind(offset=threading.Lock())
    with pytest.raises(TransferError, match="Input 'offset' \\(bound in the graph\\)"):
        SyncRunner().map(graph, {"x": [1]}, map_over="x", executor=PickleInline())


def test_map_iter_checks_before_it_is_iterated() -> None:
    shout = Graph([node(lambda word: word, output_name="loud", name="shout")])
    with pytest.raises(TransferError):
        SyncRunner().map_iter(shout, {"word": ["a"]}, map_over="word", executor=PickleInline())
    with pytest.raises(TransferError):
        AsyncRunner().map_iter(shout, {"word": ["a"]}, map_over="word", executor=PickleInline())


# -- what comes back -----------------------------------------------------------------------


def test_failures_with_continue_are_failed_results_with_the_items_own_error_type(
    mode: str,
) -> None:
    result = run_map(
        mode,
        remote.fragile(),
        {"x": list(range(8))},
        map_over="x",
        error_handling="continue",
        executor=PickleInline(),
        chunksize=3,
    )
    assert result.status is RunStatus.PARTIAL
    assert [r.status for r in result.failures] == [RunStatus.FAILED] * 2
    assert [type(r.error) for r in result.failures] == [remote.ItemBoom] * 2
    assert [str(r.error) for r in result.failures] == ["item x=3 is bad", "item x=7 is bad"]
    assert result["checked"] == [0, 10, 20, None, 40, 50, 60, None]


def test_a_worker_error_keeps_the_node_note_and_gains_the_workers_traceback() -> None:
    result = SyncRunner().map(
        remote.fragile(), {"x": [3]}, map_over="x", error_handling="continue",
        executor=PickleInline(),
    )  # fmt: skip
    notes = result[0].error.__notes__  # type: ignore[union-attr]
    assert "(raised by node 'check')" in notes
    assert any("Traceback in the worker" in n and "remote.py" in n for n in notes)


def test_raise_raises_the_first_failing_items_error(mode: str) -> None:
    with pytest.raises(remote.ItemBoom, match="item x=3 is bad"):
        run_map(mode, remote.fragile(), {"x": list(range(12))}, map_over="x",
                executor=PickleInline(), chunksize=2)  # fmt: skip


def test_raise_waits_for_earlier_chunks_then_picks_the_first_failure_by_index() -> None:
    graph = remote.fragile()
    cm = ChunkedMap(
        graph, {"x": list(range(8))}, "x", "zip", RunOptions.build(),
        ScaleOut.build(PickleInline(max_workers=2), 2), (SyncRunner, AsyncRunner),
        is_async=False,
    )  # fmt: skip
    futures = dict(cm.submit(0))
    assert sorted(futures) == [0, 1, 2, 3]  # window: two per worker
    cm.collect(3, futures[3])  # items 6, 7: item 7 fails
    assert cm.failure_to_raise() is None  # items 0-5 have not come back yet
    cm.collect(1, futures[1])  # items 2, 3: item 3 fails
    assert cm.failure_to_raise() is None
    assert cm.submit(0) == []  # a failure will be raised: nothing more is submitted
    cm.collect(0, futures[0])
    error = cm.failure_to_raise()
    assert isinstance(error, remote.ItemBoom) and str(error) == "item x=3 is bad"


def test_an_error_whose_init_does_not_take_its_args_back_is_rebuilt_from_its_state() -> None:
    with pytest.raises(TypeError):  # what plain pickle does with it
        pickle.loads(pickle.dumps(remote.CodedError(503, "overloaded")))
    result = SyncRunner().map(
        remote.awkward_errors(), {"x": [1]}, map_over="x", error_handling="continue",
        executor=PickleInline(),
    )  # fmt: skip
    error = result[0].error
    assert type(error) is remote.CodedError
    assert str(error) == "code 503: overloaded" and error.code == 503


def test_an_error_that_cannot_travel_is_replaced_by_a_stand_in_with_its_type_and_message() -> None:
    result = SyncRunner().map(
        remote.awkward_errors(), {"x": [2]}, map_over="x", error_handling="continue",
        executor=PickleInline(),
    )  # fmt: skip
    error = result[0].error
    assert isinstance(error, RemoteError)
    assert error.type_name == "LockedError" and error.message == "holds a lock"
    assert str(error) == "LockedError: holds a lock"
    assert "(raised by node 'check_coded')" in error.__notes__
    assert pickle.loads(pickle.dumps(error)).type_name == "LockedError"


def test_hypergraphs_own_loop_limit_error_travels_with_its_attributes() -> None:
    result = SyncRunner().map(
        remote.loop(), {"limit": [50], "count": 0}, map_over="limit", max_iterations=5,
        error_handling="continue", executor=PickleInline(),
    )  # fmt: skip
    error = result[0].error
    assert isinstance(error, InfiniteLoopError)
    assert error.max_iterations == 5 and error.node in {"tick", "again"}


def test_an_output_that_cannot_travel_back_fails_its_item_naming_the_output(mode: str) -> None:
    result = run_map(
        mode, remote.unpicklable_output(), {"x": [0, 1, 2]}, map_over="x",
        error_handling="continue", executor=PickleInline(),
    )  # fmt: skip
    assert [r.status for r in result] == [
        RunStatus.COMPLETED,
        RunStatus.FAILED,
        RunStatus.COMPLETED,
    ]
    assert result["handle"] == [0, None, 2]
    error = result[1].error
    assert isinstance(error, TransferError) and error.name == "handle"
    assert "Output 'handle' cannot be sent back" in str(error)


def test_a_chunk_that_fails_as_a_whole_fails_each_of_its_items() -> None:
    class Broken(PickleInline):
        def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> cf.Future[Any]:
            future: cf.Future[Any] = cf.Future()
            future.set_exception(cf.process.BrokenProcessPool("a worker died"))
            return future

    result = SyncRunner().map(
        remote.dag(), {"x": [1, 2, 3]}, map_over="x", error_handling="continue",
        executor=Broken(),
    )  # fmt: skip
    assert result.status is RunStatus.FAILED
    assert all(isinstance(r.error, cf.process.BrokenProcessPool) for r in result)


class _Missing:
    """Unpickles by importing a module that does not exist (as on a worker without it)."""

    def __reduce__(self) -> tuple[Any, ...]:
        return (node_function, ("no_such_module_here", "step"))


def test_a_worker_that_cannot_import_the_nodes_says_where_they_must_be_installed() -> None:
    task = ChunkTask("k-missing", 0, pickle.dumps(_Missing()), pickle.dumps({"x": [1]}))
    with pytest.raises(TransferError, match="A worker could not load the graph") as excinfo:
        run_chunk(task)
    assert "No module named 'no_such_module_here'" in str(excinfo.value)
    assert "client.upload_file" in str(excinfo.value)


# -- map_iter -------------------------------------------------------------------------------


def test_map_iter_yields_every_item_once_with_its_index() -> None:
    pairs = list(
        SyncRunner().map_iter(
            remote.dag(), {"x": list(range(9))}, map_over="x", executor=PickleInline(),
            chunksize=4,
        )
    )  # fmt: skip
    assert sorted(k for k, _ in pairs) == list(range(9))
    assert all(r["y"] == 2 * k + 1 for k, r in pairs)


def test_async_map_iter_yields_every_item_once_with_its_index() -> None:
    async def main() -> list[tuple[int, Any]]:
        runs = AsyncRunner().map_iter(
            remote.dag(), {"x": list(range(9))}, map_over="x", executor=PickleInline(),
            chunksize=4,
        )  # fmt: skip
        async with contextlib.aclosing(runs):
            return [pair async for pair in runs]

    pairs = run_async(main())
    assert sorted(k for k, _ in pairs) == list(range(9))
    assert all(r["y"] == 2 * k + 1 for k, r in pairs)


@node(output_name="y")
def wait_for_gate(x: int, gate: threading.Event) -> int:
    if x == 0 and not gate.wait(timeout=10):
        raise TimeoutError("the test never opened the gate")
    return x


def test_map_iter_yields_a_chunk_as_soon_as_it_finishes_not_in_item_order() -> None:
    gate = threading.Event()
    with cf.ThreadPoolExecutor(2) as pool:
        runs = SyncRunner().map_iter(
            Graph([wait_for_gate]), {"x": [0, 1], "gate": gate}, map_over="x", executor=pool,
            chunksize=1,
        )  # fmt: skip
        first = next(runs)
        gate.set()  # item 0 waits for this: item 1 had to come first
        rest = list(runs)
    assert first[0] == 1
    assert [k for k, _ in rest] == [0]


def test_leaving_map_iter_early_submits_no_further_chunk(mode: str) -> None:
    ran: list[int] = []

    @node(output_name="y")
    def note(x: int, seen: list[int]) -> int:
        seen.append(x)
        return x

    graph, values = Graph([note]), {"x": list(range(8)), "seen": ran}
    with cf.ThreadPoolExecutor(1) as pool:  # one worker: two chunks in flight at most
        if mode == "sync":
            runs = SyncRunner().map_iter(graph, values, map_over="x", executor=pool, chunksize=1)
            with contextlib.closing(runs):
                first = next(runs)
        else:

            async def main() -> tuple[int, Any]:
                runs = AsyncRunner().map_iter(
                    graph, values, map_over="x", executor=pool, chunksize=1
                )
                async with contextlib.aclosing(runs):
                    return await anext(runs)

            first = run_async(main())
    assert first[0] == 0
    assert set(ran) <= {0, 1}


def test_map_iter_with_raise_raises_at_the_failing_item() -> None:
    seen = []
    with pytest.raises(remote.ItemBoom):
        for k, _ in SyncRunner().map_iter(
            remote.fragile(), {"x": list(range(6))}, map_over="x", executor=PickleInline(),
            chunksize=6,
        ):  # fmt: skip
            seen.append(k)
    assert seen == [0, 1, 2]


# -- events ---------------------------------------------------------------------------------


def test_item_events_reach_the_callers_processors_when_their_chunk_returns(mode: str) -> None:
    recorder = Recorder()
    result = run_map(
        mode, remote.dag(), {"x": [1, 2, 3]}, map_over="x", event_processors=[recorder],
        executor=PickleInline(), chunksize=2,
    )  # fmt: skip
    starts = [e for e in recorder.events if isinstance(e, RunStartEvent)]
    ends = [e for e in recorder.events if isinstance(e, RunEndEvent)]
    assert {e.run_id for e in starts} == {e.run_id for e in ends} == {r.run_id for r in result}
    node_ends = [e for e in recorder.events if isinstance(e, NodeEndEvent)]
    assert sorted(e.outputs["y"] for e in node_ends if e.node_name == "add_offset") == [3, 5, 7]


def test_streamed_chunks_of_items_reach_the_callers_processors() -> None:
    recorder = Recorder()
    SyncRunner().map(
        remote.speller(), {"word": ["hi", "yo"]}, map_over="word",
        event_processors=[recorder], executor=PickleInline(),
    )  # fmt: skip
    chunks = [e.chunk for e in recorder.events if isinstance(e, StreamingChunkEvent)]
    assert chunks == ["h", "i", "y", "o"]


def test_an_event_value_that_cannot_travel_arrives_in_its_wire_form() -> None:
    recorder = Recorder()
    SyncRunner().map(
        remote.unpicklable_output(), {"x": [1]}, map_over="x", error_handling="continue",
        event_processors=[recorder], executor=PickleInline(),
    )  # fmt: skip
    (end,) = [e for e in recorder.events if isinstance(e, NodeEndEvent)]
    assert end.outputs["handle"]["$type"] == "lock"


def test_sync_runner_refuses_async_processors_on_an_executor_too() -> None:
    class AsyncProcessor:
        async def on_event(self, event: Any) -> None:
            pass

    with pytest.raises(IncompatibleRunnerError):
        SyncRunner().map(
            remote.dag(), {"x": [1]}, map_over="x", event_processors=[AsyncProcessor()],
            executor=PickleInline(),
        )  # fmt: skip
