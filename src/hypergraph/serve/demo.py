"""An offline chat page to try `hypergraph.serve`: a local stand-in model answers.

    python -m hypergraph.serve.demo                 # then open http://127.0.0.1:8000
    python -m hypergraph.serve.demo --port 8080 --resume-window 30

The graph has two nodes: `recall` (plain code) and `reply`, a generator that streams
the stand-in's OpenAI-style answer over HTTP with the standard library, so the demo
needs nothing beyond the `serve` extra and no network. Stop, a dropped connection and
node progress behave as they would with a real provider: stopping closes `reply`,
whose `with` block closes its HTTP stream.
"""

from __future__ import annotations

import argparse
import json
import urllib.request
from collections.abc import Iterator
from typing import Any

from ..graph.graph import Graph
from ..nodes.function import node
from ..testing import LLMServer, Script


def demo_graph(model_url: str) -> Graph:
    """A two-node chat graph whose reply streams from the OpenAI-style API at `model_url`.

    >>> graph = demo_graph("http://127.0.0.1:9000")   # an LLMServer's url
    """

    @node(output_name="notes")
    def recall(messages: list[dict[str, Any]]) -> str:
        turns = sum(1 for m in messages if m.get("role") == "user")
        return f"turn {turns} of this conversation"

    @node(output_name="answer")
    def reply(messages: list[dict[str, Any]], notes: str) -> Iterator[str]:
        body = {"model": "stand-in", "messages": messages, "stream": True}
        request = urllib.request.Request(
            f"{model_url}/v1/chat/completions",
            data=json.dumps(body).encode(),
            headers={"content-type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            for line in response:
                if not line.startswith(b"data: ") or line.strip() == b"data: [DONE]":
                    continue
                choices = json.loads(line[6:]).get("choices") or [{}]
                text = choices[0].get("delta", {}).get("content")
                if text:
                    yield text

    return Graph([recall, reply], name="demo")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m hypergraph.serve.demo",
        description="Serve a demo chat graph on a local stand-in model (offline).",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--resume-window", type=float, default=None)
    parser.add_argument("--delay", type=float, default=0.05, help="seconds between tokens")
    args = parser.parse_args(argv)
    from . import serve

    with LLMServer(Script(delay=args.delay)) as model:
        print(f"Stand-in model at {model.url} (offline; every reply starts '[stand-in model]').")
        print(f"Chat page: http://{args.host}:{args.port}/  (Ctrl-C to stop)")
        serve(
            demo_graph(model.url),
            host=args.host,
            port=args.port,
            resume_window=args.resume_window,
            answer_node="reply",
        )


if __name__ == "__main__":
    main()
