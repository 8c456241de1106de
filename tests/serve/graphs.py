"""Chat graphs for the serve tests: nodes that stream from the stand-in LLM server.

The reply node uses the real `openai` SDK (async client) against `LLMServer`, in an
async generator, so stopping or cancelling the run closes the SDK stream and the server
records the disconnect. What the server answers (tokens, pace, failures, a gate that
holds tokens back) is set per test with `server.enqueue(Script(...))`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import openai

from hypergraph import END, Graph, node, route
from hypergraph.testing import LLMServer

MODEL = "stand-in-chat"


def chat_graph(server: LLMServer, *, name: str = "chat") -> Graph:
    """One streaming node: `messages` in, the reply's tokens out (output `answer`)."""

    @node(output_name="answer")
    async def reply(messages: list[dict[str, Any]]) -> AsyncIterator[str]:
        # verify=False: plain HTTP on loopback needs no certificates, and loading them
        # costs ~100 ms a client.
        http = openai.DefaultAsyncHttpxClient(verify=False)
        async with openai.AsyncOpenAI(
            base_url=server.openai_base_url, api_key="test", max_retries=0, http_client=http
        ) as client:
            stream = await client.chat.completions.create(
                model=MODEL,
                messages=messages,  # type: ignore[arg-type]
                stream=True,
            )
            async with stream:  # closed when the run stops or is cancelled: the server sees it
                async for chunk in stream:
                    if chunk.choices and chunk.choices[0].delta.content:
                        yield chunk.choices[0].delta.content

    return Graph([reply], name=name)


def rag_graph(server: LLMServer) -> Graph:
    """A lookup node, a gate and the streaming reply: node progress to watch."""

    @node(output_name="context")
    def lookup(messages: list[dict[str, Any]]) -> str:
        return f"{len(messages)} messages so far"

    @route(targets=["reply", END])
    def decide(context: str) -> object:
        return "reply"

    inner = chat_graph(server)
    return Graph([lookup, decide, *inner.nodes.values()], name="rag")
