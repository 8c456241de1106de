"""runner.map and runner.map_iter (SPEC §7, decision 0007): batches of runs of one graph.

`map` scenarios run under both runners through the `map_run` fixture with the same
expected values; `map_iter` has a sync (lazy, input order) and an async (completion
order, bounded, cancellable) flavour, each tested on its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Callable, MutableSequence, Sequence
from typing import Any

import pytest

from conftest import run_async
from graphs import composition
from hypergraph import (
    AsyncRunner,
    FunctionNode,
    Graph,
    IncompatibleRunnerError,
    MapResult,
    RunEndEvent,
    RunResult,
    RunStartEvent,
    RunStatus,
    SyncRunner,
    node,
)
from hypergraph.errors import InputValueError

MapFn = Callable[..., MapResult]


@pytest.fixture(params=["sync", "async"])
def map_run(request: pytest.FixtureRequest) -> MapFn:
    """`map_run(graph, values, **options)`: runner.map under SyncRunner, then AsyncRunner."""
    mode = request.param

    def _map(graph: Graph, values: dict[str, Any] | None = None, **options: Any) -> MapResult:
        if mode == "sync":
            options.pop("max_concurrency", None)
            return SyncRunner().map(graph, values, **options)
        return run_async(AsyncRunner().map(graph, values, **options))

    _map.mode = mode  # type: ignore[attr-defined]
    return _map


class Recorder:
    """A plain event processor that keeps every event."""

    def __init__(self) -> None:
        self.events: list[Any] = []

    def on_event(self, event: Any) -> None:
        self.events.append(event)


def graph() -> Graph:
    """x, factor (, prefix="#") -> scaled -> label."""
    return composition.scale_graph()


# -- map: values ---------------------------------------------------------------------------


def test_map_gives_one_run_result_per_item_in_item_order(map_run: MapFn) -> None:
    result = map_run(graph(), {"x": [1, 2, 3], "factor": 10}, map_over="x")
    assert isinstance(result, MapResult)
    assert len(result) == 3
    assert all(isinstance(r, RunResult) for r in result)
    assert [r["scaled"] for r in result] == [10, 20, 30]
    assert result[1].values == {"scaled": 20, "label": "#20"}
    assert result[-1]["label"] == "#30"
    assert result.status is RunStatus.COMPLETED
    assert result.failures == []


def test_map_result_by_name_is_the_list_of_that_output_per_item(map_run: MapFn) -> None:
    result = map_run(graph(), {"x": [1, 2, 3], "factor": 10}, map_over="x")
    assert result["scaled"] == [10, 20, 30]
    assert result["label"] == ["#10", "#20", "#30"]


def test_map_zips_several_lists_item_by_item(map_run: MapFn) -> None:
    values = {"x": [1, 2, 3], "factor": [4, 5, 6]}
    result = map_run(graph(), values, map_over=["x", "factor"], map_mode="zip")
    assert result["scaled"] == [4, 10, 18]


def test_map_zip_is_the_default_mode(map_run: MapFn) -> None:
    result = map_run(graph(), {"x": [1, 2], "factor": [3, 4]}, map_over=["x", "factor"])
    assert result["scaled"] == [3, 8]


def test_map_product_follows_itertools_product_order(map_run: MapFn) -> None:
    xs, factors = [1, 2, 3], [10, 100]
    values = {"x": xs, "factor": factors}
    result = map_run(graph(), values, map_over=["x", "factor"], map_mode="product")
    assert len(result) == 6
    assert result["scaled"] == [x * f for x, f in itertools.product(xs, factors)]
    assert result["scaled"] == [10, 100, 20, 200, 30, 300]


def test_map_shares_values_that_are_not_mapped_with_every_item(map_run: MapFn) -> None:
    seen: list[tuple[int, str]] = []

    @node(output_name="tagged")
    def tag(x: int, prefix: str, on_item: Callable[[tuple[int, str]], None]) -> str:
        on_item((x, prefix))
        return f"{prefix}{x}"

    values = {"x": [1, 2, 3], "prefix": "p", "on_item": seen.append}
    result = map_run(Graph([tag]), values, map_over="x")
    assert result["tagged"] == ["p1", "p2", "p3"]
    assert sorted(seen) == [(1, "p"), (2, "p"), (3, "p")]


def test_map_over_a_string_name_equals_a_one_name_list(map_run: MapFn) -> None:
    by_str = map_run(graph(), {"x": [1, 2], "factor": 3}, map_over="x")
    by_list = map_run(graph(), {"x": [1, 2], "factor": 3}, map_over=["x"])
    assert by_str["scaled"] == by_list["scaled"] == [3, 6]


def test_map_takes_values_as_keywords(map_run: MapFn) -> None:
    result = map_run(graph(), map_over="x", x=[1, 2], factor=5)
    assert result["scaled"] == [5, 10]


def test_map_accepts_any_sequence_not_only_lists(map_run: MapFn) -> None:
    result = map_run(graph(), {"x": (1, 2), "factor": range(3, 5)}, map_over=["x", "factor"])
    assert result["scaled"] == [3, 8]


def test_map_over_an_empty_list_gives_an_empty_completed_result(map_run: MapFn) -> None:
    result = map_run(graph(), {"x": [], "factor": 2}, map_over="x")
    assert len(result) == 0
    assert list(result) == []
    assert result["scaled"] == []
    assert result.status is RunStatus.COMPLETED
    assert result.failures == []


def test_map_gives_each_item_its_own_run_id(map_run: MapFn) -> None:
    result = map_run(graph(), {"x": [1, 2, 3], "factor": 1}, map_over="x")
    assert len({r.run_id for r in result}) == 3


def test_map_event_processors_see_every_items_run(map_run: MapFn) -> None:
    recorder = Recorder()
    result = map_run(
        graph(), {"x": [1, 2, 3], "factor": 1}, map_over="x", event_processors=[recorder]
    )
    starts = [e for e in recorder.events if isinstance(e, RunStartEvent)]
    ends = [e for e in recorder.events if isinstance(e, RunEndEvent)]
    assert {e.run_id for e in starts} == {e.run_id for e in ends} == {r.run_id for r in result}
    assert all(e.status is RunStatus.COMPLETED for e in ends)


# -- map: failures ---------------------------------------------------------------------------


def test_map_raise_propagates_the_failing_items_own_exception(map_run: MapFn) -> None:
    raised: dict[int, BaseException] = {}
    items = composition.failing_items(raised, bad={2})
    with pytest.raises(composition.ItemBoom) as excinfo:
        map_run(items, {"x": [1, 2, 3]}, map_over="x")
    assert excinfo.value is raised[2]


def test_map_continue_with_some_failures_is_partial_and_lists_the_failures(
    map_run: MapFn,
) -> None:
    raised: dict[int, BaseException] = {}
    items = composition.failing_items(raised, bad={2, 4})
    result = map_run(items, {"x": [1, 2, 3, 4]}, map_over="x", error_handling="continue")
    assert len(result) == 4
    assert result.status is RunStatus.PARTIAL
    assert [r.status for r in result] == [
        RunStatus.COMPLETED,
        RunStatus.FAILED,
        RunStatus.COMPLETED,
        RunStatus.FAILED,
    ]
    assert result["checked"] == [10, None, 30, None]
    assert result.failures == [result[1], result[3]]
    assert result.failures[0].error is raised[2]
    assert result.failures[1].error is raised[4]
    assert result[0].error is None


def test_map_continue_with_every_item_failing_is_failed(map_run: MapFn) -> None:
    raised: dict[int, BaseException] = {}
    items = composition.failing_items(raised, bad={1, 2})
    result = map_run(items, {"x": [1, 2]}, map_over="x", error_handling="continue")
    assert result.status is RunStatus.FAILED
    assert len(result.failures) == 2
    assert [r.error for r in result.failures] == [raised[1], raised[2]]
    assert result["checked"] == [None, None]


def test_map_continue_without_failures_is_completed(map_run: MapFn) -> None:
    items = composition.failing_items({}, bad=set())
    result = map_run(items, {"x": [1, 2]}, map_over="x", error_handling="continue")
    assert result.status is RunStatus.COMPLETED
    assert result.failures == []


# -- MapResult is read-only ------------------------------------------------------------------


def test_map_result_is_a_read_only_sequence(map_run: MapFn) -> None:
    result = map_run(graph(), {"x": [1, 2], "factor": 1}, map_over="x")
    assert isinstance(result, Sequence)
    assert not isinstance(result, MutableSequence)
    first = result[0]
    with pytest.raises(TypeError):
        result[0] = first  # type: ignore[index]
    with pytest.raises(TypeError):
        del result[0]  # type: ignore[attr-defined]
    assert not hasattr(result, "append")
    assert not hasattr(result, "extend")
    assert result[0] is first
    assert len(result) == 2


def test_map_result_slices_and_iterates_like_a_sequence(map_run: MapFn) -> None:
    result = map_run(graph(), {"x": [1, 2, 3], "factor": 1}, map_over="x")
    assert [r["scaled"] for r in result[1:]] == [2, 3]
    assert result.index(result[2]) == 2
    assert result[0] in result


# -- bad input -------------------------------------------------------------------------------


def test_map_over_an_int_is_an_error_naming_the_input(map_run: MapFn) -> None:
    with pytest.raises(InputValueError, match="'x'") as excinfo:
        map_run(graph(), {"x": 5, "factor": 1}, map_over="x")
    assert "int" in str(excinfo.value)
    assert excinfo.value.names == ["x"]


def test_map_over_a_string_is_an_error_not_a_map_over_its_characters(map_run: MapFn) -> None:
    with pytest.raises(InputValueError, match="'x'") as excinfo:
        map_run(graph(), {"x": "abc", "factor": 1}, map_over="x")
    assert "str" in str(excinfo.value)


def test_map_over_an_unknown_name_is_an_error_with_a_suggestion(map_run: MapFn) -> None:
    with pytest.raises(InputValueError, match="'factr'") as excinfo:
        map_run(graph(), {"x": [1], "factor": [1]}, map_over=["x", "factr"])
    assert "Did you mean 'factor'?" in str(excinfo.value)


def test_map_over_a_name_without_a_value_is_an_error_naming_it(map_run: MapFn) -> None:
    with pytest.raises(InputValueError, match="'factor'"):
        map_run(graph(), {"x": [1, 2]}, map_over=["x", "factor"])


def test_map_zip_with_unequal_lengths_is_an_error_naming_the_lengths(map_run: MapFn) -> None:
    with pytest.raises(InputValueError) as excinfo:
        map_run(graph(), {"x": [1, 2, 3], "factor": [1, 2]}, map_over=["x", "factor"])
    message = str(excinfo.value)
    assert "'x' has 3" in message
    assert "'factor' has 2" in message


def test_map_with_a_bad_mode_is_an_error_naming_the_mode(map_run: MapFn) -> None:
    with pytest.raises(InputValueError, match="'diagonal'"):
        map_run(graph(), {"x": [1], "factor": 1}, map_over="x", map_mode="diagonal")


def test_map_over_a_dict_is_an_error_naming_the_input(map_run: MapFn) -> None:
    with pytest.raises(InputValueError, match="'x'") as excinfo:
        map_run(graph(), {"x": {1: 2}, "factor": 1}, map_over="x")
    assert "dict" in str(excinfo.value)


def test_map_over_no_names_is_an_error(map_run: MapFn) -> None:
    with pytest.raises(InputValueError, match="map_over"):
        map_run(graph(), {"x": [1], "factor": 1}, map_over=[])


def test_map_with_a_bad_error_handling_is_an_error_naming_it(map_run: MapFn) -> None:
    with pytest.raises(InputValueError, match="'maybe'"):
        map_run(graph(), {"x": [1], "factor": 1}, map_over="x", error_handling="maybe")


@pytest.mark.parametrize("bad", [0, -1, "2", 1.5])
def test_async_map_rejects_a_bad_max_concurrency_like_run_and_map_iter(bad: object) -> None:
    runner = AsyncRunner()
    values = {"x": [1, 2], "factor": 1}
    with pytest.raises(InputValueError, match="max_concurrency"):
        run_async(
            runner.run(Graph([composition.scale]), {"x": 1, "factor": 1}, max_concurrency=bad)
        )
    with pytest.raises(InputValueError, match="max_concurrency"):
        runner.map_iter(graph(), values, map_over="x", max_concurrency=bad)
    with pytest.raises(InputValueError, match="max_concurrency"):
        run_async(runner.map(graph(), values, map_over="x", max_concurrency=bad))


def test_map_bad_input_is_refused_before_any_item_runs(map_run: MapFn) -> None:
    calls: list[int] = []

    @node(output_name="y")
    def record(x: int, z: int) -> int:
        calls.append(x)
        return x

    with pytest.raises(InputValueError):
        map_run(Graph([record]), {"x": [1, 2, 3], "z": [1, 2]}, map_over=["x", "z"])
    assert calls == []


def test_map_iter_checks_its_input_when_called_not_when_iterated() -> None:
    values = {"x": [1, 2], "factor": [1]}
    with pytest.raises(InputValueError, match="'x' has 2"):
        SyncRunner().map_iter(graph(), values, map_over=["x", "factor"])
    with pytest.raises(InputValueError, match="'x' has 2"):
        AsyncRunner().map_iter(graph(), values, map_over=["x", "factor"])


def test_sync_map_refuses_async_nodes_up_front() -> None:
    @node(output_name="y")
    async def slow(x: int) -> int:
        return x

    with pytest.raises(IncompatibleRunnerError, match="AsyncRunner"):
        SyncRunner().map(Graph([slow]), {"x": [1]}, map_over="x")


# -- SyncRunner.map_iter ---------------------------------------------------------------------


def test_sync_map_iter_is_lazy_running_one_item_per_step_in_input_order() -> None:
    calls: list[int] = []

    @node(output_name="y")
    def record(x: int) -> int:
        calls.append(x)
        return x * 10

    items = SyncRunner().map_iter(Graph([record]), {"x": [5, 6, 7]}, map_over="x")
    assert calls == []
    k, first = next(items)
    assert (k, first["y"]) == (0, 50)
    assert calls == [5]
    k, second = next(items)
    assert (k, second["y"]) == (1, 60)
    assert calls == [5, 6]
    assert [(k, r["y"]) for k, r in items] == [(2, 70)]
    assert calls == [5, 6, 7]


def test_sync_map_iter_with_continue_yields_failed_items_in_place() -> None:
    raised: dict[int, BaseException] = {}
    items = composition.failing_items(raised, bad={2})
    seen = [
        (k, r.status, r.error)
        for k, r in SyncRunner().map_iter(
            items, {"x": [1, 2, 3]}, map_over="x", error_handling="continue"
        )
    ]
    assert seen == [
        (0, RunStatus.COMPLETED, None),
        (1, RunStatus.FAILED, raised[2]),
        (2, RunStatus.COMPLETED, None),
    ]


def test_sync_map_iter_with_raise_raises_at_the_failing_item_and_runs_no_later_item() -> None:
    raised: dict[int, BaseException] = {}
    items = SyncRunner().map_iter(
        composition.failing_items(raised, bad={2}), {"x": [1, 2, 3]}, map_over="x"
    )
    assert next(items)[0] == 0
    with pytest.raises(composition.ItemBoom) as excinfo:
        next(items)
    assert excinfo.value is raised[2]
    assert set(raised) == {2}


# -- AsyncRunner.map_iter --------------------------------------------------------------------


def test_async_map_iter_yields_in_completion_order() -> None:
    async def main() -> list[tuple[int, int]]:
        release_first = asyncio.Event()  # set by the consumer once it has item 1

        @node(output_name="y")
        async def work(x: int) -> int:
            if x == 0:
                await release_first.wait()
            return x * 10

        seen: list[tuple[int, int]] = []
        items = AsyncRunner().map_iter(Graph([work]), {"x": [0, 1]}, map_over="x")
        async with contextlib.aclosing(items):
            async for k, result in items:
                seen.append((k, result["y"]))
                release_first.set()
        return seen

    assert run_async(main()) == [(1, 10), (0, 0)]


def test_async_map_iter_over_10000_items_keeps_at_most_max_concurrency_unconsumed() -> None:
    n, cap = 10_000, 8

    async def main() -> None:
        started = 0
        consumed = 0
        peak = 0

        @node(output_name="y")
        async def first(x: int) -> int:
            nonlocal started, peak
            started += 1
            peak = max(peak, started - consumed)
            return x * 2

        @node(output_name="z")
        async def second(y: int) -> int:
            return y + 1

        seen: dict[int, int] = {}
        order: list[int] = []
        items = AsyncRunner().map_iter(
            Graph([first, second]), {"x": list(range(n))}, map_over="x", max_concurrency=cap
        )
        async with contextlib.aclosing(items):
            async for k, result in items:
                consumed += 1
                order.append(k)
                seen[k] = result["z"]
                if k % 500 == 0:  # a slow consumer now and then: production must wait
                    for _ in range(20):
                        await asyncio.sleep(0)
                assert started - consumed <= cap
        assert len(order) == n
        assert sorted(order) == list(range(n))
        assert seen == {k: 2 * k + 1 for k in range(n)}
        assert started == n
        assert peak <= cap
        assert peak == cap  # the bound was reached, so it was tested

    run_async(main(), timeout=30)


def test_async_map_iter_defaults_to_64_items_in_flight() -> None:
    async def main() -> int:
        started = 0
        consumed = 0
        peak = 0

        @node(output_name="y")
        async def work(x: int) -> int:
            nonlocal started, peak
            started += 1
            peak = max(peak, started - consumed)
            return x

        items = AsyncRunner().map_iter(Graph([work]), {"x": list(range(200))}, map_over="x")
        async with contextlib.aclosing(items):
            async for _ in items:
                consumed += 1
        return peak

    assert run_async(main()) == 64


def test_breaking_out_of_async_map_iter_cancels_items_in_flight() -> None:
    async def main() -> None:
        never = asyncio.Event()  # never set: blocked items can only end by cancellation
        blocked_started = asyncio.Event()
        started: list[int] = []
        cancelled: list[int] = []
        cleaned_up: list[int] = []
        completed: list[int] = []

        @node(output_name="y")
        async def work(x: int) -> int:
            started.append(x)
            if len(started) == 4:
                blocked_started.set()
            if x == 0:
                await blocked_started.wait()  # item 0 finishes once items 1-3 are blocked
                return 0
            try:
                await never.wait()
                completed.append(x)
            except asyncio.CancelledError:
                cancelled.append(x)
                raise
            finally:
                cleaned_up.append(x)
            return x

        got: list[int] = []
        items = AsyncRunner().map_iter(
            Graph([work]), {"x": list(range(10))}, map_over="x", max_concurrency=4
        )
        async with contextlib.aclosing(items):
            async for k, _ in items:
                got.append(k)
                break
        assert got == [0]
        assert sorted(started) == [0, 1, 2, 3]  # items beyond the cap never started
        assert sorted(cancelled) == [1, 2, 3]
        assert sorted(cleaned_up) == [1, 2, 3]
        assert completed == []
        assert asyncio.all_tasks() == {asyncio.current_task()}

    run_async(main())


def test_async_map_iter_with_raise_propagates_the_item_error_and_cancels_the_rest() -> None:
    async def main() -> None:
        never = asyncio.Event()
        boom = composition.ItemBoom("item 0")
        cancelled: list[int] = []
        others_waiting = asyncio.Event()
        waiting = 0

        @node(output_name="y")
        async def work(x: int) -> int:
            nonlocal waiting
            if x == 0:
                await others_waiting.wait()
                raise boom
            waiting += 1
            if waiting == 2:
                others_waiting.set()
            try:
                await never.wait()
            except asyncio.CancelledError:
                cancelled.append(x)
                raise
            return x

        items = AsyncRunner().map_iter(Graph([work]), {"x": [0, 1, 2]}, map_over="x")
        with pytest.raises(composition.ItemBoom) as excinfo:
            async with contextlib.aclosing(items):
                async for _ in items:
                    pass
        assert excinfo.value is boom
        assert sorted(cancelled) == [1, 2]
        assert asyncio.all_tasks() == {asyncio.current_task()}

    run_async(main())


# -- AsyncRunner.map: concurrency ------------------------------------------------------------


def test_async_map_runs_items_concurrently_by_default() -> None:
    async def main() -> list[int]:
        arrived = 0
        everyone_here = asyncio.Event()

        @node(output_name="y")
        async def meet(x: int) -> int:
            nonlocal arrived
            arrived += 1
            if arrived == 3:
                everyone_here.set()
            await everyone_here.wait()  # would never return if items ran one by one
            return x

        result = await AsyncRunner().map(Graph([meet]), {"x": [1, 2, 3]}, map_over="x")
        return result["y"]

    assert run_async(main(), timeout=5) == [1, 2, 3]


class Gauge:
    """Counts leaf nodes running at once, each holding on over several loop turns."""

    def __init__(self) -> None:
        self.now = 0
        self.peak = 0

    async def hold(self) -> None:
        self.now += 1
        self.peak = max(self.peak, self.now)
        try:
            for _ in range(5):
                await asyncio.sleep(0)
        finally:
            self.now -= 1


def test_async_map_max_concurrency_caps_leaf_nodes_across_items_and_nesting() -> None:
    gauge = Gauge()

    def leaf(name: str, source: str, target: str) -> FunctionNode:
        async def work(value: int) -> int:
            await gauge.hold()
            return value + 1

        return FunctionNode(work, name=name, output_name=target, rename_inputs={"value": source})

    inner = Graph([leaf("i1", "x", "i1_out"), leaf("i2", "x", "i2_out")], name="inner")
    item_graph = Graph([leaf("a", "x", "a_out"), leaf("b", "x", "b_out"), inner.as_node()])

    result = run_async(
        AsyncRunner().map(item_graph, {"x": list(range(10))}, map_over="x", max_concurrency=2)
    )
    assert result.status is RunStatus.COMPLETED
    assert result["i2_out"] == [x + 1 for x in range(10)]
    assert gauge.peak <= 2
    assert gauge.peak == 2


def test_async_map_raises_the_first_failing_item_by_index_not_by_time() -> None:
    # Item 1 fails first in time; item 0 fails later. map() must raise item 0's error,
    # as SyncRunner.map and map_over do, so the outcome does not depend on timing.
    second_failed = asyncio.Event()

    @node(output_name="y")
    async def work(x: int) -> int:
        if x == 0:
            await second_failed.wait()
            raise ValueError("item0")
        second_failed.set()
        raise KeyError("item1")

    with pytest.raises(ValueError, match="item0"):
        run_async(AsyncRunner().map(Graph([work]), {"x": [0, 1]}, map_over="x"))


def test_an_item_failing_inside_a_nested_graph_does_not_stop_the_other_items() -> None:
    # Item 1 fails while its nested graph is still running, so item 1 cancels that
    # nested run. That internal cancel must not halt item 0, whose own failure comes
    # later, from a node that starts only then: map() raises item 0's error (by index).
    nested_cancelled = asyncio.Event()
    never = asyncio.Event()

    @node(output_name="y")
    async def first(x: int) -> int:
        if x == 0:
            await nested_cancelled.wait()
        return x

    @node(output_name="w")
    async def fail_item0(y: int) -> int:
        if y == 0:
            raise ValueError("item0")
        return y

    @node(output_name="v")
    async def wait_in_item1(x: int) -> int:
        if x == 1:
            try:
                await never.wait()
            finally:
                nested_cancelled.set()
        return x

    @node(output_name="z")
    async def fail_item1(x: int) -> int:
        if x == 1:
            raise KeyError("item1")
        return x

    inner = Graph([wait_in_item1], name="inner")
    graph = Graph([first, fail_item0, inner.as_node(), fail_item1])
    with pytest.raises(ValueError, match="item0"):
        run_async(AsyncRunner().map(graph, {"x": [0, 1]}, map_over="x"))
