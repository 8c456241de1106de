"""The Vercel AI SDK's UI message stream (protocol v1): `POST /api/chat`.

A `useChat` front end (or `DefaultChatTransport`) posts `{"id", "messages": [UIMessage],
"trigger", ...}`; the text parts of each message become `{"role", "content"}` for the
graph's messages input. The answer goes back as SSE `data:` parts:

- `start` (messageId = the run id), then per execution of the reply node a text part:
  `text-start`, `text-delta`..., `text-end` (id = the node execution's span id);
- node progress as data parts: `data-node` with the node execution's span id as its id,
  so a client updates one part per execution in place (`running`, then `completed`,
  `failed` or `stopped`, with `duration_ms`, the gate's `decision`, the `error`);
  chunks of other nodes as transient `data-chunk` parts (delivered to `onData`, not
  kept in the message);
- a failing node: an `error` part (`errorText`, plus `partial_text`: what had arrived);
  a stop: an `abort` part; then `finish` and `data: [DONE]`.

The header `x-vercel-ai-ui-message-stream: v1` marks the protocol.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, ClassVar

from .chat_shape import ChatShape
from .errors import RequestError
from .reply import Reply
from .responses import Protocol
from .runlog import Frame, ServedRun

_NODE_STATUS = {"node_start": "running", "node_end": "completed", "node_error": "failed"}


def chat_values(body: Mapping[str, Any], shape: ChatShape) -> dict[str, Any]:
    """The graph values of an `/api/chat` request: its UI messages as chat messages."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
        raise RequestError(
            '\'messages\' must be a list of UI messages ({"id", "role", "parts"}).\n'
            "How to fix: send what the AI SDK's DefaultChatTransport sends, e.g. "
            '{"messages": [{"id": "1", "role": "user", "parts": [{"type": "text", '
            '"text": "Hi"}]}]}.'
        )
    extra = body.get("values") or {}
    if not isinstance(extra, dict):
        raise RequestError(
            "'values' (extra graph inputs) must be a JSON object.\n"
            "How to fix: new DefaultChatTransport({body: {values: {name: value}}})."
        )
    return {**extra, shape.messages_input: [_chat_message(m) for m in messages]}


def _chat_message(message: dict[str, Any]) -> dict[str, Any]:
    parts = message.get("parts")
    if isinstance(parts, list):
        text = "".join(
            p.get("text", "") for p in parts if isinstance(p, dict) and p.get("type") == "text"
        )
    else:  # an older client's {"role", "content"}
        text = str(message.get("content", ""))
    return {"role": message.get("role", "user"), "content": text}


class UIMessageStream(Protocol):
    """A run as a UI message stream."""

    headers: ClassVar[Mapping[str, str]] = {"x-vercel-ai-ui-message-stream": "v1"}

    def __init__(self, shape: ChatShape) -> None:
        self.reply = Reply(shape)
        self.open_text: str | None = None  # the id of the text part being written
        self.decisions: dict[str, Any] = {}
        self.error_sent = False
        self.stopping = False

    def opening(self, run: ServedRun) -> bytes:
        return Protocol.opening(self, run) + _part({"type": "start", "messageId": run.run_id})

    def encode(self, frames: list[Frame]) -> bytes:
        out: list[bytes] = []
        for frame in frames:
            self._encode(frame, out)
        return b"".join(out)

    def _encode(self, frame: Frame, out: list[bytes]) -> None:
        reply = self.reply
        event = frame.event
        text = reply.text_of(frame)
        if text is not None:
            assert event is not None
            self._text(event.span_id, text, out)
            return
        reply.note(frame)
        kind = frame.kind
        if kind in _NODE_STATUS:
            wire = frame.wire()
            data: dict[str, Any] = {
                "name": wire["node_name"],
                "path": "/".join([*wire["graph_path"], wire["node_name"]]),
                "status": _NODE_STATUS[kind],
            }
            if kind != "node_start":
                data["duration_ms"] = wire.get("duration_ms")
                gate = wire["span_id"] in self.decisions
                if kind == "node_end" and self.stopping and not wire.get("outputs") and not gate:
                    data["status"] = "stopped"  # closed by the stop before it returned
                if gate:
                    data["decision"] = self.decisions.pop(wire["span_id"])
                if kind == "node_error":
                    data["error"] = wire.get("error")
            out.append(_part({"type": "data-node", "id": wire["span_id"], "data": data}))
            if kind == "node_error":
                self._close_text(out)
                self._error(out)
        elif kind == "route_decision":
            wire = frame.wire()
            self.decisions[wire["span_id"]] = wire.get("decision")
        elif kind == "chunk":
            wire = frame.wire()
            data = {"node": wire["node_name"], "path": wire["graph_path"], "chunk": wire["chunk"]}
            out.append(_part({"type": "data-chunk", "data": data, "transient": True}))
        elif kind == "stop_requested":
            self.stopping = True
        elif kind == "result":
            self._end(out)

    def closing(self, run: ServedRun) -> bytes:
        if self.reply.status is not None:
            return b""
        out: list[bytes] = []  # cancelled: no result frame came
        self._end(out)
        return b"".join(out)

    def _text(self, span_id: str, text: str, out: list[bytes]) -> None:
        if self.open_text != span_id:
            self._close_text(out)
            self.open_text = span_id
            out.append(_part({"type": "text-start", "id": span_id}))
        out.append(_part({"type": "text-delta", "id": span_id, "delta": text}))

    def _close_text(self, out: list[bytes]) -> None:
        if self.open_text is not None:
            out.append(_part({"type": "text-end", "id": self.open_text}))
            self.open_text = None

    def _error(self, out: list[bytes]) -> None:
        if not self.error_sent:
            self.error_sent = True
            body = self.reply.error_body()
            text = body["partial_text"]
            out.append(_part({"type": "error", "errorText": body["message"], "partial_text": text}))

    def _end(self, out: list[bytes]) -> None:
        reply = self.reply
        fallback = reply.fallback()
        if fallback is not None:
            self._text("answer", fallback, out)
        self._close_text(out)
        if reply.failure is not None or reply.status is None:
            self._error(out)
            finish = "error"
        elif reply.status == "stopped":
            out.append(_part({"type": "abort", "reason": "stopped"}))
            finish = "stop"
        else:
            finish = "stop"
        out.append(_part({"type": "finish", "finishReason": finish}))
        out.append(b"data: [DONE]\n\n")


def _part(payload: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n"
