"""hypergraph, through its public API only (SPEC.md): what a user would write.

Chains are built programmatically with ``FunctionNode(func, name=..., output_name=...,
rename_inputs=...)``, so node ``n7`` consumes ``x7`` and produces ``x8``. Sync workloads use
``SyncRunner().run``, async ones ``AsyncRunner().run``; W4 consumes
``AsyncRunner().iter(...)`` and counts ``StreamingChunkEvent``s; W5 is ``SyncRunner().map``.
W8 is ``SyncRunner().map(..., executor=...)`` with the automatic chunk size, on a
``ProcessPoolExecutor`` and on a Dask ``Client`` of a ``LocalCluster``, against the same
map run locally in the same process (each executor started and warmed up untimed).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any

from hypergraph import (
    END,
    AsyncRunner,
    FunctionNode,
    Graph,
    StreamingChunkEvent,
    SyncRunner,
    node,
    route,
)
from workloads.harness import (
    Params,
    Result,
    aseconds_per_call,
    chain_result,
    expect,
    import_time,
    make_function,
    memory_after_runs,
    seconds_per_call,
    timed,
    timed_median,
)

IMPORT = "import hypergraph"


def inc(x: int) -> int:
    return x + 1


async def ainc(x: int) -> int:
    return x + 1


def _chain(nodes: int, func: Any) -> Graph:
    return Graph(
        [
            FunctionNode(func, name=f"n{i}", output_name=f"x{i + 1}", rename_inputs={"x": f"x{i}"})
            for i in range(nodes)
        ]
    )


def w1(p: Params) -> Result:
    n = p["nodes"]
    built, graph = timed(lambda: _chain(n, inc))
    runner = SyncRunner()

    def run() -> Any:
        return runner.run(graph, {"x0": 0})[f"x{n}"]

    expect(run(), n, "chain result")
    return chain_result(seconds_per_call(run), n, built)


def w2(p: Params) -> Result:
    n = p["nodes"]
    graph, runner = _chain(n, ainc), AsyncRunner()

    async def run() -> Any:
        return (await runner.run(graph, {"x0": 0}))[f"x{n}"]

    async def main() -> float:
        expect(await run(), n, "chain result")
        return await aseconds_per_call(run)

    return Result(asyncio.run(main()) / n * 1e6)


def w3(p: Params) -> Result:
    delay, fan = p["sleep_ms"] / 1000, p["fan"]

    async def sleep_once(x: int) -> int:
        await asyncio.sleep(delay)
        return 1

    sleepers = [FunctionNode(sleep_once, name=f"sleep{i}", output_name=f"s{i}") for i in range(fan)]
    parts = [f"s{i}" for i in range(fan)]
    join = FunctionNode(
        make_function("join", parts, f"return {' + '.join(parts)}"), output_name="total"
    )
    graph, runner = Graph([*sleepers, join]), AsyncRunner()

    async def run() -> Any:
        return (await runner.run(graph, {"x": 0}))["total"]

    async def main() -> float:
        expect(await run(), fan, "join result")
        return await aseconds_per_call(run)

    return Result(asyncio.run(main()) * 1e3)


@node(output_name="chunks")
async def produce(n: int) -> AsyncIterator[int]:
    for i in range(n):
        yield i


def w4(p: Params) -> Result:
    graph, runner = Graph([produce]), AsyncRunner()

    async def consume() -> int:
        received = 0
        async with runner.iter(graph, {"n": p["chunks"]}) as run:
            async for event in run:
                if isinstance(event, StreamingChunkEvent):
                    received += 1
            result = await run.result()
        expect(len(result["chunks"]), p["chunks"], "node output length")
        return received

    async def main() -> tuple[float, int]:
        received = await consume()
        return await aseconds_per_call(consume), received

    seconds, received = asyncio.run(main())
    return Result(seconds / p["chunks"] * 1e6, {"chunks_received": received})


@node(output_name="a")
def fa(x: int) -> int:
    return x + 1


@node(output_name="b")
def fb(a: int) -> int:
    return a + 1


@node(output_name="c")
def fc(b: int) -> int:
    return b + 1


def w5(p: Params) -> Result:
    graph, runner = Graph([fa, fb, fc]), SyncRunner()
    xs = list(range(p["items"]))
    runner.map(graph, {"x": xs[:100]}, map_over="x")  # warm-up
    seconds, out = timed_median(lambda: runner.map(graph, {"x": xs}, map_over="x"))
    expect(list(out["c"]), [x + 3 for x in xs], "mapped results")  # type: ignore[index]
    return Result(p["items"] / seconds)


def w6(p: Params) -> Result:
    limit = p["iterations"]

    @node(output_name="count")
    def inc(count: int) -> int:
        return count + 1

    @route(targets=["inc", END])
    def check(count: int) -> object:
        return END if count >= limit else "inc"

    graph, runner = Graph([inc, check]), SyncRunner()

    def run() -> Any:
        # The gate also runs on the seed value, so allow a few runs over the loop count.
        return runner.run(graph, {"count": 0}, max_iterations=limit + 10)["count"]

    expect(run(), limit, "final count")
    return Result(seconds_per_call(run) / limit * 1e6)


def w7_import(p: Params) -> Result:
    return import_time(IMPORT, p["repeats"])


def w7_memory(p: Params) -> Result:
    n = p["nodes"]
    graph, runner = _chain(n, inc), SyncRunner()
    expect(runner.run(graph, {"x0": 0})[f"x{n}"], n, "chain result")
    return memory_after_runs(lambda: runner.run(graph, {"x0": 0}), p["runs"])


@node(output_name="y")
def burn(x: int, work_ms: int) -> int:
    """`work_ms` of CPU time in this thread (the same on any machine), then 2x."""
    end = time.thread_time() + work_ms / 1000
    while time.thread_time() < end:
        pass
    return 2 * x


def _on_dask(workers: int, measure: Callable[[Any], float]) -> float:
    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=workers, processes=True, threads_per_worker=1, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        return measure(client)


def w8_cpu(p: Params) -> Result:
    graph, runner, n = Graph([burn]), SyncRunner(), p["items"]
    values = {"x": list(range(n)), "work_ms": p["work_ms"]}
    warm_up = {"x": list(range(4 * p["workers"])), "work_ms": 1}

    def seconds(executor: Any) -> float:
        if executor is not None:  # starts the workers and loads the graph there
            runner.map(graph, warm_up, map_over="x", executor=executor, chunksize=1)
        took, out = timed_median(lambda: runner.map(graph, values, map_over="x", executor=executor))
        expect(out["y"], [2 * x for x in values["x"]], "mapped results")  # type: ignore[index]
        return took

    local = seconds(None)
    with ProcessPoolExecutor(p["workers"]) as pool:
        pool_s = seconds(pool)
    dask_s = _on_dask(p["workers"], seconds)
    return Result(
        n / pool_s,
        {
            "local_items_s": n / local,
            "pool_speedup": local / pool_s,
            "dask_items_s": n / dask_s,
            "dask_speedup": local / dask_s,
        },
    )


class _CountingPool(ProcessPoolExecutor):
    submits = 0

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        self.submits += 1
        return super().submit(fn, *args, **kwargs)


def w8_trivial(p: Params) -> Result:
    graph, runner, n = Graph([fa, fb, fc]), SyncRunner(), p["items"]
    xs = list(range(n))
    local, out = timed_median(lambda: runner.map(graph, {"x": xs}, map_over="x"))
    expect(list(out["c"]), [x + 3 for x in xs], "mapped results")  # type: ignore[index]
    calls = 0

    def on_pool() -> Any:
        nonlocal calls
        calls += 1
        return runner.map(graph, {"x": xs}, map_over="x", executor=pool)

    with _CountingPool(p["workers"]) as pool:
        runner.map(graph, {"x": xs[:100]}, map_over="x", executor=pool, chunksize=25)  # warm-up
        pool.submits = 0
        took, out = timed_median(on_pool)
    expect(list(out["c"]), [x + 3 for x in xs], "mapped results")  # type: ignore[index]
    return Result(
        n / took,
        {"local_items_s": n / local, "pool_speedup": local / took, "chunks": pool.submits / calls},
    )


WORKLOADS = {
    "W1": w1,
    "W1b-10": w1,
    "W1b-1000": w1,
    "W2": w2,
    "W3": w3,
    "W4": w4,
    "W5": w5,
    "W6": w6,
    "W7-import": w7_import,
    "W7-memory": w7_memory,
    "W8-cpu": w8_cpu,
    "W8-trivial": w8_trivial,
}
