"""RunResult and MapResult: what a run returns."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, overload

from .._names import quoted, suggest
from ..events.types import RunStatus
from ..events.wire import safe_text


@dataclass(frozen=True)
class PauseInfo:
    """A question an interrupt asked, pending its answer (SPEC 11).

    `node_name` is the interrupt's place (`"review"`; nested: `"outer/review"`), `value`
    what its function returned, `response_key` the run value that answers it: resume with
    `runner.run(graph, {response_key: answer}, workflow_id=...)` (an item `k` of
    `runner.map(..., workflow_id=w)` under its own id, `f"{w}[{k}]"`, or the whole map
    again with the answer).
    """

    node_name: str
    value: Any
    response_key: str


@dataclass
class RunResult:
    """The outcome of one run.

    `values` holds the graph's outputs that were produced; `partial` holds, for each
    streaming node that failed or was stopped, the chunks it had produced.
    """

    values: dict[str, Any]
    status: RunStatus
    run_id: str
    error: BaseException | None = None
    partial: dict[str, list[Any]] = field(default_factory=dict)
    workflow_id: str | None = None
    """The durable run's workflow id (with a checkpointer; generated if not given)."""
    pauses: list[PauseInfo] = field(default_factory=list)
    """The interrupts waiting for an answer (status PAUSED), in the order they asked."""

    @property
    def pause(self) -> PauseInfo | None:
        """The first pending interrupt, or None if the run did not pause."""
        return self.pauses[0] if self.pauses else None

    def __getitem__(self, name: str) -> Any:
        try:
            return self.values[name]
        except KeyError:
            error = safe_text(repr, self.error)[:80] if self.error else ""
            why = f" The run {self.status.value}" + (f": {error}." if error else ".")
            raise KeyError(
                f"'{name}' is not among the values of this run.{suggest(name, self.values)}"
                f"{why if self.status is not RunStatus.COMPLETED else ''} "
                f"Values: {quoted(self.values)}."
            ) from None

    def __contains__(self, name: object) -> bool:
        return name in self.values

    def get(self, name: str, default: Any = None) -> Any:
        return self.values.get(name, default)


class MapResult(Sequence[RunResult]):
    """The runs of `runner.map`, in item order: `result["y"]` is the list of `y` per item."""

    def __init__(self, results: Sequence[RunResult]) -> None:
        self._results: Sequence[RunResult] = tuple(results)

    @classmethod
    def of_values(
        cls,
        rows: list[dict[str, Any]],
        errors: list[BaseException | None] | None,
        make: Callable[[dict[str, Any], BaseException | None], RunResult],
    ) -> MapResult:
        """The map whose item k has the values `rows[k]` and failed with `errors[k]` (no
        errors: every item completed). Each item's RunResult is made by `make` when first
        read: reading a column (`result["y"]`) of a large map makes none."""
        mapped = cls.__new__(cls)
        mapped._results = _Rows(rows, errors, make)
        return mapped

    @overload
    def __getitem__(self, key: int) -> RunResult: ...
    @overload
    def __getitem__(self, key: slice) -> Sequence[RunResult]: ...
    @overload
    def __getitem__(self, key: str) -> list[Any]: ...
    def __getitem__(self, key: int | slice | str) -> Any:
        if isinstance(key, str):
            if isinstance(self._results, _Rows):
                return [row.get(key) for row in self._results.rows]
            return [r.values.get(key) for r in self._results]
        return self._results[key]

    def __len__(self) -> int:
        return len(self._results)

    def __iter__(self) -> Iterator[RunResult]:
        return iter(self._results)

    @property
    def status(self) -> RunStatus:
        """COMPLETED if every item completed; STOPPED if the map was stopped (items it
        did not start are STOPPED too); PAUSED if an item waits for an answer; else
        FAILED if every item failed, or PARTIAL."""
        if isinstance(self._results, _Rows):  # each item completed or failed
            failed = self._results.failed()
        else:
            statuses = [r.status for r in self._results]
            if RunStatus.STOPPED in statuses:
                return RunStatus.STOPPED
            if RunStatus.PAUSED in statuses:
                return RunStatus.PAUSED
            failed = statuses.count(RunStatus.FAILED)
        if not failed:
            return RunStatus.COMPLETED
        return RunStatus.FAILED if failed == len(self._results) else RunStatus.PARTIAL

    @property
    def pauses(self) -> list[tuple[int, PauseInfo]]:
        """The pending interrupts of every item: `(item index, PauseInfo)`."""
        return [(k, p) for k, r in enumerate(self._results) for p in r.pauses]

    @property
    def failures(self) -> list[RunResult]:
        """The items that failed (not those stopped)."""
        return [r for r in self._results if r.status is RunStatus.FAILED]

    def __repr__(self) -> str:
        return f"MapResult({len(self)} items, status={self.status.value})"


class _Rows(Sequence[RunResult]):
    """The items of a map kept as their values and errors (`MapResult.of_values`); the
    RunResult of an item is made when it is first read, and kept."""

    def __init__(
        self,
        rows: list[dict[str, Any]],
        errors: list[BaseException | None] | None,
        make: Callable[[dict[str, Any], BaseException | None], RunResult],
    ) -> None:
        self.rows = rows
        self.errors = errors
        self._make = make
        self._made: list[RunResult | None] = [None] * len(rows)

    def __len__(self) -> int:
        return len(self.rows)

    @overload
    def __getitem__(self, k: int) -> RunResult: ...
    @overload
    def __getitem__(self, k: slice) -> Sequence[RunResult]: ...
    def __getitem__(self, k: int | slice) -> Any:
        if isinstance(k, slice):
            return tuple(self[j] for j in range(*k.indices(len(self.rows))))
        made = self._made[k]
        if made is None:
            made = self._made[k] = self._make(self.rows[k], self.errors[k] if self.errors else None)
        return made

    def failed(self) -> int:
        return sum(e is not None for e in self.errors) if self.errors else 0

    def __reduce__(self) -> tuple[Any, ...]:
        # A copy or a pickle makes every item's RunResult (so it keeps their run ids) and
        # holds them as a plain tuple: it is no longer lazy.
        return (tuple, (tuple(self),))
