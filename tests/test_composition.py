"""Composition (SPEC §7, decision 0007): graphs as nodes, map_over, nested loops and maps.

Scenarios run under both runners through the `run` fixture and expect the same values.
Streaming and concurrency scenarios drive the runners directly.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from conftest import run_async
from graphs import composition, loops
from hypergraph import (
    AsyncRunner,
    FunctionNode,
    Graph,
    GraphConfigError,
    GraphNode,
    IncompatibleRunnerError,
    InfiniteLoopError,
    MissingInputError,
    NodeEndEvent,
    NodeStartEvent,
    RunEndEvent,
    RunResult,
    RunStartEvent,
    RunStatus,
    StreamingChunkEvent,
    SyncRunner,
    node,
)
from hypergraph.errors import InputValueError

RunFn = Callable[..., RunResult]


class Recorder:
    """A plain event processor that keeps every event."""

    def __init__(self) -> None:
        self.events: list[Any] = []

    def on_event(self, event: Any) -> None:
        self.events.append(event)

    def of(self, kind: type) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]

    def node_paths(self) -> list[str]:
        """Path of every node that started, in order."""
        return [e.path for e in self.of(NodeStartEvent)]


# -- GraphNode ports -------------------------------------------------------------------------


def test_graph_node_ports_are_the_inner_graphs_inputs_and_outputs() -> None:
    inner = composition.inner_graph()
    graph_node = inner.as_node()
    assert isinstance(graph_node, GraphNode)
    assert graph_node.name == "inner"
    assert set(graph_node.inputs) == set(inner.inputs.all) == {"x", "offset"}
    assert graph_node.outputs == inner.outputs == ("doubled", "y")


def test_graph_without_a_name_needs_one_to_become_a_node() -> None:
    unnamed = Graph([composition.double])
    with pytest.raises(GraphConfigError, match="name"):
        unnamed.as_node()
    assert unnamed.as_node(name="doubler").name == "doubler"


def test_as_node_name_overrides_the_graph_name() -> None:
    assert composition.inner_graph().as_node(name="other").name == "other"


# -- flat nesting ----------------------------------------------------------------------------


def test_flat_nesting_runs_the_inner_graph_between_outer_nodes(run: RunFn) -> None:
    result = run(composition.flat_nesting(), {"a": 2})
    assert result.status is RunStatus.COMPLETED
    assert result.values == {"x": 3, "doubled": 6, "y": 7, "report": "y=7"}


def test_flat_nesting_passes_outer_values_to_optional_inner_inputs(run: RunFn) -> None:
    result = run(composition.flat_nesting(), {"a": 2, "offset": 100})
    assert result["y"] == 106
    assert result["report"] == "y=106"


def test_inner_events_carry_the_graph_path_of_the_graph_node(run: RunFn) -> None:
    recorder = Recorder()
    run(composition.flat_nesting(), {"a": 2}, event_processors=[recorder])
    assert recorder.node_paths() == [
        "prepare",
        "inner",
        "inner/double",
        "inner/add_offset",
        "report",
    ]
    inner_ends = [e for e in recorder.of(NodeEndEvent) if e.graph_path == ("inner",)]
    assert [(e.node_name, dict(e.outputs)) for e in inner_ends] == [
        ("double", {"doubled": 6}),
        ("add_offset", {"y": 7}),
    ]
    starts = recorder.of(RunStartEvent)
    ends = recorder.of(RunEndEvent)
    assert [e.graph_path for e in starts] == [(), ("inner",)]
    assert [e.graph_path for e in ends] == [("inner",), ()]
    assert all(e.status is RunStatus.COMPLETED for e in ends)


def test_inner_node_spans_link_through_the_nested_run_to_the_graph_node_span(run: RunFn) -> None:
    recorder = Recorder()
    run(composition.flat_nesting(), {"a": 2}, event_processors=[recorder])
    outer_run, inner_run = recorder.of(RunStartEvent)
    graph_node_start = next(e for e in recorder.of(NodeStartEvent) if e.path == "inner")
    assert graph_node_start.parent_span_id == outer_run.span_id
    assert inner_run.parent_span_id == graph_node_start.span_id
    inner_nodes = [e for e in recorder.of(NodeStartEvent) if e.graph_path == ("inner",)]
    assert len(inner_nodes) == 2
    assert {e.parent_span_id for e in inner_nodes} == {inner_run.span_id}
    assert graph_node_start.span_id not in {e.span_id for e in inner_nodes}


# -- two levels ------------------------------------------------------------------------------


def test_two_levels_of_nesting_give_the_values_of_every_level(run: RunFn) -> None:
    result = run(composition.two_levels(), {"seed": 2})
    assert result.status is RunStatus.COMPLETED
    assert result.values == {"value": 20, "tripled": 60, "plus_one": 61, "final": (60, 61)}


def test_two_levels_of_nesting_give_event_paths_a_b_node(run: RunFn) -> None:
    recorder = Recorder()
    run(composition.two_levels(), {"seed": 2}, event_processors=[recorder])
    assert recorder.node_paths() == ["start", "a", "a/b", "a/b/node", "a/plus_one", "finish"]
    innermost = next(e for e in recorder.of(NodeEndEvent) if e.node_name == "node")
    assert innermost.graph_path == ("a", "b")
    assert innermost.path == "a/b/node"
    assert [e.graph_path for e in recorder.of(RunStartEvent)] == [(), ("a",), ("a", "b")]


# -- inner select and bind -------------------------------------------------------------------


def test_inner_select_limits_the_graph_node_outputs_and_what_runs(run: RunFn) -> None:
    calls: list[str] = []

    @node(output_name="y")
    def wanted(x: int) -> int:
        calls.append("wanted")
        return x + 1

    @node(output_name="z")
    def unwanted(x: int) -> int:
        calls.append("unwanted")
        return x - 1

    selected = Graph([wanted, unwanted], name="inner").select("y").as_node()
    assert selected.outputs == ("y",)

    result = run(Graph([selected, composition.report]), {"x": 4})
    assert result.values == {"y": 5, "report": "y=5"}
    assert calls == ["wanted"]


def test_inner_bind_makes_the_port_optional_and_an_outer_value_overrides_it(run: RunFn) -> None:
    bound = composition.inner_graph().bind(offset=10).as_node()
    assert "offset" in bound.inputs
    outer = Graph([bound])
    assert outer.inputs.required == ("x",)
    assert run(outer, {"x": 1})["y"] == 12
    assert run(outer, {"x": 1, "offset": 100})["y"] == 102


# -- renames ---------------------------------------------------------------------------------


def test_renamed_graph_node_is_wired_and_reported_under_its_new_names(run: RunFn) -> None:
    renamed = (
        composition.inner_graph()
        .as_node()
        .with_inputs(x="n")
        .with_outputs(y="result")
        .with_name("renamed")
    )
    assert renamed.name == "renamed"
    assert set(renamed.inputs) == {"n", "offset"}
    assert renamed.outputs == ("doubled", "result")

    @node(output_name="shown")
    def show(result: int) -> str:
        return f"result={result}"

    recorder = Recorder()
    out = run(Graph([renamed, show]), {"n": 5}, event_processors=[recorder])
    assert out.values == {"doubled": 10, "result": 11, "shown": "result=11"}
    assert recorder.node_paths() == ["renamed", "renamed/double", "renamed/add_offset", "show"]


def test_renaming_a_graph_node_does_not_change_the_original() -> None:
    original = composition.inner_graph().as_node()
    original.with_inputs(x="n").with_outputs(y="result").with_name("renamed")
    assert original.name == "inner"
    assert set(original.inputs) == {"x", "offset"}
    assert original.outputs == ("doubled", "y")


# -- map_over --------------------------------------------------------------------------------


def test_map_over_zip_gives_output_lists_in_item_order(run: RunFn) -> None:
    mapped = composition.scale_graph().as_node().map_over("x", "factor")
    result = run(Graph([mapped]), {"x": [1, 2, 3], "factor": [10, 20, 30], "prefix": "$"})
    assert result.status is RunStatus.COMPLETED
    assert result["scaled"] == [10, 40, 90]
    assert result["label"] == ["$10", "$40", "$90"]


def test_map_over_shares_values_that_are_not_mapped(run: RunFn) -> None:
    mapped = composition.scale_graph().as_node().map_over("x")
    result = run(Graph([mapped]), {"x": [1, 2, 3], "factor": 7})
    assert result["scaled"] == [7, 14, 21]
    assert result["label"] == ["#7", "#14", "#21"]


def test_map_over_product_follows_itertools_product_order(run: RunFn) -> None:
    xs, factors = [1, 2], [10, 100, 1000]
    mapped = composition.scale_graph().as_node().map_over("x", "factor", mode="product")
    result = run(Graph([mapped]), {"x": xs, "factor": factors})
    assert result["scaled"] == [x * f for x, f in itertools.product(xs, factors)]
    assert result["scaled"] == [10, 100, 1000, 20, 200, 2000]


def test_map_over_output_lists_feed_downstream_outer_nodes(run: RunFn) -> None:
    @node(output_name="total")
    def total(scaled: list[int]) -> int:
        return sum(scaled)

    mapped = composition.scale_graph().as_node().map_over("x")
    result = run(Graph([mapped, total]), {"x": [1, 2, 3], "factor": 2})
    assert result["total"] == 12


def test_map_over_an_empty_list_gives_empty_output_lists(run: RunFn) -> None:
    mapped = composition.scale_graph().as_node().map_over("x")
    result = run(Graph([mapped]), {"x": [], "factor": 2})
    assert result.status is RunStatus.COMPLETED
    assert result.values == {"scaled": [], "label": []}


def test_map_over_zip_with_unequal_lengths_fails_the_node_naming_the_lengths(run: RunFn) -> None:
    mapped = composition.scale_graph().as_node().map_over("x", "factor")
    with pytest.raises(InputValueError) as excinfo:
        run(Graph([mapped]), {"x": [1, 2], "factor": [10, 20, 30]})
    message = str(excinfo.value)
    assert "'x' has 2" in message
    assert "'factor' has 3" in message


def test_map_over_a_non_list_value_fails_the_node_naming_the_input(run: RunFn) -> None:
    mapped = composition.scale_graph().as_node().map_over("x")
    with pytest.raises(InputValueError, match="'x'"):
        run(Graph([mapped]), {"x": 5, "factor": 2})


def test_map_over_an_unknown_input_is_a_config_error_with_a_suggestion() -> None:
    graph_node = composition.scale_graph().as_node()
    with pytest.raises(GraphConfigError, match="Did you mean 'factor'"):
        graph_node.map_over("facter")


def test_map_over_a_bad_mode_is_a_config_error_naming_the_mode() -> None:
    graph_node = composition.scale_graph().as_node()
    with pytest.raises(GraphConfigError, match="diagonal"):
        graph_node.map_over("x", mode="diagonal")


def test_map_over_returns_a_copy_and_leaves_the_graph_node_unmapped(run: RunFn) -> None:
    graph_node = composition.inner_graph().as_node()
    graph_node.map_over("x")
    assert run(Graph([graph_node]), {"x": 4})["y"] == 9


def test_map_over_raise_propagates_the_first_failing_items_own_exception(run: RunFn) -> None:
    raised: dict[int, BaseException] = {}
    mapped = composition.failing_items(raised, bad={2, 4}).as_node().map_over("x")
    with pytest.raises(composition.ItemBoom) as excinfo:
        run(Graph([mapped]), {"x": [1, 2, 3, 4]})
    assert excinfo.value is raised[2]


def test_map_over_raise_with_run_continue_gives_a_failed_run_with_the_items_error(
    run: RunFn,
) -> None:
    raised: dict[int, BaseException] = {}
    mapped = composition.failing_items(raised, bad={2}).as_node().map_over("x")
    result = run(Graph([mapped]), {"x": [1, 2, 3]}, error_handling="continue")
    assert result.status is RunStatus.FAILED
    assert result.error is raised[2]
    assert "checked" not in result


def test_map_over_continue_gives_none_for_failed_items_and_the_run_completes(
    run: RunFn,
) -> None:
    raised: dict[int, BaseException] = {}
    mapped = (
        composition.failing_items(raised, bad={2, 4})
        .as_node()
        .map_over("x", error_handling="continue")
    )

    @node(output_name="ok")
    def count_ok(checked: list[int | None]) -> int:
        return sum(c is not None for c in checked)

    result = run(Graph([mapped, count_ok]), {"x": [1, 2, 3, 4, 5]})
    assert result.status is RunStatus.COMPLETED
    assert result.error is None
    assert result["checked"] == [10, None, 30, None, 50]
    assert result["ok"] == 3
    assert set(raised) == {2, 4}


def test_map_items_are_labelled_name_k_in_event_paths(run: RunFn) -> None:
    recorder = Recorder()
    mapped = composition.scale_graph().as_node().map_over("x")
    run(Graph([mapped]), {"x": [1, 2, 3], "factor": 1}, event_processors=[recorder])
    item_paths = {e.graph_path for e in recorder.of(NodeStartEvent) if e.graph_path}
    assert item_paths == {("scale[0]",), ("scale[1]",), ("scale[2]",)}
    ends = {e.path: dict(e.outputs) for e in recorder.of(NodeEndEvent)}
    assert ends["scale[1]/scale"] == {"scaled": 2}
    assert ends["scale[2]/label"] == {"label": "#3"}
    assert ends["scale"] == {"scaled": [1, 2, 3], "label": ["#1", "#2", "#3"]}


def test_nested_failure_with_continue_fails_the_outer_run_and_keeps_other_branches(
    run: RunFn,
) -> None:
    raised: dict[int, BaseException] = {}
    failing = composition.failing_items(raised, bad={1}).as_node()

    @node(output_name="side")
    def side(a: int) -> int:
        return a * 2

    result = run(Graph([failing, side]), {"x": 1, "a": 5}, error_handling="continue")
    assert result.status is RunStatus.FAILED
    assert result.error is raised[1]
    assert result.values == {"side": 10}


def test_nested_failure_with_raise_propagates_the_inner_nodes_own_exception(run: RunFn) -> None:
    raised: dict[int, BaseException] = {}
    failing = composition.failing_items(raised, bad={1}).as_node()
    with pytest.raises(composition.ItemBoom) as excinfo:
        run(Graph([failing]), {"x": 1})
    assert excinfo.value is raised[1]


@node(output_name="tokens")
def spell_then_fail(word: str) -> Iterator[str]:
    yield from word
    raise RuntimeError(f"failed after {word!r}")


def test_partial_chunks_of_a_failed_inner_node_are_keyed_by_its_path(run: RunFn) -> None:
    graph = Graph([Graph([spell_then_fail], name="inner").as_node()])
    result = run(graph, {"word": "ab"}, error_handling="continue")
    assert result.status is RunStatus.FAILED
    assert result.partial == {"inner/spell_then_fail": ["a", "b"]}


def test_partial_chunks_of_failed_map_items_are_keyed_by_item_path(run: RunFn) -> None:
    mapped = (
        Graph([spell_then_fail], name="inner").as_node().map_over("word", error_handling="continue")
    )
    result = run(Graph([mapped]), {"word": ["ab", "c"]})
    assert result.status is RunStatus.COMPLETED
    assert result["tokens"] == [None, None]
    assert result.partial == {
        "inner[0]/spell_then_fail": ["a", "b"],
        "inner[1]/spell_then_fail": ["c"],
    }


def test_a_missing_input_of_a_nested_graph_fails_before_anything_runs(run: RunFn) -> None:
    with pytest.raises(MissingInputError) as excinfo:
        run(Graph([composition.inner_graph().as_node()]), {})
    assert excinfo.value.missing == ["x"]
    assert "'inner'" in str(excinfo.value)


def test_an_outer_bind_fills_a_graph_node_port(run: RunFn) -> None:
    outer = Graph([composition.inner_graph().as_node()]).bind(x=4)
    assert run(outer)["y"] == 9


# -- nested cycles ---------------------------------------------------------------------------


def test_nested_counter_loop_runs_to_its_end_inside_an_outer_graph(run: RunFn) -> None:
    calls: list[int] = []
    result = run(composition.loop_inside_outer(calls), {"start": 1})
    assert result.status is RunStatus.COMPLETED
    assert result.values == {"seed": 2, "final": 10, "summary": "2->10"}
    assert calls == [2, 3, 4, 5, 6, 7, 8, 9]


def test_nested_counter_loop_reports_its_iterations_under_the_loop_path(run: RunFn) -> None:
    recorder = Recorder()
    run(composition.loop_inside_outer([]), {"start": 3}, event_processors=[recorder])
    paths = recorder.node_paths()
    assert paths.count("loop/increment") == 4  # 6 -> 7 -> 8 -> 9 -> 10
    assert paths[0] == "make_seed"
    assert paths[1] == "loop"
    assert paths[-1] == "summarize"


def test_nested_chat_loop_goes_round_until_its_gate_ends_it(run: RunFn) -> None:
    turns: list[int] = []
    chat = (
        loops.chat_loop(turns)
        .as_node(name="chat")
        .with_inputs(messages="opening")
        .with_outputs(messages="history")
    )

    @node(output_name="opening")
    def open_chat(topic: str) -> list[dict[str, str]]:
        return [{"role": "system", "content": topic}]

    @node(output_name="n_messages")
    def count_messages(history: list[dict[str, str]]) -> int:
        return len(history)

    result = run(Graph([open_chat, chat, count_messages]), {"topic": "tests"})
    assert result.status is RunStatus.COMPLETED
    assert turns == list(range(1, loops.MAX_MESSAGES, 2))
    assert result["n_messages"] == loops.MAX_MESSAGES + 1
    assert result["history"][0] == {"role": "system", "content": "tests"}
    assert result["response"] == loops.REPLY


def test_a_nested_loop_that_never_ends_hits_max_iterations(run: RunFn) -> None:
    runaway = Graph(list(loops.runaway_loop([]).nodes.values()), name="runaway").as_node()
    with pytest.raises(InfiniteLoopError) as excinfo:
        run(Graph([runaway]), {"count": 0}, max_iterations=5)
    assert excinfo.value.max_iterations == 5


def test_map_over_a_nested_loop_runs_each_item_to_its_own_end(run: RunFn) -> None:
    calls: list[int] = []
    loop = composition.counter_loop(calls).as_node().map_over("count")
    result = run(Graph([loop]), {"count": [7, 9, 12]})
    assert result["count"] == [10, 10, 12]
    assert sorted(calls) == [7, 8, 9, 9]


# -- nested maps -----------------------------------------------------------------------------


def nested_map() -> Graph:
    """rows (a list of lists) -> row[k] (a graph mapped over rows) -> squares[j] (mapped over x)."""

    @node(output_name="sq")
    def square(x: int) -> int:
        return x * x

    squares = Graph([square], name="squares").as_node().map_over("x")

    @node(output_name="row_total")
    def add_up(sq: list[int]) -> int:
        return sum(sq)

    row = Graph([squares, add_up], name="row").as_node().with_inputs(x="rows").map_over("rows")

    @node(output_name="grand_total")
    def grand(row_total: list[int]) -> int:
        return sum(row_total)

    return Graph([row, grand])


def test_nested_map_maps_a_graph_that_maps_a_graph(run: RunFn) -> None:
    result = run(nested_map(), {"rows": [[1, 2], [3], [], [4, 5, 6]]})
    assert result.status is RunStatus.COMPLETED
    assert result["sq"] == [[1, 4], [9], [], [16, 25, 36]]
    assert result["row_total"] == [5, 9, 0, 77]
    assert result["grand_total"] == 91


def test_nested_map_labels_each_level_with_its_item_index(run: RunFn) -> None:
    recorder = Recorder()
    run(nested_map(), {"rows": [[1, 2], [3]]}, event_processors=[recorder])
    square_ends = {
        e.path: dict(e.outputs) for e in recorder.of(NodeEndEvent) if e.node_name == "square"
    }
    assert square_ends == {
        "row[0]/squares[0]/square": {"sq": 1},
        "row[0]/squares[1]/square": {"sq": 4},
        "row[1]/squares[0]/square": {"sq": 9},
    }


# -- streaming map items ---------------------------------------------------------------------


def collect_events(mode: str, graph: Graph, values: dict[str, Any]) -> tuple[list[Any], RunResult]:
    """Every event an iter() consumer sees, and the run's result, under `mode`'s runner."""
    if mode == "sync":
        with SyncRunner().iter(graph, values) as sync_run:
            events = list(sync_run)
            return events, sync_run.result()

    async def consume() -> tuple[list[Any], RunResult]:
        async with AsyncRunner().iter(graph, values) as async_run:
            seen = [event async for event in async_run]
            return seen, await async_run.result()

    return run_async(consume())


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_mapped_items_stream_chunks_to_the_outer_consumer_labelled_by_item(mode: str) -> None:
    graph = Graph([composition.speller().as_node().map_over("word")])
    events, result = collect_events(mode, graph, {"word": ["ab", "cde", "f"]})
    assert result.status is RunStatus.COMPLETED
    assert result["tokens"] == [["a", "b"], ["c", "d", "e"], ["f"]]
    assert result["text"] == ["ab", "cde", "f"]

    chunks = [e for e in events if isinstance(e, StreamingChunkEvent)]
    by_item: dict[tuple[str, ...], list[tuple[int, str]]] = {}
    for chunk in chunks:
        assert chunk.node_name == "spell"
        by_item.setdefault(chunk.graph_path, []).append((chunk.sequence, chunk.chunk))
    assert by_item == {
        ("inner[0]",): [(0, "a"), (1, "b")],
        ("inner[1]",): [(0, "c"), (1, "d"), (2, "e")],
        ("inner[2]",): [(0, "f")],
    }
    # Each chunk arrives between its item's node start and node end.
    for k in range(3):
        path = (f"inner[{k}]",)
        item_events = [e for e in events if getattr(e, "graph_path", None) == path]
        kinds = [type(e).__name__ for e in item_events if getattr(e, "node_name", "") == "spell"]
        assert kinds[0] == "NodeStartEvent"
        assert kinds[-1] == "NodeEndEvent"
        assert set(kinds[1:-1]) == {"StreamingChunkEvent"}


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_nested_graph_streams_chunks_with_its_path(mode: str) -> None:
    graph = Graph([composition.speller().as_node()])
    events, result = collect_events(mode, graph, {"word": "hey"})
    assert result["text"] == "hey"
    chunks = [e for e in events if isinstance(e, StreamingChunkEvent)]
    assert [(e.path, e.chunk) for e in chunks] == [
        ("inner/spell", "h"),
        ("inner/spell", "e"),
        ("inner/spell", "y"),
    ]


# -- stop signal -----------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_stop_requested_inside_a_nested_graph_stops_the_outer_run(mode: str) -> None:
    """The inner graph shares the outer run's stop signal: after it, nothing new starts."""
    ran: list[str] = []
    handle: list[Any] = []
    handle_set = threading.Event()

    @node(output_name="first")
    def first(x: int) -> int:
        ran.append("first")
        assert handle_set.wait(timeout=5)
        handle[0].stop()
        return x + 1

    @node(output_name="second")
    def second(first: int) -> int:
        ran.append("second")
        return first + 1

    @node(output_name="after")
    def after(second: int) -> int:
        ran.append("after")
        return second

    graph = Graph([Graph([first, second], name="inner").as_node(), after])
    if mode == "sync":
        with SyncRunner().iter(graph, {"x": 1}) as sync_run:
            handle.append(sync_run)
            handle_set.set()
            result = sync_run.result()
    else:

        async def go() -> RunResult:
            async with AsyncRunner().iter(graph, {"x": 1}) as async_run:
                handle.append(async_run)
                handle_set.set()
                return await async_run.result()

        result = run_async(go())
    assert ran == ["first"]
    assert result.status is RunStatus.STOPPED
    assert "after" not in result


