"""Retries, timeouts and caching (SPEC 10), under both runners.

Streaming cases run through the real `anthropic` SDK against the loopback server: a
stream that fails after N tokens, a stream that stalls after N tokens. Delays are
zero (`initial_delay=0`) so that nothing here waits on a clock it does not need.
"""

from __future__ import annotations

import asyncio
import functools
import os
import stat
import threading
import warnings
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from anthropic import Anthropic, AsyncAnthropic

from conftest import run_async
from hypergraph import (
    AsyncRunner,
    DiskCache,
    Graph,
    HypergraphError,
    InMemoryCache,
    NodeContext,
    NodeEndEvent,
    NodeRetryEvent,
    NodeStartEvent,
    NodeTimeoutError,
    RetryPolicy,
    RunStatus,
    StreamingChunkEvent,
    SyncRunner,
    node,
)
from hypergraph.durable import InsecureCacheFileError
from hypergraph.errors import GraphConfigError
from hypergraph.testing import LLMServer, Script

pytestmark = pytest.mark.timeout(60)

NOW = RetryPolicy(max_attempts=3, initial_delay=0, jitter=False)
TOKENS = ["Hel", "lo", " wor", "ld", "!"]


class Keep:
    """Keeps every event of a run."""

    def __init__(self) -> None:
        self.events: list[Any] = []

    def on_event(self, event: Any) -> None:
        self.events.append(event)

    def of(self, kind: type) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]


def run_with(mode: str, graph: Graph, values: dict[str, Any], **options: Any) -> Any:
    cache = options.pop("cache", None)
    if mode == "sync":
        return SyncRunner(cache=cache).run(graph, values, **options)
    return run_async(AsyncRunner(cache=cache).run(graph, values, **options))


MODES = pytest.mark.parametrize("mode", ["sync", "async"])


# -- RetryPolicy ---------------------------------------------------------------------


def test_retry_policy_defaults_retry_provider_errors_but_not_bugs() -> None:
    policy = RetryPolicy()
    assert policy.max_attempts == 3
    assert policy.retries(ConnectionError()) and policy.retries(TimeoutError())
    assert policy.retries(ValueError("bad JSON from the model"))
    assert not policy.retries(TypeError("a bug")) and not policy.retries(KeyError("k"))


def test_retry_policy_backoff_grows_is_capped_and_jitters_within_half() -> None:
    fixed = RetryPolicy(initial_delay=1, backoff_multiplier=3, max_delay=5, jitter=False)
    assert [fixed.delay(n) for n in (1, 2, 3)] == [1, 3, 5]
    jittered = RetryPolicy(initial_delay=2, jitter=True)
    assert all(1 <= jittered.delay(1) <= 2 for _ in range(50))


@pytest.mark.parametrize(
    "bad",
    [{"max_attempts": 0}, {"initial_delay": -1}, {"backoff_multiplier": 0.5}, {"retry_on": (1,)}],
)
def test_a_bad_retry_policy_is_refused_when_made(bad: dict[str, Any]) -> None:
    with pytest.raises(GraphConfigError):
        RetryPolicy(**bad)


def test_bad_node_guards_are_refused_when_the_node_is_made() -> None:
    with pytest.raises(GraphConfigError, match="RetryPolicy"):
        node(lambda x: x, output_name="y", retry=3)  # type: ignore[arg-type]
    with pytest.raises(GraphConfigError, match="timeout"):
        node(lambda x: x, output_name="y", timeout=0)
    with pytest.raises(GraphConfigError, match="does not stream"):
        node(lambda x: x, output_name="y", idle_timeout=1)


# -- Retries -------------------------------------------------------------------------


def _flaky(kind: str, failures: int, errors: list[BaseException]) -> Any:
    calls = {"n": 0}

    def attempt() -> None:
        calls["n"] += 1
        if calls["n"] <= failures:
            errors.append(ConnectionError(f"reset {calls['n']}"))
            raise errors[-1]

    if kind == "def":

        def flaky(x: int) -> int:
            attempt()
            return x * 10

    else:

        async def flaky(x: int) -> int:  # type: ignore[misc]
            attempt()
            return x * 10

    return node(flaky, output_name="y", retry=NOW)


