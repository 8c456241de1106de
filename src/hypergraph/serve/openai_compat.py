"""The OpenAI Chat Completions wire format: `/v1/chat/completions` and `/v1/models`.

The request's `messages` go, unchanged, to the graph's messages input; the reply
node's chunks become `choices[0].delta.content`. Streaming follows OpenAI's own
framing (a role chunk, content chunks, a chunk with `finish_reason`, a usage chunk when
`stream_options.include_usage` is set, then `data: [DONE]`), so the official SDK reads
it unchanged. A node that fails mid-stream becomes OpenAI's in-stream error object
(the SDK raises `APIError`), carrying the text that had arrived in `partial_text`.

Usage counts what hypergraph can see: `completion_tokens` is the number of reply
chunks, `prompt_tokens` is 0 (the provider's own counts stay inside the node).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

from .chat_shape import ChatShape
from .errors import RequestError
from .reply import Reply
from .responses import Collector, Protocol
from .runlog import Frame, ServedRun

# Failures are the graph's, not the network's: a retry would run the graph again.
NO_RETRY = {"x-should-retry": "false"}


def chat_values(body: Mapping[str, Any], shape: ChatShape) -> dict[str, Any]:
    """The graph values of a chat completion request (`extra_body={"values": ...}` too)."""
    messages = body.get("messages")
    if not isinstance(messages, list):
        raise RequestError(
            f"'messages' must be a list of chat messages, got {type(messages).__name__}.\n"
            'How to fix: {"model": "...", "messages": [{"role": "user", "content": "Hi"}]}.'
        )
    extra = body.get("values") or {}
    if not isinstance(extra, dict):
        raise RequestError(
            "'values' (extra graph inputs) must be a JSON object.\n"
            'How to fix: extra_body={"values": {"name": value}}.'
        )
    return {**extra, shape.messages_input: messages}


def wants_usage(body: Mapping[str, Any]) -> bool:
    options = body.get("stream_options")
    return isinstance(options, dict) and options.get("include_usage") is True


def models(shape: ChatShape, created: int) -> dict[str, Any]:
    """The body of GET /v1/models: the graph, under its model name."""
    model = {
        "id": shape.model_name,
        "object": "model",
        "created": created,
        "owned_by": "hypergraph",
    }
    return {"object": "list", "data": [model]}


class _Base:
    def __init__(self, shape: ChatShape, include_usage: bool) -> None:
        self.reply = Reply(shape)
        self.model = shape.model_name
        self.include_usage = include_usage
        self.created = int(time.time())

    def _id(self, run: ServedRun) -> str:
        return f"chatcmpl-{run.run_id}"

    def usage(self) -> dict[str, int]:
        chunks = self.reply.chunks
        return {"prompt_tokens": 0, "completion_tokens": chunks, "total_tokens": chunks}


class CompletionChunks(_Base, Protocol):
    """A run as a streamed chat completion."""

    def opening(self, run: ServedRun) -> bytes:
        self.id = self._id(run)
        return Protocol.opening(self, run) + self._chunk({"role": "assistant", "content": ""})

    def encode(self, frames: list[Frame]) -> bytes:
        out: list[bytes] = []
        reply = self.reply
        for frame in frames:
            text = reply.text_of(frame)
            if text is not None:
                out.append(self._chunk({"content": text}))
                continue
            reply.note(frame)
            if frame.kind == "result":
                out.append(self._end())
        return b"".join(out)

    def closing(self, run: ServedRun) -> bytes:
        return b"" if self.reply.status else self._end()  # cancelled: no result frame came

    def _end(self) -> bytes:
        reply = self.reply
        out = []
        fallback = reply.fallback()
        if fallback is not None:
            out.append(self._chunk({"content": fallback}))
        if reply.failure is not None or reply.status is None:
            out.append(_data({"error": reply.error_body()}))
        else:
            out.append(self._chunk({}, finish="stop"))
            if self.include_usage:
                out.append(_data(self._frame([], usage=self.usage())))
        out.append(b"data: [DONE]\n\n")
        return b"".join(out)

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return _data(self._frame([choice]))

    def _frame(self, choices: list[Any], usage: dict[str, int] | None = None) -> dict[str, Any]:
        frame = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": choices,
        }
        if self.include_usage:
            frame["usage"] = usage
        return frame


class Completion(_Base, Collector):
    """A run as one chat completion object."""

    def take(self, frames: list[Frame]) -> None:
        for frame in frames:
            if self.reply.text_of(frame) is None:
                self.reply.note(frame)

    def answer(self, run: ServedRun) -> tuple[int, Any, Mapping[str, str]]:
        reply = self.reply
        if reply.failure is not None or reply.status is None:
            return 500, {"error": reply.error_body()}, NO_RETRY
        text = reply.fallback() or reply.text
        message = {"role": "assistant", "content": text, "refusal": None}
        body = {
            "id": self._id(run),
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "choices": [
                {"index": 0, "message": message, "logprobs": None, "finish_reason": "stop"}
            ],
            "usage": self.usage(),
        }
        return 200, body, {}


def _data(payload: Any) -> bytes:
    return b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n"