# -- the concurrency cap across nesting (AsyncRunner) ----------------------------------------


class Gauge:
    """Counts leaf nodes running at once, each holding on over several loop turns."""

    def __init__(self) -> None:
        self.now = 0
        self.peak = 0
        self.total = 0

    async def hold(self) -> None:
        self.now += 1
        self.total += 1
        self.peak = max(self.peak, self.now)
        try:
            for _ in range(5):
                await asyncio.sleep(0)
        finally:
            self.now -= 1


def leaf(gauge: Gauge, name: str, source: str, target: str) -> FunctionNode:
    """An async leaf node `name`: source -> target, counted by `gauge`."""

    async def work(value: int) -> int:
        await gauge.hold()
        return value + 1

    return FunctionNode(work, name=name, output_name=target, rename_inputs={"value": source})


def wide_nested_graph(gauge: Gauge) -> Graph:
    """Many leaves ready at once: 3 at the top, 2 in a nested graph (plus 2 one level deeper),
    and a graph mapped over 6 items with 2 leaves each."""
    deeper = Graph(
        [leaf(gauge, "d1", "x", "d1_out"), leaf(gauge, "d2", "x", "d2_out")], name="deeper"
    )
    nested = Graph(
        [leaf(gauge, "n1", "x", "n1_out"), leaf(gauge, "n2", "x", "n2_out"), deeper.as_node()],
        name="nested",
    )
    per_item = Graph(
        [leaf(gauge, "m1", "item", "m1_out"), leaf(gauge, "m2", "item", "m2_out")], name="items"
    ).as_node()
    top = [leaf(gauge, f"t{k}", "x", f"t{k}_out") for k in range(3)]
    return Graph([*top, nested.as_node(), per_item.map_over("item")])


