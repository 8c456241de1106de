"""A client that leaves cancels its run, and the provider stream closes; slow readers too.

Without a resume window, closing the connection cancels the run at once: the reply
node's `openai` stream is closed, which the stand-in LLM server records. The numbers
(time to first token through the server and directly, disconnect-to-provider-close
latency) are printed, not asserted: run with `-s` to see them.
"""

from __future__ import annotations

import asyncio
import statistics
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from hypergraph import AsyncRunner, Graph, StreamingChunkEvent, node
from hypergraph.testing import LLMServer, Script

from .graphs import chat_graph
from .harness import Running
from .sse import RawSSE

pytestmark = pytest.mark.timeout(40)

HELLO = {"values": {"messages": [{"role": "user", "content": "hi"}]}}
TRIALS = 100


def _first_chunk(stream: RawSSE) -> None:
    for message in stream.messages():
        if message.event == "chunk":
            return
    raise AssertionError("the stream ended before its first chunk")


def test_a_client_that_leaves_cancels_its_run_and_the_provider_stream_closes(
    serve_app: Any, llm: LLMServer
) -> None:
    served = serve_app(chat_graph(llm))  # async nodes only: no worker thread is expected
    threads_before = set(threading.enumerate())
    latencies = []
    for _ in range(TRIALS):
        llm.reset()
        # A paced stream: the stand-in notices a closed client at once while it waits.
        llm.configure(Script(tokens=[f" t{k}" for k in range(200)], delay=0.002))
        stream = RawSSE(served.host, served.port, "POST", "/runs/stream", HELLO)
        _first_chunk(stream)
        left = time.perf_counter()
        stream.close()
        assert llm.wait_until(lambda: llm.client_disconnected.is_set(), 5)
        latencies.append((time.perf_counter() - left) * 1000)
        assert llm.streams_completed == 0  # cut, not finished
        assert served.runs.idle.wait(5)  # the run is gone from the server
    assert llm.wait_idle(5)
    assert served.tasks() == []  # no task of any run or connection is left
    for thread in set(threading.enumerate()) - threads_before:
        if thread.name.startswith("asyncio_"):
            continue  # the server loop's executor (name lookups): shared, not per run
        thread.join(5)  # the stand-in's handler threads end; nothing of ours is left
        assert not thread.is_alive(), thread
    latencies.sort()
    p99 = latencies[int(len(latencies) * 0.99) - 1]
    print(
        f"\n[serve] client close -> provider stream closed, {TRIALS} trials: "
        f"p50 {statistics.median(latencies):.1f} ms, p99 {p99:.1f} ms, "
        f"max {latencies[-1]:.1f} ms"
    )


def test_a_client_that_stops_reading_holds_bounded_memory_then_its_run_is_cancelled(
    serve_app: Any,
) -> None:
    produced = [0]
    closed = threading.Event()

    @node(output_name="out")
    async def flood() -> AsyncIterator[str]:
        try:
            while True:
                produced[0] += 1
                yield "x" * 16384
        finally:
            closed.set()

    server = serve_app(Graph([flood]), log_size=16, slow_reader_timeout=0.3)
    stream = RawSSE(server.host, server.port, "POST", "/runs/stream", {"values": {}}, rcvbuf=4096)
    try:
        assert closed.wait(10)  # the generator was closed: the run was cancelled
        assert server.runs.idle.wait(5)
    finally:
        stream.close()
    # Bounded: the log (16), the runner's buffer (256) and what the sockets took.
    print(f"\n[serve] a stalled reader let the node produce {produced[0]} chunks of 16 KiB")
    assert produced[0] < 2000


def test_time_to_first_token_through_the_server_and_directly(
    served: Running, llm: LLMServer
) -> None:
    llm.configure(Script(text="first token then more"))
    graph = chat_graph(llm)
    values = {"messages": [{"role": "user", "content": "hi"}]}

    async def direct() -> float:
        started = time.perf_counter()
        async with AsyncRunner().iter(graph, values) as run:
            async for event in run:
                if isinstance(event, StreamingChunkEvent):
                    return time.perf_counter() - started
        raise AssertionError("no chunk")

    def through_server() -> float:
        started = time.perf_counter()
        stream = RawSSE(served.host, served.port, "POST", "/runs/stream", HELLO)
        try:
            _first_chunk(stream)
            return time.perf_counter() - started
        finally:
            stream.close()

    async def direct_rounds(rounds: int) -> list[float]:
        return [await direct() * 1000 for _ in range(rounds)]  # one loop: one SDK client

    rounds = 20
    direct_ms = asyncio.run(direct_rounds(rounds + 1))[1:]  # the first makes the client
    served_ms = [through_server() * 1000 for _ in range(rounds + 1)][1:]
    assert served.runs.idle.wait(5)
    print(
        f"\n[serve] time to first token, median of {rounds} (stand-in model, no delay): "
        f"direct {statistics.median(direct_ms):.1f} ms, "
        f"through the server {statistics.median(served_ms):.1f} ms"
    )
