"""Callbacks: an `on_token` function passed in as a value, and an event processor.

Callables given as input values reach the node untouched, by reference. An event
processor sees every chunk a node sends with `ctx.stream`, without an `iter()` loop.

    python examples/callbacks.py
"""

from __future__ import annotations

from collections.abc import Callable

from _provider import ANTHROPIC_MODEL, use_stand_in_if_offline
from anthropic import Anthropic

from hypergraph import (
    Graph,
    NodeContext,
    StreamingChunkEvent,
    SyncRunner,
    TypedEventProcessor,
    node,
)

use_stand_in_if_offline()
client = Anthropic()


@node(output_name="response")
def respond(messages: list, on_token: Callable[[str], None]) -> str:
    parts = []
    with client.messages.stream(model=ANTHROPIC_MODEL, max_tokens=512, messages=messages) as s:
        for text in s.text_stream:
            on_token(text)
            parts.append(text)
    return "".join(parts)


@node(output_name="summary")
def summarize(response: str, ctx: NodeContext) -> str:
    words = response.split()
    for word in words[:8]:
        ctx.stream(word + " ")
    return " ".join(words[:8])


class PrintChunks(TypedEventProcessor):
    def __init__(self) -> None:
        self.chunks: list[str] = []

    def on_streaming_chunk(self, event: StreamingChunkEvent) -> None:
        self.chunks.append(event.chunk)
        print(f"[{event.node_name}] {event.chunk}", flush=True)


graph = Graph([respond, summarize])


def main() -> dict[str, object]:
    received: list[str] = []

    def on_token(text: str) -> None:
        received.append(text)
        print(text, end="", flush=True)

    printer = PrintChunks()
    result = SyncRunner().run(
        graph,
        messages=[{"role": "user", "content": "Name three colours."}],
        on_token=on_token,
        event_processors=[printer],
    )
    return {"tokens": received, "chunks": printer.chunks, **result.values}


if __name__ == "__main__":
    main()
