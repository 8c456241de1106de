"""Apache Hamilton: a module of plain functions, ``driver.Builder().with_modules(...)``.

In Hamilton a function's name is the node it defines and its parameter names are the nodes
it depends on, so the chain is the functions ``x1(x0)``, ``x2(x1)``, ... gathered into a
module with ``ad_hoc_utils.create_temporary_module``; the run is
``dr.execute(["x100"], inputs={"x0": 0})`` (the Builder's default result is a dict).

- W2/W3: the async driver, ``await async_driver.Builder().with_modules(...).build()``,
  over ``async def`` functions; W3's join is one function with the 200 sleepers as
  parameters.
- W4: n/a, a node returns one value and there is no channel to stream chunks to a caller.
- W5: a loop of ``dr.execute`` per input. Hamilton's own batch idiom is vectorised
  (pandas Series through the same functions), which measures pandas, not orchestration;
  ``Parallelizable``/``Collect`` fans work out to executors for coarse tasks.
- W6: n/a, Hamilton graphs are DAGs (a function cannot depend on its own output).
"""

from __future__ import annotations

import asyncio
from types import ModuleType
from typing import Any

from hamilton import ad_hoc_utils, async_driver, driver

from workloads.harness import (
    Params,
    Result,
    allow_deep_graph,
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

IMPORT = "from hamilton import driver"

NOT_APPLICABLE = {
    "W4": "no streaming: a node returns one value",
    "W6": "DAG only: no loops",
}


def _typed(func: Any, params: list[str]) -> Any:
    # Hamilton reads node types from annotations; generated functions get them here.
    func.__annotations__ = {**dict.fromkeys(params, int), "return": int}
    return func


def _chain_module(nodes: int, *, is_async: bool = False) -> ModuleType:
    functions = [
        _typed(
            make_function(f"x{i + 1}", [f"x{i}"], f"return x{i} + 1", is_async=is_async), [f"x{i}"]
        )
        for i in range(nodes)
    ]
    return ad_hoc_utils.create_temporary_module(*functions)


def w1(p: Params) -> Result:
    n = p["nodes"]
    notes = allow_deep_graph(n)
    built, dr = timed(lambda: driver.Builder().with_modules(_chain_module(n)).build())
    final = [f"x{n}"]

    def run() -> Any:
        return dr.execute(final, inputs={"x0": 0})[f"x{n}"]

    expect(run(), n, "chain result")
    return chain_result(seconds_per_call(run), n, built, notes)


def w2(p: Params) -> Result:
    n = p["nodes"]
    final = [f"x{n}"]

    async def main() -> float:
        dr = await async_driver.Builder().with_modules(_chain_module(n, is_async=True)).build()

        async def run() -> Any:
            return (await dr.execute(final, inputs={"x0": 0}))[f"x{n}"]

        expect(await run(), n, "chain result")
        return await aseconds_per_call(run)

    return Result(asyncio.run(main()) / n * 1e6)


def w3(p: Params) -> Result:
    fan = p["fan"]
    sleep = f"await asyncio.sleep({p['sleep_ms'] / 1000})"
    sleepers = [
        _typed(make_function(f"s{i}", ["x"], sleep, "return 1", is_async=True), ["x"])
        for i in range(fan)
    ]
    parts = [f"s{i}" for i in range(fan)]
    total = _typed(make_function("total", parts, f"return {' + '.join(parts)}"), parts)
    module = ad_hoc_utils.create_temporary_module(*sleepers, total)

    async def main() -> float:
        dr = await async_driver.Builder().with_modules(module).build()

        async def run() -> Any:
            return (await dr.execute(["total"], inputs={"x": 0}))["total"]

        expect(await run(), fan, "join result")
        return await aseconds_per_call(run)

    return Result(asyncio.run(main()) * 1e3)


def a(x: int) -> int:
    return x + 1


def b(a: int) -> int:
    return a + 1


def c(b: int) -> int:
    return b + 1


def w5(p: Params) -> Result:
    dr = driver.Builder().with_modules(ad_hoc_utils.create_temporary_module(a, b, c)).build()
    xs = list(range(p["items"]))

    def run(items: list[int]) -> list[int]:
        return [dr.execute(["c"], inputs={"x": x})["c"] for x in items]

    run(xs[:100])  # warm-up
    seconds, out = timed_median(lambda: run(xs))
    expect(out, [x + 3 for x in xs], "mapped results")
    return Result(p["items"] / seconds, {"api": "loop of execute"})


def w7_import(p: Params) -> Result:
    return import_time(IMPORT, p["repeats"])


def w7_memory(p: Params) -> Result:
    n = p["nodes"]
    dr = driver.Builder().with_modules(_chain_module(n)).build()
    final = [f"x{n}"]
    expect(dr.execute(final, inputs={"x0": 0})[f"x{n}"], n, "chain result")
    return memory_after_runs(lambda: dr.execute(final, inputs={"x0": 0}), p["runs"])


WORKLOADS = {
    "W1": w1,
    "W1b-10": w1,
    "W1b-1000": w1,
    "W2": w2,
    "W3": w3,
    "W5": w5,
    "W7-import": w7_import,
    "W7-memory": w7_memory,
}
