"""hypergraph's own wire format: `/runs`, `/runs/stream` and `/runs/{run_id}/stream`.

Every event goes out as one SSE message, `id:` its number in the run's log, `event:`
its kind, `data:` its wire form (`event.to_dict()`, decision 0021). After the run's
`run_end` comes one more message, `event: result`, whose data is the body `POST /runs`
answers with: `{"kind": "result", "run_id", "status", "values", "error", "partial"}`.
docs/serve.md shows every message.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .responses import Collector, Protocol
from .runlog import Frame, ServedRun


class NativeEvents(Protocol):
    """Frames as `id: / event: / data:` messages."""

    def encode(self, frames: list[Frame]) -> bytes:
        return b"".join(frame.sse() for frame in frames)


class RunResult(Collector):
    """The `result` frame as the JSON body (status 200 whatever the run's status)."""

    def answer(self, run: ServedRun) -> tuple[int, Any, Mapping[str, str]]:
        if run.result is None:  # only when the run was cancelled under a waiting client
            body = {
                "error": {
                    "type": "RunCancelled",
                    "message": f"Run '{run.run_id}' was cancelled before it ended.",
                }
            }
            return 500, body, {}
        return 200, run.result, {}