@pytest.mark.parametrize(
    ("mode", "kind"), [("sync", "def"), ("async", "def"), ("async", "async def")]
)
def test_a_retried_node_is_one_execution_with_a_retry_event_per_new_attempt(
    mode: str, kind: str
) -> None:
    errors: list[BaseException] = []
    keep = Keep()
    result = run_with(mode, Graph([_flaky(kind, 2, errors)]), {"x": 4}, event_processors=[keep])
    assert result["y"] == 40
    assert len(keep.of(NodeStartEvent)) == 1 and len(keep.of(NodeEndEvent)) == 1
    retries = keep.of(NodeRetryEvent)
    assert [(r.attempt, r.error, r.delay) for r in retries] == [
        (2, errors[0], 0),
        (3, errors[1], 0),
    ]
    assert retries[0].kind == "node_retry" and retries[0].to_dict()["error"]["type"] == (
        "ConnectionError"
    )


@MODES
def test_the_final_failure_raises_the_nodes_own_last_exception(mode: str) -> None:
    errors: list[BaseException] = []
    graph = Graph([_flaky("def", 5, errors)])
    with pytest.raises(ConnectionError) as info:
        run_with(mode, graph, {"x": 1})
    assert info.value is errors[-1] and len(errors) == 3


@MODES
def test_a_type_error_from_a_bug_is_not_retried_by_default(mode: str) -> None:
    calls: list[int] = []

    @node(output_name="y", retry=RetryPolicy(initial_delay=0))
    def buggy(x: int) -> int:
        calls.append(x)
        return x + "1"  # type: ignore[operator, no-any-return]

    result = run_with(mode, Graph([buggy]), {"x": 1}, error_handling="continue")
    assert result.status is RunStatus.FAILED and calls == [1]


def _stream_then_fail(kind: str, plan: list[tuple[list[str], bool]]) -> Any:
    """A streaming node whose attempt k yields plan[k][0], then fails if plan[k][1]."""
    calls = {"n": 0}

    def step() -> tuple[list[str], bool]:
        calls["n"] += 1
        return plan[min(calls["n"], len(plan)) - 1]

    if kind == "def":

        def talk(prompt: str) -> Iterator[str]:
            tokens, fails = step()
            yield from tokens
            if fails:
                raise ConnectionError("dropped mid-stream")

    else:

        async def talk(prompt: str) -> AsyncIterator[str]:  # type: ignore[misc]
            tokens, fails = step()
            for t in tokens:
                yield t
            if fails:
                raise ConnectionError("dropped mid-stream")

    return node(talk, output_name="reply", retry=NOW)


STREAM_KINDS = [("sync", "def"), ("async", "def"), ("async", "async def")]


@pytest.mark.parametrize(("mode", "kind"), STREAM_KINDS)
def test_a_retried_stream_marks_chunks_by_attempt_and_outputs_only_the_successful_one(
    mode: str, kind: str
) -> None:
    graph = Graph([_stream_then_fail(kind, [(["a", "b"], True), (["x", "y", "z"], False)])])
    keep = Keep()
    result = run_with(mode, graph, {"prompt": "p"}, event_processors=[keep])
    assert result["reply"] == ["x", "y", "z"]
    seen = [
        (e.chunk, e.attempt, e.sequence) if isinstance(e, StreamingChunkEvent) else "retry"
        for e in keep.events
        if isinstance(e, (StreamingChunkEvent, NodeRetryEvent))
    ]
    assert seen == [("a", 1, 0), ("b", 1, 1), "retry", ("x", 2, 0), ("y", 2, 1), ("z", 2, 2)]


@pytest.mark.parametrize(("mode", "kind"), STREAM_KINDS)
def test_on_final_failure_the_partial_holds_the_last_attempts_chunks(mode: str, kind: str) -> None:
    plan = [(["a"], True), (["b", "c"], True), (["d", "e", "f"], True)]
    result = run_with(
        mode, Graph([_stream_then_fail(kind, plan)]), {"prompt": "p"}, error_handling="continue"
    )
    assert result.status is RunStatus.FAILED
    assert result.partial == {"talk": ["d", "e", "f"]}


