"""Which graph input takes a chat's messages and which node's chunks are the answer text.

The chat endpoints (the page, `/v1/chat/completions`, `/api/chat`) need two facts about
a graph: the input that receives the conversation (`messages_input`) and the node
whose streamed chunks are the assistant's reply (`answer_node`). `chat_shape` finds
them, checks what the caller named, and, when it cannot decide, keeps the reason so
that a chat request gets a clear answer while `/runs` keeps working (decision 0018).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .._names import quoted, suggest
from ..errors import GraphConfigError
from ..events.types import StreamingChunkEvent
from ..graph.graph import Graph
from ..nodes.base import HyperNode
from ..nodes.graph_node import GraphNode


@dataclass(frozen=True)
class ChatShape:
    """How chat requests map onto one graph (made by `chat_shape`)."""

    messages_input: str
    """The graph input that receives the conversation, a list of `{"role", "content"}`."""
    answer_node: str | None
    """Name or path (`outer/inner`) of the node whose chunks are the reply text."""
    answer_output: str | None
    """A graph output used as the reply when no chunk was streamed (non-streaming graphs)."""
    model_name: str
    """The model id the OpenAI-compatible endpoints report."""
    problem: str | None = None
    """Why chat requests cannot be served for this graph (None when they can)."""

    def is_answer(self, event: StreamingChunkEvent) -> bool:
        """Whether this chunk is part of the reply text."""
        answer = self.answer_node
        return answer is not None and (event.node_name == answer or event.path == answer)


def chat_shape(
    graph: Graph,
    *,
    messages_input: str = "messages",
    answer_node: str | None = None,
    answer_output: str | None = None,
    model_name: str | None = None,
) -> ChatShape:
    """Resolve the chat mapping of `graph`; raise GraphConfigError for a name it lacks.

    >>> from hypergraph import node
    >>> @node(output_name="text")
    ... def reply(messages: list) -> object:
    ...     yield "Hi"
    >>> chat_shape(Graph([reply])).answer_node   # the graph's one streaming node
    'reply'
    """
    nodes = dict(_walk(graph))
    if answer_node is not None and answer_node not in nodes:
        names = [path.rsplit("/", 1)[-1] for path in nodes]
        if answer_node not in names:
            raise GraphConfigError(
                f"answer_node '{answer_node}' is not a node of this graph."
                f"{suggest(answer_node, nodes)}\nNodes: {quoted(nodes)}.\n"
                "How to fix: name the node whose chunks are the reply, e.g. "
                f"create_app(graph, answer_node='{next(iter(nodes), 'reply')}')."
            )
    if answer_output is not None and answer_output not in graph.outputs:
        raise GraphConfigError(
            f"answer_output '{answer_output}' is not an output of this graph."
            f"{suggest(answer_output, graph.outputs)}\nOutputs: {quoted(graph.outputs)}."
        )
    problem = None
    if messages_input not in graph.inputs.all:
        problem = (
            f"This graph has no input '{messages_input}' to take the chat's messages."
            f"{suggest(messages_input, graph.inputs.all)}\n"
            f"Its inputs: {quoted(graph.inputs.all)}.\n"
            "How to fix: create_app(graph, messages_input='<the input that takes the "
            "conversation>'); /runs and /runs/stream work without it."
        )
    if answer_node is None:
        streaming = [path for path, node in nodes.items() if _streams(node)]
        if len(streaming) == 1:
            answer_node = streaming[0]
        elif len(streaming) > 1 and problem is None:
            problem = (
                f"This graph has {len(streaming)} streaming nodes ({quoted(streaming)}) and "
                "the chat endpoints do not know whose chunks are the reply.\n"
                f"How to fix: create_app(graph, answer_node='{streaming[-1]}')."
            )
        elif not streaming and answer_output is None and len(graph.outputs) == 1:
            answer_output = graph.outputs[0]  # a non-streaming chat graph: its one output
    return ChatShape(
        messages_input=messages_input,
        answer_node=answer_node,
        answer_output=answer_output,
        model_name=model_name or graph.name or "hypergraph",
        problem=problem,
    )


def answer_text(chunk: Any) -> str:
    """The text a chunk adds to the reply: a string as is, anything else as `str()`."""
    return chunk if isinstance(chunk, str) else str(chunk)


def _walk(graph: Graph, prefix: str = "") -> Iterator[tuple[str, HyperNode]]:
    for name, node in graph.nodes.items():
        path = f"{prefix}{name}"
        yield path, node
        if isinstance(node, GraphNode):
            yield from _walk(node.graph, f"{path}/")


def _streams(node: HyperNode) -> bool:
    """A node that can stream chunks: a generator, or a function that takes a NodeContext."""
    return node.is_generator or getattr(node, "context_param", None) is not None
