"""The offline demo graph (`python -m hypergraph.serve.demo`): a def generator node in a
worker thread, streaming from the stand-in over plain urllib, served for real."""

from __future__ import annotations

from typing import Any

import pytest

from hypergraph.serve.demo import demo_graph
from hypergraph.testing import LLMServer, Script, stand_in_reply

from .sse import RawSSE

pytestmark = pytest.mark.timeout(30)

HI = {"values": {"messages": [{"role": "user", "content": "hi"}]}}


def test_the_demo_streams_the_stand_ins_reply_through_its_two_nodes(
    serve_app: Any, llm: LLMServer
) -> None:
    server = serve_app(demo_graph(llm.url))
    with RawSSE(server.host, server.port, "POST", "/runs/stream", HI) as stream:
        events = [m for m in stream.messages() if m.data]
    starts = [m.json["node_name"] for m in events if m.event == "node_start"]
    assert starts == ["recall", "reply"]
    text = "".join(m.json["chunk"] for m in events if m.event == "chunk")
    assert text == stand_in_reply("hi")
    assert events[-1].json["status"] == "completed"


def test_leaving_the_demo_closes_its_worker_threads_http_stream(
    serve_app: Any, llm: LLMServer
) -> None:
    server = serve_app(demo_graph(llm.url))
    llm.configure(Script(tokens=[f" t{k}" for k in range(300)], delay=0.005))
    stream = RawSSE(server.host, server.port, "POST", "/runs/stream", HI)
    next(m for m in stream.messages() if m.event == "chunk")
    stream.close()
    # The thread's generator is closed at its next chunk; its `with` closes the stream.
    assert llm.wait_until(lambda: llm.client_disconnected.is_set(), 5)
    assert server.runs.idle.wait(5)
