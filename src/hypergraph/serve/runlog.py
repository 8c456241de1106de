"""ServedRun: a run started over HTTP, its events kept in a bounded log that readers follow.

A run is not tied to the connection that started it. A pump task reads the run's events
into a log of numbered frames (the SSE `id:`), and each HTTP response follows that log
with its own cursor. That is what lets a reader drop and come back with `Last-Event-ID`,
and it puts the rules about readers in one place (decision 0019):

- The last reader leaves and there is no resume window: the run is cancelled at once
  (leaving `runner.iter` closes generator nodes, so provider streams close).
- With a window: the run goes on without a reader; a reader that comes back within the
  window continues it; otherwise the window's end cancels it. A finished run's log is
  kept for the window too, so a late reconnect still gets the tail.
- Memory is bounded: the log keeps the last `log_size` frames, and the pump never runs
  more than `log_size // 2` frames ahead of the slowest reader. While it waits, the
  runner's own backpressure holds the streaming node. The other half of the log is
  slack for frames a dropped connection had in flight. A reader that takes nothing for
  `slow_reader_timeout` seconds gets its run cancelled.

Everything here runs on the server's event loop; nothing is thread-safe except
`ServedRuns.idle`, which tests wait on from another thread.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from .._names import suggest
from ..events.types import BaseEvent, NodeEndEvent, RunStatus
from ..events.wire import error_dict, to_json_value
from .errors import RequestError

if TYPE_CHECKING:
    from ..graph.graph import Graph
    from ..runners.async_ import AsyncRun, AsyncRunner

log = logging.getLogger("hypergraph.serve")

_BATCH = 256  # frames handed to a reader at once: one write for a burst of chunks
# Events the runner may hold for the pump. The log is the real buffer; this only has to
# cover the pump's turns, and it counts toward what a stalled reader costs in memory.
_RUNNER_BUFFER = 256


class Frame:
    """One numbered entry of a run's log: an event, or the closing `result`."""

    __slots__ = ("_data", "_sse", "event", "kind", "seq")

    def __init__(self, kind: str, event: BaseEvent | None = None, data: Any = None) -> None:
        self.seq = -1
        self.kind = kind
        self.event = event
        self._data = data
        self._sse: bytes | None = None

    def wire(self) -> dict[str, Any]:
        """The frame as JSON data: the event's wire form, or the result."""
        if self._data is None:
            assert self.event is not None
            self._data = self.event.to_dict()
        data: dict[str, Any] = self._data
        return data

    def sse(self) -> bytes:
        """`id: N / event: kind / data: json` (made once, shared by every reader)."""
        if self._sse is None:
            body = json.dumps(self.wire(), separators=(",", ":"), allow_nan=False)
            self._sse = f"id: {self.seq}\nevent: {self.kind}\ndata: {body}\n\n".encode()
        return self._sse


