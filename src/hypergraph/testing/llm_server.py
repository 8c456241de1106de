"""A stand-in LLM provider on 127.0.0.1 that speaks the real SDKs' wire formats.

Tests and offline demos point the real ``anthropic`` and ``openai`` clients at an
:class:`LLMServer` and get byte-accurate streaming replies without a network or an
API key: Anthropic Messages (``POST /v1/messages``), OpenAI Chat Completions
(``POST /v1/chat/completions``) and OpenAI Responses (``POST /v1/responses``), each
streaming (SSE) or not.

What a request gets back is described by a :class:`Script`: the tokens, a per-token
delay, a failure mode (an in-stream error, a dropped connection, an HTTP error
status) and an optional gate that holds tokens back until the test releases them.
Without a script the reply is a deterministic, clearly labelled echo of the last
user message.

The server records what it saw (:attr:`LLMServer.requests`) and signals what
happened (:attr:`LLMServer.client_disconnected`, :attr:`LLMServer.at_gate`, stream
counters, :meth:`LLMServer.wait_idle`), so tests wait on events instead of
sleeping. Standard library only.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import re
import select
import socket
import socketserver
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, ClassVar, Literal
from urllib.parse import urlsplit

__all__ = [
    "STAND_IN_PREFIX",
    "Gate",
    "LLMServer",
    "RecordedRequest",
    "Script",
    "split_tokens",
    "stand_in_reply",
]

STAND_IN_PREFIX = "[stand-in model] "
"""Every default reply starts with this, so nobody mistakes it for a real model."""

Gate = threading.Event | threading.Semaphore
"""Holds tokens back: an Event releases all of them, a Semaphore one per ``release()``."""

# How often a waiting handler re-checks the server's shutdown flag. Client
# disconnects are noticed at once (select wakes on EOF); this bounds close().
_POLL_SECONDS = 0.02

_TOKEN_RE = re.compile(r"\s*\S+|\s+")


def split_tokens(text: str) -> tuple[str, ...]:
    """Split ``text`` into word-ish tokens that keep their leading whitespace.

    ``"".join(split_tokens(text)) == text`` always holds.
    """
    return tuple(_TOKEN_RE.findall(text))


def stand_in_reply(user_text: str) -> str:
    """The default reply: a labelled echo of the last user message."""
    if not user_text.strip():
        return f"{STAND_IN_PREFIX}You said nothing."
    return f"{STAND_IN_PREFIX}You said: {user_text}"


@dataclass(frozen=True)
class Script:
    """How the server answers one request.

    ``text`` or ``tokens`` fix the reply (default: :func:`stand_in_reply` of the
    last user message, split by :func:`split_tokens`). ``delay`` is waited before
    every token.

    Failure modes (at most one of ``fail_after``/``drop_after``):

    - ``fail_after=K``: K tokens, then the provider's in-stream error event
      (Anthropic ``overloaded_error``, OpenAI ``server_error``) and a clean end of
      the HTTP body. Not streaming: an error status (Anthropic 529, OpenAI 500).
    - ``drop_after=K``: K tokens, then the TCP connection is closed mid-body
      (the chunked body never gets its terminator). Not streaming: closed with no
      response at all.
    - ``http_error=(status, message)``: that status with the provider's JSON
      error body, before any streaming starts.

    ``gate``: before each token with index ``>= gate_after`` the server waits
    for the gate (``Event.wait`` / ``Semaphore.acquire``) and sets
    :attr:`LLMServer.at_gate` if it actually has to wait.
    """

    text: str | None = None
    tokens: Sequence[str] | None = None
    delay: float = 0.0
    fail_after: int | None = None
    drop_after: int | None = None
    http_error: tuple[int, str] | None = None
    gate: Gate | None = None
    gate_after: int = 1
    fail_message: str = "stand-in server: scripted failure"

    def __post_init__(self) -> None:
        if self.text is not None and self.tokens is not None:
            raise ValueError("give text or tokens, not both")
        if isinstance(self.tokens, str):
            raise TypeError("tokens must be a sequence of strings, not one string")
        if self.tokens is not None:
            # A tuple keeps the frozen script immutable even if the caller's list changes.
            object.__setattr__(self, "tokens", tuple(self.tokens))
        if self.fail_after is not None and self.drop_after is not None:
            raise ValueError("give fail_after or drop_after, not both")
        for name in ("fail_after", "drop_after", "gate_after"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"{name} must be >= 0")
        if self.delay < 0:
            raise ValueError("delay must be >= 0")
        if self.http_error is not None and not 400 <= self.http_error[0] <= 599:
            raise ValueError("http_error status must be in 400..599")

    def reply_tokens(self, user_text: str) -> tuple[str, ...]:
        """The tokens this script sends for a request whose last user message is ``user_text``."""
        if self.tokens is not None:
            return tuple(self.tokens)
        return split_tokens(self.text if self.text is not None else stand_in_reply(user_text))

    @property
    def cut(self) -> int | None:
        """Where the stream stops early (``fail_after`` or ``drop_after``), if anywhere."""
        return self.fail_after if self.fail_after is not None else self.drop_after


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server received it."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: Any
    """The parsed JSON body (``None`` if it was not JSON)."""

    @property
    def stream(self) -> bool:
        """Whether the client asked for a streaming reply."""
        return isinstance(self.body, dict) and self.body.get("stream") is True


class _Stop(Exception):
    """The exchange cannot go on."""


class _ClientGone(_Stop):
    """The client closed its connection (or it broke) before the reply was finished."""


class _Closing(_Stop):
    """The server is shutting down."""


# ---------------------------------------------------------------------------
# Wire formats


def _sse(data: Any, event: str | None = None) -> bytes:
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


def _last_user_message(messages: Any, part_types: tuple[str, ...]) -> str:
    if not isinstance(messages, list):
        return ""
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            return _text_parts(message.get("content"), part_types)
    return ""


class _Dialect:
    """One provider API: how a reply, a stream and an error look on the wire."""

    request_id_header: ClassVar[str] = "x-request-id"

    def __init__(self, body: dict[str, Any], tokens: tuple[str, ...], serial: int) -> None:
        self.body = body
        self.tokens = tokens
        self.text = "".join(tokens)
        self.model = str(body.get("model", "stand-in-model"))
        self.serial = serial
        self.created = int(time.time())
        self.input_tokens = len(split_tokens(self.user_text(body)))

    @property
    def request_id(self) -> str:
        return f"req_standin_{self.serial:06d}"

    @staticmethod
    def user_text(body: dict[str, Any]) -> str:
        raise NotImplementedError

    @staticmethod
    def error_body(status: int, message: str) -> dict[str, Any]:
        raise NotImplementedError

    def failure_status(self) -> int:
        """The HTTP status a non-streaming ``fail_after`` answers with."""
        return 500

    def head(self) -> list[bytes]:
        return []

    def token(self, text: str) -> bytes:
        raise NotImplementedError

    def tail(self) -> list[bytes]:
        return []

    def error(self, message: str) -> bytes:
        raise NotImplementedError

    def complete(self) -> dict[str, Any]:
        raise NotImplementedError


_ANTHROPIC_ERROR_TYPES = {
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


class _Anthropic(_Dialect):
    request_id_header = "request-id"

    @staticmethod
    def user_text(body: dict[str, Any]) -> str:
        return _last_user_message(body.get("messages"), ("text",))

    @staticmethod
    def error_body(status: int, message: str) -> dict[str, Any]:
        kind = _ANTHROPIC_ERROR_TYPES.get(
            status, "api_error" if status >= 500 else "invalid_request_error"
        )
        return {"type": "error", "error": {"type": kind, "message": message}}

    def failure_status(self) -> int:
        return 529

    @property
    def message_id(self) -> str:
        return f"msg_standin_{self.serial:06d}"

    def _message(self, content: list[Any], stop_reason: str | None, output_tokens: int) -> Any:
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
            _sse(
                {"type": "message_start", "message": self._message([], None, 1)},
                "message_start",
            ),
            _sse(
                {
                    "type": "content_block_start",
                    "index": 0,
                    "content_block": {"type": "text", "text": ""},
                },
                "content_block_start",
            ),
            _sse({"type": "ping"}, "ping"),
        ]

    def token(self, text: str) -> bytes:
        delta = {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "text_delta", "text": text},
        }
        return _sse(delta, "content_block_delta")

    def tail(self) -> list[bytes]:
        return [
            _sse({"type": "content_block_stop", "index": 0}, "content_block_stop"),
            _sse(
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                    "usage": {"output_tokens": len(self.tokens)},
                },
                "message_delta",
            ),
            _sse({"type": "message_stop"}, "message_stop"),
        ]

    def error(self, message: str) -> bytes:
        return _sse(
            {"type": "error", "error": {"type": "overloaded_error", "message": message}},
            "error",
        )

    def complete(self) -> dict[str, Any]:
        content = [{"type": "text", "text": self.text}]
        result: dict[str, Any] = self._message(content, "end_turn", len(self.tokens))
        return result


def _openai_error(status: int, message: str) -> dict[str, Any]:
    if status == 429:
        kind, code = "requests", "rate_limit_exceeded"
    elif status >= 500:
        kind, code = "server_error", "server_error"
    else:
        kind, code = "invalid_request_error", None
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


class _ChatCompletions(_Dialect):
    @staticmethod
    def user_text(body: dict[str, Any]) -> str:
        return _last_user_message(body.get("messages"), ("text",))

    @staticmethod
    def error_body(status: int, message: str) -> dict[str, Any]:
        return _openai_error(status, message)

    @property
    def completion_id(self) -> str:
        return f"chatcmpl-standin{self.serial:06d}"

    def _chunk(self, delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
        return _sse(
            {
                "id": self.completion_id,
                "object": "chat.completion.chunk",
                "created": self.created,
                "model": self.model,
                "system_fingerprint": None,
                "choices": [
                    {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
                ],
            }
        )

    def _usage(self) -> dict[str, int]:
        return {
            "prompt_tokens": self.input_tokens,
            "completion_tokens": len(self.tokens),
            "total_tokens": self.input_tokens + len(self.tokens),
        }

    def head(self) -> list[bytes]:
        # Like the live API: the role arrives in its own chunk with empty content.
        return [self._chunk({"role": "assistant", "content": "", "refusal": None})]

    def token(self, text: str) -> bytes:
        return self._chunk({"content": text})

    def tail(self) -> list[bytes]:
        events = [self._chunk({}, "stop")]
        options = self.body.get("stream_options")
        if isinstance(options, dict) and options.get("include_usage"):
            usage_chunk = {
                "id": self.completion_id,
                "object": "chat.completion.chunk",
                "created": self.created,
                "model": self.model,
                "system_fingerprint": None,
                "choices": [],
                "usage": self._usage(),
            }
            events.append(_sse(usage_chunk))
        events.append(_sse("[DONE]"))
        return events

    def error(self, message: str) -> bytes:
        # The SDK raises APIError for any data payload with a truthy "error" key.
        return _sse(_openai_error(500, message))

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


class _Responses(_Dialect):
    def __init__(self, body: dict[str, Any], tokens: tuple[str, ...], serial: int) -> None:
        super().__init__(body, tokens, serial)
        self._sequence = itertools.count()

    @staticmethod
    def user_text(body: dict[str, Any]) -> str:
        items = body.get("input")
        if isinstance(items, str):
            return items
        return _last_user_message(items, ("input_text", "text"))

    @staticmethod
    def error_body(status: int, message: str) -> dict[str, Any]:
        return _openai_error(status, message)

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
            "output_tokens": len(self.tokens),
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": self.input_tokens + len(self.tokens),
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

    def _event(self, kind: str, **fields: Any) -> bytes:
        return _sse({"type": kind, "sequence_number": next(self._sequence), **fields}, kind)

    def _located(self) -> dict[str, Any]:
        return {"item_id": self.item_id, "output_index": 0, "content_index": 0}

    def head(self) -> list[bytes]:
        return [
            self._event("response.created", response=self._response("in_progress", [])),
            self._event("response.in_progress", response=self._response("in_progress", [])),
            self._event(
                "response.output_item.added", output_index=0, item=self._item("in_progress", [])
            ),
            self._event("response.content_part.added", **self._located(), part=self._part("")),
        ]

    def token(self, text: str) -> bytes:
        return self._event("response.output_text.delta", **self._located(), delta=text, logprobs=[])

    def tail(self) -> list[bytes]:
        part = self._part(self.text)
        item = self._item("completed", [part])
        return [
            self._event(
                "response.output_text.done", **self._located(), text=self.text, logprobs=[]
            ),
            self._event("response.content_part.done", **self._located(), part=part),
            self._event("response.output_item.done", output_index=0, item=item),
            self._event("response.completed", response=self._response("completed", [item])),
        ]

    def error(self, message: str) -> bytes:
        # The documented ResponseErrorEvent is flat (code/message/param); the live API
        # nests them under "error", which is also what makes the SDK raise. Send both.
        detail = {"type": "server_error", "code": "server_error", "message": message, "param": None}
        return self._event("error", code="server_error", message=message, param=None, error=detail)

    def complete(self) -> dict[str, Any]:
        return self._response("completed", [self._item("completed", [self._part(self.text)])])


_DIALECTS: dict[str, type[_Dialect]] = {
    "/v1/messages": _Anthropic,
    "/v1/chat/completions": _ChatCompletions,
    "/v1/responses": _Responses,
}


# ---------------------------------------------------------------------------
# HTTP plumbing


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], owner: LLMServer) -> None:
        self.owner = owner
        self._handler_threads: list[threading.Thread] = []
        self._handler_threads_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        # ThreadingMixIn does not track daemon threads, so server_close() would not
        # join them; track them here so close() leaves no thread behind.
        thread = threading.Thread(
            target=self.process_request_thread,
            args=(request, client_address),
            name=f"llm-server-{self.server_port}-conn",
            daemon=True,
        )
        with self._handler_threads_lock:
            self._handler_threads = [t for t in self._handler_threads if t.is_alive()]
            self._handler_threads.append(thread)
        thread.start()

    def server_close(self) -> None:
        super().server_close()
        with self._handler_threads_lock:
            threads, self._handler_threads = self._handler_threads, []
        for thread in threads:
            thread.join()

    def server_bind(self) -> None:
        # HTTPServer.server_bind calls socket.getfqdn(), a DNS lookup we do not need.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], OSError):
            return  # a client hanging up is routine here
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Bounds how long a silent client can hold a handler thread (and so close()).
    timeout = 30.0
    server: _HTTPServer

    def setup(self) -> None:
        super().setup()
        # Small SSE writes must leave at once, not wait for the previous one's ACK.
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.owner._register(self.connection)

    def finish(self) -> None:
        self.server.owner._unregister(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output clean

    def do_GET(self) -> None:
        self._send_json(
            404, _openai_error(404, f"no route for GET {self.path}"), "x-request-id", ""
        )

    def do_POST(self) -> None:
        owner = self.server.owner
        owner._begin()
        try:
            self._post(owner)
        except _ClientGone:
            owner._signal(owner.client_disconnected)
        except _Closing:
            pass
        finally:
            self.close_connection = True
            owner._end()

    # -- request ------------------------------------------------------------

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            parts: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _post(self, owner: LLMServer) -> None:
        split = urlsplit(self.path)
        raw = self._read_body()
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = None
        headers = {key.lower(): value for key, value in self.headers.items()}
        owner._record(RecordedRequest("POST", split.path, split.query, headers, body))

        dialect_type = _DIALECTS.get(split.path.rstrip("/"))
        if dialect_type is None:
            message = f"no route for POST {split.path}"
            self._send_json(404, _openai_error(404, message), "x-request-id", "")
            return
        if not isinstance(body, dict):
            error = dialect_type.error_body(400, "the request body must be a JSON object")
            self._send_json(400, error, dialect_type.request_id_header, "")
            return

        script = owner._next_script()
        reply = dialect_type(
            body, script.reply_tokens(dialect_type.user_text(body)), owner._serial()
        )
        if script.http_error is not None:
            status, message = script.http_error
            error = reply.error_body(status, message)
            self._send_json(status, error, reply.request_id_header, reply.request_id)
        elif body.get("stream") is True:
            self._stream(owner, script, reply)
        else:
            self._reply(owner, script, reply)

    # -- replies ------------------------------------------------------------

    def _send_json(self, status: int, payload: Any, id_header: str, request_id: str) -> None:
        data = json.dumps(payload).encode()
        try:
            self.send_response(status, "Overloaded" if status == 529 else None)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if request_id:
                self.send_header(id_header, request_id)
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(data)
        except OSError as error:
            raise self._lost() from error

    def _reply(self, owner: LLMServer, script: Script, reply: _Dialect) -> None:
        # Not streaming: "generate" with the same pacing, then answer in one piece.
        for index in range(len(reply.tokens[: script.cut])):
            self._await_turn(owner, script, index)
        self._check_client()
        if script.drop_after is not None:
            self._drop()
        elif script.fail_after is not None:
            status = reply.failure_status()
            error = reply.error_body(status, script.fail_message)
            self._send_json(status, error, reply.request_id_header, reply.request_id)
        else:
            self._send_json(200, reply.complete(), reply.request_id_header, reply.request_id)

    def _stream(self, owner: LLMServer, script: Script, reply: _Dialect) -> None:
        try:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream; charset=utf-8")
            self.send_header("Cache-Control", "no-cache")
            # Chunked framing lets the client tell a dropped connection from the end.
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header(reply.request_id_header, reply.request_id)
            self.send_header("Connection", "close")
            self.end_headers()
        except OSError as error:
            raise self._lost() from error
        owner._count("started")
        outcome: _Outcome = "aborted"
        try:
            for event in reply.head():
                self._write_chunk(event)
            for index, token in enumerate(reply.tokens[: script.cut]):
                self._await_turn(owner, script, index)
                # Counted before the write, so a consumer holding token k can rely on
                # tokens_sent >= k; a failed write takes the count back.
                owner._count("tokens")
                try:
                    self._write_chunk(reply.token(token))
                except _Stop:
                    owner._count("tokens", -1)
                    raise
                self._check_client()
            if script.fail_after is not None:
                self._write_chunk(reply.error(script.fail_message))
                self._write_raw(b"0\r\n\r\n")
                outcome = "failed"
            elif script.drop_after is not None:
                self._drop()
                outcome = "dropped"
            else:
                for event in reply.tail():
                    self._write_chunk(event)
                self._write_raw(b"0\r\n\r\n")
                outcome = "completed"
        except _Closing:
            outcome = "interrupted"
            raise
        finally:
            owner._count(outcome)

    # -- socket -------------------------------------------------------------

    def _lost(self) -> _Stop:
        # close() cuts live connections too; that is not the client going away.
        return _Closing() if self.server.owner._closing.is_set() else _ClientGone()

    def _write_raw(self, data: bytes) -> None:
        try:
            # wfile is unbuffered (wbufsize 0): this is a sendall, so nothing lingers.
            self.wfile.write(data)
        except OSError as error:
            raise self._lost() from error

    def _write_chunk(self, data: bytes) -> None:
        self._write_raw(b"%x\r\n%s\r\n" % (len(data), data))

    def _drop(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def _check_client(self, wait: float = 0.0) -> None:
        """Raise _ClientGone if the client has closed; waits up to ``wait`` seconds for news."""
        try:
            # The request was read in full, so readable means EOF (or stray bytes to drop).
            if _readable(self.connection, wait) and not self.connection.recv(65536):
                raise self._lost()
        except (OSError, ValueError) as error:
            raise self._lost() from error

    def _await_turn(self, owner: LLMServer, script: Script, index: int) -> None:
        if script.gate is not None and index >= script.gate_after:
            self._pass_gate(owner, script.gate)
        if script.delay > 0:
            deadline = time.monotonic() + script.delay
            while (remaining := deadline - time.monotonic()) > 0:
                owner._check_open()
                self._check_client(min(remaining, _POLL_SECONDS))
        owner._check_open()

    def _pass_gate(self, owner: LLMServer, gate: Gate) -> None:
        if _try_gate(gate, 0):
            return
        owner._count("gate_waits")
        owner._signal(owner.at_gate)
        while not _try_gate(gate, _POLL_SECONDS):
            owner._check_open()
            self._check_client()


def _readable(connection: socket.socket, timeout: float) -> bool:
    if hasattr(select, "poll"):  # unlike select(), poll() takes descriptors >= 1024
        poller = select.poll()
        poller.register(connection, select.POLLIN)
        return bool(poller.poll(timeout * 1000))
    readable, _, _ = select.select([connection], [], [], timeout)
    return bool(readable)


def _try_gate(gate: Gate, timeout: float) -> bool:
    if isinstance(gate, threading.Event):
        return gate.wait(timeout)
    return gate.acquire(timeout=timeout) if timeout > 0 else gate.acquire(blocking=False)


_Outcome = Literal[
    "started", "tokens", "gate_waits", "completed", "aborted", "failed", "dropped", "interrupted"
]


# ---------------------------------------------------------------------------
# Public server


@dataclass
class _Counters:
    started: int = 0
    tokens: int = 0
    gate_waits: int = 0
    completed: int = 0
    aborted: int = 0
    failed: int = 0
    dropped: int = 0
    interrupted: int = 0


@dataclass
class _State:
    requests: list[RecordedRequest] = field(default_factory=list)
    queue: deque[Script] = field(default_factory=deque)
    counters: _Counters = field(default_factory=_Counters)
    in_flight: int = 0
    serial: int = 0


class LLMServer:
    """A stand-in Anthropic/OpenAI endpoint on 127.0.0.1, served from a background thread.

    ``with LLMServer() as server:`` starts it on a free port and closes it
    (joining every thread it started) on exit. Point clients at
    :attr:`anthropic_base_url` / :attr:`openai_base_url`.
    """

    def __init__(self, default: Script | None = None, *, host: str = "127.0.0.1") -> None:
        self.default_script: Script = default if default is not None else Script()
        """Used when the queue is empty; replace it or use :meth:`configure`."""
        self.client_disconnected = threading.Event()
        """Set when a client goes away before its reply was finished."""
        self.at_gate = threading.Event()
        """Set when a request has to wait at its script's gate."""
        self._host = host
        # Reentrant, so a wait_until() predicate may read the public properties.
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._state = _State()
        self._connections: set[socket.socket] = set()
        self._closing = threading.Event()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ----------------------------------------------------------

    def start(self) -> LLMServer:
        """Bind a free port and serve in a daemon thread. Idempotent."""
        if self._httpd is not None:
            return self
        if self._closing.is_set():
            raise RuntimeError("a closed LLMServer cannot be restarted")
        self._httpd = _HTTPServer((self._host, 0), self)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.01},
            name=f"llm-server-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving, cut open connections and join every server thread. Idempotent."""
        with self._lock:
            self._closing.set()
            connections = list(self._connections)
        httpd, thread = self._httpd, self._thread
        if httpd is None or thread is None:
            return
        httpd.shutdown()
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        httpd.server_close()  # also joins the handler threads
        thread.join()
        self._httpd = self._thread = None

    def __enter__(self) -> LLMServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- addresses ----------------------------------------------------------

    @property
    def port(self) -> int:
        """The bound port."""
        if self._httpd is None:
            raise RuntimeError("the server is not running; call start() first")
        return self._httpd.server_port

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://{self._host}:{self.port}"

    @property
    def anthropic_base_url(self) -> str:
        """``base_url`` for ``anthropic.Anthropic`` (the SDK appends ``/v1/messages``)."""
        return self.url

    @property
    def openai_base_url(self) -> str:
        """``base_url`` for ``openai.OpenAI`` (``url + "/v1"``)."""
        return f"{self.url}/v1"

    # -- scripting ----------------------------------------------------------

    def configure(self, script: Script | None = None, /, **fields: Any) -> Script:
        """Set the default script: pass a :class:`Script`, or its fields as keywords.

        With neither, the default goes back to the stand-in echo.
        """
        if script is not None and fields:
            raise TypeError("pass a Script or keyword fields, not both")
        self.default_script = script if script is not None else Script(**fields)
        return self.default_script

    def enqueue(self, *scripts: Script) -> None:
        """Queue scripts for the next requests, one each, before the default applies again."""
        with self._lock:
            self._state.queue.extend(scripts)

    def reset(self) -> None:
        """Forget requests, queued scripts, counters and signals; restore the default script."""
        with self._lock:
            self._state = _State(serial=self._state.serial)
            self.default_script = Script()
            self.client_disconnected.clear()
            self.at_gate.clear()

    # -- observation --------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far, oldest first (a copy)."""
        with self._lock:
            return list(self._state.requests)

    @property
    def streams_started(self) -> int:
        """Streaming replies whose headers were sent."""
        return self._counter("started")

    @property
    def streams_completed(self) -> int:
        """Streams that sent their final event and ended the body."""
        return self._counter("completed")

    @property
    def streams_aborted(self) -> int:
        """Streams the client closed (or broke) before they were finished."""
        return self._counter("aborted")

    @property
    def streams_failed(self) -> int:
        """Streams ended by a scripted in-stream error (``fail_after``)."""
        return self._counter("failed")

    @property
    def streams_dropped(self) -> int:
        """Streams cut by a scripted connection drop (``drop_after``)."""
        return self._counter("dropped")

    @property
    def tokens_sent(self) -> int:
        """Token events written to streaming clients, over all streams.

        Counted just before each write, so once a consumer has received k tokens
        this is at least k.
        """
        return self._counter("tokens")

    @property
    def gate_waits(self) -> int:
        """How many times a request had to wait at its gate (once per held token)."""
        return self._counter("gate_waits")

    def wait_until(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Wait until ``predicate()`` is true, re-checking whenever the server's state changes.

        The predicate may read this server's properties, e.g.
        ``server.wait_until(lambda: server.tokens_sent >= 2, 5)``. False on timeout.
        """
        with self._changed:
            return self._changed.wait_for(predicate, timeout)

    def wait_for_requests(self, count: int, timeout: float) -> bool:
        """Wait until at least ``count`` requests have arrived; False on timeout."""
        return self.wait_until(lambda: len(self._state.requests) >= count, timeout)

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no request is being handled (counters are then final); False on timeout."""
        return self.wait_until(lambda: self._state.in_flight == 0, timeout)

    # -- used by the handler threads ------------------------------------------

    def _counter(self, name: str) -> int:
        with self._lock:
            value: int = getattr(self._state.counters, name)
            return value

    def _count(self, name: _Outcome, step: int = 1) -> None:
        with self._changed:
            counters = self._state.counters
            setattr(counters, name, getattr(counters, name) + step)
            self._changed.notify_all()

    def _signal(self, event: threading.Event) -> None:
        with self._changed:
            event.set()
            self._changed.notify_all()

    def _record(self, request: RecordedRequest) -> None:
        with self._changed:
            self._state.requests.append(request)
            self._changed.notify_all()

    def _next_script(self) -> Script:
        with self._lock:
            return self._state.queue.popleft() if self._state.queue else self.default_script

    def _serial(self) -> int:
        with self._lock:
            self._state.serial += 1
            return self._state.serial

    def _begin(self) -> None:
        with self._changed:
            self._state.in_flight += 1

    def _end(self) -> None:
        with self._changed:
            self._state.in_flight -= 1
            self._changed.notify_all()

    def _check_open(self) -> None:
        if self._closing.is_set():
            raise _Closing

    def _register(self, connection: socket.socket) -> None:
        with self._lock:
            self._connections.add(connection)
            closing = self._closing.is_set()
        if closing:
            # close() has already cut the connections it knew of; cut this late one too.
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def _unregister(self, connection: socket.socket) -> None:
        with self._lock:
            self._connections.discard(connection)
