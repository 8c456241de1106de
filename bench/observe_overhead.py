"""What tracing and progress cost: ``python bench/observe_overhead.py`` (project venv).

1. OpenTelemetryProcessor, per node execution: a 10-node chain of plain ``def`` nodes,
   run many times under SyncRunner and AsyncRunner, with no processor, with a processor
   that does nothing but has a ``node_scope`` (what any tracing processor costs the
   runner: events built, every node on the general call path), and with
   OpenTelemetryProcessor on an SDK TracerProvider whose exporter drops every span.
2. ``progress=True`` on the 10,000-item map of W5 (``x -> a -> b -> c``), SyncRunner,
   output to a pipe-like stream (plain lines; the display work is the same counting).

Best of interleaved rounds (the round least disturbed by the machine's other load); the
numbers still move with that load, so read the differences, not the third digit.
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


def _chain(length: int) -> Graph:
    nodes = []
    for k in range(length):

        def step(v: int) -> int:
            return v + 1

        nodes.append(node(step, output_name=f"v{k + 1}").with_name(f"n{k}").with_inputs(v=f"v{k}"))
    return Graph(nodes, name="chain")


class Quiet:
    """A processor that does nothing, with a node_scope: the runner's side of tracing."""

    def on_event(self, event: object) -> None:
        pass

    def node_scope(self, event: object) -> contextlib.nullcontext[None]:
        return contextlib.nullcontext()


def _tracing(sdk: bool = True) -> Any:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

    from hypergraph.integrations.otel import OpenTelemetryProcessor

    class Drop(SpanExporter):
        def export(self, spans: Sequence[Any]) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    if not sdk:  # the API's no-op spans: what the processor itself costs
        from opentelemetry.trace import NoOpTracerProvider

        return OpenTelemetryProcessor(tracer_provider=NoOpTracerProvider())
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(Drop()))
    return OpenTelemetryProcessor(tracer_provider=provider)


def _best_of_rounds(cases: dict[str, Callable[[], None]], rounds: int) -> dict[str, float]:
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(rounds):
        for name, case in cases.items():
            start = time.perf_counter()
            case()
            times[name].append(time.perf_counter() - start)
    return {name: min(values) for name, values in times.items()}


def tracing_cost(runs: int = 300, length: int = 10, rounds: int = 7) -> None:
    graph = _chain(length)
    sync = SyncRunner()
    processors: dict[str, list[object]] = {
        "none": [],
        "node_scope": [Quiet()],
        "otel_noop": [_tracing(sdk=False)],
        "otel": [_tracing()],
    }

    def sync_case(procs: list[object]) -> Callable[[], None]:
        return lambda: [sync.run(graph, v0=0, event_processors=procs) for _ in range(runs)] and None

    def async_case(procs: list[object]) -> Callable[[], None]:
        async def many() -> None:
            runner = AsyncRunner()
            for _ in range(runs):
                await runner.run(graph, v0=0, event_processors=procs)

        return lambda: asyncio.run(many())

    for label, make in (("SyncRunner", sync_case), ("AsyncRunner", async_case)):
        cases = {name: make(procs) for name, procs in processors.items()}
        cases["none"]()  # warm-up
        med = _best_of_rounds(cases, rounds)
        per_node = {name: value / (runs * length) * 1e6 for name, value in med.items()}
        base = per_node["none"]
        print(
            f"{label}: {base:.1f} µs per node without processors; added per node: "
            f"{per_node['node_scope'] - base:.1f} µs by a do-nothing tracing processor "
            f"(events, the general call path), "
            f"{per_node['otel_noop'] - base:.1f} µs by OpenTelemetryProcessor with no-op "
            f"spans, {per_node['otel'] - base:.1f} µs with SDK spans dropped by the exporter"
        )


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
    tracing_cost()
    progress_cost()
