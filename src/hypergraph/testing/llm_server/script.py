"""What the stand-in server answers: :class:`Script`, its tokens, and the default echo.

A script fixes the tokens of one reply, their pacing, an optional failure mode and
an optional gate; without one, the reply is a labelled echo of the last user message.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass

STAND_IN_PREFIX = "[stand-in model] "
"""Every default reply starts with this, so nobody mistakes it for a real model."""

Gate = threading.Event | threading.Semaphore
"""Holds tokens back: an Event releases all of them, a Semaphore one per ``release()``."""

_TOKEN_RE = re.compile(r"\s*\S+|\s+")


def split_tokens(text: str) -> tuple[str, ...]:
    """Split ``text`` into word-ish tokens that keep their leading whitespace.

    ``"".join(split_tokens(text)) == text`` always holds.
    """
    return tuple(_TOKEN_RE.findall(text))


def stand_in_reply(user_text: str) -> str:
    """The default reply: a labelled echo of the last user message."""
    if not user_text.strip():
        return f"{STAND_IN_PREFIX}You said nothing."
    return f"{STAND_IN_PREFIX}You said: {user_text}"


@dataclass(frozen=True)
class Script:
    """How the server answers one request.

    ``text`` or ``tokens`` fix the reply (default: :func:`stand_in_reply` of the
    last user message, split by :func:`split_tokens`). ``delay`` is waited before
    every token.

    Failure modes (at most one of ``fail_after``/``drop_after``):

    - ``fail_after=K``: K tokens, then the provider's in-stream error event
      (Anthropic ``overloaded_error``, OpenAI ``server_error``) and a clean end of
      the HTTP body. Not streaming: an error status (Anthropic 529, OpenAI 500).
    - ``drop_after=K``: K tokens, then the TCP connection is closed mid-body
      (the chunked body never gets its terminator). Not streaming: closed with no
      response at all.
    - ``http_error=(status, message)``: that status with the provider's JSON
      error body, before any streaming starts.

    ``gate``: before each token with index ``>= gate_after`` the server waits
    for the gate (``Event.wait`` / ``Semaphore.acquire``) and sets
    :attr:`LLMServer.at_gate` if it actually has to wait.
    """

    text: str | None = None
    tokens: Sequence[str] | None = None
    delay: float = 0.0
    fail_after: int | None = None
    drop_after: int | None = None
    http_error: tuple[int, str] | None = None
    gate: Gate | None = None
    gate_after: int = 1
    fail_message: str = "stand-in server: scripted failure"

    def __post_init__(self) -> None:
        if self.text is not None and self.tokens is not None:
            raise ValueError("give text or tokens, not both")
        if isinstance(self.tokens, str):
            raise TypeError("tokens must be a sequence of strings, not one string")
        if self.tokens is not None:
            # A tuple keeps the frozen script immutable even if the caller's list changes.
            object.__setattr__(self, "tokens", tuple(self.tokens))
        if self.fail_after is not None and self.drop_after is not None:
            raise ValueError("give fail_after or drop_after, not both")
        for name in ("fail_after", "drop_after", "gate_after"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"{name} must be >= 0")
        if self.delay < 0:
            raise ValueError("delay must be >= 0")
        if self.http_error is not None and not 400 <= self.http_error[0] <= 599:
            raise ValueError("http_error status must be in 400..599")

    def reply_tokens(self, user_text: str) -> tuple[str, ...]:
        """The tokens this script sends for a request whose last user message is ``user_text``."""
        if self.tokens is not None:
            return tuple(self.tokens)
        return split_tokens(self.text if self.text is not None else stand_in_reply(user_text))

    @property
    def cut(self) -> int | None:
        """Where the stream stops early (``fail_after`` or ``drop_after``), if anywhere."""
        return self.fail_after if self.fail_after is not None else self.drop_after