def test_a_real_sdk_stream_that_fails_mid_way_is_retried_and_the_consumer_can_tell() -> None:
    with LLMServer() as server:
        server.enqueue(Script(tokens=TOKENS, fail_after=2), Script(tokens=TOKENS))

        @node(output_name="reply", retry=NOW)
        async def reply(prompt: str) -> AsyncIterator[str]:
            make = functools.partial(
                AsyncAnthropic, base_url=server.anthropic_base_url, api_key="x", max_retries=0
            )
            client = await asyncio.to_thread(make)
            async with client.messages.stream(
                model="m", max_tokens=50, messages=[{"role": "user", "content": prompt}]
            ) as stream:
                async for text in stream.text_stream:
                    yield text

        async def consume() -> tuple[list[Any], Any]:
            shown: list[Any] = []
            async with AsyncRunner().iter(Graph([reply]), prompt="hi") as run:
                async for event in run:
                    if isinstance(event, StreamingChunkEvent):
                        shown.append((event.attempt, event.chunk))
                    elif isinstance(event, NodeRetryEvent):
                        shown.append("retry")
                return shown, await run.result()

        shown, result = run_async(consume(), timeout=30)
    assert result["reply"] == TOKENS
    assert shown == [(1, "Hel"), (1, "lo"), "retry", *[(2, t) for t in TOKENS]]


# -- Timeouts ------------------------------------------------------------------------


def test_node_timeout_error_is_a_hypergraph_error_and_a_timeout_error() -> None:
    assert issubclass(NodeTimeoutError, HypergraphError)
    assert issubclass(NodeTimeoutError, TimeoutError)


def test_an_async_node_past_its_timeout_is_cancelled_and_fails_with_node_timeout_error() -> None:
    cleaned = threading.Event()

    @node(output_name="y", timeout=0.2)
    async def stuck(x: int) -> int:
        try:
            await asyncio.Event().wait()
        finally:
            cleaned.set()
        return x

    result = run_async(AsyncRunner().run(Graph([stuck]), x=1, error_handling="continue"))
    assert isinstance(result.error, NodeTimeoutError)
    assert result.error.kind == "timeout" and result.error.node == "stuck"
    assert "timeout=0.2" in str(result.error) and cleaned.is_set()


def test_a_stalled_async_stream_fails_with_idle_timeout_keeping_its_chunks() -> None:
    closed = threading.Event()

    @node(output_name="tokens", idle_timeout=0.2)
    async def stalls(x: int) -> AsyncIterator[str]:
        try:
            yield "one"
            yield "two"
            await asyncio.Event().wait()  # the provider stalls
            yield "never"
        finally:
            closed.set()

    result = run_async(AsyncRunner().run(Graph([stalls]), x=1, error_handling="continue"))
    assert isinstance(result.error, NodeTimeoutError) and result.error.kind == "idle_timeout"
    assert result.partial == {"stalls": ["one", "two"]} and closed.is_set()


def test_an_idle_timeout_does_not_fire_while_chunks_keep_coming() -> None:
    @node(output_name="tokens", idle_timeout=0.3)
    async def steady(n: int) -> AsyncIterator[int]:
        for k in range(n):
            await asyncio.sleep(0.05)  # the provider's pace: always within the limit
            yield k

    result = run_async(AsyncRunner().run(Graph([steady]), n=12))  # 0.6 s in all
    assert result["tokens"] == list(range(12))


@MODES
def test_a_retry_policy_retries_a_timed_out_attempt(mode: str) -> None:
    calls = {"n": 0}

    @node(output_name="tokens", idle_timeout=0.2, retry=NOW)
    def sometimes_stalls(x: int, ctx: NodeContext) -> str:
        calls["n"] += 1
        if calls["n"] == 1:
            while not ctx.stop_requested:  # a def node cannot be interrupted: it looks
                threading.Event().wait(0.02)
            return "late"
        ctx.stream("fast")
        return "ok"

    result = run_with(mode, Graph([sometimes_stalls]), {"x": 1})
    assert result["tokens"] == "ok" and calls["n"] == 2


@MODES
def test_a_def_node_past_its_timeout_sees_stop_requested_and_the_error_says_why(mode: str) -> None:
    @node(output_name="y", timeout=0.2)
    def long_loop(x: int, ctx: NodeContext) -> int:
        while not ctx.stop_requested:
            threading.Event().wait(0.02)
        return x

    result = run_with(mode, Graph([long_loop]), {"x": 1}, error_handling="continue")
    assert isinstance(result.error, NodeTimeoutError)
    assert "could not be interrupted" in str(result.error)


