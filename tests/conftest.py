"""Shared fixtures: `run` executes a graph under each runner, every async run under a timeout."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, TypeVar

import pytest

from hypergraph import AsyncRunner, Graph, RunResult, SyncRunner
from hypergraph.runners import straight

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


@contextlib.contextmanager
def straight_path(enabled: bool) -> Iterator[None]:
    """Runs inside take the straight-line path (if their graph has one), or with False the
    general path; the switch is put back after."""
    before = straight.enabled
    straight.enabled = enabled
    try:
        yield
    finally:
        straight.enabled = before


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
