"""What SPEC 10's guards cost, side by side in one process: python3 bench/guards.py

- a cache hit per node (InMemoryCache, DiskCache) against running the same trivial node;
- an idle-timeout watch per chunk: an async generator streaming 100,000 chunks with and
  without `idle_timeout=`;
- a retry policy that never fires, against no policy (the general path vs the fast path).

Medians of 5 samples; quote ratios, these machines are shared and noisy.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from hypergraph import (
    AsyncRunner,
    DiskCache,
    Graph,
    InMemoryCache,
    RetryPolicy,
    SyncRunner,
    node,
)

NODES = 50
CHUNKS = 100_000


def _chain(**guards: Any) -> Graph:
    nodes = []
    for k in range(NODES):
        src = "x" if k == 0 else f"v{k - 1}"
        namespace: dict[str, Any] = {}
        exec(f"def f{k}({src}):\n    return {src} + 1", namespace)
        nodes.append(node(namespace[f"f{k}"], output_name=f"v{k}", **guards))
    return Graph(nodes)


def _median_us(fn: Callable[[], Any], per: int, samples: int = 5, reps: int = 20) -> float:
    fn()
    times = []
    for _ in range(samples):
        start = time.perf_counter()
        for _ in range(reps):
            fn()
        times.append((time.perf_counter() - start) / reps / per * 1e6)
    return statistics.median(times)


def _stream(**guards: Any) -> float:
    @node(output_name="tokens", **guards)
    async def tokens(n: int) -> AsyncIterator[int]:
        for k in range(n):
            yield k

    graph = Graph([tokens])

    async def consume() -> None:
        async with AsyncRunner().iter(graph, n=CHUNKS) as run:
            async for _ in run:
                pass

    return _median_us(lambda: asyncio.run(consume()), CHUNKS, samples=3, reps=1)


def main() -> None:
    plain = _chain()
    retry = _chain(retry=RetryPolicy())
    cached = _chain(cache=True)
    memory = SyncRunner(cache=InMemoryCache())
    with tempfile.TemporaryDirectory() as tmp:
        disk = SyncRunner(cache=DiskCache(Path(tmp) / "bench.sqlite"))
        rows = [
            ("plain node (fast path)", _median_us(lambda: SyncRunner().run(plain, x=1), NODES)),
            ("retry policy, never fires", _median_us(lambda: SyncRunner().run(retry, x=1), NODES)),
            ("cache hit, InMemoryCache", _median_us(lambda: memory.run(cached, x=1), NODES)),
            ("cache hit, DiskCache", _median_us(lambda: disk.run(cached, x=1), NODES)),
        ]
    base = rows[0][1]
    print(f"{'per node':32} {'µs':>8} {'× plain node':>14}")
    for name, value in rows:
        print(f"{name:32} {value:8.2f} {value / base:14.2f}")
    free = _stream()
    watched = _stream(idle_timeout=60)
    print(f"\n{'per chunk (100,000 chunks)':32} {'µs':>8} {'× unwatched':>14}")
    print(f"{'no idle_timeout':32} {free:8.2f} {1:14.2f}")
    print(f"{'idle_timeout=60':32} {watched:8.2f} {watched / free:14.2f}")


if __name__ == "__main__":
    main()
