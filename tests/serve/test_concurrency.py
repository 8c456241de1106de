"""Many streams at once: every client gets every event of its own run, in order."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from hypergraph import Graph, node

pytestmark = pytest.mark.timeout(60)

STREAMS = 200
TOKENS = 20


@node(output_name="answer")
async def count(messages: list[dict[str, Any]]) -> AsyncIterator[str]:
    for k in range(TOKENS):
        await asyncio.sleep(0.001)  # a model's pace: the streams interleave
        yield f"{messages[-1]['content']}:{k} "


async def _read(host: str, port: int, who: int) -> tuple[list[int], str]:
    """One raw HTTP/1.1 client: the ids it got and the text of its chunks."""
    reader, writer = await asyncio.open_connection(host, port)
    body = json.dumps({"values": {"messages": [{"role": "user", "content": str(who)}]}})
    writer.write(
        f"POST /runs/stream HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\n\r\n{body}".encode()
    )
    await reader.readuntil(b"\r\n\r\n")
    data = b""
    while size := int((await reader.readuntil(b"\r\n"))[:-2], 16):
        data += (await reader.readexactly(size + 2))[:-2]
    writer.close()
    await writer.wait_closed()
    ids, text = [], ""
    for block in data.decode().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.split("\n") if ": " in line)
        if "id" in fields:
            ids.append(int(fields["id"]))
        if fields.get("event") == "chunk":
            text += json.loads(fields["data"])["chunk"]
    return ids, text


def test_two_hundred_concurrent_streams_lose_nothing(serve_app: Any) -> None:
    server = serve_app(Graph([count]))

    async def everyone() -> list[tuple[list[int], str]]:
        return await asyncio.gather(*(_read(server.host, server.port, k) for k in range(STREAMS)))

    results = asyncio.run(everyone())
    for who, (ids, text) in enumerate(results):
        assert ids == list(range(len(ids)))
        assert text == "".join(f"{who}:{k} " for k in range(TOKENS))
    assert server.runs.idle.wait(5)
