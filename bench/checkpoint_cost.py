"""What checkpointing costs per node, side by side in one process: python3 bench/checkpoint_cost.py

W1 (a chain of trivial nodes under SyncRunner) without a checkpointer, with a
`MemoryCheckpointer`, and with a file-backed `SqliteCheckpointer` (synchronous=NORMAL,
and durable=True: an fsync per step). Each run has a new workflow id, so every node
execution is committed before the next node starts. Also: a streaming node's 10,000
chunks with and without a checkpointer (chunks go out in batches).

The floor: a bare SQLite loop with the same file settings, one INSERT of a step-sized row
per commit and nothing else. What a checkpointer adds above it is its own cost; the
floor itself is this disk's (its fsyncs, paid at each WAL checkpoint, vary tenfold on a
shared machine).

Run from the peers' environment (`bench/.venv-peers/bin/python bench/checkpoint_cost.py`,
made by bench/run.py) it also measures LangGraph on the same chain: no checkpointer,
and `SqliteSaver` (langgraph-checkpoint-sqlite) with `durability="sync"` (each step is
saved before the next one starts, the same promise as ours) on a connection with
synchronous=NORMAL (our default) and as SqliteSaver opens it by default (synchronous=FULL
in WAL mode: an fsync per commit, like our durable=True); and with LangGraph's default
`durability="async"` (the step is saved while the next one runs).

Medians of 5 samples, the setups interleaved; quote ratios and differences, these
machines are shared and noisy. Goal (issue 11): a file-backed checkpoint costs at most
30 us per node.
"""

from __future__ import annotations

import itertools
import pickle
import sqlite3
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
SAMPLES = 5
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


def _w1(runner: SyncRunner, graph: Graph, durable: bool) -> Callable[[], Any]:
    if not durable:
        return lambda: runner.run(graph, {"x0": 0})
    return lambda: runner.run(graph, {"x0": 0}, workflow_id=f"b{next(_ids)}")


def _floor(path: Path) -> Callable[[], Any]:
    """NODES commits of one step-sized row each, with SqliteCheckpointer's file settings."""
    with SqliteCheckpointer(path) as store:  # makes the file and its tables
        pragmas = store._pragmas()
    conn = sqlite3.connect(path, isolation_level=None)
    for pragma in pragmas:
        conn.execute(pragma)
    payload = b"o" + pickle.dumps({"x1": 1}, protocol=5)

    def run() -> None:
        wid = f"f{next(_ids)}"
        for seq in range(NODES):
            now = time.time()
            conn.execute(
                "INSERT INTO hg_steps VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (wid, seq, f"n{seq}", "finish", 1, now, now, payload),
            )

    return run


def _langgraph(tmp: Path) -> dict[str, tuple[Callable[[], Any], int]]:
    """LangGraph's rows, if it is installed (the peers' environment)."""
    try:
        from langgraph.checkpoint.sqlite import SqliteSaver
        from langgraph.graph import END, START, StateGraph
    except ImportError:
        return {}
    from typing import TypedDict

    class Chain(TypedDict):
        x: int

    def step(state: Chain) -> dict[str, int]:
        return {"x": state["x"] + 1}

    def compiled(checkpointer: Any = None) -> Any:
        builder = StateGraph(Chain)
        for i in range(NODES):
            builder.add_node(f"n{i}", step)
        builder.add_edge(START, "n0")
        for i in range(NODES - 1):
            builder.add_edge(f"n{i}", f"n{i + 1}")
        builder.add_edge(f"n{NODES - 1}", END)
        return builder.compile(checkpointer=checkpointer)

    def saver(name: str, synchronous: str | None) -> Any:
        conn = sqlite3.connect(tmp / name, check_same_thread=False)
        cp = SqliteSaver(conn)
        cp.setup()  # WAL mode
        if synchronous is not None:
            conn.execute(f"PRAGMA synchronous={synchronous}")
        return cp

    limit = NODES + 10

    def run(graph: Any, durability: str | None) -> Callable[[], Any]:
        if durability is None:
            return lambda: graph.invoke({"x": 0}, {"recursion_limit": limit})
        return lambda: graph.invoke(
            {"x": 0},
            {"recursion_limit": limit, "configurable": {"thread_id": f"t{next(_ids)}"}},
            durability=durability,
        )

    normal = compiled(saver("lg-normal.sqlite", "NORMAL"))
    return {
        "LangGraph, no checkpointer": (run(compiled(), None), 5),
        "LangGraph SqliteSaver, sync, NORMAL": (run(normal, "sync"), 1),
        "LangGraph SqliteSaver, async, NORMAL": (run(normal, "async"), 1),
        "LangGraph SqliteSaver, sync, FULL (its default)": (
            run(compiled(saver("lg-full.sqlite", None)), "sync"),
            1,
        ),
    }


