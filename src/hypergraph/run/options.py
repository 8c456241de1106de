"""RunOptions: every per-run option, validated once, passed down whole.

The runners' public signatures list the options for users (with their defaults); each
call builds one `RunOptions`, and nothing below the runners takes loose keywords. A new
option is a field here (with its check in `__post_init__`) and the places that use it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, get_args

from .._names import quoted
from ..errors import InputValueError
from ..streaming.channel import DEFAULT_BUFFER_SIZE as DEFAULT_BUFFER_SIZE

if TYPE_CHECKING:
    from ..durable.cache import Cache
    from ..durable.checkpoint import Checkpointer

ErrorHandling = Literal["raise", "continue"]
Overflow = Literal["wait", "drop_oldest"]

DEFAULT_MAX_ITERATIONS = 1000


@dataclass(frozen=True, kw_only=True)  # no slots: they would build the class twice at import
class RunOptions:
    """How one run (or one map) goes. Built by the runners from their keywords."""

    max_iterations: int = DEFAULT_MAX_ITERATIONS
    """How many times any one node may run (cycles); beyond it, InfiniteLoopError."""
    error_handling: ErrorHandling = "raise"
    """"raise": a failing node's own exception is raised; "continue": a FAILED result."""
    event_processors: tuple[object, ...] = ()
    """Objects with `on_event(event)`, called for every event of the run."""
    max_concurrency: int | None = None
    """AsyncRunner: at most this many node executions at once, across nesting and map."""
    buffer_size: int = DEFAULT_BUFFER_SIZE
    """iter(): events held for a slow consumer before producers wait (or drop)."""
    overflow: Overflow = "wait"
    """iter(): "wait" (lossless, backpressure) or "drop_oldest" (fixed memory, counted)."""
    run_id: str | None = None
    """The run's id; None makes a new unique one."""
    cache: Cache | None = None
    """Where nodes with `cache=True` keep their results (the runner's `cache=`)."""
    checkpointer: Checkpointer | None = None
    """Where each finished node execution is recorded (the runner's `checkpointer=`)."""
    workflow_id: str | None = None
    """The durable run's id: a new one is recorded, an unfinished one resumes."""

    def __post_init__(self) -> None:
        _check_choice("error_handling", self.error_handling, _ERROR_HANDLING)
        _check_choice("overflow", self.overflow, _OVERFLOW)
        _check_positive("max_iterations", self.max_iterations)
        _check_positive("buffer_size", self.buffer_size)
        if self.max_concurrency is not None:
            _check_positive("max_concurrency", self.max_concurrency, "a positive int or None")
        if self.cache is not None and not (
            callable(getattr(self.cache, "get", None))
            and callable(getattr(self.cache, "put", None))
        ):
            raise InputValueError(
                f"cache= takes a cache store, got {type(self.cache).__name__}.\n"
                "How to fix: SyncRunner(cache=InMemoryCache()) or "
                'AsyncRunner(cache=DiskCache("cache.sqlite")).',
                names=["cache"],
            )
        if self.checkpointer is not None and not all(
            callable(getattr(self.checkpointer, m, None)) for m in ("get", "append", "create")
        ):
            raise InputValueError(
                f"checkpointer= takes a checkpoint store, got "
                f"{type(self.checkpointer).__name__}.\n"
                'How to fix: SyncRunner(checkpointer=SqliteCheckpointer("runs.sqlite")) or '
                "AsyncRunner(checkpointer=MemoryCheckpointer()).",
                names=["checkpointer"],
            )
        if self.workflow_id is not None:
            if type(self.workflow_id) is not str or not self.workflow_id:
                raise InputValueError(
                    f"workflow_id must be a non-empty str, got {self.workflow_id!r}.",
                    names=["workflow_id"],
                )
            if self.checkpointer is None:
                raise InputValueError(
                    f"workflow_id={self.workflow_id!r} was given, but the runner has no "
                    "checkpointer to resume it from.\nHow to fix: "
                    'SyncRunner(checkpointer=SqliteCheckpointer("runs.sqlite")), or leave '
                    "out workflow_id.",
                    names=["workflow_id"],
                )
        if self.run_id is not None and (type(self.run_id) is not str or not self.run_id):
            raise InputValueError(
                f"run_id must be a non-empty str, got {self.run_id!r}.", names=["run_id"]
            )

    @property
    def raise_errors(self) -> bool:
        """error_handling == "raise" (read once per run)."""
        return self.error_handling == "raise"

    @classmethod
    def build(
        cls,
        *,
        max_iterations: int | None = None,
        event_processors: Iterable[object] | None = None,
        **options: Any,
    ) -> RunOptions:
        """From the runners' keywords, where None means "the default"."""
        if event_processors is not None and not isinstance(event_processors, Iterable):
            raise InputValueError(
                "event_processors takes a list of processors, got "
                f"{type(event_processors).__name__}.\n"
                "How to fix: event_processors=[MyProcessor()].",
                names=["event_processors"],
            )
        return cls(
            max_iterations=DEFAULT_MAX_ITERATIONS if max_iterations is None else max_iterations,
            event_processors=tuple(event_processors or ()),
            **options,
        )


_ERROR_HANDLING = get_args(ErrorHandling)  # once, not per run
_OVERFLOW = get_args(Overflow)


def _check_choice(name: str, value: object, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise InputValueError(f"{name}={value!r} is not one of {quoted(choices)}.", names=[name])


def _check_positive(name: str, value: object, what: str = "a positive int") -> None:
    if type(value) is not int or value < 1:
        raise InputValueError(f"{name} must be {what}, got {value!r}.", names=[name])
