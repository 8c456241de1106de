"""Reconnecting with Last-Event-ID: with a resume window a run outlives its reader.

A client drops its connection wherever it likes and comes back to
`GET /runs/{run_id}/stream` with the id of the last event it got: it receives every
later event exactly once, in order, from the run's log and then live. Only the window's
end or `POST /runs/{run_id}/stop` ends a run nobody reads.
"""

from __future__ import annotations

import random
import threading
from typing import Any

import httpx
import pytest

from hypergraph.testing import LLMServer, Script

from .harness import Running
from .sse import Message, RawSSE

pytestmark = pytest.mark.timeout(40)

HELLO = {"values": {"messages": [{"role": "user", "content": "hi"}]}}


def _open(server: Running, run_id: str | None, last_id: str | None) -> RawSSE:
    if run_id is None:
        return RawSSE(server.host, server.port, "POST", "/runs/stream", HELLO)
    headers = {} if last_id is None else {"last-event-id": last_id}
    return RawSSE(server.host, server.port, "GET", f"/runs/{run_id}/stream", headers=headers)


def test_fifty_drops_in_a_500_token_stream_lose_and_repeat_nothing(
    serve_app: Any, llm: LLMServer
) -> None:
    server = serve_app(resume_window=10)
    tokens = [f" t{k}" for k in range(500)]
    llm.enqueue(Script(tokens=tokens, delay=0.001))
    rng = random.Random(12)
    drops = sorted(rng.sample(range(1, 500), 50))  # drop after this many events in all
    got: list[Message] = []
    run_id: str | None = None
    connections = 0
    while not got or got[-1].event != "result":
        stream = _open(server, run_id, got[-1].id if got else None)
        connections += 1
        try:
            for message in stream.messages():
                if message.data is None:
                    continue
                got.append(message)
                if drops and len(got) >= drops[0]:
                    drops.pop(0)
                    break  # drop the connection mid-stream
        finally:
            run_id = stream.headers.get("x-run-id", run_id)
            stream.close()
    assert connections == 51
    assert [int(m.id or -1) for m in got] == list(range(len(got)))  # once each, in order
    assert "".join(m.json["chunk"] for m in got if m.event == "chunk") == "".join(tokens)
    assert {m.json["run_id"] for m in got} == {run_id}  # one run, continued
    assert got[-1].json["status"] == "completed"
    assert len(llm.requests) == 1  # the model was asked once


def test_the_run_goes_on_without_a_reader_and_a_reconnect_gets_the_rest(
    serve_app: Any, llm: LLMServer
) -> None:
    server = serve_app(resume_window=10)
    gate = threading.Event()
    llm.enqueue(Script(text="first then the rest", gate=gate, gate_after=1))
    stream = _open(server, None, None)
    first = [m for m in _until_chunk(stream)]
    run_id = stream.headers["x-run-id"]
    stream.close()
    gate.set()  # the model goes on while nobody reads
    assert llm.wait_until(lambda: llm.streams_completed == 1, 5)
    again = _open(server, run_id, first[-1].id)
    rest = [m for m in again.messages() if m.data]
    again.close()
    assert again.ended and rest[-1].json["status"] == "completed"
    chunks = [m.json["chunk"] for m in [*first, *rest] if m.event == "chunk"]
    assert "".join(chunks) == "first then the rest"
    assert not llm.client_disconnected.is_set()  # the provider stream was never cut


def test_the_windows_end_cancels_a_run_nobody_came_back_to(serve_app: Any, llm: LLMServer) -> None:
    server = serve_app(resume_window=0.2)
    gate = threading.Event()
    llm.enqueue(Script(text="never finished", gate=gate, gate_after=1))
    stream = _open(server, None, None)
    list(_until_chunk(stream))
    run_id = stream.headers["x-run-id"]
    stream.close()
    try:
        # The provider stream is closed when the window ends, not when the client left.
        assert llm.wait_until(lambda: llm.client_disconnected.is_set(), 5)
        assert server.runs.idle.wait(5)
        assert httpx.get(f"{server.url}/runs/{run_id}/stream", timeout=5).status_code == 404
    finally:
        gate.set()


def test_stop_ends_a_run_nobody_reads_and_a_reconnect_sees_it_stopped(
    serve_app: Any, llm: LLMServer
) -> None:
    server = serve_app(resume_window=10)
    gate = threading.Semaphore(0)
    llm.enqueue(Script(text="a b c d e f", gate=gate, gate_after=1))
    stream = _open(server, None, None)
    first = list(_until_chunk(stream))
    run_id = stream.headers["x-run-id"]
    stream.close()
    assert httpx.post(f"{server.url}/runs/{run_id}/stop", timeout=5).status_code == 200
    gate.release()
    assert llm.wait_until(lambda: llm.client_disconnected.is_set(), 5)
    again = _open(server, run_id, first[-1].id)
    rest = [m for m in again.messages() if m.data]
    again.close()
    assert rest[-1].json["status"] == "stopped"
    assert rest[-1].json["partial"]["reply"] == ["a", " b"]


def test_stop_ends_a_run_held_back_by_its_absent_reader_and_nothing_is_lost(
    serve_app: Any, llm: LLMServer
) -> None:
    server = serve_app(resume_window=10, log_size=16)
    tokens = [f" w{k}" for k in range(400)]  # more than the log and the runner's buffer hold
    gate = threading.Semaphore(0)
    llm.enqueue(Script(tokens=tokens, gate=gate, gate_after=1))
    stream = _open(server, None, None)
    first = list(_until_chunk(stream))
    run_id = stream.headers["x-run-id"]
    stream.close()
    gate.release(len(tokens))
    # Nobody reads: the run waits for its reader, the node for the run (the stand-in has
    # sent everything; the SDK's socket holds it).
    assert llm.wait_until(lambda: llm.streams_completed == 1, 5)
    assert httpx.post(f"{server.url}/runs/{run_id}/stop", timeout=5).status_code == 200
    again = _open(server, run_id, first[-1].id)
    rest = [m for m in again.messages() if m.data]
    again.close()
    got = [*first, *rest]
    assert [int(m.id or -1) for m in got] == list(range(len(got)))
    result = rest[-1].json
    assert result["status"] == "stopped"
    chunks = [m.json["chunk"] for m in got if m.event == "chunk"]
    assert chunks == result["partial"]["reply"] == tokens[: len(chunks)]
    assert len(chunks) < len(tokens)


def test_a_reconnect_older_than_the_log_gets_410_saying_why(serve_app: Any, llm: LLMServer) -> None:
    server = serve_app(resume_window=10, log_size=16)
    llm.enqueue(Script(tokens=[f" w{k}" for k in range(40)]))
    stream = _open(server, None, None)
    events = [m for m in stream.messages() if m.data]
    stream.close()
    run_id = stream.headers["x-run-id"]
    assert events[-1].event == "result"
    late = httpx.get(
        f"{server.url}/runs/{run_id}/stream", headers={"last-event-id": "0"}, timeout=5
    )
    assert late.status_code == 410
    assert "no longer keeps event 1" in late.json()["error"]["message"]
    tail = _open(server, run_id, events[-3].id)
    assert [m.id for m in tail.messages() if m.data] == [m.id for m in events[-2:]]
    tail.close()


def _until_chunk(stream: RawSSE) -> list[Message]:
    """The events up to and including the first chunk."""
    got = []
    for message in stream.messages():
        if message.data is not None:
            got.append(message)
            if message.event == "chunk":
                return got
    raise AssertionError("the stream ended before a chunk")
