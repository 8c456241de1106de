"""AsyncRunner starts every node the moment it is ready, caps concurrency, and keeps the loop free.

Deadlock, not timing, is the failure signal: a slow node waits for an event that only
its fast sibling's branch sets, so a barrier between branches would hang the run and
the run_async timeout would fail the test.
"""

from __future__ import annotations

import asyncio
import threading

import pytest

from conftest import run_async
from graphs import eager
from hypergraph import AsyncRunner, RunResult, RunStatus

TIMEOUT = 5.0


def test_fast_branch_finishes_while_slow_sibling_is_still_running() -> None:
    log: list[str] = []

    async def main() -> RunResult:
        release = asyncio.Event()
        return await AsyncRunner().run(eager.slow_and_fast(log), {"x": 1, "release": release})

    result = run_async(main(), timeout=TIMEOUT)
    assert result.values == {"slow_out": 100, "fast_out": 2, "after_fast_out": 4}
    # the whole fast branch (two nodes deep) finished while slow was waiting
    assert log.index("slow started") < log.index("after_fast finished")
    assert log.index("fast finished") < log.index("after_fast finished")
    assert log.index("after_fast finished") < log.index("slow finished")


def test_a_whole_loop_runs_to_its_end_while_a_slow_sibling_is_still_running() -> None:
    log: list[str] = []

    async def main() -> RunResult:
        release = asyncio.Event()
        graph = eager.slow_beside_a_loop(log)
        return await AsyncRunner().run(graph, {"x": 1, "count": 0, "release": release})

    result = run_async(main(), timeout=TIMEOUT)
    assert result.values == {"slow_out": 1, "count": 3, "done": 3}
    assert [e for e in log if e.startswith("step")] == ["step 0", "step 1", "step 2"]
    assert log.index("slow started") < log.index("step 2") < log.index("after_loop finished")
    assert log.index("after_loop finished") < log.index("slow finished")


def test_blocking_sync_node_runs_in_a_thread_and_does_not_hold_back_its_siblings() -> None:
    log: list[str] = []
    release = threading.Event()
    result = run_async(
        AsyncRunner().run(eager.blocking_sync_and_fast(log), {"x": 1, "release": release}),
        timeout=TIMEOUT * 2,
    )
    assert result.values == {"slow_out": True, "fast_out": 2, "after_fast_out": 4}
    assert log.index("after_fast finished") < log.index("slow finished")


def test_a_failure_with_raise_ends_the_run_and_cancels_a_sibling_still_running() -> None:
    log: list[str] = []

    async def main() -> list[str]:
        never = asyncio.Event()
        with pytest.raises(eager.Crash):
            await AsyncRunner().run(eager.failure_beside_a_waiting_node(log), x=1, never=never)
        return list(log)  # what had happened by the time run() raised

    seen = run_async(main(), timeout=TIMEOUT)
    assert seen == ["waiter started", "waiter closed"]  # nothing left running in the background


@pytest.mark.parametrize("cap", [1, 2, 3])
def test_max_concurrency_caps_how_many_async_nodes_run_at_once(cap: int) -> None:
    occupancy = eager.Occupancy()
    graph = eager.independent_async_workers(6, occupancy)
    result = run_async(AsyncRunner().run(graph, {"x": 10}, max_concurrency=cap))
    assert occupancy.peak == cap  # never more than the cap, and the cap is actually used
    assert sorted(occupancy.finished) == [0, 1, 2, 3, 4, 5]
    assert result.values == {f"out{i}": 10 + i for i in range(6)}


def test_without_max_concurrency_all_ready_async_nodes_run_at_once() -> None:
    occupancy = eager.Occupancy()
    graph = eager.independent_async_workers(6, occupancy)
    result = run_async(AsyncRunner().run(graph, {"x": 10}))
    assert occupancy.peak == 6  # the probe does see overlap when nothing caps it
    assert result.status is RunStatus.COMPLETED


def test_max_concurrency_caps_sync_nodes_running_in_worker_threads() -> None:
    occupancy = eager.Occupancy()
    graph = eager.independent_thread_workers(6, occupancy)
    barrier = threading.Barrier(2)
    result = run_async(
        AsyncRunner().run(graph, {"x": 10, "barrier": barrier}, max_concurrency=2),
        timeout=TIMEOUT * 2,
    )
    assert result.status is RunStatus.COMPLETED
    assert occupancy.peak == 2
    assert sorted(occupancy.finished) == [0, 1, 2, 3, 4, 5]


def test_def_nodes_run_in_worker_threads_and_gates_and_async_nodes_on_the_loop() -> None:
    threads: dict[str, int] = {}

    async def main() -> tuple[int, RunResult]:
        loop_thread = threading.get_ident()
        return loop_thread, await AsyncRunner().run(eager.where_nodes_run(threads), {"x": 1})

    loop_thread, result = run_async(main())
    assert result.values == {"y": 2, "parts": [2, 3], "z": 5}
    assert threads["sync_work"] != loop_thread
    assert threads["sync_stream"] != loop_thread
    assert threads["decide"] == loop_thread
    assert threads["async_work"] == loop_thread
