"""The straight-line path (decision 0035): which runs take it, what its source looks like,
and that what it returns is what the general path returns.

A run took the straight-line path when its result is a `StraightResult`; the parity
suite and the property tests compare the two paths scenario by scenario.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import pickle
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from conftest import run_async, straight_path
from graphs import chains, composition, failures, routing
from hypergraph import (
    AsyncRunner,
    FunctionNode,
    Graph,
    InMemoryCache,
    MemoryCheckpointer,
    MissingInputError,
    NodeContext,
    RetryPolicy,
    RunResult,
    RunStatus,
    SyncRunner,
    node,
)
from hypergraph.runners import straight, straight_code
from hypergraph.runners.straight import StraightResult


@pytest.fixture
def general(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Inside: every run takes the general path."""
    monkeypatch.setattr(straight, "enabled", False)
    yield


def _general_run(graph: Graph, values: dict[str, Any], **options: Any) -> RunResult:
    with straight_path(False):
        return SyncRunner().run(graph, values, **options)


# -- the source ---------------------------------------------------------------------------


def test_the_source_of_a_chain_calls_each_node_in_order_by_name() -> None:
    text = straight.source(Graph(list(chains.linear_chain().nodes.values()), name="chain"))
    assert text is not None
    assert text.startswith('def run_chain(_values, _path=""):\n')
    assert "x = _values['x']" in text
    calls = ["_f_double(x)", "_f_add_one(doubled)", "_f_square(plus_one)"]
    positions = [text.index(c) for c in calls]
    assert positions == sorted(positions)
    assert "# node 'double'" in text
    assert text.rstrip().endswith(
        "return {'doubled': doubled, 'plus_one': plus_one, 'squared': squared}"
    )


def test_the_source_shows_a_gate_as_a_branch_and_a_default_inline() -> None:
    text = straight.source(routing.multi_route([]))
    assert text is not None
    assert "_chosen.update(_decide_fan(_f_fan(picks)))" in text
    assert "if 'work_a' not in _chosen:" in text
    assert "_f_gather((a if a is not _NOTHING else 0), " in text


def test_the_source_with_continue_passes_a_failure_on_to_the_nodes_that_need_it() -> None:
    text = straight.source(chains.linear_chain(), error_handling="continue")
    assert text is not None
    assert "if 'doubled' in _failed:\n        _failed.update(('plus_one',))" in text
    assert text.rstrip().endswith("return _out, _error")


def test_a_node_whose_parameters_cannot_be_given_by_position_is_called_by_keyword() -> None:
    @node(output_name="y")
    def keyword_only(*, x: int) -> int:
        return x + 1

    renamed = chains.double.with_inputs(x="value")  # still the parameter x, by position
    text = straight.source(Graph([keyword_only, renamed.with_outputs(doubled="d")]))
    assert text is not None
    assert "_f_keyword_only(x=x)" in text and "_f_double(value)" in text
    result = SyncRunner().run(Graph([keyword_only]), x=1)
    assert isinstance(result, StraightResult) and result.values == {"y": 2}


def test_a_name_that_is_not_an_identifier_gets_a_variable_of_its_own() -> None:
    odd = FunctionNode(lambda x: x + 1, name="step-1", output_name="out put")
    graph = Graph([odd])
    text = straight.source(graph)
    assert text is not None and "_f1" not in text  # the node is referred to by index
    assert SyncRunner().run(graph, x=1).values == {"out put": 2}


def test_the_compiled_function_is_made_once_per_graph_and_kind_of_run() -> None:
    graph = chains.linear_chain()
    SyncRunner().run(graph, x=1)
    first = straight_code.compiled_for(graph, False, True)
    SyncRunner().run(graph, x=2)
    assert straight_code.compiled_for(graph, False, True) is first
    assert (
        straight_code.compiled_for(graph, False, False) is not first
    )  # continue is another function
    assert straight_code.compiled_for(graph, True, True) is not first  # and so is AsyncRunner's


