"""The Starlette (ASGI) application that serves one graph: its routes and error responses.

The routes are thin: each reads its request, starts a `ServedRun` (or finds one) and
hands it to a response with the right protocol. What a run does when readers come and
go is `runlog`'s business; how bytes look is the protocols' (`native`, `openai_compat`,
`ui_stream`); the chat page is static files in `page/`.
"""

from __future__ import annotations

import contextlib
import html
import time
from collections.abc import AsyncIterator
from importlib import resources
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from ..errors import HypergraphError
from ..graph.graph import Graph
from ..runners.async_ import AsyncRunner
from . import openai_compat, ui_stream
from .bodies import json_object, last_event_id, run_values
from .chat_shape import ChatShape
from .errors import RequestError
from .native import NativeEvents, RunResult
from .responses import CollectedResponse, Collector, EventStreamResponse, Protocol
from .runlog import Follower, ServedRun, ServedRuns

_PAGE_FILES = {"chat.js": "text/javascript", "chat.css": "text/css"}
_RUN_EXAMPLE = '{"values": {"messages": [{"role": "user", "content": "Hi"}]}}'
_CHAT_EXAMPLE = '{"model": "hypergraph", "messages": [{"role": "user", "content": "Hi"}]}'


def build_app(
    graph: Graph,
    shape: ChatShape,
    runs: ServedRuns,
    *,
    heartbeat: float,
    slow_reader_timeout: float,
    title: str | None,
) -> Starlette:
    """The Starlette app behind `hypergraph.serve.create_app` (which checks the options)."""
    service = _Service(graph, shape, runs, heartbeat, slow_reader_timeout, title)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await runs.aclose()

    app = Starlette(
        routes=service.routes(),
        exception_handlers={HypergraphError: _error_response},
        lifespan=lifespan,
    )
    app.state.runs = runs
    app.state.shape = shape
    return app


