"""Worker threads for AsyncRunner's `def` nodes: hypergraph's own, never the loop's.

Plain `def` nodes run in a pool of hypergraph's own, so a program that uses the loop's
default executor (`asyncio.to_thread`) never competes with them. A node that may wait
for the consumer (a `def` generator, a `def` node calling `ctx.stream`) gets a thread
of its own: it can wait as long as its consumer is slow without holding a pool thread
that other nodes or other runs need.

Every call runs in a copy of the caller's context variables (tracing, log correlation),
and its outcome, exception or not, comes back as data: a thread-pool future cannot
carry a `StopIteration`, and a `BaseException` must reach the run, not the pool.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _shared_pool() -> ThreadPoolExecutor:
    global _pool
    if _pool is None:
        with _pool_lock:
            if _pool is None:
                workers = min(64, (os.cpu_count() or 1) + 4)
                _pool = ThreadPoolExecutor(workers, thread_name_prefix="hypergraph-node")
    return _pool


async def in_thread(
    fn: Callable[[], Any],
    *,
    own_thread: bool = False,
    unwind: Callable[[], None] | None = None,
) -> tuple[bool, Any]:
    """Run `fn()` in a worker thread; `(True, result)` or `(False, exception)`.

    The caller passes that to `outcome()` inside its own `try`: a StopIteration raised
    out of this coroutine would turn into a RuntimeError on the way.

    If we are cancelled, `unwind` tells the thread to stop (a streaming node's next
    chunk raises) and we still wait for the thread to end, even if cancelled again: a
    thread cannot be killed, and nothing of a run may outlive it.
    """
    loop = asyncio.get_running_loop()
    done: asyncio.Future[tuple[bool, Any]] = loop.create_future()
    context = contextvars.copy_context()

    def work() -> None:
        outcome: tuple[bool, Any]
        try:
            outcome = (True, context.run(fn))
        except BaseException as exc:
            outcome = (False, exc)
        with contextlib.suppress(RuntimeError):  # the loop closed: nobody waits any more
            loop.call_soon_threadsafe(_settle, done, outcome)

    thread = None
    if own_thread:
        thread = threading.Thread(target=work, name="hypergraph-stream", daemon=True)
        thread.start()
    else:
        _shared_pool().submit(work)
    try:
        return await asyncio.shield(done)
    except asyncio.CancelledError:
        if unwind is not None:
            unwind()
        while not done.done():
            try:
                await asyncio.shield(done)
            except asyncio.CancelledError:
                continue  # cancelled again: still wait for the thread
        raise
    finally:
        if thread is not None and done.done():
            thread.join()  # it has settled `done`: its last statement; nothing outlives the run


def outcome(result: tuple[bool, Any]) -> Any:
    """The value of an `in_thread` call, or its exception raised (a plain function, so a
    StopIteration stays a StopIteration)."""
    ok, value = result
    if not ok:
        raise value
    return value


def _settle(done: asyncio.Future[tuple[bool, Any]], outcome: tuple[bool, Any]) -> None:
    if not done.done():
        done.set_result(outcome)