def test_a_bound_copy_of_a_graph_gets_its_own_function() -> None:
    graph = chains.adder()
    SyncRunner().run(graph, x=1, y=2)  # the original compiles first
    bound = graph.bind(x=5)
    assert SyncRunner().run(bound, y=2).values == {"total": 5002}
    assert straight_code.compiled_for(bound, False, True) is not straight_code.compiled_for(
        graph, False, True
    )


# -- which runs take it -------------------------------------------------------------------


def test_a_quiet_run_of_a_dag_of_plain_functions_takes_the_straight_line_path() -> None:
    result = SyncRunner().run(chains.linear_chain(), x=3)
    assert isinstance(result, StraightResult)
    assert result.values == {"doubled": 6, "plus_one": 7, "squared": 49}


def test_turning_the_path_off_sends_the_same_run_down_the_general_path(general: None) -> None:
    result = SyncRunner().run(chains.linear_chain(), x=3)
    assert not isinstance(result, StraightResult)
    assert result.values == {"doubled": 6, "plus_one": 7, "squared": 49}


class _Log:
    def __init__(self) -> None:
        self.kinds: list[str] = []

    def on_event(self, event: Any) -> None:
        self.kinds.append(event.kind)


@pytest.mark.parametrize(
    "options",
    [
        {"event_processors": [_Log()]},
        {"event_processors": []},
        {"run_id": "chosen-id"},
        {"max_iterations": 0},
        {"error_handling": "ignore"},
    ],
    ids=["event-processors", "empty-processor-list", "run-id", "bad-max-iterations", "bad-mode"],
)
def test_a_run_with_options_the_straight_path_cannot_honour_takes_the_general_path(
    options: dict[str, Any],
) -> None:
    try:
        result = SyncRunner().run(chains.linear_chain(), {"x": 3}, **options)
    except Exception as exc:  # a bad option: the general path says what is wrong
        assert "max_iterations" in str(exc) or "error_handling" in str(exc)
        return
    assert not isinstance(result, StraightResult)
    if "run_id" in options:
        assert result.run_id == "chosen-id"


def test_event_processors_still_see_every_event() -> None:
    log = _Log()
    SyncRunner().run(chains.linear_chain(), x=3, event_processors=[log])
    assert log.kinds.count("node_end") == 3


def test_a_runner_with_a_cache_or_a_checkpointer_takes_the_general_path() -> None:
    graph = chains.linear_chain()
    assert not isinstance(SyncRunner(cache=InMemoryCache()).run(graph, x=1), StraightResult)
    result = SyncRunner(checkpointer=MemoryCheckpointer()).run(graph, x=1)
    assert not isinstance(result, StraightResult)
    assert result.workflow_id is not None


def test_iter_never_takes_the_straight_line_path() -> None:
    with SyncRunner().iter(chains.linear_chain(), x=1) as run:
        kinds = [event.kind for event in run]
    assert kinds.count("node_end") == 3


@node(output_name="tokens")
def tokens(n: int) -> Iterator[int]:
    yield from range(n)


@node(output_name="seen")
def with_context(n: int, ctx: NodeContext) -> int:
    return n


@node(output_name="kept", retry=RetryPolicy(max_attempts=2))
def guarded(n: int) -> int:
    return n


class _Custom(FunctionNode):
    """A node class the straight-line path does not know."""


@pytest.mark.parametrize(
    ("graph", "why"),
    [
        (Graph([tokens]), "'tokens' streams"),
        (Graph([with_context]), "'with_context' streams, takes a NodeContext"),
        (Graph([guarded]), "has a policy"),
        (Graph([_Custom(lambda n: n, name="custom", output_name="c")]), "is a _Custom"),
        (routing.gate_listed_after_target([]), "not listed in an order"),
        (
            Graph([composition.double, Graph([tokens], name="inner").as_node()]),
            "graph node 'inner': node 'tokens'",
        ),
    ],
    ids=["generator", "context", "policy", "unknown-type", "order", "inner"],
)
def test_graphs_the_straight_line_path_cannot_express_fall_back_and_say_why(
    graph: Graph, why: str
) -> None:
    reason = straight.why_not(graph)
    assert reason is not None and why in reason
    assert straight.source(graph) is None


