"""One HTTP exchange with the stand-in server: read, record, route, answer, pace.

The handler reads a request, records it, picks the dialect for its path and the
script for its reply, then answers in one piece or streams it step by step (text
tokens, then tool-call argument pieces),
honouring the script's delay, gate and failure mode. It notices a client that
hangs up and a server that is closing, and reports both to :class:`LLMServer`.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import select
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .anthropic import Anthropic
from .dialect import Dialect, openai_error
from .openai_chat import ChatCompletions
from .openai_responses import Responses
from .request import RecordedRequest
from .script import Gate, Script
from .state import CounterName

if TYPE_CHECKING:
    from .httpd import HTTPServer
    from .server import LLMServer

# How often a waiting handler re-checks the server's shutdown flag. Client
# disconnects are noticed at once (select wakes on EOF); this bounds close().
_POLL_SECONDS = 0.02

_DIALECTS: dict[str, type[Dialect]] = {
    "/v1/messages": Anthropic,
    "/v1/chat/completions": ChatCompletions,
    "/v1/responses": Responses,
}


class _Stop(Exception):
    """The exchange cannot go on."""


class _ClientGone(_Stop):
    """The client closed its connection (or it broke) before the reply was finished."""


class _Closing(_Stop):
    """The server is shutting down."""


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Bounds how long a silent client can hold a handler thread (and so close()).
    timeout = 30.0
    server: HTTPServer

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
        self._send_json(404, openai_error(404, f"no route for GET {self.path}"), "x-request-id", "")

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
        request = RecordedRequest("POST", split.path, split.query, headers, body)
        owner._record(request)

        dialect_type = _DIALECTS.get(split.path.rstrip("/"))
        if dialect_type is None:
            message = f"no route for POST {split.path}"
            self._send_json(404, openai_error(404, message), "x-request-id", "")
            return
        if not isinstance(body, dict):
            error = dialect_type.error_body(400, "the request body must be a JSON object")
            self._send_json(400, error, dialect_type.request_id_header, "")
            return

        try:
            script = owner._take_script(request)
        except Exception as broken:
            # A test's own match predicate broke: say so to the client instead of
            # letting the handler thread die and the client see a dropped connection.
            message = (
                f"stand-in server: the match predicate of a queued Script raised {broken!r}. "
                "How to fix: make the predicate return True or False for every request."
            )
            payload = dialect_type.error_body(500, message)
            self._send_json(500, payload, dialect_type.request_id_header, "")
            return
        reply = dialect_type(
            body,
            script.reply_tokens(dialect_type.user_text(body)),
            tuple(script.tool_calls),
            owner._serial(),
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

    def _reply(self, owner: LLMServer, script: Script, reply: Dialect) -> None:
        # Not streaming: "generate" with the same pacing, then answer in one piece.
        steps = reply.pieces if script.cut is None else min(reply.pieces, script.cut)
        for index in range(steps):
            self._await_turn(owner, script, index)
        self._check_client()
        if script.drop_after is not None:
            self._drop()
        elif script.fail_after is not None:
            status = reply.failure_status
            error = reply.error_body(status, script.fail_message)
            self._send_json(status, error, reply.request_id_header, reply.request_id)
        else:
            self._send_json(200, reply.complete(), reply.request_id_header, reply.request_id)

    def _stream(self, owner: LLMServer, script: Script, reply: Dialect) -> None:
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
        outcome: CounterName = "aborted"
        try:
            for event in reply.head():
                self._write_chunk(event)
            # islice stops before making step cut + 1, so its events are never sent.
            for index, step in enumerate(itertools.islice(reply.steps(), script.cut)):
                self._await_turn(owner, script, index)
                for event in step.framing:
                    self._write_chunk(event)
                # Counted before the write, so a consumer holding token k can rely on
                # tokens_sent >= k; a failed write takes the count back.
                owner._count("tokens")
                try:
                    self._write_chunk(step.event)
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

    def _check_open(self) -> None:
        if self.server.owner._closing.is_set():
            raise _Closing

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
                self._check_open()
                self._check_client(min(remaining, _POLL_SECONDS))
        self._check_open()

    def _pass_gate(self, owner: LLMServer, gate: Gate) -> None:
        if _try_gate(gate, 0):
            return
        owner._count("gate_waits")
        owner._signal(owner.at_gate)
        while not _try_gate(gate, _POLL_SECONDS):
            self._check_open()
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
