"""What the stand-in server saw: :class:`RecordedRequest`, and the conversation text scripts match.

A queued :class:`~.script.Script` with ``match="Paris"`` answers the first request
whose :attr:`RecordedRequest.conversation` contains ``"Paris"``. That text is
gathered the same way for the three APIs, so one key works whichever SDK a test uses.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

# Where each API puts the conversation: Anthropic has messages and system, Chat
# Completions has messages, Responses has input and instructions.
_CONVERSATION_FIELDS = ("system", "instructions", "messages", "input")

# Keys whose values say what a part is, not what was said: "user" or "function_call"
# in these would make a short key match every request.
_STRUCTURAL_KEYS = frozenset(
    {"role", "type", "id", "call_id", "tool_call_id", "tool_use_id", "status", "cache_control"}
)


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            if key not in _STRUCTURAL_KEYS:
                yield from _strings(item)


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server received it.

    Example: ``server.requests[0].body["messages"]`` is what the client sent.
    """

    method: str
    path: str
    query: str
    headers: dict[str, str]
    """Header names in lower case."""
    body: Any
    """The parsed JSON body (``None`` if it was not JSON)."""

    @property
    def stream(self) -> bool:
        """Whether the client asked for a streaming reply."""
        return isinstance(self.body, dict) and self.body.get("stream") is True

    @property
    def model(self) -> str | None:
        """The ``model`` the client asked for, if it named one."""
        model = self.body.get("model") if isinstance(self.body, dict) else None
        return model if isinstance(model, str) else None

    @property
    def conversation(self) -> str:
        """Every text the client sent as conversation, one per line.

        The system prompt (Anthropic ``system``, Responses ``instructions``) and every
        message or input item of any role: text parts, tool results and tool-call
        arguments included. A string ``match`` of a script is looked for here.
        """
        if not isinstance(self.body, dict):
            return ""
        return "\n".join(
            text for field in _CONVERSATION_FIELDS for text in _strings(self.body.get(field))
        )
