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
            "completion_tokens": len(self.tokens),
            "total_tokens": self.input_tokens + len(self.tokens),
        }

    def head(self) -> list[bytes]:
        # Like the live API: the role arrives in its own chunk with empty content.
        return [self._delta({"role": "assistant", "content": "", "refusal": None})]

    def token(self, text: str) -> bytes:
        return self._delta({"content": text})

    def tail(self) -> list[bytes]:
        events = [self._delta({}, "stop")]
        options = self.body.get("stream_options")
        if isinstance(options, dict) and options.get("include_usage"):
            events.append(self._chunk([], usage=self._usage()))
        events.append(sse("[DONE]"))
        return events

    def error(self, message: str) -> bytes:
        # The SDK raises APIError for any data payload with a truthy "error" key.
        return sse(openai_error(500, message))

    def complete(self) -> dict[str, Any]:
        return {
            "id": self.completion_id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": None,
            "choices": [
                {
                    "index": 0,
                    "message": {
                        "role": "assistant",
                        "content": self.text,
                        "refusal": None,
                        "annotations": [],
                    },
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": self._usage(),
        }