LEAVES_IN_WIDE_GRAPH = 3 + 2 + 2 + 6 * 2


def run_wide(max_concurrency: int | None) -> tuple[RunResult, Gauge]:
    gauge = Gauge()
    graph = wide_nested_graph(gauge)
    values = {"x": 1, "item": [10, 20, 30, 40, 50, 60]}
    result = run_async(AsyncRunner().run(graph, values, max_concurrency=max_concurrency))
    return result, gauge


def test_concurrency_cap_counts_leaf_nodes_across_nested_graphs_and_map_items() -> None:
    result, gauge = run_wide(max_concurrency=2)
    assert result.status is RunStatus.COMPLETED
    assert result["m2_out"] == [11, 21, 31, 41, 51, 61]
    assert result["d1_out"] == 2
    assert gauge.total == LEAVES_IN_WIDE_GRAPH
    assert gauge.peak <= 2
    assert gauge.peak == 2  # the cap was reached, so the test measured something


def test_without_a_cap_the_wide_nested_graph_runs_many_leaves_at_once() -> None:
    """The control for the cap test: the graph really offers more than 2 leaves at once."""
    result, gauge = run_wide(max_concurrency=None)
    assert result.status is RunStatus.COMPLETED
    assert gauge.total == LEAVES_IN_WIDE_GRAPH
    assert gauge.peak > 2


def test_a_graph_node_holds_no_slot_so_a_cap_of_one_still_completes() -> None:
    result, gauge = run_wide(max_concurrency=1)
    assert result.status is RunStatus.COMPLETED
    assert result["m1_out"] == [11, 21, 31, 41, 51, 61]
    assert gauge.total == LEAVES_IN_WIDE_GRAPH
    assert gauge.peak == 1


def test_sync_runner_refuses_a_nested_graph_with_async_nodes() -> None:
    graph = wide_nested_graph(Gauge())
    with pytest.raises(IncompatibleRunnerError, match="AsyncRunner"):
        SyncRunner().run(graph, {"x": 1, "item": [1]})
