"""A real uvicorn server for one test (or module), on a loopback port, in a thread.

The listening socket is bound and listening before the server thread starts, so the
first request may be sent at once: it waits in the accept backlog until uvicorn
takes it. No sleeping, no polling for readiness.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import uvicorn


@dataclass
class Running:
    """A served app: its base URL, host and port, and the app (for its state)."""

    url: str
    host: str
    port: int
    app: Any
    server: uvicorn.Server
    loop: asyncio.AbstractEventLoop

    @property
    def runs(self) -> Any:
        return self.app.state.runs

    main_task: asyncio.Task[Any]

    def tasks(self) -> list[str]:
        """Tasks on the server's loop besides uvicorn's own (main, lifespan): requests, runs."""

        async def others() -> list[str]:
            skip = {asyncio.current_task(), self.main_task}
            tasks = [t for t in asyncio.all_tasks() if t not in skip]
            return sorted(repr(t) for t in tasks if "LifespanOn" not in repr(t.get_coro()))

        return asyncio.run_coroutine_threadsafe(others(), self.loop).result(5)

    def drop_connections(self) -> int:
        """Cut every open connection from the server's side (a network drop); how many."""

        async def cut() -> int:
            connections = list(self.server.server_state.connections)
            for connection in connections:
                connection.transport.close()  # type: ignore[union-attr]
            return len(connections)

        return asyncio.run_coroutine_threadsafe(cut(), self.loop).result(5)


@contextlib.contextmanager
def running(app: Any) -> Iterator[Running]:
    """Serve `app` with uvicorn on 127.0.0.1 until the block ends; join its thread."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(512)
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app, log_level="warning", lifespan="on", timeout_graceful_shutdown=2, access_log=False
    )
    server = uvicorn.Server(config)
    ready = threading.Event()
    main: list[asyncio.Task[Any]] = []

    async def serve() -> None:
        main.append(asyncio.current_task())  # type: ignore[arg-type]
        ready.set()
        await server.serve(sockets=[sock])

    thread = threading.Thread(target=asyncio.run, args=(serve(),), daemon=True)
    thread.start()
    assert ready.wait(10), "the server thread did not start"
    try:
        loop = main[0].get_loop()
        yield Running(f"http://127.0.0.1:{port}", "127.0.0.1", port, app, server, loop, main[0])
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
        assert not thread.is_alive(), "uvicorn did not shut down"
