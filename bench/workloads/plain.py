"""The baseline: each workload written as plain Python, with no library.

The same trivial bodies as the graph versions (``x + 1``), called directly: the ratio
"× plain" of a library is then the cost of its orchestration over calling the functions.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

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
}
