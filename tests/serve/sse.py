"""A raw-socket HTTP/1.1 client for server-sent events, for the tests that need control.

It shows exactly what arrived and when: the status and headers, each SSE comment and
message as its bytes come in, and whether the chunked body ended properly. It can stop
reading (a small receive buffer, nothing read) or drop the connection at any moment.
"""

from __future__ import annotations

import contextlib
import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Message:
    """One SSE block: a comment, or a message with id, event and data."""

    id: str | None = None
    event: str | None = None
    data: str | None = None
    comments: list[str] = field(default_factory=list)

    @property
    def json(self) -> Any:
        assert self.data is not None
        return json.loads(self.data)


class RawSSE:
    """One request on its own connection; read its SSE body block by block."""

    def __init__(
        self,
        host: str,
        port: int,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
        rcvbuf: int | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect((host, port))
        data = b"" if body is None else json.dumps(body).encode()
        head = {"host": f"{host}:{port}", "content-length": str(len(data)), **(headers or {})}
        if body is not None:
            head.setdefault("content-type", "application/json")
        lines = [f"{method} {path} HTTP/1.1", *(f"{k}: {v}" for k, v in head.items())]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + data)
        self._buf = b""
        self.ended = False  # the chunked body's terminator arrived
        self.status = 0
        self.headers: dict[str, str] = {}

    def read_head(self) -> None:
        raw = self._until(b"\r\n\r\n")
        status_line, *header_lines = raw.decode().split("\r\n")
        self.status = int(status_line.split()[1])
        for line in header_lines:
            name, _, value = line.partition(":")
            self.headers[name.strip().lower()] = value.strip()

    def body_text(self) -> str:
        """The whole body (after read_head), chunked or with a length."""
        if self.headers.get("transfer-encoding") == "chunked":
            return b"".join(self._chunks()).decode()
        length = int(self.headers.get("content-length", "0"))
        while len(self._buf) < length:
            self._recv()
        return self._buf[:length].decode()

    def messages(self) -> Iterator[Message]:
        """Each SSE block as it completes; ends with the body (check `ended`)."""
        if not self.status:
            self.read_head()
        text = ""
        for chunk in self._chunks():
            text += chunk.decode()
            while "\n\n" in text:
                block, text = text.split("\n\n", 1)
                yield _parse(block)

    def __enter__(self) -> RawSSE:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Drop the connection now (a client that goes away)."""
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()

    def _chunks(self) -> Iterator[bytes]:
        while True:
            size_line = self._until(b"\r\n")
            size = int(size_line.split(b";")[0], 16)
            if size == 0:
                self._until(b"\r\n")
                self.ended = True
                return
            while len(self._buf) < size + 2:
                self._recv()
            chunk, self._buf = self._buf[:size], self._buf[size + 2 :]
            yield chunk

    def _until(self, marker: bytes) -> bytes:
        while marker not in self._buf:
            self._recv()
        head, self._buf = self._buf.split(marker, 1)
        return head

    def _recv(self) -> None:
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError("the server closed the connection")
        self._buf += data


def _parse(block: str) -> Message:
    message = Message()
    for line in block.split("\n"):
        if line.startswith(":"):
            message.comments.append(line[1:].strip())
            continue
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "id":
            message.id = value
        elif name == "event":
            message.event = value
        elif name == "data":
            message.data = value if message.data is None else f"{message.data}\n{value}"
    return message
