"""Shared fixtures: `run` executes a graph under each runner, every async run under a timeout."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import pytest

from hypergraph import AsyncRunner, Graph, RunResult, SyncRunner

# The stand-in LLM server and a client of each SDK: `server`, `claude`, `gpt`.
pytest_plugins = ["llm_clients"]

T = TypeVar("T")
ASYNC_TIMEOUT = 10.0


def run_async(coro: Coroutine[Any, Any, T], timeout: float = ASYNC_TIMEOUT) -> T:
    """Run `coro` on a fresh loop, failing (not hanging) after `timeout` seconds."""

    async def bounded() -> T:
        async with asyncio.timeout(timeout):
            return await coro

    return asyncio.run(bounded())


RunFn = Callable[..., RunResult]


@pytest.fixture(params=["sync", "async"])
def run(request: pytest.FixtureRequest) -> RunFn:
    """`run(graph, values, **options)` under SyncRunner and then AsyncRunner."""
    mode = request.param

    def _run(graph: Graph, values: dict[str, Any] | None = None, **options: Any) -> RunResult:
        if mode == "sync":
            options.pop("max_concurrency", None)
            return SyncRunner().run(graph, values, **options)
        return run_async(AsyncRunner().run(graph, values, **options))

    _run.mode = mode  # type: ignore[attr-defined]
    return _run
