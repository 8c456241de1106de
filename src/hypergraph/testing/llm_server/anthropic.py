"""The Anthropic Messages dialect (``POST /v1/messages``), streaming or not."""

from __future__ import annotations

import json
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
    tool_id_prefix = "toolu_standin"

    @staticmethod
    def error_body(status: int, message: str) -> dict[str, Any]:
        kind = _ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
        return {"type": "error", "error": {"type": kind, "message": message}}

    @property
    def message_id(self) -> str:
        return f"msg_standin_{self.serial:06d}"

    @property
    def stop_reason(self) -> str:
        return "tool_use" if self.tool_calls else "end_turn"

    def _block_index(self, call: int) -> int:
        return call + 1 if self.has_text else call

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

    def _tool_use(self, call: int, arguments: Any) -> dict[str, Any]:
        return {
            "type": "tool_use",
            "id": self.call_ids[call],
            "name": self.tool_calls[call].name,
            "input": arguments,
        }

    def _block_stop(self, index: int) -> bytes:
        return sse({"type": "content_block_stop", "index": index}, "content_block_stop")

    def head(self) -> list[bytes]:
        events = [
            sse(
                {"type": "message_start", "message": self._message([], None, 1)},
                "message_start",
            )
        ]
        if self.has_text:
            block = {"type": "content_block_start", "index": 0, "content_block": _text("")}
            events.append(sse(block, "content_block_start"))
        events.append(sse({"type": "ping"}, "ping"))
        return events

    def token(self, text: str) -> bytes:
        delta = {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "text_delta", "text": text},
        }
        return sse(delta, "content_block_delta")

    def open_call(self, index: int) -> list[bytes]:
        block = self._block_index(index)
        # Like the live API: the block opens with an empty input that the deltas fill.
        start = {
            "type": "content_block_start",
            "index": block,
            "content_block": self._tool_use(index, {}),
        }
        previous = [self._block_stop(block - 1)] if block > 0 else []
        return [*previous, sse(start, "content_block_start")]

    def argument(self, index: int, piece: str) -> bytes:
        delta = {
            "type": "content_block_delta",
            "index": self._block_index(index),
            "delta": {"type": "input_json_delta", "partial_json": piece},
        }
        return sse(delta, "content_block_delta")

    def tail(self) -> list[bytes]:
        last = self._block_index(len(self.tool_calls) - 1) if self.tool_calls else 0
        return [
            self._block_stop(last),
            sse(
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": self.stop_reason, "stop_sequence": None},
                    "usage": {"output_tokens": self.pieces},
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
        content = [_text(self.text)] if self.has_text else []
        content += [
            self._tool_use(index, _parsed(call.arguments_json))
            for index, call in enumerate(self.tool_calls)
        ]
        return self._message(content, self.stop_reason, self.pieces)


def _text(text: str) -> dict[str, Any]:
    return {"type": "text", "text": text}


def _parsed(arguments: str) -> Any:
    # The API always sends an object; arguments scripted as malformed JSON stay a
    # string, so the client sees them as broken instead of as something else.
    try:
        return json.loads(arguments)
    except ValueError:
        return arguments
