"""RetryPolicy: which failures of a node are retried, and how long to wait between attempts.

Loaded when first used (`from hypergraph import RetryPolicy`, or a node given `retry=`).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import GraphConfigError, NodeOutputError
from .policy import check_seconds

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
            check_seconds(f"RetryPolicy({name}=...)", getattr(self, name), zero_ok=True)
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
