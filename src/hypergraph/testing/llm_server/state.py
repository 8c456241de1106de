"""What the stand-in server keeps between requests: what it saw, what it owes, what it counted.

:class:`LLMServer` guards a :class:`State` with its lock; handler threads change it
only through the server's methods.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Literal

from .request import RecordedRequest
from .script import Script

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
    """Scripts not used yet, oldest first (matching and in-order ones together)."""
    counters: Counters = field(default_factory=Counters)
    in_flight: int = 0
    serial: int = 0
