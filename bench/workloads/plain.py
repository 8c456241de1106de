"""The baseline: each workload written as plain Python, with no library.

The same trivial bodies as the graph versions (``x + 1``), called directly: the ratio
"× plain" of a library is then the cost of its orchestration over calling the functions.
W8 maps the functions with ``ProcessPoolExecutor.map`` (the same chunk size as
hypergraph's automatic one) and Dask's ``client.map`` (one task per item, its idiom).
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from workloads.harness import (
    Params,
    Result,
    aseconds_per_call,
    chain_result,
    expect,
    import_time,
    memory_after_runs,
    seconds_per_call,
    timed,
    timed_median,
)

IMPORT = "import asyncio"
"""The floor for W7-import: what any async-capable library pays anyway."""

END = "END"


def inc(x: int) -> int:
    return x + 1


async def ainc(x: int) -> int:
    return x + 1


def _chain(nodes: int) -> Callable[[], int]:
    steps = [inc] * nodes

    def run() -> int:
        x = 0
        for step in steps:
            x = step(x)
        return x

    return run


def w1(p: Params) -> Result:
    built, run = timed(lambda: _chain(p["nodes"]))
    expect(run(), p["nodes"], "chain result")
    return chain_result(seconds_per_call(run), p["nodes"], built)


def w2(p: Params) -> Result:
    steps = [ainc] * p["nodes"]

    async def run() -> int:
        x = 0
        for step in steps:
            x = await step(x)
        return x

    async def main() -> float:
        expect(await run(), p["nodes"], "chain result")
        return await aseconds_per_call(run)

    return Result(asyncio.run(main()) / p["nodes"] * 1e6)


def w3(p: Params) -> Result:
    delay = p["sleep_ms"] / 1000

    async def sleep_once(x: int) -> int:
        await asyncio.sleep(delay)
        return 1

    def join(*parts: int) -> int:
        return sum(parts)

    async def run() -> int:
        return join(*await asyncio.gather(*(sleep_once(0) for _ in range(p["fan"]))))

    async def main() -> float:
        expect(await run(), p["fan"], "join result")
        return await aseconds_per_call(run)

    return Result(asyncio.run(main()) * 1e3)


async def produce(n: int) -> AsyncIterator[int]:
    for i in range(n):
        yield i


def w4(p: Params) -> Result:
    async def consume() -> int:
        received = 0
        async for _chunk in produce(p["chunks"]):
            received += 1
        return received

    async def main() -> tuple[float, int]:
        received = await consume()
        return await aseconds_per_call(consume), received

    seconds, received = asyncio.run(main())
    return Result(seconds / p["chunks"] * 1e6, {"chunks_received": received})


def fa(x: int) -> int:
    return x + 1


def fb(a: int) -> int:
    return a + 1


def fc(b: int) -> int:
    return b + 1


def w5(p: Params) -> Result:
    xs = list(range(p["items"]))

    def run(items: list[int]) -> list[int]:
        return [fc(fb(fa(x))) for x in items]

    run(xs[:100])  # warm-up
    seconds, out = timed_median(lambda: run(xs))
    expect(out, [x + 3 for x in xs], "mapped results")
    return Result(p["items"] / seconds)


def w6(p: Params) -> Result:
    limit = p["iterations"]

    def check(count: int) -> str:
        return END if count >= limit else "inc"

    def run() -> int:
        count = 0
        while True:
            count = inc(count)
            if check(count) == END:
                return count

    expect(run(), limit, "final count")
    return Result(seconds_per_call(run) / limit * 1e6)


def w7_import(p: Params) -> Result:
    return import_time(IMPORT, p["repeats"])


def w7_memory(p: Params) -> Result:
    run = _chain(p["nodes"])
    expect(run(), p["nodes"], "chain result")
    return memory_after_runs(run, p["runs"])


def burn(x: int, work_ms: int) -> int:
    """`work_ms` of CPU time in this thread (the same on any machine), then 2x."""
    end = time.thread_time() + work_ms / 1000
    while time.thread_time() < end:
        pass
    return 2 * x


def _chunksize(items: int, workers: int) -> int:
    return max(1, -(-items // (4 * workers)))  # hypergraph's automatic choice


def w8_cpu(p: Params) -> Result:
    n, workers = p["items"], p["workers"]
    xs, work = list(range(n)), functools.partial(burn, work_ms=p["work_ms"])
    want = [2 * x for x in xs]

    def seconds(run: Callable[[], list[int]]) -> float:
        took, out = timed_median(run)
        expect(out, want, "mapped results")
        return took

    local = seconds(lambda: [work(x) for x in xs])
    with ProcessPoolExecutor(workers) as pool:
        list(pool.map(functools.partial(burn, work_ms=1), range(4 * workers)))  # warm-up
        pool_s = seconds(lambda: list(pool.map(work, xs, chunksize=_chunksize(n, workers))))

    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=workers, processes=True, threads_per_worker=1, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):

        def on_dask() -> list[int]:
            out: list[int] = client.gather(client.map(work, xs, pure=False))
            return out

        client.gather(client.map(functools.partial(burn, work_ms=1), range(4 * workers)))
        dask_s = seconds(on_dask)
    return Result(
        n / pool_s,
        {
            "local_items_s": n / local,
            "pool_speedup": local / pool_s,
            "dask_items_s": n / dask_s,
            "dask_speedup": local / dask_s,
        },
    )


def _abc(x: int) -> int:
    return fc(fb(fa(x)))


def w8_trivial(p: Params) -> Result:
    n, workers = p["items"], p["workers"]
    xs = list(range(n))
    size = _chunksize(n, workers)
    local, out = timed_median(lambda: [_abc(x) for x in xs])
    expect(out, [x + 3 for x in xs], "mapped results")
    with ProcessPoolExecutor(workers) as pool:
        list(pool.map(_abc, xs[:100], chunksize=25))  # warm-up
        took, out = timed_median(lambda: list(pool.map(_abc, xs, chunksize=size)))
    expect(out, [x + 3 for x in xs], "mapped results")
    extra: dict[str, Any] = {"local_items_s": n / local, "pool_speedup": local / took}
    extra["chunks"] = -(-n // size)
    return Result(n / took, extra)


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
