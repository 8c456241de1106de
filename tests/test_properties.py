"""Property tests on random DAGs (with defaults and gates), checked against a reference.

(a) SyncRunner and AsyncRunner give the same values; (b) AsyncRunner gives the same
values whatever order async nodes complete in; (c) every node runs at most once — and
exactly the nodes the reference evaluation runs; (d) the straight-line path and the
general path give the same values, errors, partial values and call order, with and
without a failing node, with error_handling "raise" and "continue".
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from conftest import run_async, straight_path
from graphs.dags import (
    DagFailure,
    DagSpec,
    NodeSpec,
    build,
    descendants,
    expected_inputs,
    reference,
)
from hypergraph import AsyncRunner, RunResult, RunStatus, SyncRunner
from hypergraph.runners import straight

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def dags(draw: st.DrawFn) -> DagSpec:
    count = draw(st.integers(1, 12))
    input_names = [f"in{k}" for k in range(draw(st.integers(0, 3)))]
    gates = draw(st.sets(st.integers(0, count - 1), max_size=2))
    specs: list[NodeSpec] = []
    for i in range(count):
        sources = input_names + [f"v{j}" for j in range(i) if j not in gates]
        params = (
            tuple(draw(st.lists(st.sampled_from(sources), unique=True, max_size=4)))
            if sources
            else ()
        )
        defaulted = frozenset(p for p in params if draw(st.booleans()))
        yields = draw(st.integers(0, 5))
        if i in gates:
            later = [f"{'g' if j in gates else 'n'}{j}" for j in range(i + 1, count)]
            targets = (
                tuple(draw(st.lists(st.sampled_from(later), unique=True, max_size=3)))
                if later
                else ()
            )
            specs.append(
                NodeSpec(
                    i,
                    True,
                    params,
                    defaulted,
                    targets=targets,
                    multi_target=draw(st.booleans()),
                    salt=draw(st.integers(0, 5)),
                )
            )
        else:
            specs.append(NodeSpec(i, False, params, defaulted, yields=yields))
    names = input_names + [f"v{j}" for j in range(count)]
    defaults = {n: draw(st.integers(-5, 5)) for n in names}
    dag = DagSpec(tuple(specs), defaults, {})
    required, optional = expected_inputs(dag)
    inputs = {n: draw(st.integers(-10, 10)) for n in sorted(required)}
    inputs.update({n: draw(st.integers(-10, 10)) for n in sorted(optional) if draw(st.booleans())})
    return DagSpec(tuple(specs), defaults, inputs)


def _check_counts(calls: list[str], expected_ran: list[str]) -> None:
    counts = Counter(calls)
    assert max(counts.values(), default=1) == 1, counts  # no node ran twice
    assert set(counts) == set(expected_ran)  # and exactly the reference's nodes ran


@SETTINGS
@given(dags())
def test_random_dag_graph_shape_matches_its_description(dag: DagSpec) -> None:
    graph = build(dag, [])
    required, optional = expected_inputs(dag)
    assert set(graph.inputs.required) == required
    assert set(graph.inputs.optional) == optional
    assert graph.outputs == tuple(s.output for s in dag.nodes if not s.is_gate)
    assert graph.has_cycles is False


@SETTINGS
@given(dags())
def test_sync_runner_matches_the_reference_and_runs_nodes_in_graph_order(dag: DagSpec) -> None:
    expected, ran = reference(dag)
    calls: list[str] = []
    result = SyncRunner().run(build(dag, calls), dag.inputs)
    assert result.status is RunStatus.COMPLETED
    assert result.values == expected
    assert calls == ran  # one at a time, in graph order, each at most once


@SETTINGS
@given(dags())
def test_sync_and_async_runners_give_equal_values_on_random_dags(dag: DagSpec) -> None:
    expected, ran = reference(dag)
    sync_calls: list[str] = []
    async_calls: list[str] = []
    sync_result = SyncRunner().run(build(dag, sync_calls), dag.inputs)
    async_result = run_async(AsyncRunner().run(build(dag, async_calls), dag.inputs))
    assert sync_result.values == async_result.values == expected
    assert async_result.status is RunStatus.COMPLETED
    _check_counts(sync_calls, ran)
    _check_counts(async_calls, ran)


@SETTINGS
@given(dags(), st.sampled_from([None, 1, 2, 3]))
def test_async_runner_values_do_not_depend_on_completion_order(
    dag: DagSpec, max_concurrency: int | None
) -> None:
    # Async nodes yield to the loop a drawn number of times (0-5) before returning, so
    # independent nodes complete in a different order from one example to the next.
    expected, ran = reference(dag)
    calls: list[str] = []
    graph = build(dag, calls, asynchronous=True)
    result = run_async(AsyncRunner().run(graph, dag.inputs, max_concurrency=max_concurrency))
    assert result.status is RunStatus.COMPLETED
    assert result.values == expected
    _check_counts(calls, ran)


def _run_both(
    dag: DagSpec, failing: str, **options: object
) -> list[tuple[RunResult, list[str], list[BaseException]]]:
    outcomes = []
    for mode in ("sync", "async"):
        calls: list[str] = []
        raised: list[BaseException] = []
        graph = build(dag, calls, failing=failing, raised=raised)
        if mode == "sync":
            result = SyncRunner().run(graph, dag.inputs, **options)
        else:
            result = run_async(AsyncRunner().run(graph, dag.inputs, **options))
        outcomes.append((result, calls, raised))
    return outcomes


@SETTINGS
@given(dags(), st.data())
def test_a_failing_node_gives_equal_results_under_both_runners_with_continue(
    dag: DagSpec, data: st.DataObject
) -> None:
    expected, ran = reference(dag)
    assume(ran)
    failing = data.draw(st.sampled_from(ran), label="failing")
    downstream = descendants(dag, failing)
    spec = {s.name: s for s in dag.nodes}[failing]
    if spec.is_gate:  # its targets that no other gate could have chosen
        blocked = {
            t
            for t in spec.targets
            if not any(t in g.targets for g in dag.nodes if g.is_gate and g.name != failing)
        }
    else:  # the consumers of its output that have no default for it
        blocked = {
            s.name for s in dag.nodes if spec.output in s.params and spec.output not in s.defaulted
        }
    unaffected = {
        f"v{s.index}": expected[f"v{s.index}"]
        for s in dag.nodes
        if s.name in ran and s.name not in downstream and s.name != failing and not s.is_gate
    }
    outcomes = _run_both(dag, failing, error_handling="continue")
    for result, calls, raised in outcomes:
        assert result.status is RunStatus.FAILED
        assert len(raised) == 1
        assert result.error is raised[0]
        assert all(c == 1 for c in Counter(calls).values())
        assert not blocked & set(calls)  # nodes needing the failed node's output never ran
        assert f"v{spec.index}" not in result.values
        for name, value in unaffected.items():  # independent branches still complete
            assert result.values.get(name) == value
    (sync_result, _, _), (async_result, _, _) = outcomes
    assert sync_result.values == async_result.values


@SETTINGS
@given(dags(), st.data())
def test_a_failing_node_raises_its_own_exception_under_both_runners(
    dag: DagSpec, data: st.DataObject
) -> None:
    _, ran = reference(dag)
    assume(ran)
    failing = data.draw(st.sampled_from(ran), label="failing")
    for mode in ("sync", "async"):
        raised: list[BaseException] = []
        graph = build(dag, [], failing=failing, raised=raised)
        with pytest.raises(DagFailure) as info:
            if mode == "sync":
                SyncRunner().run(graph, dag.inputs)
            else:
                run_async(AsyncRunner().run(graph, dag.inputs))
        assert info.value is raised[0]


def _outcome(
    dag: DagSpec, mode: str, enabled: bool, failing: str | None, error_handling: str
) -> tuple[Any, ...]:
    """What a run of `dag` shows: values, status, error (type, text, notes), partial, calls."""
    calls: list[str] = []
    raised: list[BaseException] = []
    graph = build(dag, calls, asynchronous=False, failing=failing, raised=raised)
    with straight_path(enabled):
        try:
            if mode == "sync":
                result = SyncRunner().run(graph, dag.inputs, error_handling=error_handling)
            else:
                result = run_async(
                    AsyncRunner().run(graph, dag.inputs, error_handling=error_handling)
                )
        except DagFailure as exc:
            assert exc is raised[0]  # the node's own exception object
            return ("raised", type(exc), str(exc), exc.__notes__, calls)
    error = result.error
    assert error is None or error is raised[0]
    shown = None if error is None else (type(error), str(error), error.__notes__)
    return (result.values, result.status, shown, result.partial, calls)


@SETTINGS
@given(dags(), st.data(), st.sampled_from(["raise", "continue"]))
def test_straight_and_general_paths_give_equal_results_on_random_dags(
    dag: DagSpec, data: st.DataObject, error_handling: str
) -> None:
    _, ran = reference(dag)
    failing = data.draw(st.sampled_from([None, *ran]), label="failing")
    assert straight.why_not(build(dag, []), runner="sync") is None  # random DAGs run straight
    for mode in ("sync", "async"):
        general = _outcome(dag, mode, False, failing, error_handling)
        fast = _outcome(dag, mode, True, failing, error_handling)
        if mode == "sync":
            assert fast == general  # the same calls in the same order, too
        else:  # AsyncRunner's order depends on timing: compare what ran, not when
            assert fast[:-1] == general[:-1]
            assert sorted(fast[-1]) == sorted(general[-1])
