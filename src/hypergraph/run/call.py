"""NodeCall: one execution of a node that streams, takes a NodeContext, runs a graph, or
is guarded by a retry, timeout or cache policy.

Both runners call such a node through this one object; they differ only in the I/O
(inline, awaited, in a worker thread) and in how they wait (`time.sleep` or
`asyncio.sleep`, a deadline checked at each chunk or an `asyncio.timeout`). It owns what
is the same everywhere:

- the start event, the arguments and the NodeContext;
- each chunk kept *before* it is delivered, so the output or the partial holds every chunk
  that was produced, whatever happens to its delivery;
- the attempts (SPEC 10): `begin_attempt` starts an attempt's clock, `retry_delay` says
  whether a failure is retried (and emits the NodeRetryEvent), and `expired` says whether
  the attempt outlived its `timeout` or went `idle_timeout` without a chunk;
- the cache: `cached_entry` before the first attempt, `store` after a success;
- the one outcome of the execution: `finish`, `fail` or `stopped`.

Plain nodes (a function, no stream, no context, no policy) skip it: the runners' fast
path calls them directly. `drain` is the one loop over a sync generator node, used by
SyncRunner in its own thread and by AsyncRunner in a worker thread.
"""

from __future__ import annotations

import functools
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from ..errors import NodeTimeoutError
from ..events.dispatch import log_failure
from ..events.types import NodeRetryEvent
from ..nodes.context import NodeContext
from ..nodes.interrupt import InterruptNode

if TYPE_CHECKING:
    from ..durable.cache import CacheEntry
    from ..events.types import NodeStartEvent, StreamingChunkEvent
    from .execution import Control, Execution
    from .result import PauseInfo

_warned: set[tuple[str, str]] = set()  # (node, what): each cache warning is given once


