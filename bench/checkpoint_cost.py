"""What checkpointing costs per node, side by side in one process: python3 bench/checkpoint_cost.py

W1 (a chain of trivial nodes under SyncRunner) without a checkpointer, with a
`MemoryCheckpointer`, and with a file-backed `SqliteCheckpointer` (synchronous=NORMAL,
and durable=True: an fsync per step). Each run has a new workflow id, so every node
execution is committed. Also: a streaming node's 10,000 chunks with and without a
checkpointer (chunks go out in batches).

Medians of 5 samples; quote ratios and differences, these machines are shared and noisy.
Goal (issue 11): a file-backed checkpoint costs at most 30 us per node.
"""

from __future__ import annotations

import itertools
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from hypergraph import (
    FunctionNode,
    Graph,
    MemoryCheckpointer,
    SqliteCheckpointer,
    SyncRunner,
    node,
)

NODES = 100
CHUNKS = 10_000
_ids = itertools.count()


def inc(x: int) -> int:
    return x + 1


def _chain(n: int) -> Graph:
    return Graph(
        [
            FunctionNode(inc, name=f"n{i}", output_name=f"x{i + 1}", rename_inputs={"x": f"x{i}"})
            for i in range(n)
        ]
    )


def _median_us(fn: Callable[[], Any], per: int, samples: int = 5, reps: int = 5) -> float:
    fn()
    times = []
    for _ in range(samples):
        start = time.perf_counter()
        for _ in range(reps):
            fn()
        times.append((time.perf_counter() - start) / reps / per * 1e6)
    return statistics.median(times)


def _w1(runner: SyncRunner, graph: Graph, durable: bool) -> Callable[[], Any]:
    if not durable:
        return lambda: runner.run(graph, {"x0": 0})
    return lambda: runner.run(graph, {"x0": 0}, workflow_id=f"b{next(_ids)}")


@node(output_name="text")
def tokens(n: int) -> Iterator[str]:
    for _ in range(n):
        yield "t"


def main() -> None:
    graph = _chain(NODES)
    with tempfile.TemporaryDirectory() as tmp:
        setups = {
            "none": (SyncRunner(), False),
            "MemoryCheckpointer": (SyncRunner(checkpointer=MemoryCheckpointer()), True),
            "SqliteCheckpointer": (
                SyncRunner(checkpointer=SqliteCheckpointer(Path(tmp) / "n.sqlite")),
                True,
            ),
            "SqliteCheckpointer(durable=True)": (
                SyncRunner(checkpointer=SqliteCheckpointer(Path(tmp) / "d.sqlite", durable=True)),
                True,
            ),
        }
        rows = {}
        for name, (runner, durable) in setups.items():
            reps = 1 if "durable=True" in name else 5
            rows[name] = _median_us(_w1(runner, graph, durable), NODES, reps=reps)
        base = rows["none"]
        print(f"W1, a chain of {NODES} nodes, SyncRunner: us per node (median of 5)")
        for name, us in rows.items():
            extra = "" if name == "none" else f"  (+{us - base:.1f} us per node)"
            print(f"  {name:34s} {us:9.1f}{extra}")

        stream = Graph([tokens])
        plain, cp = (
            SyncRunner(),
            SyncRunner(checkpointer=SqliteCheckpointer(Path(tmp) / "s.sqlite")),
        )
        off = _median_us(lambda: plain.run(stream, n=CHUNKS), CHUNKS, reps=1)
        on = _median_us(
            lambda: cp.run(stream, n=CHUNKS, workflow_id=f"s{next(_ids)}"), CHUNKS, reps=1
        )
        print(f"A streaming node, {CHUNKS} chunks: us per chunk")
        print(f"  none {off:.2f}   SqliteCheckpointer {on:.2f}  (+{on - off:.2f} us per chunk)")


if __name__ == "__main__":
    main()
