"""The OpenAI Chat Completions dialect (``POST /v1/chat/completions``), streaming or not."""

from __future__ import annotations

from typing import Any

from .dialect import Dialect, openai_error, sse


class ChatCompletions(Dialect):
    @property
    def completion_id(self) -> str:
        return f"chatcmpl-standin{self.serial:06d}"

    def _chunk(self, choices: list[Any], **extra: Any) -> bytes:
        return sse(
            {
                "id": self.completion_id,
                "object": "chat.completion.chunk",
                "created": self.created,
                "model": self.model,
                "system_fingerprint": None,
                "choices": choices,
                **extra,
            }
        )

    def _delta(self, delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        return self._chunk([choice])

    def _usage(self) -> dict[str, int]:
        return {
            "prompt_tokens": self.input_tokens,
            "completion_tokens": self.pieces,
            "total_tokens": self.input_tokens + self.pieces,
        }

    @property
    def finish_reason(self) -> str:
        return "tool_calls" if self.tool_calls else "stop"

    def head(self) -> list[bytes]:
        # Like the live API: the role arrives in its own chunk, content "" for a text
        # reply and null for a reply that only calls tools.
        content = "" if self.has_text else None
        return [self._delta({"role": "assistant", "content": content, "refusal": None})]

    def token(self, text: str) -> bytes:
        return self._delta({"content": text})

    def open_call(self, index: int) -> list[bytes]:
        # The first delta of a call carries its id and name; the rest only argument text.
        call = {
            "index": index,
            "id": self.call_ids[index],
            "type": "function",
            "function": {"name": self.tool_calls[index].name, "arguments": ""},
        }
        return [self._delta({"tool_calls": [call]})]

    def argument(self, index: int, piece: str) -> bytes:
        return self._delta({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})

    def tail(self) -> list[bytes]:
        events = [self._delta({}, self.finish_reason)]
        options = self.body.get("stream_options")
        if isinstance(options, dict) and options.get("include_usage"):
            events.append(self._chunk([], usage=self._usage()))
        events.append(sse("[DONE]"))
        return events

    def error(self, message: str) -> bytes:
        # The SDK raises APIError for any data payload with a truthy "error" key.
        return sse(openai_error(500, message))

    def complete(self) -> dict[str, Any]:
        message: dict[str, Any] = {
            "role": "assistant",
            "content": self.text if self.has_text else None,
            "refusal": None,
            "annotations": [],
        }
        if self.tool_calls:
            message["tool_calls"] = [
                {
                    "id": call_id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": call.arguments_json},
                }
                for call_id, call in zip(self.call_ids, self.tool_calls, strict=True)
            ]
        return {
            "id": self.completion_id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": None,
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "logprobs": None,
                    "finish_reason": self.finish_reason,
                }
            ],
            "usage": self._usage(),
        }
