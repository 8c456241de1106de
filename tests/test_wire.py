"""Events as data (SPEC 9): `event.kind` and `event.to_dict()`, and real node durations."""

from __future__ import annotations

import json
import math
import time
from typing import Any

import pytest

import hypergraph.events.types as types
from hypergraph import (
    END,
    Graph,
    NodeEndEvent,
    NodeErrorEvent,
    RunStatus,
    StreamingChunkEvent,
    SyncRunner,
    node,
    route,
)
from hypergraph.events.types import BaseEvent

COMMON = {"run_id": "r1", "span_id": "s1", "parent_span_id": None, "timestamp": 1.5}
NODE = {**COMMON, "node_name": "n", "graph_path": ("outer", "inner")}


class Opaque:
    def __repr__(self) -> str:
        return "Opaque()"


class BrokenRepr:
    def __repr__(self) -> str:
        raise RuntimeError("no repr")


class BrokenStr(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no str")


def _every_event() -> list[BaseEvent]:
    cyclic: list[Any] = [1]
    cyclic.append(cyclic)
    awkward = {
        "client": Opaque(),
        "bytes": b"\x00",
        "nan": math.nan,
        "inf": -math.inf,
        "int_keys": {1: "a"},
        "cycle": cyclic,
        "broken": BrokenRepr(),
        "nested": {"ok": [1, 2.5, "x", None, True]},
    }
    return [
        types.RunStartEvent(**COMMON, graph_name="g"),
        types.RunEndEvent(
            **COMMON, graph_name="g", status=RunStatus.FAILED, error=ValueError("bad")
        ),
        types.NodeStartEvent(**NODE),
        types.NodeEndEvent(**NODE, outputs=awkward, duration_ms=2.0),
        types.NodeErrorEvent(**NODE, error=BrokenStr()),
        types.RouteDecisionEvent(**NODE, decision=END),
        types.StreamingChunkEvent(**NODE, chunk=Opaque(), sequence=3),
        types.StopRequestedEvent(**COMMON),
    ]


def test_every_event_type_has_a_distinct_stable_kind() -> None:
    kinds = {type(e).__name__: e.kind for e in _every_event()}
    assert kinds == {
        "RunStartEvent": "run_start",
        "RunEndEvent": "run_end",
        "NodeStartEvent": "node_start",
        "NodeEndEvent": "node_end",
        "NodeErrorEvent": "node_error",
        "RouteDecisionEvent": "route_decision",
        "StreamingChunkEvent": "chunk",
        "StopRequestedEvent": "stop_requested",
    }


@pytest.mark.parametrize("event", _every_event(), ids=lambda e: type(e).__name__)
def test_to_dict_of_every_event_passes_strict_json(event: BaseEvent) -> None:
    data = event.to_dict()
    text = json.dumps(data, allow_nan=False)  # strict: NaN would raise here
    assert json.loads(text)["kind"] == event.kind
    assert data["run_id"] == "r1"


def test_wire_form_marks_values_json_cannot_carry() -> None:
    end = next(e for e in _every_event() if isinstance(e, NodeEndEvent))
    out = end.to_dict()["outputs"]
    assert out["client"] == {"$repr": "Opaque()", "$type": "Opaque"}
    assert out["bytes"] == {"$repr": "b'\\x00'", "$type": "bytes"}
    assert out["nan"]["$type"] == "float" and out["inf"]["$repr"] == "-inf"
    assert out["int_keys"]["$type"] == "dict"
    assert out["cycle"][0] == 1 and out["cycle"][1]["$type"] == "list"
    assert "repr() failed" in out["broken"]["$repr"]
    assert out["nested"] == {"ok": [1, 2.5, "x", None, True]}


def test_wire_form_of_errors_statuses_paths_and_end() -> None:
    events = {type(e).__name__: e.to_dict() for e in _every_event()}
    assert events["RunEndEvent"]["error"] == {"type": "ValueError", "message": "bad"}
    assert events["RunEndEvent"]["status"] == "failed"
    assert events["NodeErrorEvent"]["error"]["type"] == "BrokenStr"
    assert "str() failed" in events["NodeErrorEvent"]["error"]["message"]
    assert events["NodeStartEvent"]["graph_path"] == ["outer", "inner"]
    assert events["RouteDecisionEvent"]["decision"] == "END"


def test_events_of_a_real_run_serialise() -> None:
    @node(output_name="tokens")
    def stream(prompt: str) -> Any:
        yield from prompt.split()

    @route(targets=["fail", END])
    def decide(tokens: list[str]) -> object:
        return "fail"

    @node(output_name="never")
    def fail(tokens: list[str]) -> str:
        raise KeyError(object())

    seen: list[str] = []
    with SyncRunner().iter(Graph([stream, decide, fail]), prompt="a b c") as run:
        for event in run:
            seen.append(json.dumps(event.to_dict(), allow_nan=False))
    kinds = [json.loads(s)["kind"] for s in seen]
    assert kinds[0] == "run_start" and kinds[-1] == "run_end"
    assert kinds.count("chunk") == 3 and "route_decision" in kinds and "node_error" in kinds


def test_node_events_carry_the_real_duration() -> None:
    @node(output_name="y")
    def slow(x: int) -> int:
        time.sleep(0.03)
        return x

    @node(output_name="z")
    def broken(y: int) -> int:
        time.sleep(0.02)
        raise ValueError("no")

    ends: list[Any] = []

    class Keep:
        def on_event(self, event: BaseEvent) -> None:
            if isinstance(event, (NodeEndEvent, NodeErrorEvent, StreamingChunkEvent)):
                ends.append(event)

    SyncRunner().run(
        Graph([slow, broken]), x=1, error_handling="continue", event_processors=[Keep()]
    )
    end, error = ends
    assert end.duration_ms >= 30  # time.sleep never returns early
    assert error.duration_ms >= 20
    assert end.to_dict()["duration_ms"] == end.duration_ms
