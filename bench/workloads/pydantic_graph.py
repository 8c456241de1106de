"""pydantic-graph: ``GraphBuilder`` with step functions (the current API of pydantic-graph 2.x).

Steps are ``async def step(ctx: StepContext)`` whose return value is the next step's
``ctx.inputs``; edges are declared with ``g.edge_from(a).to(b)``. Every step is async, so:

- W1 (sync chain) uses the library's sync entry point ``graph.run_sync(inputs=...)``,
  W2 the same chain with ``await graph.run(inputs=...)``.
- W3: ``edge_from(start_node).to(*200 steps)`` broadcasts to parallel steps whose outputs
  meet in ``g.join(reduce_list_append)``, followed by a ``join`` step that sums them.
- W4: n/a. ``g.stream`` makes a step whose output is an async iterable handed to the *next
  step* (or spread over parallel tasks); nothing delivers chunks to the caller while a run
  is in progress, and ``graph.iter()`` yields task batches, not data.
- W5: one event loop awaiting ``graph.run`` for each input in turn (no batch API).
- W6: a ``BaseNode`` whose ``run`` returns itself or ``End`` (the classic node style,
  which the builder accepts through ``g.node``), entered from a one-line start step.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass
from typing import Any

from pydantic_graph import (
    BaseNode,
    End,
    GraphBuilder,
    GraphRunContext,
    StepContext,
    reduce_list_append,
)

from workloads.harness import (
    NotApplicable,
    Params,
    Result,
    aseconds_per_call,
    chain_result,
    expect,
    import_time,
    memory_after_runs,
    seconds_per_call,
    timed,
)

IMPORT = "import pydantic_graph"

NOT_APPLICABLE = {
    "W4": "no way to stream chunks to the caller mid-run",
}


async def inc(ctx: StepContext[None, None, int]) -> int:
    return ctx.inputs + 1


def _chain(nodes: int) -> Any:
    g = GraphBuilder(input_type=int, output_type=int)
    steps = [g.step(inc, node_id=f"n{i}") for i in range(nodes)]
    g.add(
        g.edge_from(g.start_node).to(steps[0]),
        *(g.edge_from(a).to(b) for a, b in itertools.pairwise(steps)),
        g.edge_from(steps[-1]).to(g.end_node),
    )
    return g.build()


def w1(p: Params) -> Result:
    n = p["nodes"]
    built, graph = timed(lambda: _chain(n))

    def run() -> Any:
        return graph.run_sync(inputs=0)

    expect(run(), n, "chain result")
    return chain_result(seconds_per_call(run), n, built)


def w2(p: Params) -> Result:
    n = p["nodes"]
    graph = _chain(n)

    async def run() -> Any:
        return await graph.run(inputs=0)

    async def main() -> float:
        expect(await run(), n, "chain result")
        return await aseconds_per_call(run)

    return Result(asyncio.run(main()) / n * 1e6)


def w3(p: Params) -> Result:
    delay, fan = p["sleep_ms"] / 1000, p["fan"]

    async def sleep_once(ctx: StepContext[None, None, int]) -> int:
        await asyncio.sleep(delay)
        return 1

    async def join(ctx: StepContext[None, None, list[int]]) -> int:
        return sum(ctx.inputs)

    g = GraphBuilder(input_type=int, output_type=int)
    sleepers = [g.step(sleep_once, node_id=f"sleep{i}") for i in range(fan)]
    collect = g.join(reduce_list_append, initial_factory=list[int])
    total = g.step(join, node_id="join")
    g.add(
        g.edge_from(g.start_node).to(*sleepers),
        *(g.edge_from(s).to(collect) for s in sleepers),
        g.edge_from(collect).to(total),
        g.edge_from(total).to(g.end_node),
    )
    graph = g.build()

    async def run() -> Any:
        return await graph.run(inputs=0)

    async def main() -> float:
        expect(await run(), fan, "join result")
        return await aseconds_per_call(run)

    return Result(asyncio.run(main()) * 1e3)


def w4(p: Params) -> Result:
    raise NotApplicable(NOT_APPLICABLE["W4"])


async def fa(ctx: StepContext[None, None, int]) -> int:
    return ctx.inputs + 1


async def fb(ctx: StepContext[None, None, int]) -> int:
    return ctx.inputs + 1


async def fc(ctx: StepContext[None, None, int]) -> int:
    return ctx.inputs + 1


def w5(p: Params) -> Result:
    g = GraphBuilder(input_type=int, output_type=int)
    a, b, c = g.step(fa), g.step(fb), g.step(fc)
    g.add(
        g.edge_from(g.start_node).to(a),
        g.edge_from(a).to(b),
        g.edge_from(b).to(c),
        g.edge_from(c).to(g.end_node),
    )
    graph = g.build()
    xs = list(range(p["items"]))

    async def run(items: list[int]) -> list[int]:
        return [await graph.run(inputs=x) for x in items]

    async def main() -> tuple[float, object]:
        await run(xs[:100])  # warm-up
        start = time.perf_counter()
        out = await run(xs)
        return time.perf_counter() - start, out

    seconds, out = asyncio.run(main())
    expect(out, [x + 3 for x in xs], "mapped results")
    return Result(p["items"] / seconds, {"api": "await graph.run per item"})


@dataclass
class Count(BaseNode[None, None, int]):
    count: int
    limit: int

    async def run(self, ctx: GraphRunContext[None, None]) -> Count | End[int]:
        count = self.count + 1
        return End(count) if count >= self.limit else Count(count, self.limit)


def w6(p: Params) -> Result:
    limit = p["iterations"]

    async def start(ctx: StepContext[None, None, int]) -> Count:
        return Count(ctx.inputs, limit)

    g = GraphBuilder(input_type=int, output_type=int)
    g.add(g.edge_from(g.start_node).to(g.step(start)), g.node(Count))
    graph = g.build()

    def run() -> Any:
        return graph.run_sync(inputs=0)

    expect(run(), limit, "final count")
    return Result(seconds_per_call(run) / limit * 1e6)


def w7_import(p: Params) -> Result:
    return import_time(IMPORT, p["repeats"])


def w7_memory(p: Params) -> Result:
    n = p["nodes"]
    graph = _chain(n)
    expect(graph.run_sync(inputs=0), n, "chain result")
    return memory_after_runs(lambda: graph.run_sync(inputs=0), p["runs"])


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
