"""An async generator node: tokens from AsyncAnthropic, read by an AsyncRunner.iter consumer.

python examples/async_generator_node.py
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from _provider import ANTHROPIC_MODEL, use_stand_in_if_offline
from anthropic import AsyncAnthropic

from hypergraph import AsyncRunner, Graph, StreamingChunkEvent, node

use_stand_in_if_offline()
client = AsyncAnthropic()


@node(output_name="tokens")
async def generate(prompt: str) -> AsyncIterator[str]:
    async with client.messages.stream(
        model=ANTHROPIC_MODEL, max_tokens=512, messages=[{"role": "user", "content": prompt}]
    ) as stream:
        async for text in stream.text_stream:
            yield text


@node(output_name="word_count")
def count_words(tokens: list[str]) -> int:
    return len("".join(tokens).split())


graph = Graph([generate, count_words])


async def main(prompt: str = "Write one sentence about rivers.") -> int:
    async with AsyncRunner().iter(graph, prompt=prompt) as run:
        async for event in run:
            if isinstance(event, StreamingChunkEvent):
                print(event.chunk, end="", flush=True)
        result = await run.result()
    print(f"\n({result['word_count']} words)")
    return int(result["word_count"])


if __name__ == "__main__":
    asyncio.run(main())
