"""Events and event processors (SPEC §5, §8, §9): what arrives, in what order, and that a
processor can never break a run."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import Any

import pytest

from conftest import run_async
from hypergraph import (
    END,
    AsyncEventProcessor,
    AsyncRunner,
    EventProcessor,
    Graph,
    IncompatibleRunnerError,
    NodeContext,
    NodeEndEvent,
    NodeErrorEvent,
    NodeStartEvent,
    RouteDecisionEvent,
    RunEndEvent,
    RunResult,
    RunStartEvent,
    RunStatus,
    StreamingChunkEvent,
    SyncRunner,
    TypedEventProcessor,
    ifelse,
    node,
    route,
)

RunFn = Callable[..., RunResult]


class Recorder:
    """A plain object with on_event: no base class needed."""

    def __init__(self) -> None:
        self.events: list[Any] = []

    def on_event(self, event: Any) -> None:
        self.events.append(event)

    def of(self, kind: type) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]


def trace(events: list[Any]) -> list[tuple[str, str | None]]:
    """(event type, node name) for each event: the shape both runners must agree on."""
    return [(type(e).__name__, getattr(e, "node_name", None)) for e in events]


def chat_turn() -> Graph:
    """tokens(prompt) streams 3 chunks -> reply; done(reply) routes to save or END."""

    @node(output_name="reply")
    def tokens(prompt: str):  # type: ignore[no-untyped-def]
        yield from ("Hel", "lo", "!")

    @route(targets=["save", END])
    def done(reply: list[str]) -> str:
        return "save"

    @node(output_name="saved")
    def save(reply: list[str]) -> str:
        return "".join(reply)

    return Graph([tokens, done, save])


CHAT_TRACE = [
    ("RunStartEvent", None),
    ("NodeStartEvent", "tokens"),
    ("StreamingChunkEvent", "tokens"),
    ("StreamingChunkEvent", "tokens"),
    ("StreamingChunkEvent", "tokens"),
    ("NodeEndEvent", "tokens"),
    ("NodeStartEvent", "done"),
    ("RouteDecisionEvent", "done"),
    ("NodeEndEvent", "done"),
    ("NodeStartEvent", "save"),
    ("NodeEndEvent", "save"),
    ("RunEndEvent", None),
]


def failing_chain() -> Graph:
    @node(output_name="a")
    def first(x: int) -> int:
        return x

    @node(output_name="b")
    def explode(a: int) -> int:
        raise ValueError("bad value")

    return Graph([first, explode])


# -- order ------------------------------------------------------------------------------


def test_events_arrive_in_execution_order_under_both_runners(run: RunFn) -> None:
    recorder = Recorder()
    result = run(chat_turn(), {"prompt": "hi"}, event_processors=[recorder])
    assert result["saved"] == "Hello!"
    assert trace(recorder.events) == CHAT_TRACE


def test_a_small_dag_gives_the_same_event_sequence_under_both_runners() -> None:
    @node(output_name="a")
    def first(x: int) -> int:
        return x + 1

    @node(output_name="b")
    def second(a: int) -> int:
        return a * 2

    @node(output_name="c")
    def third(a: int, b: int) -> int:
        return a + b

    graph = Graph([first, second, third])
    sync, async_ = Recorder(), Recorder()
    SyncRunner().run(graph, {"x": 1}, event_processors=[sync])
    run_async(AsyncRunner().run(graph, {"x": 1}, event_processors=[async_]))
    expected = [
        ("RunStartEvent", None),
        ("NodeStartEvent", "first"),
        ("NodeEndEvent", "first"),
        ("NodeStartEvent", "second"),
        ("NodeEndEvent", "second"),
        ("NodeStartEvent", "third"),
        ("NodeEndEvent", "third"),
        ("RunEndEvent", None),
    ]
    assert trace(sync.events) == expected
    assert trace(async_.events) == expected


def test_chunks_from_node_context_arrive_between_node_start_and_end(run: RunFn) -> None:
    @node(output_name="text")
    def write(prompt: str, ctx: NodeContext) -> str:
        for token in ("a", "b"):
            ctx.stream(token)
        return "ab"

    recorder = Recorder()
    run(Graph([write]), {"prompt": "p"}, event_processors=[recorder])
    assert trace(recorder.events) == [
        ("RunStartEvent", None),
        ("NodeStartEvent", "write"),
        ("StreamingChunkEvent", "write"),
        ("StreamingChunkEvent", "write"),
        ("NodeEndEvent", "write"),
        ("RunEndEvent", None),
    ]
    assert [e.chunk for e in recorder.of(StreamingChunkEvent)] == ["a", "b"]


def test_chunk_events_carry_the_chunk_and_a_sequence_number(run: RunFn) -> None:
    recorder = Recorder()
    run(chat_turn(), {"prompt": "hi"}, event_processors=[recorder])
    chunks = recorder.of(StreamingChunkEvent)
    assert [e.chunk for e in chunks] == ["Hel", "lo", "!"]
    assert [e.sequence for e in chunks] == [0, 1, 2]


# -- gate decisions ---------------------------------------------------------------------


def test_a_route_decision_names_the_chosen_target(run: RunFn) -> None:
    recorder = Recorder()
    result = run(chat_turn(), {"prompt": "hi"}, event_processors=[recorder])
    [decision] = recorder.of(RouteDecisionEvent)
    assert decision.node_name == "done"
    assert decision.decision == "save"
    assert "done" not in result.values


def test_a_route_decision_to_end_is_the_end_constant(run: RunFn) -> None:
    @route(targets=["save", END])
    def done(reply: str) -> object:
        return END

    save = node(lambda reply: reply, "saved", name="save")
    recorder = Recorder()
    result = run(Graph([done, save]), {"reply": "r"}, event_processors=[recorder])
    [decision] = recorder.of(RouteDecisionEvent)
    assert decision.decision is END
    assert "save" not in [e.node_name for e in recorder.of(NodeStartEvent)]
    assert result.values == {}


def test_an_ifelse_decision_names_the_branch_taken(run: RunFn) -> None:
    @ifelse(when_true="yes", when_false="no")
    def check(x: int) -> bool:
        return x > 0

    yes = node(lambda x: "yes", "answer", name="yes")
    no = node(lambda x: "no", "answer", name="no")
    recorder = Recorder()
    run(Graph([check, yes, no]), {"x": -1}, event_processors=[recorder])
    [decision] = recorder.of(RouteDecisionEvent)
    assert decision.decision == "no"


def test_a_multi_target_decision_is_a_tuple_of_targets(run: RunFn) -> None:
    @route(targets=["left", "right", END], multi_target=True)
    def fan_out(x: int) -> list[str]:
        return ["left", "right"]

    left = node(lambda x: x, "l", name="left")
    right = node(lambda x: x, "r", name="right")
    recorder = Recorder()
    result = run(Graph([fan_out, left, right]), {"x": 1}, event_processors=[recorder])
    [decision] = recorder.of(RouteDecisionEvent)
    assert decision.decision == ("left", "right")
    assert result.values == {"l": 1, "r": 1}


# -- what events carry ------------------------------------------------------------------


def test_events_are_frozen_dataclasses_with_ids_and_a_timestamp(run: RunFn) -> None:
    recorder = Recorder()
    result = run(chat_turn(), {"prompt": "hi"}, event_processors=[recorder])
    for event in recorder.events:
        assert dataclasses.is_dataclass(event)
        assert event.run_id == result.run_id
        assert isinstance(event.span_id, str)
        assert event.span_id
        assert isinstance(event.timestamp, float)
        with pytest.raises(dataclasses.FrozenInstanceError):
            event.run_id = "changed"
    stamps = [e.timestamp for e in recorder.events]
    assert stamps == sorted(stamps)


def test_node_events_belong_to_the_run_span_and_share_their_execution_span(
    run: RunFn,
) -> None:
    recorder = Recorder()
    run(chat_turn(), {"prompt": "hi"}, event_processors=[recorder])
    [start] = recorder.of(RunStartEvent)
    [end] = recorder.of(RunEndEvent)
    assert start.span_id == end.span_id
    spans: dict[str, set[str]] = {}
    for event in recorder.events:
        if hasattr(event, "node_name"):
            assert event.parent_span_id == start.span_id
            spans.setdefault(event.node_name, set()).add(event.span_id)
    assert set(spans) == {"tokens", "done", "save"}
    assert all(len(ids) == 1 for ids in spans.values())
    assert len({next(iter(ids)) for ids in spans.values()}) == 3
    assert start.span_id not in {next(iter(ids)) for ids in spans.values()}


def test_node_events_carry_the_node_name_graph_path_and_path(run: RunFn) -> None:
    recorder = Recorder()
    run(chat_turn(), {"prompt": "hi"}, event_processors=[recorder])
    for event in recorder.of(NodeStartEvent) + recorder.of(NodeEndEvent):
        assert event.graph_path == ()
        assert event.path == event.node_name


def test_run_events_carry_the_graph_name_and_the_final_status(run: RunFn) -> None:
    graph = Graph(list(chat_turn().nodes.values()), name="chat")
    recorder = Recorder()
    run(graph, {"prompt": "hi"}, event_processors=[recorder])
    [start] = recorder.of(RunStartEvent)
    [end] = recorder.of(RunEndEvent)
    assert start.graph_name == "chat"
    assert end.status is RunStatus.COMPLETED
    assert end.error is None


def test_a_failing_node_emits_a_node_error_event_with_its_exception(run: RunFn) -> None:
    recorder = Recorder()
    result = run(failing_chain(), {"x": 1}, error_handling="continue", event_processors=[recorder])
    [error_event] = recorder.of(NodeErrorEvent)
    assert error_event.node_name == "explode"
    assert error_event.error is result.error
    assert isinstance(error_event.error, ValueError)
    assert trace(recorder.events) == [
        ("RunStartEvent", None),
        ("NodeStartEvent", "first"),
        ("NodeEndEvent", "first"),
        ("NodeStartEvent", "explode"),
        ("NodeErrorEvent", "explode"),
        ("RunEndEvent", None),
    ]
    [end] = recorder.of(RunEndEvent)
    assert end.status is RunStatus.FAILED
    assert end.error is result.error


def test_a_run_that_raises_still_ends_with_a_failed_run_end_event(run: RunFn) -> None:
    recorder = Recorder()
    with pytest.raises(ValueError, match="bad value") as info:
        run(failing_chain(), {"x": 1}, event_processors=[recorder])
    [error_event] = recorder.of(NodeErrorEvent)
    assert error_event.error is info.value
    assert isinstance(recorder.events[-1], RunEndEvent)
    assert recorder.events[-1].status is RunStatus.FAILED


# -- processors -------------------------------------------------------------------------


class Typed(TypedEventProcessor):
    def __init__(self) -> None:
        self.calls: list[tuple[str, str | None]] = []

    def on_run_start(self, event: RunStartEvent) -> None:
        self.calls.append(("run_start", None))

    def on_run_end(self, event: RunEndEvent) -> None:
        self.calls.append(("run_end", None))

    def on_node_start(self, event: NodeStartEvent) -> None:
        self.calls.append(("node_start", event.node_name))

    def on_node_end(self, event: NodeEndEvent) -> None:
        self.calls.append(("node_end", event.node_name))

    def on_node_error(self, event: NodeErrorEvent) -> None:
        self.calls.append(("node_error", event.node_name))

    def on_route_decision(self, event: RouteDecisionEvent) -> None:
        self.calls.append(("route_decision", str(event.decision)))

    def on_streaming_chunk(self, event: StreamingChunkEvent) -> None:
        self.calls.append(("chunk", event.chunk))


def test_a_typed_processor_gets_one_method_call_per_event(run: RunFn) -> None:
    typed = Typed()
    run(chat_turn(), {"prompt": "hi"}, event_processors=[typed])
    assert typed.calls == [
        ("run_start", None),
        ("node_start", "tokens"),
        ("chunk", "Hel"),
        ("chunk", "lo"),
        ("chunk", "!"),
        ("node_end", "tokens"),
        ("node_start", "done"),
        ("route_decision", "save"),
        ("node_end", "done"),
        ("node_start", "save"),
        ("node_end", "save"),
        ("run_end", None),
    ]


def test_a_typed_processor_hears_about_node_errors(run: RunFn) -> None:
    typed = Typed()
    run(failing_chain(), {"x": 1}, error_handling="continue", event_processors=[typed])
    assert ("node_error", "explode") in typed.calls
    assert typed.calls[-1] == ("run_end", None)


def test_a_typed_processor_may_override_only_what_it_needs(run: RunFn) -> None:
    class Chunks(TypedEventProcessor):
        def __init__(self) -> None:
            self.chunks: list[str] = []

        def on_streaming_chunk(self, event: StreamingChunkEvent) -> None:
            self.chunks.append(event.chunk)

    chunks = Chunks()
    run(chat_turn(), {"prompt": "hi"}, event_processors=[chunks])
    assert chunks.chunks == ["Hel", "lo", "!"]


def test_several_processors_each_get_every_event(run: RunFn) -> None:
    first, second = Recorder(), Recorder()

    class Subclassed(EventProcessor):
        def __init__(self) -> None:
            self.count = 0

        def on_event(self, event: Any) -> None:
            self.count += 1

    third = Subclassed()
    run(chat_turn(), {"prompt": "hi"}, event_processors=[first, second, third])
    assert trace(first.events) == CHAT_TRACE
    assert trace(second.events) == CHAT_TRACE
    assert third.count == len(CHAT_TRACE)


def test_a_processor_that_raises_never_breaks_the_run_and_is_logged(
    run: RunFn, caplog: pytest.LogCaptureFixture
) -> None:
    class Broken:
        def on_event(self, event: Any) -> None:
            raise RuntimeError("processor bug")

    after = Recorder()
    with caplog.at_level(logging.ERROR, logger="hypergraph.events"):
        result = run(chat_turn(), {"prompt": "hi"}, event_processors=[Broken(), after])
    assert result.status is RunStatus.COMPLETED
    assert result["saved"] == "Hello!"
    assert trace(after.events) == CHAT_TRACE
    logged = [r for r in caplog.records if r.name == "hypergraph.events"]
    assert logged
    assert any(r.exc_info and "processor bug" in str(r.exc_info[1]) for r in logged)


class AsyncRecorder(AsyncEventProcessor):
    def __init__(self) -> None:
        self.events: list[Any] = []

    async def on_event(self, event: Any) -> None:
        self.events.append(event)


def test_an_async_processor_gets_every_event_in_order_on_the_async_runner() -> None:
    recorder = AsyncRecorder()
    result = run_async(
        AsyncRunner().run(chat_turn(), {"prompt": "hi"}, event_processors=[recorder])
    )
    assert result["saved"] == "Hello!"
    assert trace(recorder.events) == CHAT_TRACE


def test_an_async_processor_that_raises_never_breaks_the_run_and_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Broken(AsyncEventProcessor):
        async def on_event(self, event: Any) -> None:
            raise RuntimeError("async processor bug")

    with caplog.at_level(logging.ERROR, logger="hypergraph.events"):
        result = run_async(
            AsyncRunner().run(chat_turn(), {"prompt": "hi"}, event_processors=[Broken()])
        )
    assert result.status is RunStatus.COMPLETED
    logged = [r for r in caplog.records if r.name == "hypergraph.events"]
    assert any(r.exc_info and "async processor bug" in str(r.exc_info[1]) for r in logged)


def test_the_sync_runner_refuses_an_async_processor_before_anything_runs() -> None:
    calls: list[str] = []

    @node(output_name="y")
    def work(x: int) -> int:
        calls.append("work")
        return x

    recorder = AsyncRecorder()
    with pytest.raises(IncompatibleRunnerError) as info:
        SyncRunner().run(Graph([work]), {"x": 1}, event_processors=[recorder])
    assert calls == []
    assert recorder.events == []
    assert "AsyncRunner" in str(info.value)
    assert "AsyncRecorder" in str(info.value)


def test_no_processors_still_runs(run: RunFn) -> None:
    assert run(chat_turn(), {"prompt": "hi"}, event_processors=[])["saved"] == "Hello!"
    assert run(chat_turn(), {"prompt": "hi"})["saved"] == "Hello!"


def test_fast_chunk_events_equal_constructed_ones_and_are_frozen() -> None:
    import dataclasses

    from hypergraph.events.types import chunk_factory

    common = {
        "run_id": "r",
        "span_id": "s",
        "parent_span_id": "p",
        "node_name": "n",
        "graph_path": ("outer",),
    }
    made = chunk_factory(common)("tok", 3)
    built = StreamingChunkEvent(**common, timestamp=made.timestamp, chunk="tok", sequence=3)
    assert made == built
    assert made.path == "outer/n"
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.chunk = "other"  # type: ignore[misc]


def test_fast_chunk_events_pickle_print_and_serialise_like_constructed_ones() -> None:
    import pickle

    from hypergraph.events.types import chunk_factory

    common = {"run_id": "r", "span_id": "s", "parent_span_id": None, "node_name": "n"}
    made = chunk_factory({**common, "graph_path": (), "attempt": 2})({"t": 1}, 0)
    built = StreamingChunkEvent(
        **common, timestamp=made.timestamp, chunk={"t": 1}, sequence=0, attempt=2
    )
    assert type(made) is StreamingChunkEvent
    assert repr(made) == repr(built)
    assert made.to_dict() == built.to_dict()
    assert list(vars(made)) == list(vars(built))  # the fields in their declared order
    assert pickle.loads(pickle.dumps(made)) == built
    assert pickle.dumps(made) == pickle.dumps(built)
    assert hash(dataclasses.replace(made, chunk="t")) == hash(dataclasses.replace(built, chunk="t"))


def test_no_event_is_built_when_nobody_listens(run: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import hypergraph.run.execution as execution
    from hypergraph import END, route
    from hypergraph.events import types

    built: list[str] = []
    for cls in (
        types.RunStartEvent,
        types.RunEndEvent,
        types.NodeStartEvent,
        types.NodeEndEvent,
        types.NodeErrorEvent,
        types.RouteDecisionEvent,
        types.StopRequestedEvent,
        types.StreamingChunkEvent,
    ):
        original = cls.__init__

        def counting(self: Any, *a: Any, _o: Any = original, **k: Any) -> None:
            built.append(type(self).__name__)
            _o(self, *a, **k)

        monkeypatch.setattr(cls, "__init__", counting)
    factory = execution.chunk_factory
    monkeypatch.setattr(
        execution, "chunk_factory", lambda common: built.append("chunk") or factory(common)
    )
    filled = execution._filled  # node start/end events: built without their __init__
    monkeypatch.setattr(
        execution, "_filled", lambda cls, fields: built.append(cls.__name__) or filled(cls, fields)
    )

    @node(output_name="tokens")
    def tokens(n: int) -> Any:
        yield from range(n)

    @node(output_name="said")
    def say(tokens: list[int], ctx: NodeContext) -> int:
        ctx.stream("x")
        return len(tokens)

    @route(targets=["fail", END])
    def decide(said: int) -> object:
        return "fail"

    @node(output_name="never")
    def fail(said: int) -> int:
        raise ValueError("boom")

    graph = Graph([tokens, say, decide, fail])
    result = run(graph, {"n": 3}, error_handling="continue")
    assert result.values == {"tokens": [0, 1, 2], "said": 3}
    assert built == []

    class Listener:
        def on_event(self, event: object) -> None:
            pass

    run(graph, {"n": 3}, error_handling="continue", event_processors=[Listener()])
    assert "NodeStartEvent" in built and "chunk" in built  # the counting itself works