class _Service:
    def __init__(
        self,
        graph: Graph,
        shape: ChatShape,
        runs: ServedRuns,
        heartbeat: float,
        send_timeout: float,
        title: str | None,
    ) -> None:
        self.graph = graph
        self.shape = shape
        self.runs = runs
        self.runner = AsyncRunner()
        self.heartbeat = heartbeat
        self.send_timeout = send_timeout
        self.title = title or graph.name or "hypergraph"
        self.created = int(time.time())
        self.page = _page_file("index.html").replace("{{title}}", html.escape(self.title))

    def routes(self) -> list[Route]:
        return [
            Route("/", self.chat_page, methods=["GET"]),
            Route("/static/{name}", self.static, methods=["GET"]),
            Route("/info", self.info, methods=["GET"]),
            Route("/runs", self.post_run, methods=["POST"]),
            Route("/runs/stream", self.post_run_stream, methods=["POST"]),
            Route("/runs/{run_id}/stream", self.get_run_stream, methods=["GET"]),
            Route("/runs/{run_id}/stop", self.stop_run, methods=["POST"]),
            Route("/v1/chat/completions", self.chat_completions, methods=["POST"]),
            Route("/v1/models", self.list_models, methods=["GET"]),
            Route("/api/chat", self.ai_sdk_chat, methods=["POST"]),
        ]

    # -- the page -----------------------------------------------------------------------

    async def chat_page(self, request: Request) -> Response:
        return HTMLResponse(self.page, headers={"cache-control": "no-cache"})

    async def static(self, request: Request) -> Response:
        name = request.path_params["name"]
        if name not in _PAGE_FILES:
            raise RequestError(f"No file '{name}' here.", status=404)
        return Response(_page_file(name), media_type=_PAGE_FILES[name])

    async def info(self, request: Request) -> Response:
        shape = self.shape
        return JSONResponse(
            {
                "title": self.title,
                "graph": self.graph.name,
                "model": shape.model_name,
                "messages_input": shape.messages_input,
                "answer_node": shape.answer_node,
                "answer_output": shape.answer_output,
                "chat_problem": shape.problem,
                "inputs": {
                    "required": list(self.graph.inputs.required),
                    "optional": list(self.graph.inputs.optional),
                },
                "outputs": list(self.graph.outputs),
                "resume_window": self.runs.resume_window,
            }
        )

    # -- hypergraph's own endpoints -----------------------------------------------------

    async def post_run(self, request: Request) -> Response:
        values = run_values(await json_object(request, _RUN_EXAMPLE))
        return await self._collect(values, RunResult())

    async def post_run_stream(self, request: Request) -> Response:
        values = run_values(await json_object(request, _RUN_EXAMPLE))
        return await self._stream(values, NativeEvents())

    async def get_run_stream(self, request: Request) -> Response:
        after = last_event_id(request)
        run = self.runs.get(request.path_params["run_id"])
        follower = run.follow(after)
        return self._response(run, follower, NativeEvents())

    async def stop_run(self, request: Request) -> Response:
        run = self.runs.get(request.path_params["run_id"])
        run.stop()
        status = run.result["status"] if run.result else "stopping"
        return JSONResponse({"run_id": run.run_id, "status": status})

    # -- chat endpoints -----------------------------------------------------------------

    async def chat_completions(self, request: Request) -> Response:
        self._check_chat()
        body = await json_object(request, _CHAT_EXAMPLE)
        values = openai_compat.chat_values(body, self.shape)
        usage = openai_compat.wants_usage(body)
        if body.get("stream") is True:
            return await self._stream(values, openai_compat.CompletionChunks(self.shape, usage))
        return await self._collect(values, openai_compat.Completion(self.shape, usage))

    async def list_models(self, request: Request) -> Response:
        return JSONResponse(openai_compat.models(self.shape, self.created))

    async def ai_sdk_chat(self, request: Request) -> Response:
        self._check_chat()
        body = await json_object(request, '{"messages": [...UI messages]}')
        values = ui_stream.chat_values(body, self.shape)
        return await self._stream(values, ui_stream.UIMessageStream(self.shape))

    def _check_chat(self) -> None:
        if self.shape.problem:
            raise RequestError(self.shape.problem, status=501)

    # -- runs ---------------------------------------------------------------------------

    async def _start(self, values: dict[str, Any]) -> tuple[ServedRun, Follower]:
        run = self.runs.create()
        follower = run.follow()
        try:
            await run.start(self.runner, self.graph, values)
        except BaseException:
            run.unfollow(follower)
            raise
        return run, follower

    async def _stream(self, values: dict[str, Any], protocol: Protocol) -> Response:
        run, follower = await self._start(values)
        return self._response(run, follower, protocol)

    def _response(self, run: ServedRun, follower: Follower, protocol: Protocol) -> Response:
        return EventStreamResponse(
            run, follower, protocol, heartbeat=self.heartbeat, send_timeout=self.send_timeout
        )

    async def _collect(self, values: dict[str, Any], collector: Collector) -> Response:
        run, follower = await self._start(values)
        return CollectedResponse(run, follower, collector, heartbeat=self.heartbeat)


async def _error_response(request: Request, exc: Exception) -> Response:
    """A HypergraphError as `{"error": {"type", "message", ...}}` with its 4xx status."""
    status = exc.status if isinstance(exc, RequestError) else 400
    error: dict[str, Any] = {"type": type(exc).__name__, "message": str(exc)}
    if isinstance(exc, RequestError):
        error.update(exc.details)
    for attribute in ("missing", "names"):
        if isinstance(getattr(exc, attribute, None), list):
            error[attribute] = getattr(exc, attribute)
    # The message is the fix; a retry would fail the same way.
    return JSONResponse({"error": error}, status_code=status, headers={"x-should-retry": "false"})


def _page_file(name: str) -> str:
    return (resources.files("hypergraph.serve") / "page" / name).read_text(encoding="utf-8")
