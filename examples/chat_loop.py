"""A multi-turn chat loop: stream a turn, update the history, route back or END.

No start node is named: the cycle starts where the given values make nodes ready,
and the gate decides first.

    python examples/chat_loop.py
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from _provider import stream_text, use_stand_in_if_offline

from hypergraph import END, AsyncRunner, Graph, StreamingChunkEvent, node, route

use_stand_in_if_offline()


@node(output_name="response")
async def stream_turn(messages: list) -> AsyncIterator[str]:
    async for text in stream_text(messages, system="You are a friendly tutor."):
        yield text


@node(output_name="messages")
def update_history(messages: list, response: list[str], user_turns: list[str]) -> list:
    history = [*messages, {"role": "assistant", "content": "".join(response)}]
    asked = sum(m["role"] == "user" for m in history)
    if asked < len(user_turns):
        history.append({"role": "user", "content": user_turns[asked]})
    return history


@route(targets=["stream_turn", END])
def should_continue(messages: list) -> object:
    if len(messages) >= 20 or messages[-1]["role"] == "assistant":
        return END
    return "stream_turn"


chat = Graph([stream_turn, update_history, should_continue], name="chat")

TURNS = ["What is a graph?", "And a cycle?", "Thanks!"]


async def main(turns: list[str] = TURNS) -> list:
    first = [{"role": "user", "content": turns[0]}]
    async with AsyncRunner().iter(chat, messages=first, user_turns=turns) as run:
        async for event in run:
            if isinstance(event, StreamingChunkEvent):
                print(event.chunk, end="", flush=True)
            elif type(event).__name__ == "NodeEndEvent" and event.node_name == "stream_turn":
                print()
        result = await run.result()
    return list(result["messages"])


if __name__ == "__main__":
    asyncio.run(main())