def test_nodes_listed_out_of_order_without_gates_still_run_straight_with_raise() -> None:
    calls: list[str] = []

    @node(output_name="b")
    def second(a: int) -> int:
        calls.append("second")
        return a + 1

    @node(output_name="a")
    def first(x: int) -> int:
        calls.append("first")
        return x + 1

    graph = Graph([second, first])
    result = SyncRunner().run(graph, x=1)
    assert isinstance(result, StraightResult) and result.values == {"b": 3, "a": 2}
    assert calls == ["first", "second"]
    assert straight.why_not(graph, error_handling="continue") is not None


def test_async_nodes_under_sync_runner_are_still_refused() -> None:
    @node(output_name="y")
    async def fetch(x: int) -> int:
        return x

    from hypergraph import IncompatibleRunnerError

    with pytest.raises(IncompatibleRunnerError):
        SyncRunner().run(Graph([fetch]), x=1)


def test_async_runner_runs_straight_only_when_no_two_nodes_can_run_at_once() -> None:
    assert straight.why_not(chains.linear_chain(), runner="async") is None
    reason = straight.why_not(chains.diamond(), runner="async")
    assert reason is not None and "'left_arm' and 'right_arm'" in reason
    mapped = Graph([composition.inner_graph().as_node().map_over("x")])
    reason = straight.why_not(mapped, runner="async")
    assert reason is not None and "maps" in reason


# -- what it returns ------------------------------------------------------------------------


def test_a_missing_input_fails_before_any_node_runs_with_the_same_message() -> None:
    with pytest.raises(MissingInputError) as fast:
        SyncRunner().run(chains.linear_chain(), {})
    with straight_path(False), pytest.raises(MissingInputError) as slow:
        SyncRunner().run(chains.linear_chain(), {})
    assert str(fast.value) == str(slow.value) and fast.value.missing == ["x"]


def test_a_node_error_is_raised_as_itself_with_the_note_naming_the_node() -> None:
    raised: list[BaseException] = []
    with pytest.raises(failures.NodeBoom) as info:
        SyncRunner().run(failures.failing_graph([], raised), x=1)
    assert info.value is raised[0]
    assert info.value.__notes__ == ["(raised by node 'explode')"]


def test_continue_keeps_the_values_of_the_nodes_that_did_not_need_the_failure() -> None:
    raised: list[BaseException] = []
    graph = failures.failing_graph([], raised)
    result = SyncRunner().run(graph, x=1, error_handling="continue")
    assert isinstance(result, StraightResult)
    expected = _general_run(failures.failing_graph([], []), {"x": 1}, error_handling="continue")
    assert result.status is RunStatus.FAILED and result.error is raised[0]
    assert (
        result.values
        == expected.values
        == {
            "prepared": 2,
            "independent": 7,
            "also_independent": 8,
        }
    )
    assert result.partial == expected.partial == {}


def test_the_result_reads_and_compares_like_a_run_result() -> None:
    result = SyncRunner().run(chains.adder(), x=1, y=2)
    assert isinstance(result, StraightResult)
    assert result.run_id == result.run_id  # made once, on first read
    other = SyncRunner().run(chains.adder(), x=1, y=2)
    assert other.run_id != result.run_id
    plain = RunResult(result.values, RunStatus.COMPLETED, result.run_id)
    assert result == plain and plain == result
    assert repr(result) == repr(plain)
    assert result["total"] == 1002 and "total" in result and result.get("nope") is None
    assert result.pauses == [] and result.pause is None and result.workflow_id is None
    assert pickle.loads(pickle.dumps(result)) == plain
    assert copy.copy(result) == plain
    assert dataclasses.replace(result, values={}).values == {}


def test_map_items_take_the_straight_line_path_and_keep_their_own_outcomes() -> None:
    raised: list[BaseException] = []
    graph = failures.failing_graph([], raised)
    result = SyncRunner().map(graph, {"x": [1, 2]}, map_over="x", error_handling="continue")
    assert all(isinstance(r, StraightResult) for r in result)
    assert [r.error for r in result] == raised
    with straight_path(False):
        general = SyncRunner().map(
            failures.failing_graph([], []), {"x": [1, 2]}, map_over="x", error_handling="continue"
        )
    assert [r.values for r in result] == [r.values for r in general]
    assert result["independent"] == [7, 14]
    assert result.status is RunStatus.FAILED
    with pytest.raises(failures.NodeBoom):
        SyncRunner().map(graph, {"x": [1, 2]}, map_over="x")