@node(output_name="text")
def tokens(n: int) -> Iterator[str]:
    for _ in range(n):
        yield "t"


def _sample(fn: Callable[[], Any], reps: int) -> tuple[float, float]:
    """Wall-clock and CPU microseconds per node."""
    start, cpu = time.perf_counter(), time.process_time()
    for _ in range(reps):
        fn()
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    return wall / reps / NODES * 1e6, cpu / reps / NODES * 1e6


def main() -> None:
    graph = _chain(NODES)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        setups: dict[str, tuple[Callable[[], Any], int]] = {
            "hypergraph, no checkpointer": (_w1(SyncRunner(), graph, False), 5),
            "MemoryCheckpointer": (
                _w1(SyncRunner(checkpointer=MemoryCheckpointer()), graph, True),
                5,
            ),
            "SqliteCheckpointer": (
                _w1(SyncRunner(checkpointer=SqliteCheckpointer(tmp / "n.sqlite")), graph, True),
                5,
            ),
            "SqliteCheckpointer(durable=True)": (
                _w1(
                    SyncRunner(checkpointer=SqliteCheckpointer(tmp / "d.sqlite", durable=True)),
                    graph,
                    True,
                ),
                1,
            ),
            "floor: bare SQLite commits, same settings": (_floor(tmp / "floor.sqlite"), 5),
            **_langgraph(tmp),
        }
        samples: dict[str, list[tuple[float, float]]] = {name: [] for name in setups}
        for fn, _ in setups.values():
            fn()  # warm up
        for _ in range(SAMPLES):  # interleaved: a slow moment of the machine hits all
            for name, (fn, reps) in setups.items():
                samples[name].append(_sample(fn, reps))
        rows = {
            name: (
                statistics.median(wall for wall, _ in values),
                statistics.median(cpu for _, cpu in values),
            )
            for name, values in samples.items()
        }
        print(
            f"W1, a chain of {NODES} nodes, each step committed: us per node (median of "
            f"{SAMPLES}); wall clock, and CPU time (this process, without waiting on the disk)"
        )
        bases = {"hypergraph": rows["hypergraph, no checkpointer"]}
        if "LangGraph, no checkpointer" in rows:
            bases["LangGraph"] = rows["LangGraph, no checkpointer"]
        print(f"  {'':48s} {'wall':>9s} {'cpu':>7s}   checkpointing adds (wall / cpu)")
        for name, (wall, cpu) in rows.items():
            base = bases["LangGraph" if name.startswith("LangGraph") else "hypergraph"]
            extra = (
                ""
                if "no checkpointer" in name or name.startswith("floor")
                else f"   +{wall - base[0]:.1f} / +{cpu - base[1]:.1f}"
            )
            print(f"  {name:48s} {wall:9.1f} {cpu:7.1f}{extra}")

        stream = Graph([tokens])
        plain, cp = (
            SyncRunner(),
            SyncRunner(checkpointer=SqliteCheckpointer(tmp / "s.sqlite")),
        )
        off = statistics.median(
            _sample(lambda: plain.run(stream, n=CHUNKS), 1)[0] * NODES / CHUNKS for _ in range(3)
        )
        on = statistics.median(
            _sample(lambda: cp.run(stream, n=CHUNKS, workflow_id=f"s{next(_ids)}"), 1)[0]
            * NODES
            / CHUNKS
            for _ in range(3)
        )
        print(f"A streaming node, {CHUNKS} chunks: us per chunk")
        print(f"  none {off:.2f}   SqliteCheckpointer {on:.2f}  (+{on - off:.2f} us per chunk)")


if __name__ == "__main__":
    main()
