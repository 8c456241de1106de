"""How a node's call is guarded: retries, timeouts and caching (SPEC 10).

`NodePolicy` gathers what one node asked for (`@node(..., retry=..., timeout=...,
idle_timeout=..., cache=True)`); `RetryPolicy` (in `retry.py`, loaded when first used)
says which failures are retried and how long to wait. The runners apply them around
the one node-call path (`run/call.py`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import GraphConfigError

if TYPE_CHECKING:
    from .retry import RetryPolicy


class NodePolicy:
    """What guards one node's calls (read-only once made); None fields are not set.

    `timeout`: seconds one attempt may take; `idle_timeout`: seconds a streaming node may
    go without producing a chunk.
    """

    __slots__ = ("cache", "idle_timeout", "retry", "timeout")

    def __init__(
        self,
        retry: RetryPolicy | None = None,
        timeout: float | None = None,
        idle_timeout: float | None = None,
        cache: bool = False,
    ) -> None:
        self.retry = retry
        self.timeout = timeout
        self.idle_timeout = idle_timeout
        self.cache = cache

    def __repr__(self) -> str:
        return (
            f"NodePolicy(retry={self.retry!r}, timeout={self.timeout!r}, "
            f"idle_timeout={self.idle_timeout!r}, cache={self.cache!r})"
        )

    @classmethod
    def of(
        cls,
        node_name: str,
        *,
        retry: RetryPolicy | None,
        timeout: float | None,
        idle_timeout: float | None,
        cache: bool,
        is_generator: bool,
        has_context: bool,
    ) -> NodePolicy | None:
        """The node's policy, checked; None when it asks for nothing."""
        if retry is not None and not isinstance(retry, _retry_policy()):
            raise GraphConfigError(
                f"retry= of node '{node_name}' takes a RetryPolicy, got {type(retry).__name__}."
                "\nHow to fix: @node(output_name=..., retry=RetryPolicy(max_attempts=3))."
            )
        if timeout is not None:
            check_seconds(f"timeout= of node '{node_name}'", timeout)
        if idle_timeout is not None:
            check_seconds(f"idle_timeout= of node '{node_name}'", idle_timeout)
            if not (is_generator or has_context):
                raise GraphConfigError(
                    f"idle_timeout= of node '{node_name}' bounds the gap between two chunks, "
                    "but the node does not stream.\nHow to fix: use timeout= for the whole "
                    "call, or make the node a generator (or give it a NodeContext)."
                )
        if type(cache) is not bool:
            raise GraphConfigError(f"cache= of node '{node_name}' takes True or False.")
        if retry is None and timeout is None and idle_timeout is None and not cache:
            return None
        return cls(retry, timeout, idle_timeout, cache)


def _retry_policy() -> type[RetryPolicy]:
    from .retry import RetryPolicy  # loads with the first node that retries

    return RetryPolicy


def check_seconds(what: str, value: object, zero_ok: bool = False) -> None:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if not ok or not (value >= 0 if zero_ok else value > 0):  # type: ignore[operator]
        raise GraphConfigError(
            f"{what} takes seconds as a {'non-negative' if zero_ok else 'positive'} number, "
            f"got {value!r}."
        )
