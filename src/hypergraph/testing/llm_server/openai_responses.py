"""The OpenAI Responses dialect (``POST /v1/responses``), streaming or not."""

from __future__ import annotations

import itertools
import time
from typing import Any

from .dialect import Dialect, last_user_message, sse
from .script import ToolCall


class Responses(Dialect):
    def __init__(
        self,
        body: dict[str, Any],
        tokens: tuple[str, ...],
        tool_calls: tuple[ToolCall, ...],
        serial: int,
    ) -> None:
        super().__init__(body, tokens, tool_calls, serial)
        self._sequence = itertools.count()

    @staticmethod
    def user_text(body: dict[str, Any]) -> str:
        items = body.get("input")
        if isinstance(items, str):
            return items
        return last_user_message(items, ("input_text", "text"))

    @property
    def response_id(self) -> str:
        return f"resp_standin{self.serial:06d}"

    @property
    def item_id(self) -> str:
        return f"msg_standin{self.serial:06d}"

    def _part(self, text: str) -> dict[str, Any]:
        return {"type": "output_text", "annotations": [], "logprobs": [], "text": text}

    def _item(self, status: str, content: list[Any]) -> dict[str, Any]:
        return {
            "id": self.item_id,
            "type": "message",
            "status": status,
            "role": "assistant",
            "content": content,
        }

    def _response(self, status: str, output: list[Any]) -> dict[str, Any]:
        done = status == "completed"
        usage = {
            "input_tokens": self.input_tokens,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": self.pieces,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": self.input_tokens + self.pieces,
        }
        return {
            "id": self.response_id,
            "object": "response",
            "created_at": self.created,
            "completed_at": int(time.time()) if done else None,
            "status": status,
            "background": False,
            "error": None,
            "incomplete_details": None,
            "instructions": self.body.get("instructions"),
            "max_output_tokens": self.body.get("max_output_tokens"),
            "metadata": {},
            "model": self.model,
            "output": output,
            "parallel_tool_calls": True,
            "previous_response_id": self.body.get("previous_response_id"),
            "reasoning": {"effort": None, "summary": None},
            "store": False,
            "temperature": 1.0,
            "text": {"format": {"type": "text"}},
            "tool_choice": "auto",
            "tools": [],
            "top_p": 1.0,
            "truncation": "disabled",
            "usage": usage if done else None,
            "user": None,
        }

    def _call_index(self, call: int) -> int:
        return call + 1 if self.has_text else call

    def _call_item_id(self, call: int) -> str:
        return f"fc_standin{self.serial:06d}_{call}"

    def _call_item(self, call: int, status: str, arguments: str) -> dict[str, Any]:
        return {
            "id": self._call_item_id(call),
            "type": "function_call",
            "status": status,
            "call_id": self.call_ids[call],
            "name": self.tool_calls[call].name,
            "arguments": arguments,
        }

    def _output(self) -> list[Any]:
        message = [self._item("completed", [self._part(self.text)])] if self.has_text else []
        calls = [
            self._call_item(index, "completed", call.arguments_json)
            for index, call in enumerate(self.tool_calls)
        ]
        return message + calls

    def _event(self, kind: str, **fields: Any) -> bytes:
        return sse({"type": kind, "sequence_number": next(self._sequence), **fields}, kind)

    def _located(self) -> dict[str, Any]:
        return {"item_id": self.item_id, "output_index": 0, "content_index": 0}

    def head(self) -> list[bytes]:
        events = [
            self._event("response.created", response=self._response("in_progress", [])),
            self._event("response.in_progress", response=self._response("in_progress", [])),
        ]
        if self.has_text:
            events += [
                self._event(
                    "response.output_item.added",
                    output_index=0,
                    item=self._item("in_progress", []),
                ),
                self._event("response.content_part.added", **self._located(), part=self._part("")),
            ]
        return events

    def token(self, text: str) -> bytes:
        return self._event("response.output_text.delta", **self._located(), delta=text, logprobs=[])

    def _close_message(self) -> list[bytes]:
        part = self._part(self.text)
        item = self._item("completed", [part])
        return [
            self._event(
                "response.output_text.done", **self._located(), text=self.text, logprobs=[]
            ),
            self._event("response.content_part.done", **self._located(), part=part),
            self._event("response.output_item.done", output_index=0, item=item),
        ]

    def _close_call(self, call: int) -> list[bytes]:
        arguments = self.tool_calls[call].arguments_json
        return [
            self._event(
                "response.function_call_arguments.done",
                item_id=self._call_item_id(call),
                output_index=self._call_index(call),
                arguments=arguments,
            ),
            self._event(
                "response.output_item.done",
                output_index=self._call_index(call),
                item=self._call_item(call, "completed", arguments),
            ),
        ]

    def _close_last(self, before_call: int) -> list[bytes]:
        if before_call > 0:
            return self._close_call(before_call - 1)
        return self._close_message() if self.has_text else []

    def open_call(self, index: int) -> list[bytes]:
        return [
            *self._close_last(index),
            self._event(
                "response.output_item.added",
                output_index=self._call_index(index),
                item=self._call_item(index, "in_progress", ""),
            ),
        ]

    def argument(self, index: int, piece: str) -> bytes:
        return self._event(
            "response.function_call_arguments.delta",
            item_id=self._call_item_id(index),
            output_index=self._call_index(index),
            delta=piece,
        )

    def tail(self) -> list[bytes]:
        return [
            *self._close_last(len(self.tool_calls)),
            self._event("response.completed", response=self._response("completed", self._output())),
        ]

    def error(self, message: str) -> bytes:
        # The documented ResponseErrorEvent is flat (code/message/param); the live API
        # nests them under "error", which is also what makes the SDK raise. Send both.
        detail = {"type": "server_error", "code": "server_error", "message": message, "param": None}
        return self._event("error", code="server_error", message=message, param=None, error=detail)

    def complete(self) -> dict[str, Any]:
        return self._response("completed", self._output())
