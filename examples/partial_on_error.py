"""Error handling that keeps partial text: what the user already saw is not lost.

With error_handling="continue" a failing node gives a FAILED result that still holds
the chunks the node streamed before it failed (`result.partial`) and every value
other nodes produced. Offline, the stand-in is told to fail after 5 tokens to show it.

    python examples/partial_on_error.py
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from _provider import stream_text, use_stand_in_if_offline

from hypergraph import AsyncRunner, Graph, node
from hypergraph.testing import Script

stand_in = use_stand_in_if_offline()


@node(output_name="draft")
async def write(topic: str) -> AsyncIterator[str]:
    async for text in stream_text([{"role": "user", "content": f"Write about {topic}."}]):
        yield text


@node(output_name="title")
def title(topic: str) -> str:
    return topic.title()


graph = Graph([write, title])


async def main(topic: str = "tides") -> dict[str, object]:
    if stand_in is not None:
        stand_in.enqueue(Script(fail_after=5, delay=0.02))
    result = await AsyncRunner().run(graph, topic=topic, error_handling="continue")
    shown = "".join(result.partial.get("write", []))
    print(f"status: {result.status.value}")
    print(f"error:  {result.error!r}")
    print(f"kept:   {shown!r}")
    print(f"title:  {result.get('title')!r}")
    return {"status": result.status, "partial": shown, "title": result.get("title")}


if __name__ == "__main__":
    asyncio.run(main())
