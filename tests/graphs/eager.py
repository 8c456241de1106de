"""Graphs that probe how AsyncRunner schedules: eagerness, concurrency caps, threads.

Synchronisation objects (asyncio.Event, threading.Event, threading.Barrier) are passed
as run values, by reference, so the nodes of one branch can release another branch.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

from hypergraph import END, Graph, node, route


def slow_and_fast(log: list[str]) -> Graph:
    """`slow` waits for `release`, which only the fast branch's downstream node sets."""

    @node(output_name="slow_out")
    async def slow(x: int, release: asyncio.Event) -> int:
        log.append("slow started")
        await release.wait()
        log.append("slow finished")
        return x * 100

    @node(output_name="fast_out")
    async def fast(x: int) -> int:
        log.append("fast finished")
        return x + 1

    @node(output_name="after_fast_out")
    async def after_fast(fast_out: int, release: asyncio.Event) -> int:
        log.append("after_fast finished")
        release.set()
        return fast_out * 2

    return Graph([slow, fast, after_fast])


def blocking_sync_and_fast(log: list[str]) -> Graph:
    """`slow_sync` is a plain def blocking its thread until the async fast branch releases it."""

    @node(output_name="slow_out")
    def slow_sync(x: int, release: threading.Event) -> bool:
        log.append("slow started")
        released = release.wait(timeout=5)  # False only if the fast branch never ran
        log.append("slow finished")
        return released

    @node(output_name="fast_out")
    async def fast(x: int) -> int:
        log.append("fast finished")
        return x + 1

    @node(output_name="after_fast_out")
    async def after_fast(fast_out: int, release: threading.Event) -> int:
        log.append("after_fast finished")
        release.set()
        return fast_out * 2

    return Graph([slow_sync, fast, after_fast])


def slow_beside_a_loop(log: list[str]) -> Graph:
    """A counter loop of async steps runs to its END while `slow` waits for the node after it."""

    @node(output_name="slow_out")
    async def slow(x: int, release: asyncio.Event) -> int:
        log.append("slow started")
        await release.wait()
        log.append("slow finished")
        return x

    @node(output_name="count")
    async def step(count: int) -> int:
        log.append(f"step {count}")
        return count + 1

    @route(targets=["step", END])
    def again(count: int) -> object:
        return END if count >= 3 else "step"

    @node(output_name="done")
    async def after_loop(count: int, release: asyncio.Event) -> int:
        log.append("after_loop finished")
        release.set()
        return count

    return Graph([slow, step, again, after_loop])


class Crash(RuntimeError):
    """Raised by `crash` in `failure_beside_a_waiting_node`."""


def failure_beside_a_waiting_node(log: list[str]) -> Graph:
    """`waiter` waits for an event nobody sets; its sibling `crash` raises."""

    @node(output_name="waited")
    async def waiter(x: int, never: asyncio.Event) -> int:
        log.append("waiter started")
        try:
            await never.wait()
        finally:
            log.append("waiter closed")
        return x

    @node(output_name="crashed")
    async def crash(x: int) -> int:
        await asyncio.sleep(0)
        raise Crash("boom")

    return Graph([waiter, crash])


class Occupancy:
    """Counts how many probed nodes are inside their body at once (thread-safe)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running = 0
        self.peak = 0
        self.finished: list[int] = []

    def enter(self) -> None:
        with self.lock:
            self.running += 1
            self.peak = max(self.peak, self.running)

    def leave(self, i: int) -> None:
        with self.lock:
            self.running -= 1
            self.finished.append(i)


def independent_async_workers(count: int, occupancy: Occupancy) -> Graph:
    """`count` async nodes that all read `x` only, each yielding to the loop while inside."""

    def make(i: int) -> Any:
        @node(output_name=f"out{i}", name=f"worker{i}")
        async def worker(x: int) -> int:
            occupancy.enter()
            for _ in range(5):
                await asyncio.sleep(0)  # let every other startable node start
            occupancy.leave(i)
            return x + i

        return worker

    return Graph([make(i) for i in range(count)])


def independent_thread_workers(count: int, occupancy: Occupancy) -> Graph:
    """`count` def nodes meeting in pairs at `barrier`: two must be able to run together."""

    def make(i: int) -> Any:
        @node(output_name=f"out{i}", name=f"worker{i}")
        def worker(x: int, barrier: threading.Barrier) -> int:
            occupancy.enter()
            barrier.wait(timeout=5)  # BrokenBarrierError if no partner can run alongside
            occupancy.leave(i)
            return x + i

        return worker

    return Graph([make(i) for i in range(count)])


def where_nodes_run(threads: dict[str, int]) -> Graph:
    """Each node records the thread it ran on: def, generator def, gate, async def."""

    @node(output_name="y")
    def sync_work(x: int) -> int:
        threads["sync_work"] = threading.get_ident()
        return x + 1

    @node(output_name="parts")
    def sync_stream(y: int) -> Iterator[int]:
        threads["sync_stream"] = threading.get_ident()
        yield y
        yield y + 1

    @route(targets=["async_work", END])
    def decide(parts: list[int]) -> object:
        threads["decide"] = threading.get_ident()
        return "async_work"

    @node(output_name="z")
    async def async_work(parts: list[int]) -> int:
        threads["async_work"] = threading.get_ident()
        return sum(parts)

    return Graph([sync_work, sync_stream, decide, async_work])