def test_a_sync_generator_that_stalls_fails_at_its_next_chunk_under_sync_runner() -> None:
    @node(output_name="tokens", idle_timeout=0.1)
    def slow(x: int) -> Iterator[str]:
        yield "a"
        threading.Event().wait(0.3)  # the stall SyncRunner can only see at the next chunk
        yield "b"

    result = SyncRunner().run(Graph([slow]), x=1, error_handling="continue")
    assert isinstance(result.error, NodeTimeoutError) and result.partial == {"slow": ["a"]}


def test_an_idle_timeout_closes_the_real_sdk_stream() -> None:
    with LLMServer() as server:
        gate = threading.Event()
        server.configure(tokens=TOKENS, gate=gate, gate_after=2)

        @node(output_name="reply", idle_timeout=0.3)
        async def reply(prompt: str) -> AsyncIterator[str]:
            make = functools.partial(
                AsyncAnthropic, base_url=server.anthropic_base_url, api_key="x", max_retries=0
            )
            client = await asyncio.to_thread(make)
            async with client.messages.stream(
                model="m", max_tokens=50, messages=[{"role": "user", "content": prompt}]
            ) as stream:
                async for text in stream.text_stream:
                    yield text

        try:
            result = run_async(
                AsyncRunner().run(Graph([reply]), prompt="hi", error_handling="continue"),
                timeout=30,
            )
            assert isinstance(result.error, NodeTimeoutError)
            assert result.partial == {"reply": TOKENS[:2]}
            assert server.client_disconnected.wait(5), "the SDK stream was not closed"
        finally:
            gate.set()


# -- Caching -------------------------------------------------------------------------


def _counted(calls: list[Any]) -> Any:
    @node(output_name="y", cache=True)
    def double(x: Any) -> Any:
        calls.append(x)
        return x * 2

    return double


CACHES = pytest.mark.parametrize("store", ["memory", "disk"])


def _cache(store: str, tmp_path: Path) -> Any:
    return InMemoryCache() if store == "memory" else DiskCache(tmp_path / "cache.sqlite")


@MODES
@CACHES
def test_a_cache_hit_does_not_call_the_function_and_says_cached(
    mode: str, store: str, tmp_path: Path
) -> None:
    calls: list[Any] = []
    cache = _cache(store, tmp_path)
    graph = Graph([_counted(calls)])
    assert run_with(mode, graph, {"x": 3}, cache=cache)["y"] == 6
    keep = Keep()
    assert run_with(mode, graph, {"x": 3}, cache=cache, event_processors=[keep])["y"] == 6
    assert calls == [3]
    (end,) = keep.of(NodeEndEvent)
    assert end.cached and end.to_dict()["cached"] is True


@MODES
def test_values_of_other_types_never_share_a_cache_entry(mode: str) -> None:
    calls: list[Any] = []
    cache = InMemoryCache()
    graph = Graph([_counted(calls)])
    results = [run_with(mode, graph, {"x": v}, cache=cache)["y"] for v in (1, 1.0, True, "1")]
    assert results == [2, 2.0, 2, "11"]
    assert calls == [1, 1.0, True, "1"]


def test_numpy_arrays_of_other_dtypes_never_share_a_cache_entry() -> None:
    import numpy as np

    calls: list[Any] = []
    cache = InMemoryCache()
    graph = Graph([_counted(calls)])
    for array in (np.zeros(4, dtype=np.int32), np.zeros(2, dtype=np.int64)):  # same bytes
        SyncRunner(cache=cache).run(graph, x=array)
    assert len(calls) == 2


def test_editing_a_node_invalidates_its_cache_entries() -> None:
    cache = InMemoryCache()
    namespace: dict[str, Any] = {}
    exec("def answer(x):\n    return x + 1", namespace)
    first = SyncRunner(cache=cache).run(Graph([node(namespace["answer"], "y", cache=True)]), x=1)
    exec("def answer(x):\n    return x + 2", namespace)
    second = SyncRunner(cache=cache).run(Graph([node(namespace["answer"], "y", cache=True)]), x=1)
    assert (first["y"], second["y"]) == (2, 3)


def test_two_callable_objects_of_one_class_do_not_share_cache_entries() -> None:
    class Scale:
        def __init__(self, factor: int) -> None:
            self.factor = factor

        def __call__(self, x: int) -> int:
            return x * self.factor

    cache = InMemoryCache()
    by2 = FunctionNodeOf(Scale(2))
    by3 = FunctionNodeOf(Scale(3))
    assert SyncRunner(cache=cache).run(Graph([by2]), x=5)["y"] == 10
    assert SyncRunner(cache=cache).run(Graph([by3]), x=5)["y"] == 15


