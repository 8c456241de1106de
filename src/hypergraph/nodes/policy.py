"""How a node's call is guarded: retries, timeouts and caching (SPEC 10).

`RetryPolicy` says which failures are retried and how long to wait; `NodePolicy` gathers
what one node asked for (`@node(..., retry=..., timeout=..., idle_timeout=..., cache=True)`).
The runners apply them around the one node-call path (`run/call.py`).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import GraphConfigError, NodeOutputError

# Failures that come from a bug in the code, not from the provider: retrying them only
# repeats the bug (and its cost). A NodeOutputError (a wrong return shape) is one too.
PROGRAMMING_ERRORS: tuple[type[BaseException], ...] = (
    TypeError,
    AttributeError,
    NameError,
    LookupError,
    AssertionError,
    NotImplementedError,
    ImportError,
    SyntaxError,
    NodeOutputError,
)


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    """Retry a failing node: up to `max_attempts` attempts in all, waiting between them.

    The wait before attempt n+1 is `initial_delay * backoff_multiplier ** (n - 1)`, at
    most `max_delay`; with `jitter` it is drawn between half that and all of it, so that
    many clients do not retry in step. An exception is retried if it is an instance of
    `retry_on` and not of `give_up_on` (by default: errors that come from a bug).

    >>> policy = RetryPolicy(max_attempts=4, initial_delay=0.1, jitter=False)
    >>> [policy.delay(n) for n in (1, 2, 3)]
    [0.1, 0.2, 0.4]
    >>> policy.retries(ConnectionError("reset")), policy.retries(TypeError("bug"))
    (True, False)
    """

    max_attempts: int = 3
    retry_on: tuple[type[BaseException], ...] = (Exception,)
    give_up_on: tuple[type[BaseException], ...] = PROGRAMMING_ERRORS
    initial_delay: float = 0.5
    backoff_multiplier: float = 2.0
    max_delay: float = 30.0
    jitter: bool = True

    def __post_init__(self) -> None:
        if type(self.max_attempts) is not int or self.max_attempts < 1:
            raise GraphConfigError(
                f"RetryPolicy(max_attempts={self.max_attempts!r}): it counts every attempt, "
                "the first included, so it must be an int of at least 1."
            )
        for name in ("initial_delay", "max_delay"):
            _check_seconds(f"RetryPolicy({name}=...)", getattr(self, name), zero_ok=True)
        if not self.backoff_multiplier >= 1:
            raise GraphConfigError(
                f"RetryPolicy(backoff_multiplier={self.backoff_multiplier!r}) must be >= 1."
            )
        for name in ("retry_on", "give_up_on"):
            kinds = getattr(self, name)
            if not isinstance(kinds, tuple) or not all(
                isinstance(k, type) and issubclass(k, BaseException) for k in kinds
            ):
                raise GraphConfigError(
                    f"RetryPolicy({name}={kinds!r}) takes a tuple of exception classes.\n"
                    f"How to fix: {name}=(ConnectionError, TimeoutError)."
                )

    def retries(self, exc: BaseException) -> bool:
        """True if `exc` is worth another attempt under this policy."""
        return isinstance(exc, self.retry_on) and not isinstance(exc, self.give_up_on)

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based)."""
        base = min(self.max_delay, self.initial_delay * self.backoff_multiplier ** (attempt - 1))
        if not self.jitter:
            return base
        import random  # loads with the first retry, not with `import hypergraph`

        return random.uniform(base / 2, base)


@dataclass(frozen=True)
class NodePolicy:
    """What guards one node's calls; None fields are not set."""

    retry: RetryPolicy | None = None
    timeout: float | None = None
    """Seconds one attempt may take."""
    idle_timeout: float | None = None
    """Seconds a streaming node may go without producing a chunk."""
    cache: bool = False

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
        if retry is not None and not isinstance(retry, RetryPolicy):
            raise GraphConfigError(
                f"retry= of node '{node_name}' takes a RetryPolicy, got {type(retry).__name__}."
                "\nHow to fix: @node(output_name=..., retry=RetryPolicy(max_attempts=3))."
            )
        if timeout is not None:
            _check_seconds(f"timeout= of node '{node_name}'", timeout)
        if idle_timeout is not None:
            _check_seconds(f"idle_timeout= of node '{node_name}'", idle_timeout)
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


def _check_seconds(what: str, value: object, zero_ok: bool = False) -> None:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if not ok or not (value >= 0 if zero_ok else value > 0):  # type: ignore[operator]
        raise GraphConfigError(
            f"{what} takes seconds as a {'non-negative' if zero_ok else 'positive'} number, "
            f"got {value!r}."
        )
