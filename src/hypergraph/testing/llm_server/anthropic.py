"""The Anthropic Messages dialect (``POST /v1/messages``), streaming or not."""

from __future__ import annotations

from typing import Any

from .dialect import Dialect, sse

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    504: "timeout_error",
    529: "overloaded_error",
}


class Anthropic(Dialect):
    request_id_header = "request-id"
    failure_status = 529

    @staticmethod
    def error_body(status: int, message: str) -> dict[str, Any]:
        kind = _ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
        return {"type": "error", "error": {"type": kind, "message": message}}

    @property
    def message_id(self) -> str:
        return f"msg_standin_{self.serial:06d}"

    def _message(
        self, content: list[Any], stop_reason: str | None, output_tokens: int
    ) -> dict[str, Any]:
        return {
            "id": self.message_id,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": content,
            "stop_reason": stop_reason,
            "stop_sequence": None,
            "usage": {"input_tokens": self.input_tokens, "output_tokens": output_tokens},
        }

    def head(self) -> list[bytes]:
        return [
            sse(
                {"type": "message_start", "message": self._message([], None, 1)},
                "message_start",
            ),
            sse(
                {
                    "type": "content_block_start",
                    "index": 0,
                    "content_block": {"type": "text", "text": ""},
                },
                "content_block_start",
            ),
            sse({"type": "ping"}, "ping"),
        ]

    def token(self, text: str) -> bytes:
        delta = {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "text_delta", "text": text},
        }
        return sse(delta, "content_block_delta")

    def tail(self) -> list[bytes]:
        return [
            sse({"type": "content_block_stop", "index": 0}, "content_block_stop"),
            sse(
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                    "usage": {"output_tokens": len(self.tokens)},
                },
                "message_delta",
            ),
            sse({"type": "message_stop"}, "message_stop"),
        ]

    def error(self, message: str) -> bytes:
        return sse(
            {"type": "error", "error": {"type": "overloaded_error", "message": message}},
            "error",
        )

    def complete(self) -> dict[str, Any]:
        return self._message([{"type": "text", "text": self.text}], "end_turn", len(self.tokens))