def _parity_map(xs: list[int], read_column_first: bool, enabled: bool) -> tuple[Any, ...]:
    """What a continue-mode map of a graph that fails for odd x shows, on one path."""

    @node(output_name="half")
    def halve(x: int) -> int:
        if x % 2:
            raise ValueError(f"{x} is odd")
        return x // 2

    with straight_path(enabled):
        mapped = SyncRunner().map(
            Graph([halve]), {"x": xs}, map_over="x", error_handling="continue"
        )
    column = mapped["half"] if read_column_first else None
    runs = [(r.values, r.status, repr(r.error)) for r in mapped]
    return (
        column or mapped["half"], mapped.status, len(mapped), runs,
        [str(r.error) for r in mapped.failures], [r.values for r in mapped[1:3]],
    )  # fmt: skip


@pytest.mark.parametrize(
    ("xs", "status"),
    [
        ([2, 4, 6], RunStatus.COMPLETED),
        ([2, 3, 4], RunStatus.PARTIAL),
        ([1, 3], RunStatus.FAILED),
        ([], RunStatus.COMPLETED),
    ],
    ids=["completed", "partial", "failed", "empty"],
)
@pytest.mark.parametrize("read_column_first", [True, False])
def test_a_map_on_the_straight_line_path_reads_like_the_general_paths(
    xs: list[int], status: RunStatus, read_column_first: bool
) -> None:
    # map() keeps each item's values and makes the RunResults only when they are read:
    # the columns, status, length, items and failures must not show the difference.
    fast = _parity_map(xs, read_column_first, True)
    assert fast == _parity_map(xs, read_column_first, False)
    assert fast[1] is status


def _async_map(xs: list[int], error_handling: str, enabled: bool) -> tuple[Any, ...]:
    """What an AsyncRunner map of an async graph that fails for odd x shows, on one path."""
    ran: list[int] = []

    @node(output_name="half")
    async def halve(x: int) -> int:
        ran.append(x)
        if x % 2:
            raise ValueError(f"{x} is odd")
        return x // 2

    try:
        with straight_path(enabled):
            mapped = run_async(
                AsyncRunner().map(
                    Graph([halve]), {"x": xs}, map_over="x", error_handling=error_handling
                )
            )
    except ValueError as exc:
        return ("raised", str(exc), exc.__notes__, sorted(ran))
    runs = [(r.values, r.status, repr(r.error)) for r in mapped]
    return (mapped["half"], mapped.status, runs, sorted(ran), type(mapped[0]).__name__)


@pytest.mark.parametrize("error_handling", ["raise", "continue"])
@pytest.mark.parametrize("xs", [[2, 4], [2, 5, 3, 4]], ids=["ok", "odd"])
def test_an_async_map_on_the_straight_line_path_gives_the_general_paths_outcome(
    xs: list[int], error_handling: str
) -> None:
    fast = _async_map(xs, error_handling, True)
    general = _async_map(xs, error_handling, False)
    if fast[0] == "raised":  # the first failing item by index, once every item ran
        assert fast == general
        assert fast[1] == "5 is odd" and fast[3] == sorted(xs)
    else:
        assert fast[:-1] == general[:-1]
        assert (fast[-1], general[-1]) == ("StraightResult", "RunResult")


class _Abort(BaseException):
    """Not an Exception: no node catches it, and it ends a map at once."""


