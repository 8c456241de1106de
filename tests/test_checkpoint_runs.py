"""Durable runs on both runners: record, resume, refuse conflicts (SPEC 11).

A crash is simulated in-process by a node raising a BaseException (`Crash`), which ends
the run without recording that node; the real kill -9 test is `test_checkpoint_kill.py`.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from hypergraph import (
    END,
    AsyncRunner,
    Graph,
    MemoryCheckpointer,
    NodeContext,
    RetryPolicy,
    SqliteCheckpointer,
    SyncRunner,
    node,
    route,
)
from hypergraph.durable import CheckpointError, WorkflowConflictError
from hypergraph.errors import InputValueError


class Crash(BaseException):
    """Stands for the process dying in the middle of a node."""


calls: Counter[str] = Counter()
crash_at: dict[str, Any] = {}


@pytest.fixture(autouse=True)
def _reset() -> None:
    calls.clear()
    crash_at.clear()


def _maybe_crash(name: str, value: Any) -> None:
    calls[name] += 1
    if crash_at.get(name) == value:
        del crash_at[name]
        raise Crash(name)


@node(output_name="count")
def step(count: int) -> int:
    _maybe_crash("step", count)
    return count + 1


@route(targets=["step", END])
def more(count: int) -> object:
    calls["more"] += 1
    return "step" if count < 5 else END


@node(output_name="total")
def total(count: int) -> int:
    _maybe_crash("total", count)
    return count * 10


LOOP = Graph([step, more, total])


def _run(kind: str, runner_cp: Any, graph: Graph, **kwargs: Any) -> Any:
    if kind == "sync":
        return SyncRunner(checkpointer=runner_cp).run(graph, **kwargs)
    return asyncio.run(AsyncRunner(checkpointer=runner_cp).run(graph, **kwargs))


def _checkpointers(tmp_path: Path) -> dict[str, Any]:
    return {"memory": MemoryCheckpointer(), "sqlite": SqliteCheckpointer(tmp_path / "cp.sqlite")}


@pytest.mark.parametrize("kind", ["sync", "async"])
@pytest.mark.parametrize("store", ["memory", "sqlite"])
def test_a_resumed_workflow_runs_only_what_had_not_finished(
    tmp_path: Path, kind: str, store: str
) -> None:
    cp = _checkpointers(tmp_path)[store]
    crash_at["step"] = 3
    with pytest.raises(Crash):
        _run(kind, cp, LOOP, values={"count": 0}, workflow_id="w")
    assert calls["step"] == 4  # 0, 1, 2 finished; 3 crashed
    calls.clear()
    result = _run(kind, cp, LOOP, values={"count": 0}, workflow_id="w")
    assert result["total"] == 50 and result.workflow_id == "w"
    assert calls["step"] == 2  # 3 (again) and 4
    assert calls["total"] == 1
    assert cp.get("w").status == "completed"


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_a_completed_workflow_returns_its_stored_result_and_runs_nothing(
    tmp_path: Path, kind: str
) -> None:
    cp = SqliteCheckpointer(tmp_path / "cp.sqlite")
    first = _run(kind, cp, LOOP, values={"count": 0}, workflow_id="done")
    calls.clear()
    again = _run(kind, cp, LOOP, values={"count": 0}, workflow_id="done")
    assert again.values == first.values == {"count": 5, "total": 50}
    assert sum(calls.values()) == 0


def test_other_input_values_for_a_workflow_id_fail_naming_the_input(tmp_path: Path) -> None:
    cp = SqliteCheckpointer(tmp_path / "cp.sqlite")
    SyncRunner(checkpointer=cp).run(LOOP, count=0, workflow_id="w")
    with pytest.raises(WorkflowConflictError, match="input 'count' has a different value") as info:
        SyncRunner(checkpointer=cp).run(LOOP, count=1, workflow_id="w")
    assert info.value.differences == ["input 'count' has a different value"]
    assert cp.get("w").status == "completed"  # the refused run changed nothing


def test_a_changed_graph_under_a_workflow_id_fails_naming_the_node(tmp_path: Path) -> None:
    cp = MemoryCheckpointer()
    crash_at["total"] = 5
    with pytest.raises(Crash):
        SyncRunner(checkpointer=cp).run(LOOP, count=0, workflow_id="w")

    @node(output_name="total")
    def total(count: int, bonus: int = 0) -> int:
        return count + bonus

    changed = Graph([step, more, total])
    with pytest.raises(WorkflowConflictError, match=r"node 'total' changed its 'inputs'"):
        SyncRunner(checkpointer=cp).run(changed, count=0, workflow_id="w")


def test_a_workflow_id_is_generated_when_not_given(tmp_path: Path) -> None:
    cp = MemoryCheckpointer()
    result = SyncRunner(checkpointer=cp).run(LOOP, count=0)
    assert result.workflow_id is not None
    assert cp.get(result.workflow_id).values["total"] == 50  # type: ignore[union-attr]
    assert SyncRunner().run(LOOP, count=0).workflow_id is None


def test_a_workflow_id_without_a_checkpointer_is_refused() -> None:
    with pytest.raises(InputValueError, match="no checkpointer"):
        SyncRunner().run(LOOP, count=0, workflow_id="w")


def test_a_checkpointer_must_be_a_checkpoint_store() -> None:
    with pytest.raises(InputValueError, match="checkpointer= takes a checkpoint store"):
        SyncRunner(checkpointer="runs.sqlite")  # type: ignore[arg-type]


def test_steps_record_nodes_gate_decisions_and_timing(tmp_path: Path) -> None:
    cp = SqliteCheckpointer(tmp_path / "cp.sqlite")
    SyncRunner(checkpointer=cp).run(LOOP, count=3, workflow_id="w")
    steps = cp.get("w").steps  # type: ignore[union-attr]
    assert [(s.node, s.kind) for s in steps] == [
        ("more", "gate"), ("step", "finish"), ("more", "gate"),
        ("step", "finish"), ("more", "gate"), ("total", "finish"),
    ]  # fmt: skip
    assert steps[0].decision == ("step",) and steps[4].decision == ()
    assert steps[1].outputs == {"count": 4}
    assert all(s.started_at is not None and s.started_at <= s.ended_at for s in steps)


@node(output_name="text")
def tokens(n: int, ctx: NodeContext) -> str:
    for k in range(n):
        ctx.stream(f"t{k} ")
        if crash_at.get("tokens") == k:
            del crash_at["tokens"]
            raise Crash("tokens")
    calls["tokens"] += 1
    return "done"


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_chunks_streamed_before_a_crash_are_kept_in_batches(tmp_path: Path, kind: str) -> None:
    cp = SqliteCheckpointer(tmp_path / "cp.sqlite")
    crash_at["tokens"] = 119
    with pytest.raises(Crash):
        _run(kind, cp, Graph([tokens]), values={"n": 200}, workflow_id="s")
    (stream,) = cp.get("s").streams  # type: ignore[union-attr]
    # chunks go out every 50 (or 100 ms): of the 120 streamed, 100 or more were kept
    assert 100 <= len(stream.chunks) <= 120
    assert stream.chunks == [f"t{k} " for k in range(len(stream.chunks))]
    result = _run(kind, cp, Graph([tokens]), values={"n": 200}, workflow_id="s")
    assert result["text"] == "done"
    record = cp.get("s")
    assert [(r.execution, len(r.chunks)) for r in record.streams][-1] == (1, 200)  # type: ignore[union-attr]


@node(output_name="doubled")
def double(x: int) -> int:
    _maybe_crash("double", x)
    return 2 * x


@node(output_name="y")
def add_one(doubled: int) -> int:
    _maybe_crash("add_one", doubled)
    return doubled + 1


INNER = Graph([double, add_one], name="inner")


@node(output_name="z")
def last(y: int) -> int:
    return y * 100


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_a_nested_graph_resumes_inside_as_a_child_workflow(tmp_path: Path, kind: str) -> None:
    cp = SqliteCheckpointer(tmp_path / "cp.sqlite")
    graph = Graph([INNER.as_node(), last])
    crash_at["add_one"] = 6
    with pytest.raises(Crash):
        _run(kind, cp, graph, values={"x": 3}, workflow_id="outer")
    calls.clear()
    result = _run(kind, cp, graph, values={"x": 3}, workflow_id="outer")
    assert result["z"] == 700
    assert calls == Counter({"add_one": 1})  # double had finished inside: not run again
    children = [w for w in cp.list() if w.parent == "outer"]
    assert [w.workflow_id for w in children] == ["outer/inner#1"]
    assert cp.get("outer/inner#1").values["y"] == 7  # type: ignore[union-attr]


@node(output_name="b")
def flaky(a: int) -> int:
    calls["flaky"] += 1
    if crash_at.get("flaky"):
        raise ValueError("flaky failed")
    return a + 1


@node(output_name="a")
def first(x: int) -> int:
    calls["first"] += 1
    return x


def test_a_failed_workflow_runs_again_from_its_failure(tmp_path: Path) -> None:
    cp = SqliteCheckpointer(tmp_path / "cp.sqlite")
    graph = Graph([first, flaky])
    crash_at["flaky"] = True
    with pytest.raises(ValueError, match="flaky failed"):
        SyncRunner(checkpointer=cp).run(graph, x=1, workflow_id="f")
    assert cp.get("f").status == "failed"  # type: ignore[union-attr]
    crash_at.clear()
    result = SyncRunner(checkpointer=cp).run(graph, x=1, workflow_id="f")
    assert result["b"] == 2
    assert calls == Counter({"first": 1, "flaky": 2})


@node(output_name="handle")
def opens(x: int) -> Any:
    return lambda: x


def test_an_output_that_cannot_be_checkpointed_fails_its_node(tmp_path: Path) -> None:
    cp = SqliteCheckpointer(tmp_path / "cp.sqlite")
    with pytest.raises(CheckpointError, match="Output 'handle' of node 'opens'"):
        SyncRunner(checkpointer=cp).run(Graph([opens]), x=1, workflow_id="p")


def test_iter_takes_a_workflow_id_and_resumes(tmp_path: Path) -> None:
    cp = SqliteCheckpointer(tmp_path / "cp.sqlite")
    crash_at["step"] = 2
    with (
        pytest.raises(Crash),
        SyncRunner(checkpointer=cp).iter(LOOP, count=0, workflow_id="i") as run,
    ):
        list(run)
    calls.clear()
    with SyncRunner(checkpointer=cp).iter(LOOP, count=0, workflow_id="i") as run:
        started = [e.node_name for e in run if e.kind == "node_start"]
        result = run.result()
    assert result["total"] == 50 and result.workflow_id == "i"
    assert started.count("step") == 3  # 2 (again), 3, 4


@node(output_name="squared")
def square(item: int) -> int:
    _maybe_crash("square", item)
    return item * item


def test_a_resumed_map_over_runs_only_the_items_that_had_not_finished(tmp_path: Path) -> None:
    cp = SqliteCheckpointer(tmp_path / "cp.sqlite")
    inner = Graph([square], name="sq").as_node().map_over("item")
    graph = Graph([inner])
    crash_at["square"] = 3
    with pytest.raises(Crash):
        SyncRunner(checkpointer=cp).run(graph, item=[1, 2, 3, 4], workflow_id="m")
    calls.clear()
    result = SyncRunner(checkpointer=cp).run(graph, item=[1, 2, 3, 4], workflow_id="m")
    assert result["squared"] == [1, 4, 9, 16]
    assert calls == Counter({"square": 2})  # items 3 and 4; 1 and 2 had finished


@node(output_name="ok", retry=RetryPolicy(max_attempts=3, initial_delay=0.0, jitter=False))
def twice_flaky(x: int) -> int:
    calls["twice_flaky"] += 1
    if calls["twice_flaky"] < 3:
        raise ConnectionError("try again")
    return x


def test_a_step_records_the_attempt_that_succeeded(tmp_path: Path) -> None:
    cp = SqliteCheckpointer(tmp_path / "cp.sqlite")
    SyncRunner(checkpointer=cp).run(Graph([twice_flaky]), x=1, workflow_id="r")
    (only,) = cp.get("r").steps  # type: ignore[union-attr]
    assert (only.node, only.attempt, only.outputs) == ("twice_flaky", 3, {"ok": 1})


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_the_idempotency_key_is_the_same_for_each_attempt_and_across_a_resume(
    tmp_path: Path, kind: str
) -> None:
    keys: list[str] = []

    @node(output_name="receipt", retry=RetryPolicy(max_attempts=2, initial_delay=0))
    def pay(amount: int, ctx: NodeContext) -> str:
        keys.append(ctx.idempotency_key)
        if len(keys) == 1:
            raise ConnectionError("flaky")  # retried: the same execution, the same key
        if len(keys) == 2:
            raise Crash("pay")  # the process dies: the resume runs it again
        return f"paid {amount}"

    cp = SqliteCheckpointer(tmp_path / "cp.sqlite")
    graph = Graph([pay])
    with pytest.raises(Crash):
        _run(kind, cp, graph, values={"amount": 5}, workflow_id="order-7")
    result = _run(kind, cp, graph, values={"amount": 5}, workflow_id="order-7")
    assert result["receipt"] == "paid 5"
    assert keys == ["order-7/pay#1"] * 3
    other = _run(kind, cp, graph, values={"amount": 5}, workflow_id="order-8")
    assert other["receipt"] == "paid 5" and keys[-1] == "order-8/pay#1"


def test_each_execution_of_a_node_in_a_loop_has_its_own_idempotency_key() -> None:
    keys: list[str] = []

    @node(output_name="count")
    def tick(count: int, ctx: NodeContext) -> int:
        keys.append(ctx.idempotency_key)
        return count + 1

    @route(targets=["tick", END])
    def again(count: int) -> object:
        return "tick" if count < 3 else END

    result = SyncRunner().run(Graph([tick, again]), count=0, run_id="r1")
    assert result["count"] == 3
    assert keys == ["r1/tick#1", "r1/tick#2", "r1/tick#3"]
