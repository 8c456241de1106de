"""A RAG pipeline: retrieval as a nested graph, then an answer streamed token by token.

python examples/rag_pipeline.py "How do cycles stop?"
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator

from _provider import stream_text, use_stand_in_if_offline

from hypergraph import AsyncRunner, Graph, StreamingChunkEvent, node

use_stand_in_if_offline()

DOCUMENTS = {
    "nodes": "A node is a plain function; its parameters are its inputs.",
    "wiring": "An output named x feeds every parameter named x.",
    "cycles": "A cycle stops when a route gate returns END.",
    "streaming": "Generator nodes stream every yielded item to consumers at once.",
}


def _stems(text: str) -> set[str]:
    return {w.strip("?.,;!").lower().removesuffix("s") for w in text.split()}


@node(output_name="words")
def tokenize(question: str) -> set[str]:
    return _stems(question)


@node(output_name="docs")
def retrieve(words: set[str], top_k: int = 2) -> list[str]:
    def score(text: str) -> int:
        return len(words & _stems(text))

    return sorted(DOCUMENTS.values(), key=score, reverse=True)[:top_k]


retrieval = Graph([tokenize, retrieve], name="retrieval").select("docs")


@node(output_name="messages")
def build_prompt(question: str, docs: list[str]) -> list[dict[str, str]]:
    context = "\n".join(f"- {d}" for d in docs)
    return [{"role": "user", "content": f"Context:\n{context}\n\nQuestion: {question}"}]


@node(output_name="tokens")
async def generate(messages: list[dict[str, str]]) -> AsyncIterator[str]:
    async for text in stream_text(messages, system="Answer from the context only."):
        yield text


@node(output_name="answer")
def join(tokens: list[str]) -> str:
    return "".join(tokens)


rag = Graph([retrieval.as_node(), build_prompt, generate, join], name="rag")


async def main(question: str = "How do cycles stop?") -> str:
    async with AsyncRunner().iter(rag, question=question) as run:
        async for event in run:
            if isinstance(event, StreamingChunkEvent):
                print(event.chunk, end="", flush=True)
        result = await run.result()
    print()
    return str(result["answer"])


if __name__ == "__main__":
    asyncio.run(main(" ".join(sys.argv[1:]) or "How do cycles stop?"))