@pytest.mark.parametrize("error_handling", ["raise", "continue"])
@pytest.mark.parametrize("enabled", [True, False], ids=["straight", "general"])
def test_an_async_map_item_raising_a_base_exception_ends_the_map_and_cancels_the_rest(
    error_handling: str, enabled: bool
) -> None:
    cancelled: list[int] = []

    @node(output_name="y")
    async def item(x: int) -> int:
        if x == 1:
            raise ValueError("an ordinary failure, at an earlier index")
        if x == 2:
            raise _Abort("stop everything")
        try:
            await asyncio.Event().wait()  # never set: only a cancellation ends it
        finally:
            cancelled.append(x)
        return x

    graph = Graph([item])
    with straight_path(enabled), pytest.raises(_Abort):
        run_async(
            AsyncRunner().map(
                graph, {"x": [0, 1, 2, 3]}, map_over="x", error_handling=error_handling
            )
        )
    assert sorted(cancelled) == [0, 3]  # nothing is left running


class _Falsy(Exception):
    """An exception that is false (it has a length of 0)."""

    def __len__(self) -> int:
        return 0


def test_a_map_keeps_an_item_error_even_when_the_exception_is_false() -> None:
    @node(output_name="y")
    def fails(x: int) -> int:
        raise _Falsy("nothing")

    mapped = SyncRunner().map(
        Graph([fails]), {"x": [1, 2]}, map_over="x", error_handling="continue"
    )
    assert mapped.status is RunStatus.FAILED
    assert [type(r.error) for r in mapped] == [_Falsy, _Falsy]


def test_a_copied_or_pickled_map_result_has_the_same_items() -> None:
    mapped = SyncRunner().map(Graph([chains.double]), {"x": [1, 2]}, map_over="x")
    for copied in (pickle.loads(pickle.dumps(mapped)), copy.deepcopy(mapped)):
        assert list(copied) == list(mapped)  # run ids included
        assert copied["doubled"] == [2, 4]


def test_a_nested_graph_runs_inside_the_outer_function() -> None:
    graph = composition.flat_nesting()
    assert straight.why_not(graph) is None
    text = straight.source(graph)
    assert text is not None and "# graph node 'inner'" in text
    result = SyncRunner().run(graph, a=1)
    assert isinstance(result, StraightResult)
    assert (
        result.values
        == _general_run(graph, {"a": 1}).values
        == {
            "x": 2,
            "doubled": 4,
            "y": 5,
            "report": "y=5",
        }
    )


def test_an_inner_failure_names_the_inner_node_and_the_graph_node() -> None:
    @node(output_name="y")
    def explode(x: int) -> int:
        raise ValueError("inner boom")

    outer = Graph([Graph([explode], name="inner").as_node()])
    for enabled in (True, False):
        with straight_path(enabled), pytest.raises(ValueError) as info:
            SyncRunner().run(outer, x=1)
        assert info.value.__notes__ == [
            "(raised by node 'inner/explode')",
            "(raised by node 'inner')",
        ]


@pytest.mark.parametrize("map_errors", ["raise", "continue"])
def test_a_mapped_graph_node_gives_the_general_paths_lists(map_errors: str) -> None:
    @node(output_name="y")
    def halve(x: int) -> int:
        if x % 2:
            raise ValueError(f"odd {x}")
        return x // 2

    mapped = Graph([halve], name="halves").as_node().map_over("x", error_handling=map_errors)
    graph = Graph([mapped])
    outcomes = []
    for enabled in (True, False):
        with straight_path(enabled):
            result = SyncRunner().run(graph, x=[2, 3, 4], error_handling="continue")
        assert isinstance(result, StraightResult) is enabled
        outcomes.append((result.values, result.status, repr(result.error)))
    assert outcomes[0] == outcomes[1]
    if map_errors == "continue":
        assert outcomes[0][0] == {"y": [1, None, 2]}


def test_async_runner_runs_a_def_node_in_a_worker_thread_on_the_straight_line_path() -> None:
    threads: list[str] = []

    @node(output_name="y")
    def where(x: int) -> int:
        threads.append(threading.current_thread().name)
        return x + 1

    @node(output_name="z")
    async def then(y: int) -> int:
        return y * 2

    result = run_async(AsyncRunner().run(Graph([where, then]), x=1))
    assert isinstance(result, StraightResult) and result.values == {"y": 2, "z": 4}
    assert threads[0].startswith("hypergraph-node")