class NodeCall:
    """The state of one execution of node `i` of `ex`, from its start to its outcome."""

    __slots__ = (
        "attempt",
        "cache_key",
        "chunks",
        "deadline",
        "ex",
        "expired_kind",
        "i",
        "inputs",
        "last_chunk",
        "make",
        "node",
        "policy",
        "scopes",
    )

    def __init__(self, ex: Execution, i: int) -> None:
        self.ex = ex
        self.i = i
        self.node = ex.nodes[i]
        self.policy = self.node.policy
        self.chunks: list[Any] = []
        self.attempt = 1
        self.deadline: float | None = None
        self.last_chunk = 0.0
        self.expired_kind: str | None = None
        self.cache_key: str | None = None
        self.scopes: list[AbstractContextManager[Any]] | None = None
        self.inputs = ex.inputs_for(i)
        self.make: Callable[[Any, int], StreamingChunkEvent | None] | None = None
        if ex.events:  # the chunk events share the execution's span: it must exist first
            start = ex.node_start_event(i)
            ex.emit(start)
            if ex.dispatcher.scopes:
                self.scopes = _enter_scopes(ex, start)
            # Only a node that can stream needs a chunk maker (a checkpointed run's maker
            # also records the attempt).
            if self.node.is_generator or ex.context_params[i] is not None or ex.durable is not None:
                self.make = ex.chunk_maker(i)

    def args(self, send: Callable[[Any], None]) -> dict[str, Any]:
        """The function's keyword arguments for an attempt; `ctx.stream(c)` calls `send(c)`."""
        args = dict(self.inputs) if self.attempt > 1 else self.inputs
        context_param = self.ex.context_params[self.i]
        if context_param is not None:
            stopping = self.stopping if self.policy is not None else self.ex.is_stopping
            key = functools.partial(self.ex.idempotency_key, self.i)
            args[context_param] = NodeContext(self.node.name, send, stopping, key)
        return args

    def record(self, chunk: Any) -> StreamingChunkEvent | None:
        """Keep `chunk`; the event that delivers it, if anybody listens."""
        make = self.make
        event = None if make is None else make(chunk, len(self.chunks))
        self.chunks.append(chunk)
        if self.policy is not None:
            self.last_chunk = time.monotonic()
        return event

    # -- attempts -------------------------------------------------------------------------

    def begin_attempt(self) -> None:
        """An attempt starts: its timeout and idle clocks start now."""
        now = time.monotonic()
        policy = self.policy
        self.deadline = now + policy.timeout if policy and policy.timeout else None
        self.last_chunk = now
        self.expired_kind = None

    def expired(self) -> NodeTimeoutError | None:
        """The error if this attempt has outlived its timeout or idle timeout, else None."""
        policy = self.policy
        if policy is None:
            return None
        now = time.monotonic()
        if self.deadline is not None and now > self.deadline:
            self.expired_kind = "timeout"
        elif policy.idle_timeout is not None and now - self.last_chunk > policy.idle_timeout:
            self.expired_kind = "idle_timeout"
        return self.timeout_error() if self.expired_kind else None

    def timeout_error(self, interrupted: bool = True) -> NodeTimeoutError:
        """The NodeTimeoutError of this attempt (`expired_kind` says which limit)."""
        policy = self.policy
        assert policy is not None
        kind = self.expired_kind or "timeout"
        seconds = policy.idle_timeout if kind == "idle_timeout" else policy.timeout
        assert seconds is not None
        what = (
            f"produced no chunk for {seconds:g} s (idle_timeout={seconds:g})"
            if kind == "idle_timeout"
            else f"took longer than {seconds:g} s (timeout={seconds:g})"
        )
        how = (
            "How to fix: raise the limit, or add retry=RetryPolicy(...) to try again."
            if interrupted
            else "It could not be interrupted mid-call (a def node): ctx.stop_requested "
            "turned True for it, and the attempt ended when the call returned.\n"
            "How to fix: check ctx.stop_requested in long loops, use an async SDK client "
            "in an async def node, or raise the limit."
        )
        return NodeTimeoutError(
            f"Node '{self.node.name}' attempt {self.attempt} {what}.\n{how}",
            node=self.node.name,
            seconds=seconds,
            kind=kind,
        )

    def stopping(self) -> bool:
        """`ctx.stop_requested` of a guarded node: the run halts, or the attempt expired."""
        return self.ex.control.halt or self.expired() is not None

    def retry_delay(self, exc: BaseException) -> float | None:
        """Seconds to wait before the next attempt if `exc` is retried, else None.

        Retrying announces itself (NodeRetryEvent) and discards the failed attempt's
        chunks from the output: the next attempt's chunks carry the next attempt number.
        """
        retry = self.policy.retry if self.policy is not None else None
        ex = self.ex
        if retry is None or self.attempt >= retry.max_attempts or ex.halted:
            return None
        if not retry.retries(exc):
            return None
        delay = retry.delay(self.attempt)
        self.attempt += 1
        self.chunks = []
        if ex.events:
            fields = ex.node_event_fields(self.i)
            ex.emit(NodeRetryEvent(**fields, attempt=self.attempt, error=exc, delay=delay))
            self.make = ex.chunk_maker(self.i, self.attempt)
        return delay

    # -- the cache --------------------------------------------------------------------------

    def cached_entry(self) -> CacheEntry | None:
        """The stored outcome of this call, if the node is cached and has one."""
        cache = self.ex.options.cache
        if cache is None or self.policy is None or not self.policy.cache:
            return None
        from ..durable.errors import Unfingerprintable
        from ..durable.fingerprint import call_key

        name = self.node.name
        try:
            key = call_key(_definition(self.node.func), self.inputs)  # type: ignore[attr-defined]
        except Unfingerprintable as exc:
            _warn_once(
                name,
                exc.path,
                f"Node '{name}' runs uncached: its input {exc.path} ({exc.type_name}) has no "
                "stable fingerprint to key the cache with.\nHow to fix: pass plain data "
                "(str, numbers, lists, dicts, dataclasses), or keep that object out of the "
                "node's inputs (a module-level client, say).",
            )
            return None
        self.cache_key = key
        return cache.get(key)

    def store(self, result: Any) -> None:
        """Keep a successful outcome (and its chunks) for the next identical call."""
        cache = self.ex.options.cache
        if self.cache_key is None or cache is None:
            return
        from ..durable.cache import CacheEntry
        from ..durable.errors import UncacheableValueError

        try:
            cache.put(self.cache_key, CacheEntry(result, tuple(self.chunks)))
        except UncacheableValueError as exc:
            name = self.node.name
            _warn_once(name, "output", f"Node '{name}' ran, but its result was not cached: {exc}")

    # -- interrupts -----------------------------------------------------------------------

    def answered(self) -> list[int] | None:
        """An interrupt whose answer was given passes it through: the nodes now ready.
        None for any other node, and for an interrupt that must ask (its function runs)."""
        if not isinstance(self.node, InterruptNode):
            return None
        return self.ex.answer(self.i)

    # -- the outcome ------------------------------------------------------------------------

    def finish(self, result: Any, cached: bool = False) -> list[int]:
        if isinstance(self.node, InterruptNode):  # its result is the question: it waits
            return self.ex.suspend(self.i, result)
        return self.ex.finish(self.i, result, cached)

    def paused(self, pauses: list[PauseInfo]) -> list[int]:
        """A graph node whose inner run paused: it waits for the answers."""
        return self.ex.pause(self.i, pauses)

    def fail(self, exc: BaseException) -> list[int]:
        if self.chunks:
            self.ex.keep_partial(self.i, self.chunks)
        return self.ex.fail(self.i, exc)

    def stopped(self) -> list[int]:
        """Closed before it finished (stop, or the consumer left): keep what it streamed."""
        return self.ex.stopped(self.i, self.chunks)

    def close(self) -> None:
        """Leave the processors' scopes (in the context that entered them): always called
        once the execution is over, however it ended."""
        if self.scopes is not None:
            scopes, self.scopes = self.scopes, None
            for scope in reversed(scopes):
                try:
                    scope.__exit__(None, None, None)
                except Exception:
                    log_failure(scope, "leaving a node scope")


@functools.lru_cache(maxsize=4096)
def _definition(func: Callable[..., Any]) -> str:
    """A node function's definition key, computed once per function."""
    from ..durable.fingerprint import definition_key

    return definition_key(func)


def _warn_once(node: str, what: str, message: str) -> None:
    if (node, what) not in _warned:
        _warned.add((node, what))
        warnings.warn(message, RuntimeWarning, stacklevel=2)


def _enter_scopes(ex: Execution, start: NodeStartEvent) -> list[AbstractContextManager[Any]]:
    """Enter each processor's `node_scope(start_event)`; one that fails is logged and
    skipped. The scopes entered, to leave in reverse order (a list, not an ExitStack: this
    runs once per traced node, and an ExitStack costs several times more)."""
    entered = []
    for processor in ex.dispatcher.scopes:
        try:
            scope = processor.node_scope(start)
            scope.__enter__()
        except Exception:
            log_failure(processor, "entering a node scope")
        else:
            entered.append(scope)
    return entered


def drain(gen: Iterator[Any], send: Callable[[Any], None], control: Control) -> bool:
    """Run a sync generator node to its end, sending each item; True if a stop closed it.

    The generator is closed on every way out, so its `finally` blocks (an SDK stream's
    `with`) run; an error while closing is the node's error.
    """
    try:
        for item in gen:
            send(item)
            if control.stop_requested:
                return True
    finally:
        close = getattr(gen, "close", None)
        if close is not None:
            close()
    return False
