"""Serve a graph over HTTP: a chat page, event streams, OpenAI- and AI-SDK-compatible chat.

Needs the `serve` extra (`pip install "hypergraph[serve]"`: Starlette and uvicorn),
imported only when an app is made. Endpoints and the wire form of every event:
docs/serve.md. The app itself is in `app.py`; what a run does as readers come and go,
in `runlog.py`.

    from hypergraph.serve import create_app, serve
    app = create_app(graph)              # an ASGI app: uvicorn module:app
    serve(graph, port=8000)              # or run it now; the chat page is at /
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from ..errors import GraphConfigError
from ..graph.graph import Graph
from ._extra import require_serve_extra
from .chat_shape import chat_shape
from .errors import MissingExtraError, RequestError

if TYPE_CHECKING:
    from starlette.applications import Starlette

__all__ = ["MissingExtraError", "RequestError", "create_app", "serve"]

log = logging.getLogger("hypergraph.serve")


def create_app(
    graph: Graph,
    *,
    messages_input: str = "messages",
    answer_node: str | None = None,
    answer_output: str | None = None,
    model_name: str | None = None,
    resume_window: float | None = None,
    heartbeat: float = 15.0,
    log_size: int = 4096,
    slow_reader_timeout: float = 30.0,
    title: str | None = None,
) -> Starlette:
    """An ASGI app that serves `graph`: a chat page at `/`, `/runs` and its event
    streams, and OpenAI- and AI-SDK-compatible chat endpoints (docs/serve.md).

    - `messages_input`: the graph input that receives a chat's messages.
    - `answer_node`: the node (name, or `outer/inner` path) whose chunks are the reply
      text; None picks the graph's one streaming node.
    - `answer_output`: a graph output used as the reply when nothing streamed (default:
      the only output of a graph without streaming nodes).
    - `model_name`: the model id `/v1/models` lists (default: the graph's name).
    - `resume_window`: seconds a run goes on without a reader, waiting for a reconnect
      with `Last-Event-ID`; None cancels a run as soon as its last reader leaves.
    - `heartbeat`: seconds of silence after which a stream gets a comment line.
    - `log_size`: events kept per run for reconnects; a reader may lag half of it.
    - `slow_reader_timeout`: seconds a reader may take nothing before its run is cancelled.
    - `title`: the chat page's title (default: the graph's name).

    >>> from hypergraph import node
    >>> @node(output_name="reply")
    ... def reply(messages: list) -> object:
    ...     yield "Hello"
    >>> app = create_app(Graph([reply]))          # then: uvicorn module:app
    >>> "/v1/chat/completions" in [route.path for route in app.routes]
    True
    """
    require_serve_extra()
    from .app import build_app
    from .runlog import ServedRuns

    if not isinstance(graph, Graph):
        raise GraphConfigError(
            f"create_app() serves a Graph, got {type(graph).__name__}.\n"
            "How to fix: create_app(Graph([...]))."
        )
    _check_options(resume_window, heartbeat, log_size, slow_reader_timeout)
    shape = chat_shape(
        graph,
        messages_input=messages_input,
        answer_node=answer_node,
        answer_output=answer_output,
        model_name=model_name,
    )
    # A graph without a 'messages' input is no chat graph: no need to warn about it.
    if shape.problem and (messages_input != "messages" or messages_input in graph.inputs.all):
        log.warning("The chat endpoints are off for this graph: %s", shape.problem)
    runs = ServedRuns(
        resume_window=resume_window, log_size=log_size, slow_reader_timeout=slow_reader_timeout
    )
    return build_app(
        graph,
        shape,
        runs,
        heartbeat=heartbeat,
        slow_reader_timeout=slow_reader_timeout,
        title=title,
    )


def serve(
    graph: Graph,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    resume_window: float | None = None,
    **options: Any,
) -> None:
    """Serve `graph` with uvicorn on http://host:port until Ctrl-C; the chat page is at `/`.

    `options` go to `create_app` (`answer_node=`, `messages_input=`, ...).

    For example `serve(graph, port=8000, resume_window=30)`.
    """
    require_serve_extra()
    import uvicorn

    app = create_app(graph, resume_window=resume_window, **options)
    # Open streams would hold a graceful shutdown for ever: give them a moment, then cut.
    uvicorn.run(app, host=host, port=port, timeout_graceful_shutdown=3, log_level="info")


def _check_options(
    resume_window: float | None, heartbeat: float, log_size: int, slow_reader_timeout: float
) -> None:
    numbers = {"heartbeat": heartbeat, "slow_reader_timeout": slow_reader_timeout}
    if resume_window is not None:
        numbers["resume_window"] = resume_window
    for name, value in numbers.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
            raise GraphConfigError(
                f"create_app({name}={value!r}): {name} is a number of seconds above 0.\n"
                f"How to fix: create_app(graph, {name}=30)"
                + (", or leave it out (None) for no window." if name == "resume_window" else ".")
            )
    if isinstance(log_size, bool) or not isinstance(log_size, int) or log_size < 16:
        raise GraphConfigError(
            f"create_app(log_size={log_size!r}): log_size is a whole number of events, at "
            "least 16.\nHow to fix: create_app(graph, log_size=4096)."
        )
