"""The README demo: a RAG answer streamed live, with node progress and time to first token.

python3 dev.py demo            # offline: a local stand-in model answers
ANTHROPIC_API_KEY=... python3 dev.py demo "How do nodes get wired?"
OPENAI_BASE_URL=http://localhost:8000/v1 OPENAI_MODEL=... python3 dev.py demo
"""

from __future__ import annotations

import asyncio
import sys
import time

from _provider import describe
from rag_pipeline import rag

from hypergraph import AsyncRunner, NodeEndEvent, NodeStartEvent, StreamingChunkEvent


async def main(question: str) -> None:
    print(f"hypergraph demo. Model: {describe()}\nQuestion: {question}\n")
    started = time.perf_counter()
    first_token = None
    async with AsyncRunner().iter(rag, question=question) as run:
        async for event in run:
            if isinstance(event, NodeStartEvent):
                print(f"[{event.path}]", end=" ", flush=True)
            elif isinstance(event, StreamingChunkEvent):
                if first_token is None:
                    first_token = time.perf_counter() - started
                    print("\n")
                print(event.chunk, end="", flush=True)
            elif isinstance(event, NodeEndEvent) and event.node_name == "generate":
                print()
        result = await run.result()
    total = time.perf_counter() - started
    ttft = f"{first_token * 1000:.0f} ms" if first_token is not None else "n/a"
    print(f"\n{len(result['answer'])} characters; first token after {ttft}, all after "
          f"{total * 1000:.0f} ms; status {result.status.value}")  # fmt: skip


if __name__ == "__main__":
    asyncio.run(main(" ".join(sys.argv[1:]) or "How do cycles stop?"))
