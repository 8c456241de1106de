"""Generator nodes: the output is the list of what they yield; plus all-async graphs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

from hypergraph import Graph, node


@node(output_name="tokens")
def count_tokens(n: int) -> Iterator[str]:
    for i in range(n):
        yield f"t{i}"


@node(output_name="text")
def concat(tokens: list[str]) -> str:
    return "".join(tokens)


def sync_generator() -> Graph:
    return Graph([count_tokens, concat])


@node(output_name="tokens")
async def async_count_tokens(n: int) -> AsyncIterator[str]:
    for i in range(n):
        await asyncio.sleep(0)
        yield f"a{i}"


def async_generator() -> Graph:
    return Graph([async_count_tokens, concat])


@node(output_name="fetched")
async def fetch(x: int) -> int:
    await asyncio.sleep(0)
    return x + 100


@node(output_name="parsed")
def parse(fetched: int) -> str:
    return f"<{fetched}>"


@node(output_name="stored")
async def store(parsed: str, x: int) -> str:
    await asyncio.sleep(0)
    return f"{parsed}#{x}"


def async_chain() -> Graph:
    """async def -> def -> async def: the mixed chain only AsyncRunner can run."""
    return Graph([fetch, parse, store])
