"""The workloads of issues 5 and 14 (W8): ids, sizes, units and targets (issue 15's:
each a ratio to plain Python measured in the same run).

Shared by the driver and the workloads.

Standard library only: the driver imports this module under a bare ``python3`` before the
peers' virtual environment exists, and every workload process imports it to learn its sizes.

A *cost* is what a row compares: for lower-is-better metrics it is the value itself, for
higher-is-better ones (items per second) its inverse. So "× plain" always reads as "times
the cost of plain Python", and 1.0 means as cheap as the baseline.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

LIBRARIES: tuple[str, ...] = (
    "plain",
    "hypergraph",
    "hypergraph_general",
    "langgraph",
    "pydantic_graph",
    "hamilton",
    "pipefunc",
)
"""Every library the driver knows; ``plain`` is the baseline, the last four are the peers.
``hypergraph_general`` is hypergraph with its straight-line path turned off (issue 15)."""

PEERS: tuple[str, ...] = ("langgraph", "pydantic_graph", "hamilton", "pipefunc")

# (value, plain, best_peer) -> whether hypergraph meets the target.
TargetCheck = Callable[[float, float | None, float | None], bool | None]


@dataclass(frozen=True)
class ExtraRow:
    """A second table row fed by a key of a workload's ``extra`` (e.g. chunks received)."""

    key: str
    label: str
    unit: str
    target: str = ""
    check: Callable[[float, Mapping[str, int]], bool] | None = None
    """(value, the workload's params) -> target met; None when there is no target."""


@dataclass(frozen=True)
class Workload:
    """One row of the table: what runs, at which size, and how it is judged."""

    id: str
    title: str
    unit: str
    params: Mapping[str, int]
    quick: Mapping[str, int] = field(default_factory=dict)
    """Overrides of ``params`` for ``--quick`` runs (development checks, not records)."""
    higher_is_better: bool = False
    compare: Literal["ratio", "delta"] = "ratio"
    """``delta`` shows the difference to plain Python (memory) instead of a ratio."""
    target: str = ""
    check: TargetCheck | None = None
    extra_rows: tuple[ExtraRow, ...] = ()

    def sizes(self, *, quick: bool) -> dict[str, int]:
        """The parameters a workload process runs with."""
        return {**self.params, **(self.quick if quick else {})}


def _at_most(limit: float) -> TargetCheck:
    return lambda value, _plain, _best: value <= limit


def _times_plain(limit: float) -> TargetCheck:
    """Issue 15: at most `limit` times plain Python's cost, measured in the same run."""
    return lambda value, plain, _best: None if plain is None else value <= limit * plain


def _share_of_plain(share: float) -> TargetCheck:
    """Issue 15, for a rate (higher is better): at least `share` of plain Python's."""
    return lambda value, plain, _best: None if plain is None else value >= share * plain


def _speedup_at_least(factor: float) -> Callable[[float, Mapping[str, int]], bool]:
    return lambda value, _params: value >= factor


def _w7_memory_check(value: float, plain: float | None, _best: float | None) -> bool | None:
    return None if plain is None else value - plain <= 10.0


WORKLOADS: tuple[Workload, ...] = (
    Workload(
        "W1",
        "sync chain, 100 nodes",
        "µs/node",
        {"nodes": 100},
        target="≤ 10× plain",
        check=_times_plain(10),
    ),
    Workload(
        "W1b-10",
        "sync chain, 10 nodes",
        "µs/node",
        {"nodes": 10},
        target="≤ 10× plain",
        check=_times_plain(10),
    ),
    Workload(
        "W1b-1000",
        "sync chain, 1,000 nodes",
        "µs/node",
        {"nodes": 1000},
        target="≤ 10× plain",
        check=_times_plain(10),
        extra_rows=(ExtraRow("build_ms", "building the 1,000-node graph", "ms"),),
    ),
    Workload(
        "W2",
        "async chain, 100 nodes",
        "µs/node",
        {"nodes": 100},
        target="≤ 10× plain",
        check=_times_plain(10),
    ),
    Workload(
        "W3",
        "200 async nodes sleeping 20 ms, then a join",
        "wall ms",
        {"fan": 200, "sleep_ms": 20},
        target="≤ 1.05× plain",
        check=_times_plain(1.05),
    ),
    Workload(
        "W4",
        "async generator node streaming 100,000 chunks",
        "µs/chunk",
        {"chunks": 100_000},
        quick={"chunks": 10_000},
        target="≤ 2× plain",
        check=_times_plain(2),
        extra_rows=(
            ExtraRow(
                "chunks_received",
                "chunks received",
                "chunks",
                target="all",
                check=lambda value, params: value == params["chunks"],
            ),
        ),
    ),
    Workload(
        "W5",
        "3-node sync graph mapped over 10,000 inputs",
        "items/s",
        {"items": 10_000},
        quick={"items": 1_000},
        higher_is_better=True,
        target="≥ ⅒ plain",
        check=_share_of_plain(0.1),
    ),
    Workload(
        "W6",
        "counter loop with a route, 1,000 iterations",
        "µs/iteration",
        {"iterations": 1000},
        target="≤ 25× plain",
        check=_times_plain(25),
    ),
    Workload(
        "W7-import",
        "import time in a fresh process",
        "ms",
        {"repeats": 3},
        quick={"repeats": 1},
        target="≤ 50",
        check=_at_most(50.0),
    ),
    Workload(
        "W7-memory",
        "peak RSS after 1,000 runs of W1",
        "MiB",
        {"nodes": 100, "runs": 1000},
        quick={"runs": 100},
        compare="delta",
        target="≤ plain + 10",
        check=_w7_memory_check,
        extra_rows=(ExtraRow("growth_mib", "RSS growth during the runs", "MiB"),),
    ),
    Workload(
        "W8-cpu",
        "200 items × 10 ms CPU, process pool (2 workers)",
        "items/s",
        {"items": 200, "work_ms": 10, "workers": 2},
        quick={"items": 40},
        higher_is_better=True,
        extra_rows=(
            ExtraRow("local_items_s", "the same items, local map", "items/s"),
            ExtraRow(
                "pool_speedup",
                "process pool speed-up over local",
                "×",
                target="≥ 1.7",
                check=_speedup_at_least(1.7),
            ),
            ExtraRow("dask_items_s", "the same items, Dask LocalCluster(2)", "items/s"),
            ExtraRow(
                "dask_speedup",
                "Dask speed-up over local",
                "×",
                target="≥ 1.7",
                check=_speedup_at_least(1.7),
            ),
        ),
    ),
    Workload(
        "W8-trivial",
        "100,000 trivial items (W5's graph), process pool (2 workers)",
        "items/s",
        {"items": 100_000, "workers": 2},
        quick={"items": 10_000},
        higher_is_better=True,
        extra_rows=(
            ExtraRow("local_items_s", "the same items, local map", "items/s"),
            ExtraRow("pool_speedup", "process pool speed-up over local", "×"),
            ExtraRow("chunks", "chunks submitted", "chunks"),
        ),
    ),
)

BY_ID: dict[str, Workload] = {w.id: w for w in WORKLOADS}
