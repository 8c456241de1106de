"""hypergraph's own endpoints over a real uvicorn: /runs, /runs/stream, stop, bad requests.

The graph is the RAG graph of `graphs.py` (lookup, gate, a reply streamed from the
stand-in LLM through the real `openai` SDK). Waiting is on the LLM server's events
(its gate, its counters), never on sleeps.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import httpx
import pytest

from hypergraph import AsyncRunner, HypergraphError
from hypergraph.testing import LLMServer, Script

from .graphs import rag_graph
from .harness import Running
from .sse import Message, RawSSE

pytestmark = pytest.mark.timeout(30)

HELLO = {"messages": [{"role": "user", "content": "hello there"}]}


def _stream(served: Running, values: dict[str, Any] = HELLO, **kw: Any) -> RawSSE:
    return RawSSE(served.host, served.port, "POST", "/runs/stream", {"values": values}, **kw)


def _events(stream: RawSSE) -> list[Message]:
    return [m for m in stream.messages() if m.data is not None]


def test_post_runs_answers_with_the_result_as_json(served: Running, llm: LLMServer) -> None:
    llm.enqueue(Script(text="a short answer"))
    response = httpx.post(f"{served.url}/runs", json={"values": HELLO}, timeout=10)
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "completed"
    assert "".join(body["values"]["answer"]) == "a short answer"
    assert body["values"]["context"] == "1 messages so far"
    assert body["error"] is None and body["partial"] == {}
    assert response.headers["x-run-id"] == body["run_id"]


def test_headers_and_a_first_comment_arrive_before_the_first_token(
    served: Running, llm: LLMServer
) -> None:
    gate = threading.Event()
    llm.enqueue(Script(text="held back", gate=gate, gate_after=0))
    stream = _stream(served, headers={"accept-encoding": "gzip"})
    try:
        first = next(stream.messages())
        assert llm.at_gate.wait(5) and llm.tokens_sent == 0  # the model has said nothing
        assert stream.status == 200
        assert first.comments and first.comments[0].startswith("run ")
        assert stream.headers["content-type"].startswith("text/event-stream")
        assert stream.headers["cache-control"] == "no-cache, no-transform"
        assert stream.headers["x-accel-buffering"] == "no"
        assert "content-encoding" not in stream.headers  # never compressed
        gate.set()
        assert "".join(m.json["chunk"] for m in _events(stream) if m.event == "chunk") == (
            "held back"
        )
    finally:
        gate.set()
        stream.close()


def test_stream_numbers_every_event_and_sends_its_wire_form(
    served: Running, llm: LLMServer
) -> None:
    llm.enqueue(Script(text="one two three"))
    stream = _stream(served)
    events = _events(stream)
    stream.close()
    assert stream.ended  # the chunked body was finished, not cut
    assert [int(m.id or -1) for m in events] == list(range(len(events)))
    assert all(m.event == m.json["kind"] for m in events)
    kinds = [m.event for m in events]
    assert kinds[0] == "run_start" and kinds[-2:] == ["run_end", "result"]
    assert kinds.count("node_start") == kinds.count("node_end") == 3
    assert "route_decision" in kinds
    chunks = [m.json for m in events if m.event == "chunk"]
    assert "".join(c["chunk"] for c in chunks) == "one two three"
    assert [c["sequence"] for c in chunks] == list(range(len(chunks)))
    assert {c["node_name"] for c in chunks} == {"reply"}
    run_ids = {m.json["run_id"] for m in events}
    assert run_ids == {stream.headers["x-run-id"]}
    assert events[-1].json["status"] == "completed"


def test_an_idle_stream_gets_heartbeat_comments(serve_app: Any, llm: LLMServer) -> None:
    server = serve_app(heartbeat=0.05)
    gate = threading.Event()
    llm.enqueue(Script(text="late", gate=gate, gate_after=0))
    stream = _stream(server)
    try:
        blocks = stream.messages()
        pings = 0
        while pings < 2:  # two heartbeats while the model is silent
            pings += "ping" in next(blocks).comments
        assert llm.tokens_sent == 0
        gate.set()
        assert [m.event for m in blocks if m.data][-1] == "result"
    finally:
        gate.set()
        stream.close()


def test_a_failing_node_becomes_an_error_event_with_its_partial_text_then_a_clean_end(
    served: Running, llm: LLMServer
) -> None:
    llm.enqueue(Script(text="this will break soon", fail_after=2))
    with _stream(served) as stream:
        events = _events(stream)
    assert stream.ended  # an event, never a dropped connection
    error = next(m.json for m in events if m.event == "node_error")
    assert error["node_name"] == "reply"
    assert error["error"]["type"] == "APIError"
    result = events[-1].json
    assert result["status"] == "failed"
    assert result["partial"] == {"reply": ["this", " will"]}
    assert result["error"]["type"] == "APIError"
    assert result["values"]["context"] == "1 messages so far"  # finished nodes keep theirs


def test_stop_ends_the_run_as_stopped_and_keeps_what_arrived(
    served: Running, llm: LLMServer
) -> None:
    gate = threading.Semaphore(0)
    llm.enqueue(Script(text="alpha beta gamma delta", gate=gate, gate_after=2))
    stream = _stream(served)
    try:
        blocks = (m for m in stream.messages() if m.data)
        seen = [next(m for m in blocks if m.event == "chunk") for _ in range(2)]
        run_id = stream.headers["x-run-id"]
        stopped = httpx.post(f"{served.url}/runs/{run_id}/stop", timeout=10)
        assert stopped.status_code == 200 and stopped.json()["status"] == "stopping"
        gate.release()  # the node closes at its next chunk
        rest = list(blocks)
    finally:
        stream.close()
    kinds = [m.event for m in rest]
    assert "stop_requested" in kinds and kinds[-1] == "result"
    result = rest[-1].json
    assert result["status"] == "stopped"
    assert result["partial"]["reply"][:2] == [m.json["chunk"] for m in seen]
    assert llm.wait_until(lambda: llm.client_disconnected.is_set(), 5)  # SDK stream closed


BAD_BODIES = [
    pytest.param(b"{not json", 400, "is not JSON", id="malformed-json"),
    pytest.param(b"[1, 2]", 400, "must be a JSON object", id="not-an-object"),
    pytest.param(b'{"values": [1]}', 400, "'values' must be a JSON object", id="values-list"),
    pytest.param(b'{"messages": []}', 400, "graph inputs go inside 'values'", id="no-values"),
]


@pytest.mark.parametrize(("body", "status", "says"), BAD_BODIES)
def test_a_malformed_request_gets_a_4xx_that_says_how_to_fix_it(
    served: Running, body: bytes, status: int, says: str
) -> None:
    for path in ("/runs", "/runs/stream"):
        response = httpx.post(f"{served.url}{path}", content=body, timeout=10)
        assert response.status_code == status
        error = response.json()["error"]
        assert error["type"] == "RequestError"
        assert says in error["message"] and "How to fix" in error["message"]


@pytest.mark.parametrize(
    ("values", "error_type", "field"),
    [
        pytest.param({**HELLO, "mesages": []}, "InputValueError", "names", id="unknown-input"),
        pytest.param({}, "MissingInputError", "missing", id="missing-input"),
    ],
)
def test_wrong_inputs_get_a_400_with_the_librarys_own_message(
    served: Running, llm: LLMServer, values: dict[str, Any], error_type: str, field: str
) -> None:
    import asyncio

    with pytest.raises(HypergraphError) as direct:
        asyncio.run(AsyncRunner().run(rag_graph(llm), values))
    for path in ("/runs", "/runs/stream"):
        response = httpx.post(f"{served.url}{path}", json={"values": values}, timeout=10)
        assert response.status_code == 400
        error = response.json()["error"]
        assert error["type"] == error_type
        assert error["message"] == str(direct.value)
        assert error[field] == getattr(direct.value, field)
    assert not llm.requests  # nothing ran


def test_unknown_runs_and_bad_event_ids_get_404_and_400(served: Running, llm: LLMServer) -> None:
    for method, path in (("GET", "/runs/nope/stream"), ("POST", "/runs/nope/stop")):
        response = httpx.request(method, f"{served.url}{path}", timeout=10)
        assert response.status_code == 404
        assert "no run 'nope'" in response.json()["error"]["message"]
        assert "How to fix" in response.json()["error"]["message"]
    gate = threading.Event()
    llm.enqueue(Script(text="wait for it", gate=gate, gate_after=0))
    stream = _stream(served)
    try:
        next(stream.messages())
        run_id = stream.headers["x-run-id"]
        for bad, status in (("x", 400), ("-1", 400), ("999", 400)):
            response = httpx.get(
                f"{served.url}/runs/{run_id}/stream", headers={"last-event-id": bad}, timeout=10
            )
            assert response.status_code == status, bad
            assert "How to fix" in response.json()["error"]["message"]
    finally:
        gate.set()
        stream.close()


def test_without_a_window_a_finished_run_is_forgotten(served: Running, llm: LLMServer) -> None:
    response = httpx.post(f"{served.url}/runs", json={"values": HELLO}, timeout=10)
    run_id = response.json()["run_id"]
    assert served.runs.idle.wait(5)
    again = httpx.get(f"{served.url}/runs/{run_id}/stream", timeout=10)
    assert again.status_code == 404
    assert "resume_window" in again.json()["error"]["message"]


def test_a_second_reader_can_follow_a_live_run_from_its_start(
    served: Running, llm: LLMServer
) -> None:
    gate = threading.Event()
    llm.enqueue(Script(text="shared by two", gate=gate, gate_after=1))
    first = _stream(served)
    try:
        blocks = first.messages()
        next(m for m in blocks if m.event == "chunk")
        run_id = first.headers["x-run-id"]
        with RawSSE(served.host, served.port, "GET", f"/runs/{run_id}/stream") as second:
            second_blocks = second.messages()
            next(m for m in second_blocks if m.event == "chunk")
            gate.set()
            one = [m for m in blocks if m.data]
            two = [m for m in second_blocks if m.data]
    finally:
        gate.set()
        first.close()
    assert two[-1].event == one[-1].event == "result"
    assert json.loads(two[-1].data or "")["status"] == "completed"
    assert [m.id for m in two][-len(one) :] == [m.id for m in one]


def test_a_paused_run_returns_its_questions_and_a_post_with_the_answer_finishes_it(
    serve_app: Any,
) -> None:
    from hypergraph import Graph, interrupt, node

    @interrupt(output_name="approved")
    def confirm(text: str) -> str:
        return f"post {text!r}?"

    @node(output_name="posted")
    def post(text: str, approved: bool) -> bool:
        return approved

    served = serve_app(Graph([confirm, post]))
    paused = httpx.post(f"{served.url}/runs", json={"values": {"text": "hi"}}, timeout=10).json()
    assert paused["status"] == "paused"
    assert paused["pauses"] == [
        {"node_name": "confirm", "value": "post 'hi'?", "response_key": "approved"}
    ]
    answer = {"values": {"text": "hi", "approved": True}}
    done = httpx.post(f"{served.url}/runs", json=answer, timeout=10).json()
    assert done["status"] == "completed" and done["values"]["posted"] is True
    assert "pauses" not in done
