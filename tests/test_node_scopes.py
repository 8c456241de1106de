"""The runner's side of tracing, under both runners: processors' node scopes wrap each
node execution (entered in order, left in reverse, a failing one logged and skipped), a
processor may sit a run out (`wants_events()`), and the node events built on the traced
path hold every field of their class.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import fields
from typing import Any

import pytest

from conftest import run_async
from hypergraph import (
    END,
    AsyncRunner,
    Graph,
    NodeEndEvent,
    NodeStartEvent,
    RunStatus,
    SyncRunner,
    node,
    route,
)
from hypergraph.events.dispatch import dispatcher_for

pytestmark = pytest.mark.timeout(30)
RUNNERS = ["sync", "async"]


def run_with(kind: str, graph: Graph, processors: list[Any], **values: Any) -> Any:
    if kind == "sync":
        return SyncRunner().run(graph, values, event_processors=processors)
    return run_async(AsyncRunner().run(graph, values, event_processors=processors))


def logged_chain(log: list[str]) -> Graph:
    @node(output_name="a")
    def first(x: int) -> int:
        log.append("call first")
        return x + 1

    @node(output_name="b")
    def second(a: int) -> int:
        log.append("call second")
        return a + 1

    return Graph([first, second])


class Scoped:
    """A processor whose node scope logs its entering and leaving (or fails at either)."""

    def __init__(self, name: str, log: list[str], fail: str = "") -> None:
        self.name = name
        self.log = log
        self.fail = fail

    def on_event(self, event: Any) -> None:
        pass

    @contextlib.contextmanager
    def _scope(self, node: str) -> Iterator[None]:
        self.log.append(f"enter {self.name} {node}")
        yield
        if self.fail == "exit":
            raise RuntimeError("cannot leave")
        self.log.append(f"leave {self.name} {node}")

    def node_scope(self, event: NodeStartEvent) -> Any:
        if self.fail == "enter":
            raise RuntimeError("cannot enter")
        return self._scope(event.node_name)


@pytest.mark.parametrize("kind", RUNNERS)
def test_node_scopes_are_entered_in_order_and_left_in_reverse_around_each_node(
    kind: str,
) -> None:
    log: list[str] = []

    run_with(kind, logged_chain(log), [Scoped("A", log), Scoped("B", log)], x=1)

    assert log == [
        "enter A first",
        "enter B first",
        "call first",
        "leave B first",
        "leave A first",
        "enter A second",
        "enter B second",
        "call second",
        "leave B second",
        "leave A second",
    ]


@pytest.mark.parametrize("kind", RUNNERS)
def test_a_scope_that_fails_to_enter_is_logged_and_skipped_while_the_others_wrap_the_node(
    kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    log: list[str] = []

    result = run_with(
        kind, logged_chain(log), [Scoped("A", log, fail="enter"), Scoped("B", log)], x=1
    )

    assert result.status is RunStatus.COMPLETED
    assert log[:3] == ["enter B first", "call first", "leave B first"]
    assert "entering a node scope" in caplog.text


@pytest.mark.parametrize("kind", RUNNERS)
def test_a_scope_that_fails_to_leave_is_logged_and_the_scopes_outside_it_are_still_left(
    kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    log: list[str] = []

    result = run_with(
        kind, logged_chain(log), [Scoped("A", log), Scoped("B", log, fail="exit")], x=1
    )

    assert result.status is RunStatus.COMPLETED
    assert log[:4] == ["enter A first", "enter B first", "call first", "leave A first"]
    assert "leaving a node scope" in caplog.text


class Listener:
    def __init__(self, wants: Any) -> None:
        self.wants = wants
        self.events: list[Any] = []
        self.scoped: list[str] = []

    def wants_events(self) -> bool:
        if isinstance(self.wants, Exception):
            raise self.wants
        return bool(self.wants)

    def on_event(self, event: Any) -> None:
        self.events.append(event)

    def node_scope(self, event: NodeStartEvent) -> Any:
        self.scoped.append(event.node_name)
        return contextlib.nullcontext()


@pytest.mark.parametrize("kind", RUNNERS)
def test_a_processor_that_does_not_want_events_gets_nothing_from_the_run(kind: str) -> None:
    idle = Listener(wants=False)

    result = run_with(kind, logged_chain([]), [idle], x=1)

    assert result["b"] == 3
    assert idle.events == [] and idle.scoped == []
    assert not dispatcher_for([idle])  # so the run builds no events at all


@pytest.mark.parametrize("kind", RUNNERS)
def test_a_processor_whose_wants_events_raises_is_logged_and_still_gets_the_events(
    kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    unsure = Listener(wants=RuntimeError("no idea"))

    run_with(kind, logged_chain([]), [unsure], x=1)

    assert [type(e).__name__ for e in unsure.events].count("NodeEndEvent") == 2
    assert unsure.scoped == ["first", "second"]
    assert "in wants_events()" in caplog.text


def gated() -> Graph:
    @node(output_name="a")
    def first(x: int) -> int:
        return x + 1

    @route(targets=["last", END])
    def check(a: int) -> str:
        return "last"

    @node(output_name=("b", "c"))
    def last(a: int) -> tuple[int, int]:
        return a, a

    return Graph([first, check, last])


@pytest.mark.parametrize("kind", RUNNERS)
@pytest.mark.parametrize("scoped", [False, True], ids=["plain path", "traced path"])
def test_node_events_hold_every_field_of_their_class_and_equal_their_constructed_twin(
    kind: str, scoped: bool
) -> None:
    seen = Listener(wants=True)
    if not scoped:
        seen.node_scope = None  # type: ignore[assignment, method-assign]

    run_with(kind, gated(), [seen], x=1)

    node_events = [e for e in seen.events if isinstance(e, (NodeStartEvent, NodeEndEvent))]
    assert len(node_events) == 6  # start and end of first, check, last
    for event in node_events:
        cls = type(event)
        assert set(vars(event)) == {f.name for f in fields(cls)}, cls.__name__
        assert cls(**vars(event)) == event
    ends = [e for e in node_events if isinstance(e, NodeEndEvent)]
    assert [dict(e.outputs) for e in ends] == [{"a": 2}, {}, {"b": 2, "c": 2}]
    assert all(e.duration_ms >= 0 and e.cached is False for e in ends)
