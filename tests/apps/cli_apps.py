"""Graphs the `hypergraph` command runs in the CLI tests, as a user's app module would hold.

Each is a module-level Graph, named for what it shows: a story streamed token by token
(sync and async), a stream that waits for the test before its second chunk (to prove
chunks are printed while the node still runs), a stream that fails half-way, a stream
that never ends (Ctrl-C), and values of every JSON kind.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

from hypergraph import Graph, interrupt, node


@node(output_name="tokens")
def tell(topic: str) -> Iterator[str]:
    yield "Once"
    yield " upon"
    yield f" a {topic}"


@node(output_name="title")
def headline(tokens: list[str]) -> str:
    return "".join(tokens).upper()


story = Graph([tell, headline])


@node(output_name="tokens")
async def tell_async(topic: str) -> AsyncIterator[str]:
    for token in ("Once", " upon", f" a {topic}"):
        yield token


async_story = Graph([tell_async.with_name("tell"), headline])


@node(output_name="tokens")
def wait_between() -> Iterator[str]:
    yield "first"
    sys.stdin.readline()  # the test answers only once it has seen "first" printed
    yield " second"


@node(output_name="tokens")
async def wait_between_async() -> AsyncIterator[str]:
    yield "first"
    await asyncio.to_thread(sys.stdin.readline)
    yield " second"


handshake = Graph([wait_between])
async_handshake = Graph([wait_between_async])


@node(output_name="tokens")
def stream(prompt: str) -> Iterator[str]:
    yield "par"
    yield "tial"
    raise RuntimeError("provider went away")


@node(output_name="tokens")
async def stream_async(prompt: str) -> AsyncIterator[str]:
    yield "par"
    yield "tial"
    raise RuntimeError("provider went away")


broken = Graph([stream])
async_broken = Graph([stream_async.with_name("stream")])


@node(output_name="ticks")
def tick_forever() -> Iterator[str]:
    try:
        while True:
            yield "tick\n"
            time.sleep(0.02)  # a slow provider
    finally:
        print("stream closed", file=sys.stderr, flush=True)


@node(output_name="ticks")
async def tick_forever_async() -> AsyncIterator[str]:
    try:
        while True:
            yield "tick\n"
            await asyncio.sleep(0.02)
    finally:
        print("stream closed", file=sys.stderr, flush=True)


endless = Graph([tick_forever])
async_endless = Graph([tick_forever_async])


@node(output_name=("kind", "same"))
def inspect(value: Any) -> tuple[str, Any]:
    return type(value).__name__, value


@node(output_name="total")
def add(a: int, b: int = 10) -> int:
    return a + b


echo = Graph([inspect])
adder = Graph([add])


@node(output_name=("items", "ratio", "text"))
def odd_values() -> tuple[set[int], float, str]:
    return {1, 2}, float("nan"), "plain"


odd = Graph([odd_values])

not_a_graph = 42


def make_graph() -> Graph:
    return story


@interrupt(output_name="approved")
def confirm(total: int) -> str:
    return f"publish {total}?"


@node(output_name="published")
def publish(total: int, approved: bool) -> str:
    return f"published {total}" if approved else "kept back"


approval = Graph([add, confirm, publish], name="approval")
