"""A consumer reading `iter()`: two nodes stream at once, each chunk labelled by its node.

This is the shape of a chat UI or a websocket handler: one loop receives node
progress and tokens as they happen, whichever node they come from.

    python examples/consumer_iter.py
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from _provider import stream_text, use_stand_in_if_offline

from hypergraph import (
    AsyncRunner,
    Graph,
    NodeEndEvent,
    NodeStartEvent,
    StreamingChunkEvent,
    node,
)

use_stand_in_if_offline()


@node(output_name="haiku")
async def haiku(topic: str) -> AsyncIterator[str]:
    async for text in stream_text([{"role": "user", "content": f"A haiku about {topic}."}]):
        yield text


@node(output_name="fact")
async def fact(topic: str) -> AsyncIterator[str]:
    async for text in stream_text([{"role": "user", "content": f"One fact about {topic}."}]):
        yield text


graph = Graph([haiku, fact])


async def main(topic: str = "the moon") -> dict[str, str]:
    texts: dict[str, str] = {"haiku": "", "fact": ""}
    async with AsyncRunner().iter(graph, topic=topic) as run:
        async for event in run:
            if isinstance(event, NodeStartEvent):
                print(f"-> {event.path} started")
            elif isinstance(event, StreamingChunkEvent):
                texts[event.node_name] += event.chunk
                print(f"   {event.node_name}#{event.sequence}: {event.chunk!r}")
            elif isinstance(event, NodeEndEvent):
                print(f"<- {event.path} done")
        await run.result()
    return texts


if __name__ == "__main__":
    asyncio.run(main())
