"""What serving costs per chunk: ``.venv/bin/python bench/serve_bench.py`` (the project venv).

`POST /runs/stream` of `hypergraph.serve` against the limit: a hand-written Starlette
endpoint that streams the same chunks as SSE directly (no graph, no runner, no run log).
Both are routes of one app behind one uvicorn, in a process of its own; one client (raw
HTTP/1.1 over asyncio, in this process) reads both, in interleaved rounds.

- **Latency**: one stream of paced chunks; each chunk carries the `time.monotonic()` of
  its production (the clock is system-wide on Linux), the client subtracts it from its
  own reading when the chunk's SSE message is complete. The difference of the medians is
  what hypergraph adds per chunk.
- **Throughput**: chunks as fast as the producer can yield them: one stream, then many
  concurrent streams; chunks received per second.

- **LangGraph's in-memory server** (`langgraph dev`, the `langgraph-api` package) runs
  the same paced producer as a node that writes each chunk to the `custom` stream mode,
  read from its own `POST /runs/stream` by the same client. It is installed (pinned) into
  `bench/.venv-peers` beside the peers; the other app is then served from that
  environment too, so all three share one uvicorn, event loop (uvloop) and HTTP parser
  (httptools). If the install fails its row is n/a with the reason; `--no-langgraph`
  skips it and serves the two from the current interpreter.

Numbers move with the machine's other load: read the ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import peers_env

PACE = 0.002  # seconds between paced chunks: a fast model's token rate
LATENCY_CHUNKS = 300
STREAM_CHUNKS = 5000
CONCURRENT = 50
CONCURRENT_CHUNKS = 400
LANGGRAPH_SERVER = [
    "langgraph-api==0.16.7",
    "langgraph-runtime-inmem==0.36.7",
    "langgraph-cli[inmem]==0.4.40",
    "langgraph==1.2.24",  # as requirements-peers.txt: the server must not move the peer
]
LANGGRAPH_STAMP = peers_env.VENV / ".langgraph-server-stamp"


@dataclass
class Target:
    """One streaming endpoint, and how its request and chunk messages look."""

    name: str
    port: int
    path: str
    event: str  # the SSE event name of a chunk
    body: Callable[[int, float], dict[str, Any]]
    stamp: Callable[[Any], float]  # the production time, from a chunk's JSON data


def _hypergraph(port: int) -> Target:
    return Target(
        "hypergraph",
        port,
        "/hg/runs/stream",
        "chunk",
        lambda count, pace: {"values": {"count": count, "pace": pace}},
        lambda data: float(data["chunk"]),
    )


def _starlette(port: int) -> Target:
    target = _hypergraph(port)
    target.name, target.path = "starlette", "/raw/stream"
    return target


def _langgraph(port: int) -> Target:
    return Target(
        "langgraph",
        port,
        "/runs/stream",
        "custom",
        lambda count, pace: {
            "assistant_id": "bench",
            "input": {"count": count, "pace": pace},
            "stream_mode": "custom",
        },
        float,
    )


# -- the server (a child process) ------------------------------------------------------


def _app() -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import StreamingResponse
    from starlette.routing import Mount, Route

    from hypergraph import Graph, node
    from hypergraph.serve import create_app

    async def chunks(count: int, pace: float) -> AsyncIterator[str]:
        for _ in range(count):
            if pace:
                await asyncio.sleep(pace)
            yield f"{time.monotonic():.9f}"

    @node(output_name="answer")
    async def reply(count: int, pace: float) -> AsyncIterator[str]:
        async for chunk in chunks(count, pace):
            yield chunk

    async def raw(request: Request) -> StreamingResponse:
        values = (await request.json())["values"]

        async def sse() -> AsyncIterator[bytes]:
            yield b": raw\n\n"
            sequence = 0
            async for chunk in chunks(values["count"], values["pace"]):
                data = json.dumps({"kind": "chunk", "chunk": chunk, "sequence": sequence})
                yield f"id: {sequence}\nevent: chunk\ndata: {data}\n\n".encode()
                sequence += 1
            yield b'event: result\ndata: {"status": "completed"}\n\n'

        headers = {"cache-control": "no-cache, no-transform", "x-accel-buffering": "no"}
        return StreamingResponse(sse(), media_type="text/event-stream", headers=headers)

    served = create_app(Graph([reply], name="bench"), slow_reader_timeout=120)
    return Starlette(routes=[Mount("/hg", served), Route("/raw/stream", raw, methods=["POST"])])


def _serve(fd: int) -> None:
    import uvicorn

    uvicorn.run(_app(), fd=fd, log_level="warning", access_log=False)


_LANGGRAPH_GRAPH = """
import asyncio, time
from typing import TypedDict
from langgraph.config import get_stream_writer
from langgraph.graph import END, START, StateGraph

