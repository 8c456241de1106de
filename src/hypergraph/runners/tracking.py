"""The runs a runner has in flight, so that `runner.stop(run_id)` can reach them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from ..errors import InputValueError

if TYPE_CHECKING:
    from .execution import Execution


class RunRegistry:
    def __init__(self) -> None:
        self._runs: dict[str, Execution] = {}

    @contextmanager
    def track(self, ex: Execution) -> Iterator[None]:
        self._runs[ex.run_id] = ex
        try:
            yield
        finally:
            self._runs.pop(ex.run_id, None)

    def stop(self, run_id: str) -> None:
        ex = self._runs.get(run_id)
        if ex is None:
            raise InputValueError(
                f"No run '{run_id}' is in progress on this runner; it may have finished.\n"
                f"Runs in progress: {', '.join(self._runs) or '(none)'}.",
                names=[run_id],
            )
        ex.request_stop()
