"""Every scenario runs under SyncRunner and AsyncRunner, each on the straight-line path and
on the general path (the `run` fixture below), and must give the same values, errors and
partial values on all four.

Async-only scenarios (async def nodes) are at the end: they drive AsyncRunner directly
and check that SyncRunner refuses them.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from conftest import run_async
from graphs import chains, failures, generators, loops, routing
from hypergraph import (
    END,
    AsyncRunner,
    Graph,
    HypergraphError,
    IncompatibleRunnerError,
    InfiniteLoopError,
    RouteDecisionEvent,
    RunResult,
    RunStatus,
    SyncRunner,
)
from hypergraph.runners import straight


@pytest.fixture(
    params=[("sync", True), ("sync", False), ("async", True), ("async", False)],
    ids=["sync-straight", "sync-general", "async-straight", "async-general"],
)
def run(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Any:
    """`run(graph, values, **options)` under one runner, on one path: with the straight-line
    path turned off, every run takes the general path (the graphs that cannot run
    straight take it in both)."""
    mode, enabled = request.param
    monkeypatch.setattr(straight, "enabled", enabled)

    def _run(graph: Graph, values: dict[str, Any] | None = None, **options: Any) -> RunResult:
        if mode == "sync":
            options.pop("max_concurrency", None)
            return SyncRunner().run(graph, values, **options)
        return run_async(AsyncRunner().run(graph, values, **options))

    return _run


class EventLog:
    """A plain event processor: keeps every event it is given."""

    def __init__(self) -> None:
        self.events: list[Any] = []

    def on_event(self, event: Any) -> None:
        self.events.append(event)

    def decisions(self, gate: str) -> list[object]:
        return [
            e.decision
            for e in self.events
            if isinstance(e, RouteDecisionEvent) and e.node_name == gate
        ]


# -- DAGs ------------------------------------------------------------------------------------


def test_linear_chain_passes_each_output_to_the_next_node(run) -> None:
    result = run(chains.linear_chain(), {"x": 3})
    assert result.status is RunStatus.COMPLETED
    assert result.values == {"doubled": 6, "plus_one": 7, "squared": 49}


def test_values_hold_only_the_graph_outputs_not_the_inputs(run) -> None:
    graph = chains.linear_chain()
    result = run(graph, {"x": 3})
    assert "x" not in result
    assert tuple(result.values) == graph.outputs == ("doubled", "plus_one", "squared")


def test_inputs_can_be_given_as_keywords(run) -> None:
    assert run(chains.linear_chain(), x=3)["squared"] == 49


def test_diamond_joins_both_arms_of_one_shared_value(run) -> None:
    result = run(chains.diamond(), {"x": 4})
    assert result.values == {"base": 5, "left": 10, "right": 15, "total": 10 * 100 + 15}


def test_diamond_gives_the_same_values_with_max_concurrency_one(run) -> None:
    result = run(chains.diamond(), {"x": 4}, max_concurrency=1)
    assert result.values == {"base": 5, "left": 10, "right": 15, "total": 1015}


def test_node_with_multiple_outputs_writes_each_tuple_item_to_its_name(run) -> None:
    result = run(chains.multi_output(), {"dividend": 17, "divisor": 5})
    assert result.values == {"quotient": 3, "remainder": 2, "check": 17}


# -- defaults, bind, select, entrypoint ------------------------------------------------------


def test_default_is_used_when_no_value_is_given(run) -> None:
    graph = chains.with_defaults()
    assert graph.inputs.required == ("x",)
    assert graph.inputs.optional == ("factor",)
    assert run(graph, {"x": 4}).values == {"scaled": 40}


def test_given_value_overrides_the_default(run) -> None:
    assert run(chains.with_defaults(), {"x": 4, "factor": 3}).values == {"scaled": 12}


def test_mutable_default_is_not_shared_between_runs(run) -> None:
    graph = chains.mutable_default()
    first = run(graph, {"item": "a"})
    second = run(graph, {"item": "b"})
    assert first["items"] == ["a"]
    assert second["items"] == ["b"]
    assert run(graph, {"item": "c"})["items"] == ["c"]


def test_bind_fills_an_input_and_moves_it_to_optional(run) -> None:
    graph = chains.adder()
    bound = graph.bind(x=1)
    assert bound.inputs.required == ("y",)
    assert "x" in bound.inputs.optional
    assert dict(bound.inputs.bound) == {"x": 1}
    assert run(bound, {"y": 2}).values == {"total": 1002}
    # bind returns a new graph: the original still needs x
    assert graph.inputs.required == ("x", "y")
    assert dict(graph.inputs.bound) == {}


def test_run_value_overrides_a_bound_value(run) -> None:
    bound = chains.adder().bind(x=1)
    assert run(bound, {"x": 5, "y": 2}).values == {"total": 5002}
    assert run(bound, {"y": 2}).values == {"total": 1002}  # the bound value is still there


def test_select_runs_only_the_nodes_needed_for_the_selected_outputs(run) -> None:
    calls: list[str] = []
    selected = chains.select_graph(calls).select("y")
    assert selected.outputs == ("y",)
    result = run(selected, {"x": 1})
    assert result.values == {"y": 2}
    assert calls == ["make_y"]


def test_select_of_a_downstream_output_runs_its_whole_upstream(run) -> None:
    calls: list[str] = []
    selected = chains.select_graph(calls).select("w")
    result = run(selected, {"x": 1})
    assert result.values == {"w": 3 * 2}
    assert sorted(calls) == ["make_w", "make_y", "make_z"]


def test_unselected_graph_runs_every_node(run) -> None:
    calls: list[str] = []
    result = run(chains.select_graph(calls), {"x": 1})
    assert result.values == {"y": 2, "z": 3, "w": 6}
    assert sorted(calls) == ["make_w", "make_y", "make_z"]


def test_select_keeps_the_gate_that_controls_the_selected_output(run) -> None:
    calls: list[str] = []
    selected = routing.single_route(calls).select("handled")
    result = run(selected, {"choice": "b", "x": 7})
    assert result.values == {"handled": "B7"}
    assert calls == ["pick", "handle_b"]  # finish is not needed for "handled"


def test_with_entrypoint_runs_the_entry_and_its_descendants_but_not_upstream(run) -> None:
    calls: list[str] = []
    graph = chains.entrypoint_graph(calls).with_entrypoint("second")
    assert graph.inputs.required == ("p",)
    result = run(graph, {"p": 5})
    assert result.values == {"q": 50, "r": 47}
    assert sorted(calls) == ["second", "third"]


# -- routes and ifelse -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("choice", "expected", "ran", "decision"),
    [
        ("a", {"handled": "A7", "final": "A7!"}, ["pick", "handle_a", "finish"], "handle_a"),
        ("b", {"handled": "B7", "final": "B7!"}, ["pick", "handle_b", "finish"], "handle_b"),
        ("end", {}, ["pick"], END),
    ],
)
def test_route_runs_only_the_chosen_target_and_its_downstream(
    run, choice: str, expected: dict[str, str], ran: list[str], decision: object
) -> None:
    calls: list[str] = []
    log = EventLog()
    result = run(routing.single_route(calls), {"choice": choice, "x": 7}, event_processors=[log])
    assert result.status is RunStatus.COMPLETED
    assert result.values == expected  # the gate's decision is not a value
    assert calls == ran
    assert log.decisions("pick") == [decision]  # END has no __eq__: this compares identity


def test_route_returning_none_runs_its_fallback(run) -> None:
    calls: list[str] = []
    result = run(routing.fallback_route(calls, fallback="negative"), {"x": -1})
    assert result.values == {"sign": "-"}
    assert calls == ["negative"]


def test_route_returning_none_without_fallback_runs_nothing(run) -> None:
    calls: list[str] = []
    result = run(routing.fallback_route(calls, fallback=None), {"x": -1})
    assert result.status is RunStatus.COMPLETED
    assert result.values == {}
    assert calls == []


@pytest.mark.parametrize(("x", "ran"), [(1, ["gatekeeper", "guarded_work"]), (0, ["gatekeeper"])])
def test_gate_decides_before_its_target_even_when_listed_after_it(
    run, x: int, ran: list[str]
) -> None:
    calls: list[str] = []
    result = run(routing.gate_listed_after_target(calls), {"x": x})
    assert calls == ran
    assert result.values == ({"guarded": x} if x else {})


@pytest.mark.parametrize(
    ("picks", "expected"),
    [
        (["work_a", "work_c"], {"a": 11, "c": 13, "gathered": 1100 + 13}),
        (["work_b"], {"b": 12, "gathered": 120}),
        (["work_c", "work_b", "work_a"], {"a": 11, "b": 12, "c": 13, "gathered": 1100 + 133}),
        ([], {"gathered": 0}),
    ],
)
def test_multi_target_route_runs_every_chosen_target_and_defaults_fill_the_rest(
    run, picks: list[str], expected: dict[str, int]
) -> None:
    calls: list[str] = []
    result = run(routing.multi_route(calls), {"picks": picks, "x": 10})
    assert result.status is RunStatus.COMPLETED
    assert result.values == expected
    assert sorted(calls) == sorted([*picks, "gather"])
    assert calls[-1] == "gather"  # it waited for every chosen worker


@pytest.mark.parametrize(("x", "y", "ran"), [(3, 6, "double_it"), (-3, 3, "negate_it")])
def test_ifelse_runs_the_true_or_the_false_branch(run, x: int, y: int, ran: str) -> None:
    calls: list[str] = []
    log = EventLog()
    result = run(routing.if_else(calls), {"x": x}, event_processors=[log])
    assert result.values == {"y": y}
    assert calls == [ran]
    assert log.decisions("is_positive") == [ran]


@pytest.mark.parametrize(("text", "expected"), [("hi!", {"shouted": "HI!"}), ("hi", {})])
def test_ifelse_can_end_the_path(run, text: str, expected: dict[str, str]) -> None:
    calls: list[str] = []
    result = run(routing.if_else_to_end(calls), {"text": text})
    assert result.status is RunStatus.COMPLETED
    assert result.values == expected
    assert calls == (["shout"] if expected else [])


def test_ifelse_returning_a_non_bool_fails_the_gate_and_runs_no_branch(run) -> None:
    calls: list[str] = []
    result = run(routing.if_else_non_bool(calls), {"x": 1}, error_handling="continue")
    assert result.status is RunStatus.FAILED
    assert isinstance(result.error, HypergraphError)
    assert "truthy" in str(result.error)
    assert calls == []
    assert result.values == {}


# -- accumulator and cycles ------------------------------------------------------------------


def test_accumulator_consumes_and_produces_the_same_name_and_runs_once(run) -> None:
    calls: list[str] = []
    graph = loops.accumulator(calls)
    assert graph.has_cycles is False
    assert graph.inputs.required == ("messages", "text")
    result = run(graph, {"messages": ["hello"], "text": "world"})
    assert result.values == {"messages": ["hello", "world"]}
    assert calls == ["world"]


def test_chat_loop_without_entrypoint_runs_ten_turns_to_twenty_messages(run) -> None:
    turns: list[int] = []
    graph = loops.chat_loop(turns)
    assert graph.inputs.required == ("messages",)
    assert graph.has_cycles is True
    result = run(graph, {"messages": []})
    assert result.status is RunStatus.COMPLETED
    messages = result["messages"]
    assert len(messages) == 20
    assert turns == [0, 2, 4, 6, 8, 10, 12, 14, 16, 18]
    # the model gave the same reply every turn and the loop still went round
    assert [m["content"] for m in messages if m["role"] == "assistant"] == [loops.REPLY] * 10
    assert result["response"] == loops.REPLY
    assert set(result.values) == {"response", "messages"}


@pytest.mark.parametrize(
    "order",
    list(itertools.permutations(["stream_turn", "update_history", "should_continue"])),
    ids="-".join,
)
def test_chat_loop_result_does_not_depend_on_the_order_nodes_are_listed(
    run, order: tuple[str, ...]
) -> None:
    turns: list[int] = []
    nodes = loops.chat_loop(turns).nodes
    graph = Graph([nodes[name] for name in order])
    assert graph.inputs.required == ("messages",)
    result = run(graph, {"messages": []})
    assert len(result["messages"]) == 20
    assert turns == list(range(0, 20, 2))


def test_node_downstream_of_a_loop_runs_once_after_the_loop_ends(run) -> None:
    turns: list[int] = []
    summaries: list[int] = []
    graph = loops.chat_loop_with_summary(turns, summaries)
    result = run(graph, {"messages": [], "topic": "weather"})
    assert summaries == [20]
    assert len(turns) == 10
    assert result["summary"] == "20 messages"
    assert result["side"] == "WEATHER"


def test_chat_loop_seeded_mid_conversation_runs_the_remaining_turns(run) -> None:
    turns: list[int] = []
    start = [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}] * 7
    result = run(loops.chat_loop(turns), {"messages": start})
    assert len(result["messages"]) == 20
    assert turns == [14, 16, 18]


def test_chat_loop_with_bound_history_runs_without_values(run) -> None:
    turns: list[int] = []
    start: list[dict[str, str]] = []
    graph = loops.chat_loop(turns).bind(messages=start)
    assert graph.inputs.required == ()
    result = run(graph)
    assert len(result["messages"]) == 20
    assert len(turns) == 10
    assert start == []  # the bound value itself is not mutated


def test_streaming_chat_loop_collects_each_turn_tokens_as_the_response(run) -> None:
    turns: list[int] = []
    result = run(loops.streaming_chat_loop(turns), {"messages": []})
    assert len(result["messages"]) == 20
    assert len(turns) == 10
    assert result["response"] == list(loops.REPLY_TOKENS)
    assert result["messages"][-1]["content"] == "".join(loops.REPLY_TOKENS)


def test_chat_loop_gate_decisions_are_events_not_values(run) -> None:
    log = EventLog()
    result = run(loops.chat_loop([]), {"messages": []}, event_processors=[log])
    assert log.decisions("should_continue") == ["stream_turn"] * 10 + [END]
    assert "should_continue" not in result.values


def test_counter_loop_counts_to_ten(run) -> None:
    calls: list[int] = []
    result = run(loops.counter_loop(calls), {"count": 0})
    assert result.status is RunStatus.COMPLETED
    assert result.values == {"count": 10}
    assert calls == list(range(10))


def test_counter_loop_started_at_its_limit_does_not_increment(run) -> None:
    calls: list[int] = []
    result = run(loops.counter_loop(calls), {"count": 10})
    assert calls == []
    assert result.status is RunStatus.COMPLETED


def test_counter_loop_fits_a_max_iterations_equal_to_its_gate_runs(run) -> None:
    # check runs 11 times (count 0..10) and increment 10 times
    result = run(loops.counter_loop([]), {"count": 0}, max_iterations=11)
    assert result.values == {"count": 10}


def test_counter_loop_one_iteration_short_raises_infinite_loop_error(run) -> None:
    with pytest.raises(InfiniteLoopError) as info:
        run(loops.counter_loop([]), {"count": 0}, max_iterations=10)
    assert info.value.node == "check"
    assert "check" in str(info.value)


def test_runaway_loop_raises_infinite_loop_error_at_max_iterations(run) -> None:
    calls: list[int] = []
    with pytest.raises(InfiniteLoopError) as info:
        run(loops.runaway_loop(calls), {"count": 0}, max_iterations=5)
    assert info.value.max_iterations == 5
    assert info.value.node in ("increment", "always_again")
    assert calls == [0, 1, 2, 3, 4]  # no node ran more than max_iterations times


def test_runaway_loop_with_continue_returns_a_failed_result(run) -> None:
    calls: list[int] = []
    result = run(
        loops.runaway_loop(calls), {"count": 0}, max_iterations=5, error_handling="continue"
    )
    assert result.status is RunStatus.FAILED
    assert isinstance(result.error, InfiniteLoopError)
    assert result.error.max_iterations == 5
    assert calls == [0, 1, 2, 3, 4]
    assert result.values == {"count": 5}  # what was produced before the limit is kept


def test_runaway_loop_stops_at_the_default_limit_of_1000(run) -> None:
    calls: list[int] = []
    result = run(loops.runaway_loop(calls), {"count": 0}, error_handling="continue")
    assert isinstance(result.error, InfiniteLoopError)
    assert result.error.max_iterations == 1000
    assert len(calls) == 1000


# -- errors ----------------------------------------------------------------------------------


def test_error_handling_raise_reraises_the_node_own_exception_object(run) -> None:
    calls: list[str] = []
    raised: list[BaseException] = []
    with pytest.raises(failures.NodeBoom) as info:
        run(failures.failing_graph(calls, raised), {"x": 1}, error_handling="raise")
    assert len(raised) == 1
    assert info.value is raised[0]
    assert "after_explode" not in calls


def test_error_handling_defaults_to_raise(run) -> None:
    raised: list[BaseException] = []
    with pytest.raises(failures.NodeBoom) as info:
        run(failures.failing_graph([], raised), {"x": 1})
    assert info.value is raised[0]


def test_error_handling_continue_keeps_other_outputs_and_skips_the_failed_downstream(
    run,
) -> None:
    calls: list[str] = []
    raised: list[BaseException] = []
    result = run(failures.failing_graph(calls, raised), {"x": 1}, error_handling="continue")
    assert result.status is RunStatus.FAILED
    assert result.error is raised[0]
    assert result.values == {"prepared": 2, "independent": 7, "also_independent": 8}
    assert "after_explode" not in calls
    assert sorted(calls) == ["also_independent", "explode", "independent", "prepare"]


# -- generators ------------------------------------------------------------------------------


def test_generator_node_output_is_the_list_of_yielded_items(run) -> None:
    result = run(generators.sync_generator(), {"n": 4})
    assert result.values == {"tokens": ["t0", "t1", "t2", "t3"], "text": "t0t1t2t3"}


def test_generator_node_that_yields_nothing_outputs_an_empty_list(run) -> None:
    result = run(generators.sync_generator(), {"n": 0})
    assert result.values == {"tokens": [], "text": ""}


# -- async-only scenarios --------------------------------------------------------------------


def test_async_generator_node_output_is_the_list_of_yielded_items() -> None:
    result = run_async(AsyncRunner().run(generators.async_generator(), {"n": 3}))
    assert result.values == {"tokens": ["a0", "a1", "a2"], "text": "a0a1a2"}


def test_async_and_sync_nodes_mix_in_one_chain_under_async_runner() -> None:
    result = run_async(AsyncRunner().run(generators.async_chain(), {"x": 1}))
    assert result.values == {"fetched": 101, "parsed": "<101>", "stored": "<101>#1"}


def test_async_chat_loop_runs_ten_turns_to_twenty_messages() -> None:
    turns: list[int] = []
    result = run_async(AsyncRunner().run(loops.async_chat_loop(turns), {"messages": []}))
    assert len(result["messages"]) == 20
    assert turns == [0, 2, 4, 6, 8, 10, 12, 14, 16, 18]


@pytest.mark.parametrize(
    ("graph", "values"),
    [
        (generators.async_generator(), {"n": 1}),
        (generators.async_chain(), {"x": 1}),
        (loops.async_chat_loop([]), {"messages": []}),
    ],
    ids=["async-generator", "async-chain", "async-chat-loop"],
)
def test_sync_runner_refuses_graphs_with_async_nodes(graph, values: dict[str, Any]) -> None:
    with pytest.raises(IncompatibleRunnerError):
        SyncRunner().run(graph, values)