def FunctionNodeOf(func: Any) -> Any:
    from hypergraph import FunctionNode

    return FunctionNode(func, name="scale", output_name="y", cache=True)


@MODES
def test_a_cached_streaming_node_replays_its_chunks_in_order(mode: str) -> None:
    calls: list[str] = []

    @node(output_name="tokens", cache=True)
    def talk(prompt: str) -> Iterator[str]:
        calls.append(prompt)
        yield from TOKENS

    cache = InMemoryCache()
    graph = Graph([talk])
    run_with(mode, graph, {"prompt": "p"}, cache=cache)
    keep = Keep()
    result = run_with(mode, graph, {"prompt": "p"}, cache=cache, event_processors=[keep])
    assert calls == ["p"] and result["tokens"] == TOKENS
    assert [e.chunk for e in keep.of(StreamingChunkEvent)] == TOKENS
    assert [e.sequence for e in keep.of(StreamingChunkEvent)] == list(range(len(TOKENS)))


@MODES
def test_an_input_without_a_fingerprint_runs_uncached_with_one_warning_naming_it(mode: str) -> None:
    calls: list[Any] = []

    @node(output_name="y", cache=True)
    def use_lock(x: int, guard: Any) -> int:
        calls.append(x)
        return x

    graph = Graph([use_lock.with_name(f"use_lock_{mode}")])
    cache = InMemoryCache()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(3):
            run_with(mode, graph, {"x": 1, "guard": threading.Lock()}, cache=cache)
    runtime = [w for w in caught if issubclass(w.category, RuntimeWarning)]
    assert calls == [1, 1, 1]
    assert len(runtime) == 1
    assert f"use_lock_{mode}" in str(runtime[0].message) and "guard" in str(runtime[0].message)


def test_a_disk_cache_that_others_can_write_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite"
    DiskCache(path).close()
    os.chmod(path, stat.S_IRUSR | stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH | stat.S_IRGRP)
    with pytest.raises(InsecureCacheFileError):
        AsyncRunner(cache=DiskCache(path))


def test_a_runner_cache_that_is_not_a_cache_is_refused() -> None:
    with pytest.raises(HypergraphError, match="cache="):
        SyncRunner(cache={"not": "a cache"})


def test_a_real_sdk_reply_is_cached_and_its_second_run_streams_without_a_request() -> None:
    with LLMServer() as server:
        server.configure(tokens=TOKENS)

        @node(output_name="reply", cache=True)
        def reply(prompt: str) -> Iterator[str]:
            client = Anthropic(base_url=server.anthropic_base_url, api_key="x", max_retries=0)
            with client.messages.stream(
                model="m", max_tokens=50, messages=[{"role": "user", "content": prompt}]
            ) as stream:
                yield from stream.text_stream

        runner = SyncRunner(cache=InMemoryCache())
        graph = Graph([reply])
        first = runner.run(graph, prompt="hi")
        with runner.iter(graph, prompt="hi") as run:
            chunks = [e.chunk for e in run if isinstance(e, StreamingChunkEvent)]
            second = run.result()
        assert len(server.requests) == 1
    assert first["reply"] == second["reply"] == chunks == TOKENS


def test_a_real_openai_stream_that_fails_mid_way_is_retried_under_sync_runner() -> None:
    from openai import OpenAI

    with LLMServer() as server:
        server.enqueue(Script(tokens=TOKENS, fail_after=3), Script(tokens=TOKENS))

        @node(output_name="reply", retry=NOW)
        def reply(prompt: str) -> Iterator[str]:
            client = OpenAI(base_url=server.openai_base_url, api_key="x", max_retries=0)
            stream = client.chat.completions.create(
                model="m", messages=[{"role": "user", "content": prompt}], stream=True
            )
            for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    yield chunk.choices[0].delta.content

        keep = Keep()
        result = SyncRunner().run(Graph([reply]), prompt="hi", event_processors=[keep])
    assert result["reply"] == TOKENS
    attempts = [e.attempt for e in keep.of(StreamingChunkEvent)]
    assert attempts == [1, 1, 1] + [2] * len(TOKENS)
    assert len(keep.of(NodeRetryEvent)) == 1
