"""The scheduler driven directly: random graphs with gates and cycles, shuffled completions.

A simulated driver plays the runner: every node the scheduler hands out gets its
arguments at once (as a runner does when it starts a node) and its outcome is reported
later, in an order hypothesis chooses. The values a run ends with must not depend on that
order, must equal SyncRunner's, and a scheduler restored from a snapshot, or rebuilt from
the log of completions, must continue to the same values as the uninterrupted run.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hypergraph import END, Graph, SyncRunner, ifelse, node, route
from hypergraph.engine.plan import Plan
from hypergraph.engine.scheduler import Completion, Scheduler
from hypergraph.nodes.gate import GateNode

SETTINGS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _value_node(name: str, params: list[str], output: str) -> Any:
    def body(**kwargs: Any) -> str:
        return f"{name}({','.join(f'{k}={kwargs[k]}' for k in sorted(kwargs))})"

    body.__name__ = name
    # Parameters by name: build a function with that exact signature.
    args = ", ".join(params)
    namespace: dict[str, Any] = {"body": body}
    exec(
        f"def {name}({args}):\n    return body({', '.join(f'{p}={p}' for p in params)})", namespace
    )
    return node(namespace[name], output_name=output)


def _loop(j: int, rounds: int, extra: str | None) -> list[Any]:
    """A chat-loop-shaped cycle: turn -> update -> gate back to turn or END."""
    turn_params = [f"hist{j}"] + ([extra] if extra else [])
    turn = _value_node(f"turn{j}", turn_params, f"reply{j}")

    def update(**kw: Any) -> list[str]:
        return [*kw[f"hist{j}"], kw[f"reply{j}"]]

    namespace: dict[str, Any] = {"update": update}
    exec(
        f"def update{j}(hist{j}, reply{j}):\n    return update(hist{j}=hist{j}, reply{j}=reply{j})",
        namespace,
    )
    upd = node(namespace[f"update{j}"], output_name=f"hist{j}")

    def again(hist: list[str]) -> Any:
        return END if len(hist) >= rounds else f"turn{j}"

    namespace = {"again": again}
    exec(f"def more{j}(hist{j}):\n    return again(hist{j})", namespace)
    gate = route(targets=[f"turn{j}", END])(namespace[f"more{j}"])
    return [turn, upd, gate]


@dataclass
class Case:
    graph: Graph
    values: dict[str, Any]


@st.composite
def cyclic_graphs(draw: st.DrawFn) -> Case:
    """A small DAG of value nodes and ifelse gates feeding 0-2 loops, with consumers after."""
    nodes: list[Any] = []
    available = ["a", "b"]
    values: dict[str, Any] = {"a": 1, "b": 2}
    for k in range(draw(st.integers(1, 5))):
        params = draw(st.lists(st.sampled_from(available), min_size=1, max_size=2, unique=True))
        nodes.append(_value_node(f"f{k}", params, f"v{k}"))
        available.append(f"v{k}")
    if draw(st.booleans()):
        # A gate choosing between two branches that write different names.
        source = draw(st.sampled_from(available))
        nodes.append(_value_node("yes", [source], "y_val"))
        nodes.append(_value_node("no", [source], "n_val"))
        parity = draw(st.booleans())

        def decide(**kw: Any) -> bool:
            return (len(str(kw[source])) % 2 == 0) is parity

        namespace: dict[str, Any] = {"decide": decide}
        exec(f"def pick({source}):\n    return decide({source}={source})", namespace)
        nodes.append(ifelse(when_true="yes", when_false="no")(namespace["pick"]))
    for j in range(draw(st.integers(0, 2))):
        extra = draw(st.sampled_from([None, *available]))
        nodes.extend(_loop(j, draw(st.integers(1, 4)), extra))
        values[f"hist{j}"] = []
        if draw(st.booleans()):
            nodes.append(_value_node(f"after{j}", [f"hist{j}"], f"final{j}"))
    graph = Graph(nodes)
    used = {k: v for k, v in values.items() if k in graph.inputs.all or k.startswith("hist")}
    return Case(graph, used)


def _outputs(node_: Any, result: Any) -> dict[str, Any]:
    return {node_.outputs[0]: result} if node_.outputs else {}


class Simulation:
    """A runner stand-in: starts what is ready, reports completions in a chosen order."""

    def __init__(self, sched: Scheduler, rng: random.Random) -> None:
        self.sched = sched
        self.rng = rng
        self.in_flight: list[tuple[int, Completion]] = []
        self.log: list[Completion] = []

    def start(self, ready: list[int]) -> None:
        for i in ready:
            self.in_flight.append((i, self._execute(i)))

    def _execute(self, i: int) -> Completion:
        node_ = self.sched.plan.nodes[i]
        result = node_.func(**self.sched.inputs_for(i))  # type: ignore[attr-defined]
        if isinstance(node_, GateNode):
            return ("gate", i, node_.decide(result))
        return ("finish", i, _outputs(node_, result))

    def step(self) -> None:
        i, completion = self.in_flight.pop(self.rng.randrange(len(self.in_flight)))
        kind, _, payload = completion
        self.log.append(completion)
        step = self.sched.finish_gate if kind == "gate" else self.sched.finish
        self.start(step(i, payload))

    def run(self, steps: int | None = None) -> None:
        while self.in_flight and (steps is None or steps > 0):
            self.step()
            if steps is not None:
                steps -= 1


def _simulate(case: Case, seed: int) -> dict[str, Any]:
    plan: Plan = case.graph._plan
    sim = Simulation(Scheduler(plan, dict(case.values), 1000), random.Random(seed))
    sim.start(sim.sched.start())
    sim.run()
    return sim.sched.values


@SETTINGS
@given(cyclic_graphs(), st.integers(0, 2**32))
def test_values_do_not_depend_on_completion_order_on_cyclic_gated_graphs(
    case: Case, seed: int
) -> None:
    assert _simulate(case, seed) == _simulate(case, seed + 1) == _simulate(case, 7)


@SETTINGS
@given(cyclic_graphs(), st.integers(0, 2**32))
def test_the_scheduler_driven_in_any_order_agrees_with_sync_runner(case: Case, seed: int) -> None:
    values = _simulate(case, seed)
    result = SyncRunner().run(case.graph, dict(case.values))
    assert {k: values[k] for k in result.values} == result.values


def _restored_runs(case: Case, seed: int, cut: int) -> tuple[dict[str, Any], ...]:
    """The same completion order three ways: uninterrupted, and stopped after `cut`
    completions then continued from a snapshot, and from a replay of the log."""
    plan: Plan = case.graph._plan
    whole = Simulation(Scheduler(plan, dict(case.values), 1000), random.Random(seed))
    whole.start(whole.sched.start())
    whole.run()

    first = Simulation(Scheduler(plan, dict(case.values), 1000), random.Random(seed))
    first.start(first.sched.start())
    first.run(steps=cut)
    state = first.sched.snapshot()
    rng_state = first.rng.getstate()
    in_flight = list(first.in_flight)

    restored = Simulation(Scheduler.restore(plan, state), random.Random())
    restored.rng.setstate(rng_state)
    restored.in_flight = list(in_flight)
    restored.run()

    replayed_sched = Scheduler.replay(plan, dict(case.values), 1000, first.log)
    assert sorted(replayed_sched.busy_nodes()) == sorted(i for i, _ in in_flight)
    replayed = Simulation(replayed_sched, random.Random())
    replayed.rng.setstate(rng_state)
    replayed.in_flight = list(in_flight)
    replayed.run()
    return whole.sched.values, restored.sched.values, replayed.sched.values


@SETTINGS
@given(cyclic_graphs(), st.integers(0, 2**32), st.integers(0, 30))
def test_restore_then_continue_equals_an_uninterrupted_run(case: Case, seed: int, cut: int) -> None:
    whole, restored, replayed = _restored_runs(case, seed, cut)
    assert restored == whole
    assert replayed == whole


def test_a_snapshot_is_independent_of_the_scheduler_it_was_taken_from() -> None:
    case = Case(Graph(_loop(0, 3, None)), {"hist0": []})
    sched = Scheduler(case.graph._plan, dict(case.values), 1000)
    ready = sched.start()
    state = sched.snapshot()
    sim = Simulation(sched, random.Random(1))
    sim.start(ready)
    sim.run()
    assert state.values == {"hist0": []}
    assert Scheduler.restore(case.graph._plan, state).busy_nodes() == ready


def test_replay_refuses_a_log_that_does_not_fit_the_plan() -> None:
    graph = Graph(_loop(0, 2, None))
    plan: Plan = graph._plan
    after_start_idle = next(i for i in range(len(plan.nodes)) if plan.nodes[i].name == "update0")
    with pytest.raises(ValueError, match="does not fit"):
        Scheduler.replay(plan, {"hist0": []}, 1000, [("finish", after_start_idle, {})])


def test_a_suspended_node_stays_parked_and_its_dependants_wait_for_it() -> None:
    ask = _value_node("ask", ["q"], "answer")
    use = _value_node("use", ["answer"], "done")
    side = _value_node("side", ["q"], "other")
    graph = Graph([ask, use, side])
    plan: Plan = graph._plan
    sched = Scheduler(plan, {"q": 1}, 1000)
    ready = sched.start()
    index = {n.name: i for i, n in enumerate(plan.nodes)}
    assert sorted(ready) == sorted([index["ask"], index["side"]])
    for i in ready:
        sched.inputs_for(i)
    assert sched.suspend(index["ask"]) == []
    assert sched.finish(index["side"], {"other": "x"}) == []
    assert sched.suspended == [index["ask"]]
    assert "answer" not in sched.values and sched.values["other"] == "x"
    # parked: resumed, it is the one node to run again, and then its dependant runs
    assert sched.busy_nodes() == [index["ask"]]
    log = [("suspend", index["ask"], None), ("finish", index["side"], {"other": "x"})]
    resumed = Scheduler.replay(plan, {"q": 1}, 1000, log)  # type: ignore[arg-type]
    assert resumed.busy_nodes() == [index["ask"]]
    assert resumed.runs[index["ask"]] == 0  # the suspended execution is run again, not counted
    resumed.inputs_for(index["ask"])
    assert resumed.finish(index["ask"], {"answer": 2}) == [index["use"]]


def test_the_plan_puts_a_cycle_in_one_unit_and_its_consumers_after_it() -> None:
    graph = Graph([*_loop(0, 2, None), _value_node("after0", ["hist0"], "final0")])
    plan: Plan = graph._plan
    index = {n.name: i for i, n in enumerate(plan.nodes)}
    cycle = plan.unit_of[index["turn0"]]
    assert plan.is_cycle[cycle]
    assert plan.unit_of[index["update0"]] == plan.unit_of[index["more0"]] == cycle
    assert not plan.cyclic[index["after0"]]
    assert index["after0"] in plan.notify[cycle]
