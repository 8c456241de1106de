"""The runs a runner has in flight, so that `runner.stop(run_id)` can reach them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import InputValueError

if TYPE_CHECKING:
    from .execution import Execution


class RunRegistry:
    """Runs in flight by run id, tracked while a `with registry.track(ex):` block lasts."""

    def __init__(self) -> None:
        self._runs: dict[str, Execution] = {}

    def track(self, ex: Execution) -> _Tracked:
        return _Tracked(self._runs, ex)

    def stop(self, run_id: str) -> None:
        ex = self._runs.get(run_id)
        if ex is None:
            raise InputValueError(
                f"No run '{run_id}' is in progress on this runner; it may have finished.\n"
                f"Runs in progress: {', '.join(self._runs) or '(none)'}.",
                names=[run_id],
            )
        ex.request_stop()


class _Tracked:
    __slots__ = ("ex", "runs")

    def __init__(self, runs: dict[str, Execution], ex: Execution) -> None:
        self.runs, self.ex = runs, ex

    def __enter__(self) -> None:
        self.runs[self.ex.run_id] = self.ex

    def __exit__(self, *exc_info: object) -> None:
        self.runs.pop(self.ex.run_id, None)