class State(TypedDict, total=False):
    count: int
    pace: float

async def reply(state: State) -> State:
    write = get_stream_writer()
    for _ in range(state["count"]):
        if state["pace"]:
            await asyncio.sleep(state["pace"])
        write(f"{time.monotonic():.9f}")
    return {}

builder = StateGraph(State)
builder.add_node("reply", reply)
builder.add_edge(START, "reply")
builder.add_edge("reply", END)
graph = builder.compile()
"""


def _install_langgraph_server() -> str | None:
    """Install LangGraph's server into bench/.venv-peers; why not, if it fails."""
    why = peers_env.ensure()
    if why:
        return why
    want = " ".join(LANGGRAPH_SERVER)
    if LANGGRAPH_STAMP.exists() and LANGGRAPH_STAMP.read_text() == want:
        return None
    started = time.monotonic()
    done = peers_env._pip(*LANGGRAPH_SERVER)
    if done.returncode != 0:
        return f"pip install failed: {peers_env._last_line(done.stderr or done.stdout)}"
    print(f"LangGraph's server installed in {time.monotonic() - started:.0f} s", file=sys.stderr)
    LANGGRAPH_STAMP.write_text(want)
    return None


@contextlib.contextmanager
def _langgraph_server(workdir: Path) -> Iterator[int]:
    """`langgraph dev` on a free loopback port, serving the paced graph; yields the port."""
    (workdir / "graph.py").write_text(_LANGGRAPH_GRAPH)
    (workdir / "langgraph.json").write_text(
        json.dumps({"dependencies": ["."], "graphs": {"bench": "./graph.py:graph"}})
    )
    port = _free_port()
    command = [str(peers_env.VENV / "bin" / "langgraph"), "dev", "--no-browser", "--no-reload"]
    command += ["--port", str(port), "--config", "langgraph.json"]
    command += ["--n-jobs-per-worker", str(CONCURRENT)]  # its default, 10, would queue runs
    env = {**os.environ, "LANGGRAPH_CLI_NO_ANALYTICS": "1", "LANGSMITH_TRACING": "false"}
    with (workdir / "server.log").open("wb") as log:
        server = subprocess.Popen(command, cwd=workdir, env=env, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 60
        while True:  # it binds its own port: poll its health check, bounded
            health = f"http://127.0.0.1:{port}/ok"
            with contextlib.suppress(OSError), urllib.request.urlopen(health, timeout=2):
                break
            if server.poll() is not None or time.monotonic() > deadline:
                tail = (workdir / "server.log").read_text()[-2000:]
                raise RuntimeError(f"langgraph dev did not start: {tail}")
            with contextlib.suppress(subprocess.TimeoutExpired):
                server.wait(0.1)
        yield port
    finally:
        server.terminate()
        server.wait(20)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# -- the client ------------------------------------------------------------------------


async def _stream(target: Target, count: int, pace: float) -> list[float]:
    """One stream; for each chunk, received minus produced, in seconds."""
    reader, writer = await asyncio.open_connection("127.0.0.1", target.port)
    body = json.dumps(target.body(count, pace))
    marker = f"event: {target.event}\n"
    writer.write(
        f"POST {target.path} HTTP/1.1\r\nhost: 127.0.0.1\r\n"
        "content-type: application/json\r\n"
        f"content-length: {len(body)}\r\n\r\n{body}".encode()
    )
    head = await reader.readuntil(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200") or b"chunked" not in head.lower():
        raise RuntimeError(f"{target.name}: unexpected response head {head!r}")
    delays: list[float] = []
    text = ""
    while size := int((await reader.readuntil(b"\r\n"))[:-2], 16):
        text += (await reader.readexactly(size + 2))[:-2].decode()
        text = text.replace("\r\n", "\n")  # sse-starlette (LangGraph) ends lines so
        *blocks, text = text.split("\n\n")
        now = time.monotonic()
        for block in blocks:
            if marker in block:
                data = block[block.index("data: ") + 6 :]
                delays.append(now - target.stamp(json.loads(data)))
    await reader.readuntil(b"\r\n")
    writer.close()
    await writer.wait_closed()
    if len(delays) != count:
        raise RuntimeError(f"{target.name}: {len(delays)} chunks of {count} arrived")
    return delays


async def _throughput(target: Target, streams: int, count: int) -> float:
    start = time.perf_counter()
    await asyncio.gather(*(_stream(target, count, 0.0) for _ in range(streams)))
    return streams * count / (time.perf_counter() - start)


async def _round(target: Target) -> dict[str, float]:
    delays = sorted(await _stream(target, LATENCY_CHUNKS, PACE))
    return {
        "median_ms": statistics.median(delays) * 1000,
        "p99_ms": delays[int(len(delays) * 0.99) - 1] * 1000,
        "one_stream": await _throughput(target, 1, STREAM_CHUNKS),
        "concurrent": await _throughput(target, CONCURRENT, CONCURRENT_CHUNKS),
    }


def _table(results: dict[str, list[dict[str, float]]], langgraph_na: str | None) -> str:
    best = {
        name: {key: statistics.median(r[key] for r in rounds) for key in rounds[0]}
        for name, rounds in results.items()
    }
    limit = best["starlette"]
    rows = [
        "| server | latency per chunk, median | p99 | chunks/s, one stream | "
        f"chunks/s, {CONCURRENT} streams |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, cells in best.items():
        rows.append(
            f"| {name} | {cells['median_ms']:.2f} ms | {cells['p99_ms']:.2f} ms | "
            f"{cells['one_stream']:,.0f} | {cells['concurrent']:,.0f} |"
        )
    for name, cells in best.items():
        if name != "starlette":
            rows.append(
                f"| {name} against the limit | {cells['median_ms'] - limit['median_ms']:+.2f} "
                f"ms | {cells['p99_ms'] - limit['p99_ms']:+.2f} ms | "
                f"{cells['one_stream'] / limit['one_stream']:.2f}× | "
                f"{cells['concurrent'] / limit['concurrent']:.2f}× |"
            )
    if langgraph_na:
        rows.append(f"| langgraph | n/a ({langgraph_na}) | | | |")
    return "\n".join(rows)


def _server_python(langgraph: bool) -> tuple[str, str | None]:
    """The interpreter that serves hypergraph and the limit, and why LangGraph is n/a."""
    if not langgraph:
        return sys.executable, "not run: --no-langgraph"
    why = _install_langgraph_server()
    if why:
        return sys.executable, why
    return str(peers_env.PYTHON), None


def main() -> None:
    parser = argparse.ArgumentParser(
        description="hypergraph.serve's /runs/stream against a hand-written Starlette "
        "SSE endpoint (the limit) behind the same uvicorn, and LangGraph's in-memory server.",
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--no-langgraph", action="store_true", help="skip LangGraph's server (no install)"
    )
    parser.add_argument("--serve-fd", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_fd is not None:
        _serve(args.serve_fd)
        return
    python, langgraph_na = _server_python(not args.no_langgraph)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(512)  # listening before the server starts: requests wait in the backlog
    port = sock.getsockname()[1]
    server = subprocess.Popen(
        [python, __file__, "--serve-fd", str(sock.fileno())], pass_fds=[sock.fileno()]
    )
    sock.close()
    targets = [_hypergraph(port), _starlette(port)]
    results: dict[str, list[dict[str, float]]] = {}
    with contextlib.ExitStack() as stack:
        stack.callback(server.wait, 10)
        stack.callback(server.terminate)
        if langgraph_na is None:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory()))
            targets.append(_langgraph(stack.enter_context(_langgraph_server(workdir))))
        for number in range(args.rounds):
            order = targets if number % 2 == 0 else targets[::-1]
            for target in order:
                figures = asyncio.run(_round(target))
                results.setdefault(target.name, []).append(figures)
                shown = {key: round(value, 2) for key, value in figures.items()}
                print(f"round {number + 1} {target.name}: {shown}", file=sys.stderr)
    where = "bench/.venv-peers" if python != sys.executable else "this interpreter"
    print(
        f"\n{os.cpu_count()} cores; served from {where}; {args.rounds} rounds, median of "
        f"rounds; latency: {LATENCY_CHUNKS} chunks every {PACE * 1000:.0f} ms; one stream: "
        f"{STREAM_CHUNKS} chunks; {CONCURRENT} streams of {CONCURRENT_CHUNKS} chunks\n"
    )
    print(_table(results, langgraph_na))


if __name__ == "__main__":
    main()
