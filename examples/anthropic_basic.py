"""The basic pattern: an async node streams Claude's reply to the terminal and returns it.

python examples/anthropic_basic.py
"""

from __future__ import annotations

import asyncio

from _provider import ANTHROPIC_MODEL, use_stand_in_if_offline
from anthropic import Anthropic

from hypergraph import AsyncRunner, Graph, node

use_stand_in_if_offline()
client = Anthropic()


@node(output_name="response")
async def stream_response(messages: list, system: str = "") -> str:
    chunks = []
    with client.messages.stream(
        model=ANTHROPIC_MODEL, max_tokens=1024, system=system, messages=messages
    ) as stream:
        for text in stream.text_stream:
            print(text, end="", flush=True)
            chunks.append(text)
    return "".join(chunks)


graph = Graph([stream_response])


async def main() -> str:
    messages = [{"role": "user", "content": "Hi"}]
    result = await AsyncRunner().run(graph, {"messages": messages, "system": "Be brief."})
    print()
    return str(result["response"])


if __name__ == "__main__":
    asyncio.run(main())
