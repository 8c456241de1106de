"""Notice an `async def` node that holds the event loop, and say so once per node.

The seed's own pattern, an `async def` node around a *sync* SDK stream, blocks the loop:
every other node and the consumer wait, silently. While AsyncRunner runs, a heartbeat
callback on each loop records when the loop last turned; one watchdog thread checks the
heartbeats and, when a loop has not turned for `STALL` seconds, looks at that loop
thread's stack for the function of a node of a running graph. When the loop turns again,
the heartbeat issues a `LoopBlockedWarning` naming the node, how long it blocked, and
the fix. Nothing is done per node call: the cost is one callback per loop every
`BEAT` seconds while runs are in flight.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time
import warnings
import weakref
from types import CodeType
from typing import TYPE_CHECKING

from ..errors import LoopBlockedWarning
from ..run.execution import Execution

if TYPE_CHECKING:
    from ..engine.plan import Plan

BEAT = 0.05  # seconds between heartbeats on a loop
STALL = 0.25  # a loop that has not turned for this long is blocked (scheduling hiccups are shorter)

_lock = threading.Lock()
_loops: dict[int, _Loop] = {}  # by the loop thread's id
_warned: set[CodeType] = set()
_thread: threading.Thread | None = None


class _Loop:
    """The heartbeat of one event loop and what runs on it."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.runs = 0
        self.codes: dict[CodeType, str] = {}  # node functions of the running graphs
        self.beat_at = time.monotonic()
        self.blame: tuple[str, CodeType, float] | None = None  # node, its code, stall start
        self.beating = False  # a heartbeat is scheduled
        self.plans: weakref.WeakSet[Plan] = weakref.WeakSet()

    def beat(self) -> None:
        now = time.monotonic()
        blame, self.blame = self.blame, None
        if blame is not None:
            name, code, since = blame
            if code not in _warned:
                _warned.add(code)
                warnings.warn(
                    f"Node '{name}' blocked the event loop for {(now - since) * 1000:.0f} ms: "
                    "every other node, stream and consumer waited.\n"
                    "How to fix: use the SDK's async client (await / async for), or make the "
                    "node a plain def function (AsyncRunner runs those in a worker thread).",
                    LoopBlockedWarning,
                    stacklevel=1,
                )
        self.beat_at = now
        self.beating = self.runs > 0
        if self.beating:
            self.loop.call_later(BEAT, self.beat)


def watch(ex: Execution) -> None:
    """A run with `async def` nodes starts on the current loop (called on that loop).

    Cheap when runs follow each other: the loop's state is kept, and a heartbeat that is
    still scheduled is not scheduled again.
    """
    codes = ex.plan.async_codes
    if not codes:
        return
    ident = threading.get_ident()
    loop = asyncio.get_running_loop()
    state = _loops.get(ident)
    if state is None or state.loop is not loop:  # a new loop in this thread (asyncio.run)
        state = _Loop(loop)
        with _lock:
            _loops[ident] = state
    if ex.plan not in state.plans:  # a graph first seen on this loop: learn its nodes
        state.plans.add(ex.plan)
        state.codes.update(codes)
    state.runs += 1
    if not state.beating:
        state.beat_at = time.monotonic()
        state.beating = True
        loop.call_later(BEAT, state.beat)
    if _thread is None:
        _ensure_thread()


def unwatch(ex: Execution) -> None:
    if not ex.plan.async_codes:
        return
    state = _loops.get(threading.get_ident())
    if state is not None:
        state.runs -= 1


def _ensure_thread() -> None:
    global _thread
    with _lock:
        if _thread is not None:
            return
        _thread = threading.Thread(target=_watch_loops, name="hypergraph-watchdog", daemon=True)
        _thread.start()


def _watch_loops() -> None:
    while True:
        time.sleep(BEAT)  # a monitor's own pace, not a wait for anything
        now = time.monotonic()
        with _lock:
            loops = list(_loops.items())
        blocked = [(i, s) for i, s in loops if s.runs and now - s.beat_at > STALL and not s.blame]
        if not blocked:
            continue
        frames = sys._current_frames()
        for ident, state in blocked:
            frame = frames.get(ident)
            while frame is not None:
                name = state.codes.get(frame.f_code)
                if name is not None:
                    state.blame = (name, frame.f_code, state.beat_at)
                    break
                frame = frame.f_back
