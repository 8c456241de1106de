"""The assistant's reply as the chat protocols see it, gathered frame by frame.

The OpenAI and AI SDK endpoints both need the same facts from a run's frames: which
chunks are reply text (and the text so far), whether a node failed and with what, how
the run ended, and the fallback text of a graph that did not stream. `Reply` keeps
them, so each protocol only decides how to write them down.
"""

from __future__ import annotations

from typing import Any

from ..events.types import StreamingChunkEvent
from .chat_shape import ChatShape, answer_text
from .runlog import Frame


class Reply:
    """What a run has said so far, for one chat response."""

    def __init__(self, shape: ChatShape) -> None:
        self.shape = shape
        self.parts: list[str] = []
        self.chunks = 0
        self.failure: str | None = None
        """`Node 'x' failed: ValueError: boom` once a node failed (the first failure)."""
        self.status: str | None = None
        self.result: dict[str, Any] | None = None

    def text_of(self, frame: Frame) -> str | None:
        """The reply text this frame adds, if it is a reply chunk (and remember it)."""
        event = frame.event
        if type(event) is not StreamingChunkEvent or not self.shape.is_answer(event):
            return None
        text = answer_text(event.chunk)
        self.parts.append(text)
        self.chunks += 1
        return text

    def note(self, frame: Frame) -> None:
        """Remember a failure or the run's end."""
        if frame.kind == "node_error" and self.failure is None:
            wire = frame.wire()
            path = "/".join([*wire.get("graph_path", []), wire["node_name"]])
            error = wire.get("error") or {}
            self.failure = f"Node '{path}' failed: {error.get('type')}: {error.get('message')}"
        elif frame.kind == "result":
            self.result = frame.wire()
            self.status = self.result["status"]
            error = self.result.get("error")
            if self.status == "failed" and self.failure is None and error:
                self.failure = f"The run failed: {error.get('type')}: {error.get('message')}"

    @property
    def text(self) -> str:
        return "".join(self.parts)

    def fallback(self) -> str | None:
        """The reply of a graph that streamed nothing: its `answer_output` value, if text."""
        output = self.shape.answer_output
        if self.parts or output is None or self.result is None:
            return None
        value = self.result.get("values", {}).get(output)
        return value if isinstance(value, str) else None

    def error_body(self) -> dict[str, Any]:
        """The error object both chat protocols send: the failure and the text that arrived."""
        return {
            "message": self.failure or "The run ended without a result (it was cancelled).",
            "type": "node_error" if self.failure else "cancelled",
            "param": None,
            "code": None,
            "partial_text": self.text,
        }
