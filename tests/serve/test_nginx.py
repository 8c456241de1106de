"""Through a real nginx with its default proxy settings (Debian's package, started by the
test), every chunk reaches the client while the next one is still held back.

The nginx.conf is the smallest that proxies: `proxy_pass` to uvicorn, nothing that turns
buffering off, so the response's own `X-Accel-Buffering: no` has to do it. The node
releases one chunk at a time on the test's signal; the test reads that chunk before it
releases the next (a liveness check: a buffering proxy would hold the chunk until the
end, and the read would time out). Produced-to-received latency is recorded per chunk
(`-s` prints it; docs/serve.md has the figures), not asserted. A control run with the
header stripped proves that this nginx does buffer without it.
"""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import socket
import statistics
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from hypergraph import Graph, node
from hypergraph.serve import create_app

from .harness import running
from .sse import RawSSE

CHUNKS = 20
DAEMON_OFF = ["-g", "daemon off;"]
HI = {"values": {"messages": [{"role": "user", "content": "hi"}]}}
NGINX = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")

pytestmark = [
    pytest.mark.timeout(60),
    pytest.mark.skipif(
        NGINX is None and os.environ.get("CI") != "true",
        reason="nginx is not installed (Debian: apt-get install nginx); under CI=true "
        ".ci/run installs it and this test runs",
    ),
]


class Paced:
    """A one-node graph whose chunks are released one by one by the test."""

    def __init__(self) -> None:
        self.reset()

        @node(output_name="answer")
        def reply(messages: list[dict[str, Any]]) -> Iterator[str]:
            for k, gate in enumerate(self.release):
                if not gate.wait(20):
                    raise TimeoutError(f"chunk {k} was never released")
                self.produced[k] = time.perf_counter()
                yield f"c{k} "

        self.graph = Graph([reply], name="paced")

    def reset(self) -> None:
        """Fresh gates for the next run (a run takes the gates in place when it starts)."""
        self.release = [threading.Event() for _ in range(CHUNKS)]
        self.produced = [0.0] * CHUNKS

    def release_all(self) -> None:
        for gate in self.release:
            gate.set()


@contextlib.contextmanager
def nginx_in_front_of(upstream_port: int, tmp: Path) -> Iterator[int]:
    """A real nginx proxying a free loopback port to `upstream_port`; yields that port."""
    assert NGINX is not None, "nginx is missing: .ci/run installs Debian's nginx under CI=true"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    temp = "\n".join(
        f"    {kind}_temp_path {tmp / kind};" for kind in ("client_body", "proxy", "fastcgi")
    )
    conf = tmp / "nginx.conf"
    conf.write_text(
        f"""{"user root;" if os.geteuid() == 0 else ""}
worker_processes 1;
pid {tmp / "nginx.pid"};
error_log {tmp / "error.log"} warn;
events {{ worker_connections 64; }}
http {{
    access_log off;
{temp}
    uwsgi_temp_path {tmp / "uwsgi"};
    scgi_temp_path {tmp / "scgi"};
    # Debian's stock http settings; the proxy settings are nginx's defaults.
    sendfile on;
    tcp_nopush on;
    gzip on;
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://127.0.0.1:{upstream_port};
        }}
    }}
}}
"""
    )
    process = subprocess.Popen(
        [NGINX, "-p", str(tmp), "-e", str(tmp / "error.log"), "-c", str(conf), *DAEMON_OFF],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        _wait_for_port(process, port, tmp / "error.log")
        yield port
    finally:
        process.terminate()
        process.wait(10)
        if process.stderr is not None:
            process.stderr.close()


def _wait_for_port(process: subprocess.Popen[bytes], port: int, log: Path) -> None:
    """Poll-connect, bounded; each pause is a wait on nginx itself, so a failed start
    shows at once with nginx's own words."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with (
            contextlib.suppress(ConnectionRefusedError),
            socket.create_connection(("127.0.0.1", port), timeout=1),
        ):
            return
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(0.02)
        if process.returncode is not None:
            errors = process.stderr.read().decode() if process.stderr else ""
            log_text = log.read_text() if log.exists() else ""
            pytest.fail(f"nginx exited with {process.returncode}: {errors}{log_text}")
    pytest.fail(f"nginx did not listen on 127.0.0.1:{port} within 10 s")


def _stream_one_by_one(port: int, paced: Paced) -> list[float]:
    """Release each chunk and read it before releasing the next; latencies in ms."""
    latencies = []
    with RawSSE("127.0.0.1", port, "POST", "/runs/stream", HI, timeout=10) as stream:
        messages = stream.messages()
        try:
            for k in range(CHUNKS):
                paced.release[k].set()
                message = next(m for m in messages if m.event == "chunk")
                received = time.perf_counter()
                assert message.json["chunk"] == f"c{k} "
                latencies.append((received - paced.produced[k]) * 1000)
        except TimeoutError:
            pytest.fail(f"chunk {k} did not arrive while chunk {k + 1} was held back")
        tail = [m for m in messages if m.data]
    assert tail[-1].json["status"] == "completed"
    assert stream.ended
    return latencies


def _summary(where: str, latencies: list[float]) -> str:
    ordered = sorted(latencies)
    return (
        f"{where}: produced->received over {len(ordered)} chunks, ms: "
        f"median {statistics.median(ordered):.2f}, max {ordered[-1]:.2f}, "
        f"first {latencies[0]:.2f}"
    )


def test_each_chunk_passes_a_default_nginx_before_the_next_is_produced(
    tmp_path: Path, record_property: Callable[[str, object], None]
) -> None:
    paced = Paced()
    with running(create_app(paced.graph)) as server:
        try:
            straight = _stream_one_by_one(server.port, paced)
            assert server.runs.idle.wait(5)
            paced.reset()
            with nginx_in_front_of(server.port, tmp_path) as port:
                through = _stream_one_by_one(port, paced)
        finally:
            paced.release_all()
        assert server.runs.idle.wait(5)
    record_property("direct_ms", straight)
    record_property("nginx_ms", through)
    print("\n" + _summary("direct", straight) + "\n" + _summary("nginx", through))


def _without_accel_header(app: Any) -> Any:
    """The app with `X-Accel-Buffering` removed from its responses' headers."""

    async def stripped(scope: Any, receive: Any, send: Any) -> None:
        async def forward(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message["headers"] if k != b"x-accel-buffering"]
                message = {**message, "headers": headers}
            await send(message)

        await app(scope, receive, forward)

    stripped.state = app.state  # type: ignore[attr-defined]
    return stripped


def test_without_the_header_the_same_nginx_holds_the_chunks_back(tmp_path: Path) -> None:
    # The control: proves the test above is not passing because this nginx never buffers.
    paced = Paced()
    with running(_without_accel_header(create_app(paced.graph))) as server:
        try:
            with nginx_in_front_of(server.port, tmp_path) as port:
                stream = RawSSE("127.0.0.1", port, "POST", "/runs/stream", HI, timeout=10)
                with stream:
                    paced.release[0].set()
                    # A negative check needs a window: the chunk, released, stays in nginx.
                    readable, _, _ = select.select([stream.sock], [], [], 0.5)
                    assert readable == [], "nginx passed data on before the stream ended"
                    paced.release_all()
                    messages = [m for m in stream.messages() if m.data]
        finally:
            paced.release_all()
        assert server.runs.idle.wait(5)
    chunks = "".join(m.json["chunk"] for m in messages if m.event == "chunk")
    assert chunks == "".join(f"c{k} " for k in range(CHUNKS))
