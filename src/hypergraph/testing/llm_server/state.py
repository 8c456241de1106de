"""What the stand-in server keeps between requests: what it saw, what it owes, what it counted.

:class:`LLMServer` guards a :class:`State` with its lock; handler threads change it
only through the server's methods.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any, Literal

from .script import Script


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server received it."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: Any
    """The parsed JSON body (``None`` if it was not JSON)."""

    @property
    def stream(self) -> bool:
        """Whether the client asked for a streaming reply."""
        return isinstance(self.body, dict) and self.body.get("stream") is True


CounterName = Literal[
    "started", "tokens", "gate_waits", "completed", "aborted", "failed", "dropped", "interrupted"
]


@dataclass
class Counters:
    started: int = 0
    tokens: int = 0
    gate_waits: int = 0
    completed: int = 0
    aborted: int = 0
    failed: int = 0
    dropped: int = 0
    interrupted: int = 0


@dataclass
class State:
    requests: list[RecordedRequest] = field(default_factory=list)
    queue: deque[Script] = field(default_factory=deque)
    counters: Counters = field(default_factory=Counters)
    in_flight: int = 0
    serial: int = 0
