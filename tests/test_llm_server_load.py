"""Many clients at once: the stand-in server's listen backlog takes them all."""

from __future__ import annotations

import http.client
import json
import threading
from typing import Any

import pytest

from hypergraph.testing import LLMServer, Script

pytestmark = pytest.mark.timeout(30)

MODEL = "stand-in-test-model"
WAIT = 5.0


def post(port: int, path: str, body: dict[str, Any]) -> tuple[int, Any]:
    """One request with the standard library's client: no SDK, no retries, no pool."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=WAIT)
    try:
        data = json.dumps(body)
        connection.request("POST", path, data, {"Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def test_64_clients_connecting_at_the_same_moment_are_all_served(server: LLMServer) -> None:
    # With socketserver's default backlog of 5 most of these were reset by the kernel.
    clients = 64
    start = threading.Barrier(clients)
    outcomes: list[object] = []

    def client(number: int) -> None:
        question = f"question {number}"
        try:
            start.wait(WAIT)
            status, body = post(
                server.port,
                "/v1/chat/completions",
                {"model": MODEL, "messages": [{"role": "user", "content": question}]},
            )
            outcomes.append((status, body["choices"][0]["message"]["content"].endswith(question)))
        except Exception as error:
            outcomes.append(error)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT * 2)
    assert outcomes == [(200, True)] * clients
    assert len(server.requests) == clients


def test_64_streams_held_open_at_once_all_complete(server: LLMServer) -> None:
    clients = 64
    gate = threading.Event()
    server.configure(Script(tokens=["one", " two"], gate=gate, gate_after=1))
    start = threading.Barrier(clients)
    bodies: list[object] = []

    def client() -> None:
        try:
            start.wait(WAIT)
            connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=WAIT * 2)
            body = {"model": MODEL, "stream": True, "messages": [{"role": "user", "content": "hi"}]}
            connection.request("POST", "/v1/chat/completions", json.dumps(body))
            bodies.append(connection.getresponse().read())
            connection.close()
        except Exception as error:
            bodies.append(error)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    # Every stream has sent its first token and waits at the gate: all open at once.
    assert server.wait_until(lambda: server.tokens_sent == clients, WAIT * 2)
    gate.set()
    for thread in threads:
        thread.join(WAIT * 2)
    assert server.wait_idle(WAIT)
    assert server.streams_completed == clients
    assert all(isinstance(b, bytes) and b.endswith(b"data: [DONE]\n\n") for b in bodies)
