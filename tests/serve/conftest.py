"""Fixtures of the serve tests: the stand-in LLM server, and real uvicorn servers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from hypergraph.serve import create_app
from hypergraph.testing import LLMServer

from .graphs import rag_graph
from .harness import Running, running


@pytest.fixture(scope="module")
def llm_module() -> Iterator[LLMServer]:
    with LLMServer() as server:
        yield server


@pytest.fixture
def llm(llm_module: LLMServer) -> LLMServer:
    """The module's stand-in LLM server, with a clean slate for this test."""
    llm_module.reset()
    return llm_module


@pytest.fixture(scope="module")
def served(llm_module: LLMServer) -> Iterator[Running]:
    """The RAG graph (lookup, gate, streaming reply) behind a real uvicorn, per module."""
    with running(create_app(rag_graph(llm_module))) as server:
        yield server


@pytest.fixture
def serve_app(llm_module: LLMServer) -> Iterator[object]:
    """`serve_app(graph=None, **create_app_options)`: a graph (default: the RAG graph)
    served with these options, for this test."""
    with _Servers(llm_module) as servers:
        yield servers


class _Servers:
    def __init__(self, llm: LLMServer) -> None:
        self.llm = llm
        self.stack: list[object] = []

    def __call__(self, graph: object = None, **options: object) -> Running:
        graph = graph if graph is not None else rag_graph(self.llm)
        manager = running(create_app(graph, **options))  # type: ignore[arg-type]
        server = manager.__enter__()
        self.stack.append(manager)
        return server

    def __enter__(self) -> _Servers:
        return self

    def __exit__(self, *exc: object) -> None:
        while self.stack:
            self.stack.pop().__exit__(None, None, None)  # type: ignore[attr-defined]
