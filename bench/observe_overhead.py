"""What tracing and progress cost: ``python bench/observe_overhead.py`` (project venv).

1. Tracing, per node execution: a 10-node chain of plain ``def`` nodes, run many times
   under SyncRunner and AsyncRunner, with
   - ``none``: no processor;
   - ``events``: a processor with only ``on_event`` (the runner builds two events per
     node; nodes keep the fast path);
   - ``node_scope``: a processor that does nothing but has a ``node_scope`` (what any
     tracing processor costs the runner: events, and every node on the general call
     path, where the scopes are entered);
   - ``otel_api``: ``OpenTelemetryProcessor()`` with no SDK installed (the API's no-op
     tracer: one reading of "a no-op exporter");
   - ``otel_sdk``: ``OpenTelemetryProcessor`` on an SDK ``TracerProvider`` whose span
     processor hands every span to an exporter that drops it (the other reading);
   - ``floor``: the SDK alone, per span, on an identical provider: a bare
     ``tracer.start_span("n").end()``. No tracer of this SDK can cost less per node.
2. ``progress=True`` on the 10,000-item map of W5 (``x -> a -> b -> c``), SyncRunner,
   output to a pipe-like stream (plain lines; the display work is the same counting).

Best of interleaved rounds (the round least disturbed by the machine's other load); the
numbers still move with that load, so read the differences, not the third digit.

Instruction counts are steadier on a shared machine: ``python bench/observe_overhead.py
case <name> <sync|async> <runs>`` runs one case alone (``floor``: ``<runs>`` x 10 bare
spans), so that under ``valgrind --tool=callgrind`` the count at 300 runs minus the count
at 100 runs, over 2,000, is the instructions per node (the start-up cancels out).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from hypergraph import AsyncRunner, Graph, SyncRunner, node

LENGTH = 10


def _chain(length: int) -> Graph:
    nodes = []
    for k in range(length):

        def step(v: int) -> int:
            return v + 1

        nodes.append(node(step, output_name=f"v{k + 1}").with_name(f"n{k}").with_inputs(v=f"v{k}"))
    return Graph(nodes, name="chain")


class Listen:
    """A processor that only listens: the runner builds the events, nodes stay plain."""

    def on_event(self, event: object) -> None:
        pass


class Quiet(Listen):
    """A processor that does nothing, with a node_scope: the runner's side of tracing."""

    def node_scope(self, event: object) -> contextlib.nullcontext[None]:
        return contextlib.nullcontext()


def _dropping_provider() -> Any:
    """An SDK TracerProvider whose exporter drops every span (a "no-op exporter")."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

    class Drop(SpanExporter):
        def export(self, spans: Sequence[Any]) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(Drop()))
    return provider


def _processors(name: str) -> list[object]:
    from hypergraph.integrations.otel import OpenTelemetryProcessor

    if name == "otel_api":  # no SDK installed: the global provider is the API's proxy
        return [OpenTelemetryProcessor()]
    if name == "otel_sdk":
        return [OpenTelemetryProcessor(tracer_provider=_dropping_provider())]
    return {"none": [], "events": [Listen()], "node_scope": [Quiet()]}[name]


CASES = ("none", "events", "node_scope", "otel_api", "otel_sdk")


def _floor(spans: int) -> Callable[[], None]:
    tracer = _dropping_provider().get_tracer("floor")

    def bare() -> None:
        for _ in range(spans):
            tracer.start_span("n").end()

    return bare


def _runs(runner: str, procs: list[object], graph: Graph, runs: int) -> Callable[[], None]:
    if runner == "sync":
        sync = SyncRunner()
        return lambda: [sync.run(graph, v0=0, event_processors=procs) for _ in range(runs)] and None

    async def many() -> None:
        runner = AsyncRunner()
        for _ in range(runs):
            await runner.run(graph, v0=0, event_processors=procs)

    return lambda: asyncio.run(many())


def _best_of_rounds(cases: dict[str, Callable[[], None]], rounds: int) -> dict[str, float]:
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(rounds):
        for name, case in cases.items():
            start = time.perf_counter()
            case()
            times[name].append(time.perf_counter() - start)
    return {name: min(values) for name, values in times.items()}


def tracing_cost(runs: int = 300, rounds: int = 7) -> None:
    graph = _chain(LENGTH)
    for runner in ("sync", "async"):
        cases = {name: _runs(runner, _processors(name), graph, runs) for name in CASES}
        cases["floor"] = _floor(runs * LENGTH)
        cases["none"]()  # warm-up
        best = _best_of_rounds(cases, rounds)
        us = {name: value / (runs * LENGTH) * 1e6 for name, value in best.items()}
        base = us["none"]
        added = {name: us[name] - base for name in CASES}
        label = "SyncRunner" if runner == "sync" else "AsyncRunner"
        print(
            f"{label}: {base:.1f} µs per node without processors; added per node: "
            f"events {added['events']:.1f}, node_scope {added['node_scope']:.1f}, "
            f"OpenTelemetryProcessor without an SDK (API no-op) {added['otel_api']:.1f}, "
            f"with the SDK and a dropping exporter {added['otel_sdk']:.1f} µs = the SDK's "
            f"floor {us['floor']:.1f} (a bare start_span().end()) + "
            f"{added['otel_sdk'] - us['floor']:.1f} µs above it"
        )


def _one_case(name: str, runner: str, runs: int) -> None:
    """One case alone, for an instruction count (see the module's docstring)."""
    if name == "floor":
        _floor(runs * LENGTH)()
    else:
        _runs(runner, _processors(name), _chain(LENGTH), runs)()


def progress_cost(items: int = 10_000, rounds: int = 15) -> None:
    @node(output_name="a")
    def fa(x: int) -> int:
        return x + 1

    @node(output_name="b")
    def fb(a: int) -> int:
        return a + 1

    @node(output_name="c")
    def fc(b: int) -> int:
        return b + 1

    graph = Graph([fa, fb, fc])
    runner = SyncRunner()
    xs = list(range(items))
    real_stderr = sys.stderr

    def quiet_progress() -> None:
        sys.stderr = io.StringIO()  # not a terminal: the plain summary line
        try:
            runner.map(graph, {"x": xs}, map_over="x", progress=True)
        finally:
            sys.stderr = real_stderr

    cases = {
        "without": lambda: runner.map(graph, {"x": xs}, map_over="x") and None,
        "progress": quiet_progress,
    }
    quiet_progress()  # warm-up, and rich loaded
    best = _best_of_rounds(cases, rounds)
    extra = (best["progress"] / best["without"] - 1) * 100
    # What the display adds per item, timed alone (steadier than the difference above):
    # the map loop hands each finished item to it.
    from hypergraph.integrations.progress import ProgressProcessor
    from hypergraph.run.progress import counted

    results = list(runner.map_iter(graph, {"x": xs}, map_over="x"))
    display = ProgressProcessor(items, file=io.StringIO())
    count = _best_of_rounds({"count": lambda: [None for _ in counted(iter(results), display)]}, 5)
    per_item = best["without"] / items * 1e6
    counting = count["count"] / items * 1e6
    print(
        f"map of {items:,} items (W5): {items / best['without']:,.0f} items/s without, "
        f"{items / best['progress']:,.0f} items/s with progress=True ({extra:+.1f} %); "
        f"counting alone {counting:.2f} µs per item = {counting / per_item * 100:.1f} % of "
        f"an item's {per_item:.1f} µs"
    )


if __name__ == "__main__":
    if sys.argv[1:2] == ["case"]:
        _one_case(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        tracing_cost()
        progress_cost()
