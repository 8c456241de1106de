"""The two ways a served run is answered: a live event stream, or one JSON body at the end.

Both follow the run's log (`runlog.Follower`) and watch the connection at the same
time, so a client that leaves is noticed at once (uvicorn reports a closed socket as
`http.disconnect` within about a millisecond) even while the run is silent. Leaving
lets go of the run, which then ends or waits according to the resume window.

`EventStreamResponse` sends the headers and a first SSE comment before the run has
produced anything, a heartbeat comment on idle streams, and never lets a proxy buffer
or compress (`Cache-Control: no-cache, no-transform`, `X-Accel-Buffering: no`). A send
that cannot go out for `slow_reader_timeout` seconds (a client that stopped reading
while TCP buffers filled) ends the response without finishing it, which makes the
server close the connection.

What the bytes look like is a `Protocol`'s business (native events, OpenAI chunks,
the AI SDK's UI message stream).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, ClassVar

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from .runlog import Follower, Frame, ServedRun

log = logging.getLogger("hypergraph.serve")

HEARTBEAT = b": ping\n\n"
STREAM_HEADERS = {
    "content-type": "text/event-stream; charset=utf-8",
    "cache-control": "no-cache, no-transform",
    "x-accel-buffering": "no",
}


class Protocol:
    """Turns a run's frames into one wire format; a fresh instance per response."""

    headers: ClassVar[Mapping[str, str]] = {}

    def opening(self, run: ServedRun) -> bytes:
        """The bytes sent with the headers, before any event (at least an SSE comment)."""
        return f": run {run.run_id}\n\n".encode()

    def encode(self, frames: list[Frame]) -> bytes:
        """The bytes for these frames (may be empty)."""
        raise NotImplementedError

    def closing(self, run: ServedRun) -> bytes:
        """The bytes after the last frame (the run ended)."""
        return b""


class Collector:
    """Reads every frame of a run and answers with one JSON body when it has ended."""

    def take(self, frames: list[Frame]) -> None:
        """Look at frames as they come (e.g. to gather the reply text)."""

    def answer(self, run: ServedRun) -> tuple[int, Any, Mapping[str, str]]:
        """The status, JSON body and extra headers of the response."""
        raise NotImplementedError


class _Gone(Exception):
    """The client stopped reading for slow_reader_timeout seconds."""


class _Follow(Response):
    """What both responses share: the run, the reader's place, and the disconnect watch."""

    def __init__(self, run: ServedRun, follower: Follower, heartbeat: float) -> None:
        self.run = run
        self.follower = follower
        self.heartbeat = heartbeat
        self.status_code = 200
        self.background = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await _until_disconnect(receive, self.serve(send))
        finally:
            self.run.unfollow(self.follower)

    async def serve(self, send: Send) -> None:
        raise NotImplementedError


class EventStreamResponse(_Follow):
    """A run streamed as server-sent events in `protocol`'s format."""

    def __init__(
        self,
        run: ServedRun,
        follower: Follower,
        protocol: Protocol,
        *,
        heartbeat: float,
        send_timeout: float,
    ) -> None:
        super().__init__(run, follower, heartbeat)
        self.protocol = protocol
        self.send_timeout = send_timeout
        self.headers_out = {**STREAM_HEADERS, "x-run-id": run.run_id, **protocol.headers}

    async def serve(self, send: Send) -> None:
        protocol = self.protocol
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(k.encode(), v.encode()) for k, v in self.headers_out.items()],
            }
        )
        try:
            await self._send(send, protocol.opening(self.run))
            while (frames := await self.follower.next(self.heartbeat)) is not None:
                await self._send(send, protocol.encode(frames) if frames else HEARTBEAT)
            await self._send(send, protocol.closing(self.run), more=False)
        except _Gone:
            log.warning(
                "A client of run '%s' took nothing for %.0f s; its connection is closed.",
                self.run.run_id,
                self.send_timeout,
            )

    async def _send(self, send: Send, body: bytes, *, more: bool = True) -> None:
        if not body and more:
            return
        try:
            async with asyncio.timeout(self.send_timeout):
                await send({"type": "http.response.body", "body": body, "more_body": more})
        except TimeoutError:
            raise _Gone() from None


class CollectedResponse(_Follow):
    """A run answered with one JSON body once it has ended."""

    def __init__(
        self, run: ServedRun, follower: Follower, collector: Collector, *, heartbeat: float
    ) -> None:
        super().__init__(run, follower, heartbeat)
        self.collector = collector

    async def serve(self, send: Send) -> None:
        while (frames := await self.follower.next(self.heartbeat)) is not None:
            self.collector.take(frames)
        status, body, headers = self.collector.answer(self.run)
        await send_json(send, status, body, {"x-run-id": self.run.run_id, **headers})


async def send_json(send: Send, status: int, body: Any, headers: Mapping[str, str]) -> None:
    data = json.dumps(body, separators=(",", ":"), allow_nan=False).encode()
    head = {"content-type": "application/json", "content-length": str(len(data)), **headers}
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(k.encode(), v.encode()) for k, v in head.items()],
        }
    )
    await send({"type": "http.response.body", "body": data, "more_body": False})


async def _until_disconnect(receive: Receive, work: Awaitable[None]) -> None:
    """Run `work`; if the client disconnects first, cancel it.

    A send that fails because the socket is gone (OSError) is a disconnect too; any
    other error of `work` is raised.
    """
    task = asyncio.ensure_future(work)
    watch = asyncio.ensure_future(_disconnected(receive))
    try:
        await asyncio.wait([task, watch], return_when=asyncio.FIRST_COMPLETED)
    finally:
        task.cancel()
        watch.cancel()
        await asyncio.wait([task, watch])
    if not task.cancelled():
        error = task.exception()
        if error is not None and not isinstance(error, OSError):
            raise error


async def _disconnected(receive: Callable[[], Awaitable[Any]]) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
