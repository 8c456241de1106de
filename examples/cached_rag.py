"""Caching while you iterate: the RAG answer is cached, so a second run of the same question
makes no provider call and still streams, token by token. The model call also retries a
dropped stream and gives up on a stalled one.

python examples/cached_rag.py "How do cycles stop?"     # run it twice: the second is free
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

from _provider import stream_text, use_stand_in_if_offline
from rag_pipeline import build_prompt, join, retrieval

from hypergraph import AsyncRunner, DiskCache, Graph, RetryPolicy, StreamingChunkEvent, node

use_stand_in_if_offline()

CACHE_FILE = Path(
    os.environ.get("HYPERGRAPH_EXAMPLE_CACHE", Path(tempfile.gettempdir()) / "hg-example.sqlite")
)


@node(
    output_name="tokens",
    cache=True,  # same messages, same code: the stored stream is replayed
    retry=RetryPolicy(max_attempts=3, initial_delay=0.5),
    idle_timeout=30,  # a provider silent for 30 s is stalled: cancel and retry
)
async def generate(messages: list[dict[str, str]]) -> AsyncIterator[str]:
    async for text in stream_text(messages, system="Answer from the context only."):
        yield text


rag = Graph([retrieval.as_node(), build_prompt, generate, join], name="cached_rag")


async def main(question: str = "How do cycles stop?", cache_file: Path = CACHE_FILE) -> str:
    runner = AsyncRunner(cache=DiskCache(cache_file))
    async with runner.iter(rag, question=question) as run:
        async for event in run:
            if isinstance(event, StreamingChunkEvent):
                print(event.chunk, end="", flush=True)
            elif event.kind == "node_end" and getattr(event, "cached", False):
                print(f"\n(from the cache: {event.node_name} made no provider call)")
        result = await run.result()
    print()
    return str(result["answer"])


if __name__ == "__main__":
    asyncio.run(main(" ".join(sys.argv[1:]) or "How do cycles stop?"))
