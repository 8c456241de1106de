"""What every provider dialect shares: the :class:`Dialect` interface and wire helpers.

A dialect turns one reply (its text tokens and tool calls) into one provider API's
bytes: the SSE events of a stream, the JSON of a complete reply, and the error
bodies. The subclasses live in ``anthropic``, ``openai_chat`` and ``openai_responses``.

A stream is a head, then paced :class:`Step` s (one per text token or tool-call
argument piece, each after the unpaced events that must come before it, such as
the start of a tool call's block), then a tail. Steps are made one at a time, so a
stream cut after K steps never makes (or numbers) the events of step K + 1.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

from .script import ToolCall, split_tokens


def sse(data: Any, event: str | None = None) -> bytes:
    """One server-sent event: ``data`` as compact JSON (a string is sent as it is)."""
    text = json.dumps(data, separators=(",", ":")) if not isinstance(data, str) else data
    head = f"event: {event}\n" if event is not None else ""
    return f"{head}data: {text}\n\n".encode()


def _text_parts(content: Any, part_types: tuple[str, ...]) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            part.get("text", "")
            for part in content
            if isinstance(part, dict) and part.get("type") in part_types
        )
    return ""


def last_user_message(messages: Any, part_types: tuple[str, ...]) -> str:
    """The text of the last ``user`` message: its string content, or its parts of these types."""
    if not isinstance(messages, list):
        return ""
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            return _text_parts(message.get("content"), part_types)
    return ""


def openai_error(status: int, message: str) -> dict[str, Any]:
    """OpenAI's JSON error body (also the answer for routes no dialect owns)."""
    if status == 429:
        kind, code = "requests", "rate_limit_exceeded"
    elif status >= 500:
        kind, code = "server_error", "server_error"
    else:
        kind, code = "invalid_request_error", None
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


@dataclass(frozen=True)
class Step:
    """One paced event of a stream, after the unpaced events that must precede it."""

    framing: tuple[bytes, ...]
    event: bytes


class Dialect:
    """One provider API: how a reply, a stream and an error look on the wire.

    The defaults are OpenAI's; a request's text is read from a ``messages`` list.
    """

    request_id_header: ClassVar[str] = "x-request-id"
    failure_status: ClassVar[int] = 500
    """The HTTP status a non-streaming ``fail_after`` answers with."""
    tool_id_prefix: ClassVar[str] = "call_standin"
    """How this provider's tool-call ids start (used when a ToolCall has no id)."""

    def __init__(
        self,
        body: dict[str, Any],
        tokens: tuple[str, ...],
        tool_calls: tuple[ToolCall, ...],
        serial: int,
    ) -> None:
        self.body = body
        self.tokens = tokens
        self.text = "".join(tokens)
        self.tool_calls = tool_calls
        self.call_ids = tuple(
            call.id or f"{self.tool_id_prefix}_{serial:06d}_{index}"
            for index, call in enumerate(tool_calls)
        )
        self.pieces = len(tokens) + sum(len(call.argument_pieces) for call in tool_calls)
        """How many paced steps the reply has: its text tokens and argument pieces."""
        self.model = str(body.get("model", "stand-in-model"))
        self.serial = serial
        self.created = int(time.time())
        self.input_tokens = len(split_tokens(self.user_text(body)))

    @property
    def has_text(self) -> bool:
        """Whether the reply has a text part: it has text, or nothing else."""
        return bool(self.tokens) or not self.tool_calls

    @property
    def request_id(self) -> str:
        return f"req_standin_{self.serial:06d}"

    @staticmethod
    def user_text(body: dict[str, Any]) -> str:
        return last_user_message(body.get("messages"), ("text",))

    @staticmethod
    def error_body(status: int, message: str) -> dict[str, Any]:
        return openai_error(status, message)

    def head(self) -> list[bytes]:
        return []

    def steps(self) -> Iterator[Step]:
        for token in self.tokens:
            yield Step((), self.token(token))
        for index, call in enumerate(self.tool_calls):
            for number, piece in enumerate(call.argument_pieces):
                framing = tuple(self.open_call(index)) if number == 0 else ()
                yield Step(framing, self.argument(index, piece))

    def token(self, text: str) -> bytes:
        raise NotImplementedError

    def open_call(self, index: int) -> list[bytes]:
        """The events that close the part before tool call ``index`` and open that call."""
        raise NotImplementedError

    def argument(self, index: int, piece: str) -> bytes:
        raise NotImplementedError

    def tail(self) -> list[bytes]:
        return []

    def error(self, message: str) -> bytes:
        raise NotImplementedError

    def complete(self) -> dict[str, Any]:
        raise NotImplementedError
