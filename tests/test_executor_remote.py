"""runner.map(executor=...) on real worker processes (SPEC §14): a process pool, a Dask
LocalCluster with two worker processes through its Client, and the Client's executor.

Each executor starts once for the module. Every scenario runs on all three and under both
runners, and is compared with the local map of the same graph and values. The graphs are
module-level functions in graphs/remote.py, which the workers import.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import multiprocessing
import os
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from conftest import run_async
from graphs import remote
from hypergraph import (
    AsyncRunner,
    Graph,
    MapResult,
    NodeEndEvent,
    RunEndEvent,
    RunStartEvent,
    RunStatus,
    StreamingChunkEvent,
    SyncRunner,
    node,
)
from hypergraph.run.portable import TransferError

REMOTE_TIMEOUT = 30.0


@pytest.fixture(scope="module")
def process_pool() -> Iterator[cf.ProcessPoolExecutor]:
    # spawn: workers import everything afresh, as on another machine (fork would inherit it)
    with cf.ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        yield pool


@pytest.fixture(scope="module")
def dask_client() -> Iterator[Any]:
    from distributed import Client, LocalCluster

    cluster = LocalCluster(
        n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None
    )
    client = Client(cluster)
    try:
        yield client
    finally:
        client.close()
        cluster.close()


@pytest.fixture(params=["process_pool", "dask_client", "dask_executor"])
def executor(request: pytest.FixtureRequest) -> Any:
    if request.param == "dask_executor":
        return request.getfixturevalue("dask_client").get_executor()
    return request.getfixturevalue(request.param)


@pytest.fixture(params=["sync", "async"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def run_map(mode: str, graph: Graph, values: dict[str, Any], **options: Any) -> MapResult:
    if mode == "sync":
        return SyncRunner().map(graph, values, **options)
    return run_async(AsyncRunner().map(graph, values, **options), timeout=REMOTE_TIMEOUT)


def without_pids(result: MapResult) -> list[dict[str, Any]]:
    return [{k: v for k, v in r.values.items() if k != "pid"} for r in result]


class Recorder:
    def __init__(self) -> None:
        self.events: list[Any] = []

    def on_event(self, event: Any) -> None:
        self.events.append(event)


SCENARIOS: dict[str, tuple[Callable[[], Graph], dict[str, Any], str]] = {
    "dag": (remote.dag, {"x": list(range(10)), "offset": 5}, "x"),
    "cycle": (remote.loop, {"limit": list(range(10)), "count": 0}, "limit"),
    "nested": (remote.nested, {"a": list(range(10)), "count": 0, "limit": [2, 4]}, "a"),
}


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_map_on_worker_processes_gives_the_local_results_in_item_order(
    executor: Any, mode: str, scenario: str
) -> None:
    make, values, over = SCENARIOS[scenario]
    local = run_map(mode, make(), values, map_over=over)
    spread = run_map(mode, make(), values, map_over=over, executor=executor)
    assert without_pids(spread) == without_pids(local)
    assert [r.status for r in spread] == [RunStatus.COMPLETED] * 10


def test_the_items_really_ran_in_other_processes(executor: Any, mode: str) -> None:
    result = run_map(mode, remote.dag(), {"x": list(range(20))}, map_over="x", executor=executor)
    pids = set(result["pid"])
    assert os.getpid() not in pids
    assert result["y"] == [2 * x + 1 for x in range(20)]


def test_an_async_graph_runs_on_an_event_loop_in_the_worker(executor: Any) -> None:
    result = SyncRunner().map(remote.async_dag(), {"x": [1, 2, 3]}, map_over="x", executor=executor)
    assert result["y"] == [3, 5, 7]
    assert os.getpid() not in result["pid"]


def test_failures_with_continue_come_back_as_failed_results(executor: Any, mode: str) -> None:
    values = {"x": list(range(8))}
    local = run_map(mode, remote.fragile(), values, map_over="x", error_handling="continue")
    spread = run_map(
        mode, remote.fragile(), values, map_over="x", error_handling="continue",
        executor=executor, chunksize=3,
    )  # fmt: skip
    assert spread.status is RunStatus.PARTIAL
    assert [r.status for r in spread] == [r.status for r in local]
    assert spread["checked"] == local["checked"]
    assert [(type(r.error), str(r.error)) for r in spread.failures] == [
        (remote.ItemBoom, "item x=3 is bad"),
        (remote.ItemBoom, "item x=7 is bad"),
    ]


def test_failures_with_raise_raise_the_first_failing_items_error(executor: Any, mode: str) -> None:
    with pytest.raises(remote.ItemBoom, match="item x=3 is bad"):
        run_map(mode, remote.fragile(), {"x": list(range(8))}, map_over="x", executor=executor)


def test_errors_that_plain_pickle_cannot_bring_back_still_arrive(executor: Any) -> None:
    result = SyncRunner().map(
        remote.awkward_errors(), {"x": [0, 1, 2]}, map_over="x", error_handling="continue",
        executor=executor,
    )  # fmt: skip
    coded, locked = result[1].error, result[2].error
    assert type(coded) is remote.CodedError and coded.code == 503
    assert str(locked) == "LockedError: holds a lock"


def test_map_iter_yields_each_item_once_with_the_local_result(executor: Any) -> None:
    values = {"x": list(range(12))}
    local = SyncRunner().map(remote.dag(), values, map_over="x")
    pairs = list(
        SyncRunner().map_iter(remote.dag(), values, map_over="x", executor=executor, chunksize=5)
    )
    assert sorted(k for k, _ in pairs) == list(range(12))
    assert all(r["y"] == local[k]["y"] for k, r in pairs)


def test_async_map_iter_yields_each_item_once_with_the_local_result(executor: Any) -> None:
    async def main() -> list[tuple[int, Any]]:
        runs = AsyncRunner().map_iter(
            remote.dag(), {"x": list(range(12))}, map_over="x", executor=executor, chunksize=5
        )
        async with contextlib.aclosing(runs):
            return [pair async for pair in runs]

    pairs = run_async(main(), timeout=REMOTE_TIMEOUT)
    assert sorted(k for k, _ in pairs) == list(range(12))
    assert all(r["y"] == 2 * k + 1 for k, r in pairs)


def test_item_events_and_chunks_reach_the_callers_processors(executor: Any, mode: str) -> None:
    recorder = Recorder()
    result = run_map(
        mode, remote.speller(), {"word": ["ab", "cd", "ef"]}, map_over="word",
        event_processors=[recorder], executor=executor, chunksize=2,
    )  # fmt: skip
    starts = [e.run_id for e in recorder.events if isinstance(e, RunStartEvent)]
    ends = [e.run_id for e in recorder.events if isinstance(e, RunEndEvent)]
    assert sorted(starts) == sorted(ends) == sorted(r.run_id for r in result)
    assert len(set(starts)) == 3
    chunks = [e.chunk for e in recorder.events if isinstance(e, StreamingChunkEvent)]
    assert sorted(chunks) == ["a", "b", "c", "d", "e", "f"]
    outputs = [e.outputs for e in recorder.events if isinstance(e, NodeEndEvent)]
    assert sorted(o["tokens"] for o in outputs) == [["a", "b"], ["c", "d"], ["e", "f"]]


def test_an_unpicklable_value_fails_before_submission_naming_it(executor: Any) -> None:
    with pytest.raises(TransferError, match="Input 'offset' \\(shared by every item\\)"):
        SyncRunner().map(
            remote.dag(), {"x": [1, 2], "offset": threading.Lock()}, map_over="x",
            executor=executor,
        )  # fmt: skip


def test_a_lambda_node_fails_before_submission_on_a_process_pool(
    process_pool: cf.ProcessPoolExecutor,
) -> None:
    shout = Graph([node(lambda word: word.upper(), output_name="loud", name="shout")])
    with pytest.raises(TransferError, match="Node 'shout' cannot be sent"):
        SyncRunner().map(shout, {"word": ["a"]}, map_over="word", executor=process_pool)


def test_dask_sends_lambdas_and_local_functions_by_value(dask_client: Any) -> None:
    offset = 100

    @node(output_name="y")
    def shifted(x: int) -> int:
        return x + offset

    graph = Graph([shifted, node(lambda y: -y, output_name="z", name="negate")])
    result = SyncRunner().map(graph, {"x": [1, 2]}, map_over="x", executor=dask_client)
    assert result["z"] == [-101, -102]
