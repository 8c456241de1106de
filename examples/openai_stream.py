"""OpenAI: a generator node yields Chat Completions deltas; SyncRunner.iter shows them live.

A generator node's output is the list of what it yielded, and every item reaches
`iter()` consumers the moment it is yielded.

    python examples/openai_stream.py
"""

from __future__ import annotations

from collections.abc import Iterator

from _provider import OPENAI_MODEL, use_stand_in_if_offline
from openai import OpenAI

from hypergraph import Graph, StreamingChunkEvent, SyncRunner, node

use_stand_in_if_offline()
client = OpenAI()


@node(output_name="tokens")
def ask(question: str) -> Iterator[str]:
    stream = client.chat.completions.create(
        model=OPENAI_MODEL, messages=[{"role": "user", "content": question}], stream=True
    )
    with stream:
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                yield chunk.choices[0].delta.content


@node(output_name="answer")
def join(tokens: list[str]) -> str:
    return "".join(tokens)


graph = Graph([ask, join])


def main(question: str = "What is a hypergraph?") -> str:
    with SyncRunner().iter(graph, question=question) as run:
        for event in run:
            if isinstance(event, StreamingChunkEvent):
                print(event.chunk, end="", flush=True)
        result = run.result()
    print()
    return str(result["answer"])


if __name__ == "__main__":
    main()
