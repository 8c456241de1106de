"""LangGraph: ``StateGraph`` over a ``TypedDict`` state, compiled, run with ``invoke``/``ainvoke``.

Idiomatic LangGraph keeps one state key and lets each node return an update, so a chain
is ``n0 -> n1 -> ...`` with every node returning ``{"x": state["x"] + 1}``. The default
recursion limit (25 supersteps) is raised to fit the chain or loop length.

- W3: fan-out edges from ``START`` to 200 async nodes, whose results meet in a list
  channel with an ``operator.add`` reducer; ``add_edge([...200 names], "join")`` waits for all.
- W4: LangGraph has no generator nodes; its documented way to stream custom data is
  ``get_stream_writer()`` inside the node and ``astream(..., stream_mode="custom")`` outside,
  so the node writes every chunk of an async generator to the writer.
- W5: a loop of ``invoke`` over the inputs. ``Runnable.batch`` exists, but it fans the
  inputs out over a thread pool and was slower than the loop on this 2-core machine.
- W6: node ``inc`` with a conditional edge ``check`` back to itself or to ``END``.
"""

from __future__ import annotations

import asyncio
import operator
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any, TypedDict

from langgraph.config import get_stream_writer
from langgraph.graph import END, START, StateGraph

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

IMPORT = "from langgraph.graph import StateGraph"


class Chain(TypedDict):
    x: int


def inc(state: Chain) -> dict[str, int]:
    return {"x": state["x"] + 1}


async def ainc(state: Chain) -> dict[str, int]:
    return {"x": state["x"] + 1}


def _chain(nodes: int, func: Callable[..., Any]) -> Any:
    builder = StateGraph(Chain)
    for i in range(nodes):
        builder.add_node(f"n{i}", func)
    builder.add_edge(START, "n0")
    for i in range(nodes - 1):
        builder.add_edge(f"n{i}", f"n{i + 1}")
    builder.add_edge(f"n{nodes - 1}", END)
    return builder.compile()


def _config(steps: int) -> Any:
    return {"recursion_limit": steps + 10}


def w1(p: Params) -> Result:
    n = p["nodes"]
    built, graph = timed(lambda: _chain(n, inc))
    config = _config(n)

    def run() -> Any:
        return graph.invoke({"x": 0}, config)["x"]

    expect(run(), n, "chain result")
    return chain_result(seconds_per_call(run), n, built)


def w2(p: Params) -> Result:
    n = p["nodes"]
    graph, config = _chain(n, ainc), _config(n)

    async def run() -> Any:
        return (await graph.ainvoke({"x": 0}, config))["x"]

    async def main() -> float:
        expect(await run(), n, "chain result")
        return await aseconds_per_call(run)

    return Result(asyncio.run(main()) / n * 1e6)


class Fan(TypedDict):
    x: int
    parts: Annotated[list[int], operator.add]
    total: int


def w3(p: Params) -> Result:
    delay, fan = p["sleep_ms"] / 1000, p["fan"]

    async def sleep_once(state: Fan) -> dict[str, list[int]]:
        await asyncio.sleep(delay)
        return {"parts": [1]}

    def join(state: Fan) -> dict[str, int]:
        return {"total": sum(state["parts"])}

    builder = StateGraph(Fan)
    names = [f"sleep{i}" for i in range(fan)]
    for name in names:
        builder.add_node(name, sleep_once)
        builder.add_edge(START, name)
    builder.add_node("join", join)
    builder.add_edge(names, "join")
    builder.add_edge("join", END)
    graph = builder.compile()

    async def run() -> Any:
        return (await graph.ainvoke({"x": 0, "parts": [], "total": 0}))["total"]

    async def main() -> float:
        expect(await run(), fan, "join result")
        return await aseconds_per_call(run)

    return Result(asyncio.run(main()) * 1e3)


class Stream(TypedDict):
    n: int
    produced: int


async def chunks(n: int) -> AsyncIterator[int]:
    for i in range(n):
        yield i


async def produce(state: Stream) -> dict[str, int]:
    write = get_stream_writer()
    produced = 0
    async for chunk in chunks(state["n"]):
        write(chunk)
        produced += 1
    return {"produced": produced}


def w4(p: Params) -> Result:
    builder = StateGraph(Stream)
    builder.add_node("produce", produce)
    builder.add_edge(START, "produce")
    builder.add_edge("produce", END)
    graph = builder.compile()

    async def consume() -> int:
        received = 0
        async for _chunk in graph.astream({"n": p["chunks"], "produced": 0}, stream_mode="custom"):
            received += 1
        return received

    async def main() -> tuple[float, int]:
        received = await consume()
        return await aseconds_per_call(consume), received

    seconds, received = asyncio.run(main())
    return Result(seconds / p["chunks"] * 1e6, {"chunks_received": received})


class Three(TypedDict):
    x: int
    a: int
    b: int
    c: int


def fa(state: Three) -> dict[str, int]:
    return {"a": state["x"] + 1}


def fb(state: Three) -> dict[str, int]:
    return {"b": state["a"] + 1}


def fc(state: Three) -> dict[str, int]:
    return {"c": state["b"] + 1}


def w5(p: Params) -> Result:
    builder = StateGraph(Three)
    for name, func in (("fa", fa), ("fb", fb), ("fc", fc)):
        builder.add_node(name, func)
    builder.add_edge(START, "fa")
    builder.add_edge("fa", "fb")
    builder.add_edge("fb", "fc")
    builder.add_edge("fc", END)
    graph = builder.compile()
    xs = list(range(p["items"]))

    def run(items: list[int]) -> list[int]:
        return [graph.invoke({"x": x})["c"] for x in items]

    run(xs[:100])  # warm-up
    seconds, out = timed_median(lambda: run(xs))
    expect(out, [x + 3 for x in xs], "mapped results")
    return Result(p["items"] / seconds, {"api": "loop of invoke"})


class Counter(TypedDict):
    count: int


def w6(p: Params) -> Result:
    limit = p["iterations"]

    def count_up(state: Counter) -> dict[str, int]:
        return {"count": state["count"] + 1}

    def check(state: Counter) -> str:
        return END if state["count"] >= limit else "inc"

    builder = StateGraph(Counter)
    builder.add_node("inc", count_up)
    builder.add_edge(START, "inc")
    builder.add_conditional_edges("inc", check, ["inc", END])
    graph, config = builder.compile(), _config(2 * limit)

    def run() -> Any:
        return graph.invoke({"count": 0}, config)["count"]

    expect(run(), limit, "final count")
    return Result(seconds_per_call(run) / limit * 1e6)


def w7_import(p: Params) -> Result:
    return import_time(IMPORT, p["repeats"])


def w7_memory(p: Params) -> Result:
    n = p["nodes"]
    graph, config = _chain(n, inc), _config(n)
    expect(graph.invoke({"x": 0}, config)["x"], n, "chain result")
    return memory_after_runs(lambda: graph.invoke({"x": 0}, config), p["runs"])


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
