"""Cycles on the straight-line path: the generated loop against the general path.

A random graph here may read any node's output, so most have a cycle. The property runs
each one under SyncRunner with the straight-line path on and off, and compares values,
status, errors (the node's own exception, InfiniteLoopError at max_iterations) and the
order in which nodes ran, with error_handling "raise" and "continue", with and without a
failing node, with and without seed values for names the cycle writes.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from conftest import run_async, straight_path
from graphs import loops
from graphs.dags import DagFailure, DagSpec, NodeSpec, build
from hypergraph import (
    END,
    AsyncRunner,
    Graph,
    InfiniteLoopError,
    RunStatus,
    SyncRunner,
    node,
    route,
)
from hypergraph.errors import GraphConfigError, HypergraphError
from hypergraph.runners import straight

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def cyclic(draw: st.DrawFn) -> tuple[DagSpec, int]:
    """A graph whose nodes read any outputs (cycles) and gates choose any nodes; the values
    for its inputs and, sometimes, seeds for names it writes; and a max_iterations."""
    count = draw(st.integers(2, 6))
    gates = draw(st.sets(st.integers(0, count - 1), min_size=1, max_size=2))
    names = ["x"] + [f"v{j}" for j in range(count) if j not in gates]
    specs: list[NodeSpec] = []
    for i in range(count):
        sources = [n for n in names if n != f"v{i}"]
        params = tuple(draw(st.lists(st.sampled_from(sources), unique=True, max_size=3)))
        defaulted = frozenset(p for p in params if draw(st.booleans()))
        if i in gates:
            others = [f"{'g' if j in gates else 'n'}{j}" for j in range(count) if j != i]
            targets = tuple(draw(st.lists(st.sampled_from(others), unique=True, max_size=3)))
            salt = draw(st.integers(0, 5))
            multi = draw(st.booleans())
            specs.append(NodeSpec(i, True, params, defaulted, targets, multi, salt))
        else:
            specs.append(NodeSpec(i, False, params, defaulted))
    defaults = {n: draw(st.integers(-3, 3)) for n in names}
    given_names = draw(st.lists(st.sampled_from(names), unique=True))
    inputs = {n: draw(st.integers(-3, 3)) for n in given_names}
    return DagSpec(tuple(specs), defaults, inputs), draw(st.integers(1, 8))


def _shown(exc: BaseException) -> tuple[Any, ...]:
    return (type(exc), str(exc), getattr(exc, "__notes__", None), getattr(exc, "node", None))


def _outcome(
    spec: DagSpec, runner: str, enabled: bool, failing: str | None, error_handling: str, limit: int
) -> tuple[Any, ...]:
    calls: list[str] = []
    graph = build(spec, calls, failing=failing, raised=[])
    options: dict[str, Any] = {"error_handling": error_handling, "max_iterations": limit}
    with straight_path(enabled):
        try:
            if runner == "sync":
                result = SyncRunner().run(graph, spec.inputs, **options)
            else:
                result = run_async(AsyncRunner().run(graph, spec.inputs, **options))
        except (DagFailure, HypergraphError) as exc:
            return ("raised", _shown(exc), calls)
    error = None if result.error is None else _shown(result.error)
    return (result.values, result.status, error, calls)


@SETTINGS
@given(cyclic(), st.data(), st.sampled_from(["raise", "continue"]))
def test_straight_and_general_paths_agree_on_random_graphs_with_cycles(
    drawn: tuple[DagSpec, int], data: st.DataObject, error_handling: str
) -> None:
    spec, limit = drawn
    try:
        graph = build(spec, [])
    except GraphConfigError:
        assume(False)  # e.g. a cycle without a gate: refused when built, on both paths
        return
    failing = data.draw(st.sampled_from([None, *graph.nodes]), label="failing")
    general = _outcome(spec, "sync", False, failing, error_handling, limit)
    fast = _outcome(spec, "sync", True, failing, error_handling, limit)
    assert fast == general  # the same values, errors and calls, in the same order
    if straight.why_not(graph, runner="async") is None:
        # AsyncRunner's general path starts ready nodes at once; the straight path takes
        # only graphs where no two can be ready together, so the order is fixed too.
        general = _outcome(spec, "async", False, failing, error_handling, limit)
        assert _outcome(spec, "async", True, failing, error_handling, limit) == general


def test_random_graphs_with_cycles_mostly_run_straight() -> None:
    """The property above would prove little if its graphs fell back: most must not."""
    fit = total = 0

    @settings(max_examples=150, deadline=None, database=None, derandomize=True)
    @given(cyclic())
    def count(drawn: tuple[DagSpec, int]) -> None:
        nonlocal fit, total
        try:
            graph = build(drawn[0], [])
        except GraphConfigError:
            return
        if graph.has_cycles:
            total += 1
            fit += straight.why_not(graph) is None

    count()
    assert total >= 30 and fit >= total // 3, (fit, total)


# -- the loops users write ---------------------------------------------------------------------


def test_a_counter_loop_runs_as_a_while_loop_in_the_source() -> None:
    text = straight.source(loops.counter_loop([]))
    assert text is not None
    assert "while True:" in text
    assert "_runs_increment >= _max" in text  # max_iterations is checked before each run


def test_a_chat_loop_runs_straight_and_gives_the_general_paths_history() -> None:
    turns: list[int] = []
    graph = loops.chat_loop(turns)
    assert straight.why_not(graph) is None
    result = SyncRunner().run(graph, {"messages": []})
    assert type(result) is straight.StraightResult
    assert len(result["messages"]) == 20
    assert turns == list(range(0, 20, 2))


def test_an_async_chat_loop_runs_straight_under_async_runner() -> None:
    turns: list[int] = []
    graph = loops.async_chat_loop(turns)
    assert straight.why_not(graph, runner="async") is None
    result = run_async(AsyncRunner().run(graph, {"messages": []}))
    assert type(result) is straight.StraightResult
    assert len(result["messages"]) == 20
    assert turns == list(range(0, 20, 2))


def test_each_set_of_seed_values_gets_its_own_function() -> None:
    # Where a cycle starts depends on which of its values a run gives: `messages` alone, or
    # `messages` and `response` (then update_history is ready at the start too).
    graph = loops.chat_loop([])
    for values in ({"messages": []}, {"messages": [], "response": "hi"}):
        seeded = SyncRunner().run(graph, values)
        with straight_path(False):
            general = SyncRunner().run(graph, values)
        assert type(seeded) is straight.StraightResult
        assert seeded.values == general.values
    functions = {c.seeds for c in graph.__dict__["_straight"][1].values()}
    assert functions == {frozenset({"messages"}), frozenset({"messages", "response"})}


def test_max_iterations_ends_a_runaway_loop_with_the_general_paths_error() -> None:
    calls: list[int] = []
    graph = loops.runaway_loop(calls)
    with pytest.raises(InfiniteLoopError) as info:
        SyncRunner().run(graph, {"count": 0}, max_iterations=3)
    assert info.value.node == "always_again" and info.value.max_iterations == 3
    assert calls == [0, 1, 2]
    assert straight.why_not(graph) is None  # it was the straight-line path that said so


def test_continue_after_max_iterations_skips_what_is_downstream_of_the_loop() -> None:
    seen: list[int] = []

    @node(output_name="count")
    def increment(count: int) -> int:
        return count + 1

    @route(targets=["increment", END])
    def again(count: int) -> object:
        return "increment"

    @node(output_name="report")
    def report(count: int) -> str:
        seen.append(count)
        return f"{count}"

    graph = Graph([increment, again, report])
    assert straight.why_not(graph) is None
    result = SyncRunner().run(graph, {"count": 0}, max_iterations=4, error_handling="continue")
    assert isinstance(result.error, InfiniteLoopError)
    assert result.values == {"count": 4}
    assert seen == []  # the run ended at the limit, as on the general path


@node(output_name="a")
def ping(a: int) -> int:
    return a + 1


@node(output_name="b")
def pong(b: int) -> int:
    return b + 1


@route(targets=["ping", "pong", END], multi_target=True)
def referee(a: int, b: int) -> object:
    return END if a + b > 4 else ["ping", "pong"]


@pytest.mark.parametrize(
    ("graph", "runner", "why"),
    [
        (loops.counter_loop([]), "sync", None),
        (loops.async_chat_loop([]), "async", None),
        (loops.async_chat_loop([]), "sync", "SyncRunner refuses"),
        (
            Graph([*loops.counter_loop([]).nodes.values(), *loops.chat_loop([]).nodes.values()]),
            "sync",
            "more than one cycle",
        ),
        (
            Graph([referee, ping, pong]),
            "sync",
            "nodes 'ping' and 'pong' of its cycle do not depend on each other",
        ),
    ],
    ids=["fits", "async", "async-nodes", "two-cycles", "parallel-members"],
)
def test_why_not_names_what_keeps_a_loop_off_the_straight_line_path(
    graph: Graph, runner: str, why: str | None
) -> None:
    reason = straight.why_not(graph, runner=runner)
    assert reason == why if why is None else (reason is not None and why in reason)


def test_a_node_unrelated_to_the_loop_listed_after_it_runs_after_it_on_both_paths() -> None:
    turns: list[int] = []
    summaries: list[int] = []
    graph = loops.chat_loop_with_summary(turns, summaries)  # `side` is listed last
    assert straight.why_not(graph) is None
    result = SyncRunner().run(graph, {"messages": [], "topic": "weather"})
    assert type(result) is straight.StraightResult
    assert result["side"] == "WEATHER" and result["summary"] == "20 messages"


def test_a_value_named_like_a_builtin_the_code_uses_gets_a_variable_of_its_own() -> None:
    @node(output_name="set")
    def grow(set: frozenset[int]) -> frozenset[int]:
        return set | {len(set)}

    @route(targets=["grow", END])
    def more(set: frozenset[int]) -> object:
        return END if len(set) >= 3 else "grow"

    graph = Graph([grow, more])
    result = SyncRunner().run(graph, {"set": frozenset()})
    assert type(result) is straight.StraightResult
    assert result["set"] == frozenset({0, 1, 2})


def test_defaults_of_nodes_whose_names_and_parameters_run_together_stay_apart() -> None:
    # `inc` + `by_x` and `inc_by` + `x` would both read a default named `_d_inc_by_x`.
    @node(output_name="n")
    def inc(n: int, by_x: tuple[int] = (1,)) -> int:
        return n + by_x[0]

    @route(targets=["inc", END])
    def inc_by(n: int, x: tuple[int] = (5,)) -> object:
        return "inc" if n < x[0] else END

    graph = Graph([inc, inc_by])
    assert SyncRunner().run(graph, {"n": 0})["n"] == 5
    text = straight.source(graph)
    assert text is not None and "_d_inc_by_x" in text and "_d0_by_x" in text


@pytest.mark.parametrize("runner", ["sync", "async"])
def test_a_map_of_a_loop_runs_each_item_straight_with_its_own_limit(runner: str) -> None:
    # Items from 0 count to 10 in 10 rounds: with max_iterations=8, the ones that start
    # low fail with InfiniteLoopError, each on its own, as on the general path.
    def outcome(enabled: bool) -> tuple[Any, ...]:
        graph = loops.counter_loop([])
        options: dict[str, Any] = {"map_over": "count", "max_iterations": 8}
        options["error_handling"] = "continue"
        with straight_path(enabled):
            if runner == "sync":
                mapped = SyncRunner().map(graph, {"count": [0, 5, 9]}, **options)
            else:
                mapped = run_async(AsyncRunner().map(graph, {"count": [0, 5, 9]}, **options))
        errors = [None if r.error is None else (type(r.error), str(r.error)) for r in mapped]
        return mapped["count"], mapped.status, errors, type(mapped[0]).__name__

    fast, general = outcome(True), outcome(False)
    assert fast[:3] == general[:3]
    assert fast[1] is RunStatus.PARTIAL and fast[2][0] is not None and fast[2][1] is None
    assert (fast[3], general[3]) == ("StraightResult", "RunResult")