class Follower:
    """One reader's place in a run's log."""

    __slots__ = ("_idle", "_ping", "_quiet_since", "_timer", "_waiter", "cursor", "run")

    def __init__(self, run: ServedRun, cursor: int) -> None:
        self.run = run
        self.cursor = cursor
        self._waiter: asyncio.Future[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._idle = 0.0
        self._quiet_since = 0.0
        self._ping = False

    async def next(self, idle: float) -> list[Frame] | None:
        """The frames after the cursor (waiting for some); [] after `idle` seconds of
        nothing (time for a heartbeat); None once the log ended and all was read."""
        run = self.run
        loop = asyncio.get_running_loop()
        if self._timer is None:  # one timer per reader, re-armed per `idle`, not per frame
            self._idle = idle
            self._quiet_since = loop.time()
            self._timer = loop.call_later(idle, self._check_idle)
        while True:
            if self.cursor < run.next_seq:
                end = min(run.next_seq, self.cursor + _BATCH)
                frames = [run.frames[seq] for seq in range(self.cursor, end)]
                self.cursor = end
                self._quiet_since = loop.time()
                run.advanced()
                return frames
            if run.done:
                return None
            if self._ping:
                self._ping = False
                self._quiet_since = loop.time()
                return []
            self._waiter = loop.create_future()
            run.waiting.add(self)
            try:
                await self._waiter
            finally:
                run.waiting.discard(self)
                self._waiter = None

    def wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def _check_idle(self) -> None:
        loop = asyncio.get_running_loop()
        quiet = loop.time() - self._quiet_since
        if quiet >= self._idle:
            self._ping = True
            self.wake()
            quiet = 0.0
        self._timer = loop.call_later(self._idle - quiet, self._check_idle)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self.wake()


class ServedRun:
    """One run in progress (or recently ended) behind the HTTP endpoints."""

    def __init__(self, table: ServedRuns) -> None:
        self.table = table
        self.run_id = ""
        self.frames: dict[int, Frame] = {}
        self.first_seq = 0  # the oldest frame still kept
        self.next_seq = 0  # the number the next frame gets
        self.done = False
        self.result: dict[str, Any] | None = None
        self.handle: AsyncRun | None = None
        self._followers: set[Follower] = set()  # the readers; they keep the run alive
        self._came_back_to = -1  # where a departed reader may resume (window only)
        self._stopping = False
        self._values: dict[str, Any] = {}
        self._task: asyncio.Task[None] | None = None
        self.waiting: set[Follower] = set()  # readers waiting for the next frame
        self._room: asyncio.Event | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._forgotten = False

    # -- starting -----------------------------------------------------------------------

    async def start(self, runner: AsyncRunner, graph: Graph, values: Mapping[str, Any]) -> None:
        """Start the run; raises the library's input errors before any node runs."""
        loop = asyncio.get_running_loop()
        started: asyncio.Future[None] = loop.create_future()
        self._task = loop.create_task(self._pump(runner, graph, values, started))
        await started

    async def _pump(
        self,
        runner: AsyncRunner,
        graph: Graph,
        values: Mapping[str, Any],
        started: asyncio.Future[None],
    ) -> None:
        try:
            async with runner.iter(graph, values, buffer_size=_RUNNER_BUFFER) as run:
                self.handle = run
                self.run_id = run.run_id
                self.table.register(self)
                started.set_result(None)
                async for event in run:
                    if type(event) is NodeEndEvent and not event.graph_path:
                        self._values.update(event.outputs)
                    await self._append(Frame(event.kind, event))
                try:
                    result = await run.result()
                    outcome = _outcome(
                        run.run_id, result.status, result.values, result.error, result.partial
                    )
                    if result.pauses:  # what to post again, with the answers, to go on
                        outcome["pauses"] = [
                            {"node_name": p.node_name, "value": to_json_value(p.value),
                             "response_key": p.response_key}
                            for p in result.pauses
                        ]  # fmt: skip
                except Exception as exc:  # error_handling="raise": the node's own error
                    outcome = _outcome(run.run_id, RunStatus.FAILED, self._values, exc, run.partial)
                self.result = outcome
                await self._append(Frame("result", data=outcome))
        except _SlowReader:
            log.warning(
                "Run '%s' was cancelled: its reader took nothing for %.0f s while %d events "
                "waited (a client that stopped reading).",
                self.run_id,
                self.table.slow_reader_timeout,
                self.next_seq - self._anchor(),
            )
        except asyncio.CancelledError:
            if not started.done():
                started.cancel()
            raise
        except Exception as exc:
            if not started.done():
                started.set_exception(exc)  # the library's input errors: a 4xx
            else:
                log.exception("Serving run '%s' failed", self.run_id)
        finally:
            self._finish()

    # -- the log ------------------------------------------------------------------------

    async def _append(self, frame: Frame) -> None:
        table = self.table
        limit = table.log_size // 2
        while not self._stopping and (anchor := self._anchor()) >= 0:
            if self.next_seq - anchor < limit:
                break
            self._room = self._room or asyncio.Event()
            timeout = table.slow_reader_timeout if self._followers else None
            try:
                async with asyncio.timeout(timeout):
                    await self._room.wait()
            except TimeoutError:
                raise _SlowReader() from None
        frame.seq = self.next_seq
        self.frames[self.next_seq] = frame
        self.next_seq += 1
        # After a stop the run ends without waiting for a reader: what the runner still
        # holds (at most its buffer) is kept too, so a reader that comes back misses nothing.
        keep = table.log_size + (_RUNNER_BUFFER if self._stopping else 0)
        if len(self.frames) > keep:
            del self.frames[self.first_seq]
            self.first_seq += 1
        self._wake()

    def _anchor(self) -> int:
        """The oldest frame a reader still needs, or -1 if nobody holds the log back."""
        if self._followers:
            return min(f.cursor for f in self._followers)
        return self._came_back_to

    def advanced(self) -> None:
        """A reader moved on: a pump waiting for room may go on."""
        if self._room is not None:
            self._room.set()
            self._room = None

    def _wake(self) -> None:
        if self.waiting:
            for follower in self.waiting:
                follower.wake()
            self.waiting.clear()

    # -- readers ------------------------------------------------------------------------

    def follow(self, after: int | None = None) -> Follower:
        """A reader that gets every frame after `after` (a Last-Event-ID), or all of them."""
        cursor = 0 if after is None else after + 1
        if cursor < self.first_seq:
            raise RequestError(
                f"Run '{self.run_id}' no longer keeps event {cursor}: its log holds events "
                f"{self.first_seq} to {self.next_seq - 1} (the last {self.table.log_size}).\n"
                "A reader was away for longer than the log is long.\n"
                "How to fix: reconnect sooner, or create_app(graph, log_size=...) larger.",
                status=410,
            )
        if cursor > self.next_seq:
            raise RequestError(
                f"Last-Event-ID {after} is past the end of run '{self.run_id}', whose last "
                f"event so far is {self.next_seq - 1}.\n"
                "How to fix: send the id of the last event this client received.",
                status=400,
            )
        follower = Follower(self, cursor)
        self._followers.add(follower)
        self._set_timer(None)  # somebody is here: no window runs out, nothing is forgotten
        self.advanced()  # a returning reader may let a waiting pump go on
        return follower

    def unfollow(self, follower: Follower) -> None:
        """The reader left (or finished). The last one to leave decides the run's fate."""
        follower.close()
        if follower not in self._followers:
            return
        self._followers.discard(follower)
        self.advanced()
        if self._followers:
            return
        window = self.table.resume_window
        if self.done:
            self._forget_later()
        elif not window:
            self.cancel()
        else:
            self._came_back_to = follower.cursor
            self._set_timer(window, self.cancel)

    def _set_timer(self, delay: float | None, then: Callable[[], None] | None = None) -> None:
        """One pending timer at most: the window's end, or forgetting an ended run."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if delay is not None and then is not None:
            self._timer = asyncio.get_running_loop().call_later(delay, then)

    # -- ending -------------------------------------------------------------------------

    def stop(self) -> None:
        """Ask the run to stop (nothing new starts; streaming nodes close)."""
        if self.handle is not None and not self.done:
            self._stopping = True
            self.advanced()
            self.handle.stop()

    def cancel(self) -> None:
        """Cancel the run now; its generator nodes are closed."""
        if self._task is not None and not self._task.done():
            self._task.cancel()

    def _finish(self) -> None:
        self.done = True
        self._wake()
        self.advanced()
        if not self._followers:
            self._forget_later()

    def _forget_later(self) -> None:
        window = self.table.resume_window
        if window and self.result is not None:
            self._set_timer(window, self._forget)
        else:
            self._forget()

    def _forget(self) -> None:
        self._set_timer(None)
        if not self._forgotten:
            self._forgotten = True
            self.table.forget(self)

    async def wait_done(self) -> None:
        """Wait until the pump has finished (the run ended or was cancelled)."""
        if self._task is not None:
            await asyncio.wait([self._task])


class ServedRuns:
    """The runs an app serves, by id, with the limits they share."""

    def __init__(
        self, *, resume_window: float | None, log_size: int, slow_reader_timeout: float
    ) -> None:
        self.resume_window = resume_window
        self.log_size = log_size
        self.slow_reader_timeout = slow_reader_timeout
        self._by_id: dict[str, ServedRun] = {}
        self._live: set[ServedRun] = set()
        self.idle = threading.Event()
        """Set while no run is live or kept: every pump has finished (tests wait on it)."""
        self.idle.set()

    def create(self) -> ServedRun:
        run = ServedRun(self)
        self._live.add(run)
        self.idle.clear()
        return run

    def register(self, run: ServedRun) -> None:
        self._by_id[run.run_id] = run

    def forget(self, run: ServedRun) -> None:
        self._by_id.pop(run.run_id, None)
        self._live.discard(run)
        if not self._live:
            self.idle.set()

    def get(self, run_id: str) -> ServedRun:
        """The run `run_id`; a RequestError (404) that says why when it is not here."""
        run = self._by_id.get(run_id)
        if run is None:
            kept = (
                f"Runs are kept for {self.resume_window:g} s after they end or lose their last "
                "reader (resume_window)."
                if self.resume_window
                else "Without a resume window a run is forgotten as soon as it ends or loses "
                "its last reader."
            )
            raise RequestError(
                f"There is no run '{run_id}' on this server.{suggest(run_id, self._by_id)}\n"
                f"{kept}\n"
                "How to fix: use the run_id from the run_start event or the X-Run-Id header "
                "of a run that is still going; for reconnects, create_app(graph, "
                "resume_window=30).",
                status=404,
            )
        return run

    def __len__(self) -> int:
        return len(self._live)

    async def aclose(self) -> None:
        """Cancel every run and wait for their pumps (server shutdown)."""
        runs = list(self._live)
        for run in runs:
            run.cancel()
        for run in runs:
            await run.wait_done()


class _SlowReader(Exception):
    """The only reader took nothing for slow_reader_timeout seconds."""


def _outcome(
    run_id: str,
    status: RunStatus,
    values: Mapping[str, Any],
    error: BaseException | None,
    partial: Mapping[str, list[Any]],
) -> dict[str, Any]:
    """The `result` frame and the body of POST /runs: the run's end, as JSON data."""
    return {
        "kind": "result",
        "run_id": run_id,
        "status": status.value,
        "values": to_json_value(dict(values)),
        "error": error_dict(error),
        "partial": to_json_value(dict(partial)),
    }
