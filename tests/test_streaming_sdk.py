"""Streaming with the real `anthropic` and `openai` SDKs, against the loopback LLMServer.

Every scenario runs for each way a node can use an SDK (sync client with ctx.stream, sync
client in a generator, async client in an async generator) and under each runner that can
run that node. Nothing sleeps to wait: the server's gate holds tokens back, and the tests
wait on the server's events with timeouts.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import anthropic
import openai
import pytest

from conftest import run_async
from hypergraph import (
    FunctionNode,
    Graph,
    NodeContext,
    RunStatus,
    StreamingChunkEvent,
    node,
)
from hypergraph.testing import LLMServer
from streaming_graphs import (
    WAIT,
    Consumed,
    Probe,
    consume,
    consume_async,
    leave_at,
    run_threads,
)

pytestmark = pytest.mark.timeout(20)

MODEL = "stand-in-test-model"
# The SDK clients give up on a silent server after this long, so that a library that
# fails to close a stream held at the server's gate fails its test instead of hanging it.
CLIENT_TIMEOUT = 10.0
TOKENS = ["Hello", ",", " streaming", " world", "!", " Tokens", " keep", " coming", "."]
PROMPT = "Say hello"

# How a node uses an SDK.
CTX = "def node, sync client, ctx.stream"
GEN = "def generator, sync client"
AGEN = "async generator, async client"

SCENARIOS = [
    pytest.param(mode, api, kind, id=f"{runner}-{api}-{short}")
    for api in ("anthropic", "openai-chat", "openai-responses")
    for kind, short in ((CTX, "ctx"), (GEN, "generator"), (AGEN, "async-generator"))
    for mode, runner in (("sync", "SyncRunner"), ("async", "AsyncRunner"))
    if not (kind == AGEN and mode == "sync")
]
each_scenario = pytest.mark.parametrize(("mode", "api", "kind"), SCENARIOS)
ASYNC_GENERATORS = [p for p in SCENARIOS if p.values[2] == AGEN]
GENERATORS = [p for p in SCENARIOS if p.values[2] != CTX]
SYNC_CLIENTS = [p for p in SCENARIOS if p.values[2] != AGEN]


# -- each API's text tokens, as the SDK hands them over (inside its stream context) ---------


def _messages(prompt: str) -> list[Any]:
    return [{"role": "user", "content": prompt}]


@contextmanager
def sync_text(api: str, client: Any, prompt: str) -> Iterator[Iterator[str]]:
    if api == "anthropic":
        with client.messages.stream(
            model=MODEL, max_tokens=64, messages=_messages(prompt)
        ) as stream:
            yield stream.text_stream
    elif api == "openai-chat":
        with client.chat.completions.create(
            model=MODEL, messages=_messages(prompt), stream=True
        ) as stream:
            yield (
                c.choices[0].delta.content
                for c in stream
                if c.choices and c.choices[0].delta.content
            )
    else:
        with client.responses.stream(model=MODEL, input=prompt) as stream:
            yield (e.delta for e in stream if e.type == "response.output_text.delta")


@asynccontextmanager
async def async_text(api: str, client: Any, prompt: str) -> AsyncIterator[AsyncIterator[str]]:
    if api == "anthropic":
        async with client.messages.stream(
            model=MODEL, max_tokens=64, messages=_messages(prompt)
        ) as stream:
            yield stream.text_stream
    elif api == "openai-chat":
        stream = await client.chat.completions.create(
            model=MODEL, messages=_messages(prompt), stream=True
        )
        async with stream:
            yield (
                c.choices[0].delta.content
                async for c in stream
                if c.choices and c.choices[0].delta.content
            )
    else:
        async with client.responses.stream(model=MODEL, input=prompt) as stream:
            yield (e.delta async for e in stream if e.type == "response.output_text.delta")


def sync_client(api: str, server: LLMServer) -> Any:
    if api == "anthropic":
        return anthropic.Anthropic(
            base_url=server.anthropic_base_url,
            api_key="test",
            max_retries=0,
            timeout=CLIENT_TIMEOUT,
        )
    return openai.OpenAI(
        base_url=server.openai_base_url, api_key="test", max_retries=0, timeout=CLIENT_TIMEOUT
    )


def async_client(api: str, server: LLMServer) -> Any:
    if api == "anthropic":
        return anthropic.AsyncAnthropic(
            base_url=server.anthropic_base_url,
            api_key="test",
            max_retries=0,
            timeout=CLIENT_TIMEOUT,
        )
    return openai.AsyncOpenAI(
        base_url=server.openai_base_url, api_key="test", max_retries=0, timeout=CLIENT_TIMEOUT
    )


# -- nodes ----------------------------------------------------------------------------------


def reply_node(api: str, kind: str, client: Any, probe: Probe) -> FunctionNode:
    """A node called `reply` that streams the model's reply to `prompt`.

    The ctx.stream node watches ctx.stop_requested before passing each token on, the
    pattern a node uses to honour a stop; the generators are closed by the runner.
    """
    if kind == CTX:

        def reply(prompt: str, ctx: NodeContext) -> str:
            parts: list[str] = []
            try:
                with sync_text(api, client, prompt) as text:
                    for token in text:
                        if ctx.stop_requested:
                            break
                        probe.made_one()
                        ctx.stream(token)
                        parts.append(token)
            except BaseException as exc:
                probe.exit = exc
                raise
            finally:
                probe.closed.set()
            return "".join(parts)

        return node(reply, "text")

    if kind == GEN:

        def reply_tokens(prompt: str) -> Iterator[str]:
            try:
                with sync_text(api, client, prompt) as text:
                    for token in text:
                        probe.made_one()
                        yield token
            except BaseException as exc:
                probe.exit = exc
                raise
            finally:
                probe.closed.set()

        return node(reply_tokens, "tokens", name="reply")

    async def reply_async(prompt: str) -> AsyncIterator[str]:
        try:
            async with async_text(api, client, prompt) as text:
                async for token in text:
                    probe.made_one()
                    yield token
        except BaseException as exc:
            probe.exit = exc
            raise
        finally:
            probe.closed.set()

    return node(reply_async, "tokens", name="reply")


def output_of(kind: str, tokens: list[str]) -> tuple[str, Any]:
    """The node's output name and value when it streamed `tokens` and finished."""
    return ("text", "".join(tokens)) if kind == CTX else ("tokens", tokens)


def run_reply(
    mode: str, api: str, kind: str, server: LLMServer, probe: Probe, **consume_options: Any
) -> Consumed:
    """Run Graph([reply]) under `mode` with a fresh SDK client of the right kind."""
    values = {"prompt": PROMPT}
    if kind != AGEN:
        with sync_client(api, server) as client:
            return consume(
                mode, Graph([reply_node(api, kind, client, probe)]), values, **consume_options
            )

    async def with_async_client() -> Consumed:
        async with async_client(api, server) as client:
            graph = Graph([reply_node(api, kind, client, probe)])
            return await consume_async(graph, values, **consume_options)

    return run_async(with_async_client())


# -- every token, in order ------------------------------------------------------------------


@each_scenario
def test_every_sdk_token_reaches_the_consumer_in_order(
    server: LLMServer, mode: str, api: str, kind: str
) -> None:
    server.configure(tokens=TOKENS)
    probe = Probe()
    seen = run_reply(mode, api, kind, server, probe)
    assert seen.chunks("reply") == TOKENS
    assert [e.sequence for e in seen.chunk_events()] == list(range(len(TOKENS)))
    assert seen.result is not None and seen.result.status is RunStatus.COMPLETED
    name, value = output_of(kind, TOKENS)
    assert seen.result[name] == value
    (request,) = server.requests
    assert request.stream
    assert PROMPT in str(request.body)
    assert server.wait_idle(WAIT)
    assert server.streams_completed == 1


# -- live: the first token while the server still holds the rest ----------------------------


@each_scenario
def test_the_first_token_arrives_while_the_server_still_holds_the_rest(
    server: LLMServer, mode: str, api: str, kind: str
) -> None:
    gate = threading.Event()
    server.configure(tokens=TOKENS, gate=gate, gate_after=1)
    at_first: dict[str, Any] = {}

    def on_event(event: Any, run: Any) -> None:
        if isinstance(event, StreamingChunkEvent) and event.sequence == 0:
            # The server has sent token 0 only and is holding token 1 at its gate.
            at_first["held"] = server.at_gate.wait(WAIT)
            at_first["sent"] = server.tokens_sent
            at_first["chunk"] = event.chunk
            gate.set()

    seen = run_reply(mode, api, kind, server, Probe(), on_event=on_event)
    assert at_first == {"held": True, "sent": 1, "chunk": TOKENS[0]}
    assert seen.chunks("reply") == TOKENS
    assert seen.result is not None and seen.result.status is RunStatus.COMPLETED


# -- failure mid-stream ---------------------------------------------------------------------

FAIL_ERRORS = {
    "anthropic": anthropic.APIStatusError,  # an in-stream error event on a 200 response
    "openai-chat": openai.APIError,
    "openai-responses": openai.APIError,
}


@each_scenario
def test_a_provider_error_after_k_tokens_keeps_the_k_tokens_in_partial(
    server: LLMServer, mode: str, api: str, kind: str
) -> None:
    k = 3
    server.configure(tokens=TOKENS, fail_after=k, fail_message="scripted overload")
    seen = run_reply(mode, api, kind, server, Probe(), error_handling="continue")
    result = seen.result
    assert result is not None
    assert result.status is RunStatus.FAILED
    assert isinstance(result.error, FAIL_ERRORS[api])
    assert "scripted overload" in str(result.error)
    assert "raised by node 'reply'" in str(result.error.__notes__)
    assert result.partial == {"reply": TOKENS[:k]}
    assert seen.chunks("reply") == TOKENS[:k]


@each_scenario
def test_a_dropped_connection_after_k_tokens_keeps_the_k_tokens_in_partial(
    server: LLMServer, mode: str, api: str, kind: str
) -> None:
    k = 4
    server.configure(tokens=TOKENS, drop_after=k)
    seen = run_reply(mode, api, kind, server, Probe(), error_handling="continue")
    result = seen.result
    assert result is not None
    assert result.status is RunStatus.FAILED
    assert isinstance(result.error, Exception)
    assert "raised by node 'reply'" in str(result.error.__notes__)
    assert result.partial == {"reply": TOKENS[:k]}
    assert seen.chunks("reply") == TOKENS[:k]
    assert server.wait_idle(WAIT)
    assert server.streams_dropped == 1


@each_scenario
def test_an_http_error_before_any_token_fails_the_node_with_the_sdk_error(
    server: LLMServer, mode: str, api: str, kind: str
) -> None:
    server.configure(http_error=(500, "scripted status"))
    seen = run_reply(mode, api, kind, server, Probe(), error_handling="continue")
    result = seen.result
    assert result is not None and result.status is RunStatus.FAILED
    assert getattr(result.error, "status_code", None) == 500
    assert "raised by node 'reply'" in str(result.error.__notes__)
    assert result.partial == {}
    assert seen.chunks() == []


@pytest.mark.parametrize(("mode", "api", "kind"), GENERATORS)
def test_with_error_handling_raise_result_raises_the_sdk_error_and_partial_is_kept(
    server: LLMServer, mode: str, api: str, kind: str
) -> None:
    server.configure(tokens=TOKENS, fail_after=2)
    seen = run_reply(mode, api, kind, server, Probe())
    assert seen.result is None
    assert isinstance(seen.raised, FAIL_ERRORS[api])
    assert seen.partial == {"reply": TOKENS[:2]}


# -- leaving early closes the SDK stream ----------------------------------------------------


def left_early_assertions(server: LLMServer, probe: Probe, seen: Consumed, total: int) -> None:
    assert seen.left_early
    assert seen.chunks("reply") == TOKENS[:2]
    assert probe.closed.is_set()  # the node's code has finished: its `with` closed the stream
    assert server.client_disconnected.wait(WAIT)  # the server saw the connection close
    assert server.wait_idle(WAIT)
    assert server.streams_aborted == 1
    assert server.streams_completed == 0
    assert server.tokens_sent < total


@pytest.mark.parametrize(("mode", "api", "kind"), ASYNC_GENERATORS)
def test_leaving_early_closes_an_async_sdk_stream_held_at_the_gate(
    server: LLMServer, mode: str, api: str, kind: str
) -> None:
    gate = threading.Event()  # never opened: only cancelling the node can end its read
    server.configure(tokens=TOKENS, gate=gate, gate_after=2)
    probe = Probe()

    async def leave_early() -> Consumed:
        before = run_threads()
        async with async_client(api, server) as client:
            graph = Graph([reply_node(api, kind, client, probe)])
            seen = await consume_async(graph, {"prompt": PROMPT}, on_event=leave_at(1))
            # The with block has ended: nothing of the run is left on the loop or aside.
            assert asyncio.all_tasks() == {asyncio.current_task()}
            assert run_threads() == before
            return seen

    seen = run_async(leave_early())
    left_early_assertions(server, probe, seen, len(TOKENS))
    assert not gate.is_set()


@pytest.mark.parametrize(("mode", "api", "kind"), SYNC_CLIENTS)
def test_leaving_early_closes_a_sync_sdk_stream_at_its_next_token(
    server: LLMServer, mode: str, api: str, kind: str
) -> None:
    # A thread blocked in a socket read cannot be interrupted (decision 0005): the node
    # unwinds at its next token, so the stream is paced rather than held at a gate.
    many = [f" t{i}" for i in range(200)]
    server.configure(tokens=many, delay=0.01)
    probe = Probe()
    before = run_threads()
    with sync_client(api, server) as client:
        graph = Graph([reply_node(api, kind, client, probe)])
        seen = consume(mode, graph, {"prompt": PROMPT}, on_event=leave_at(1))
    assert run_threads() == before
    assert seen.left_early
    assert seen.chunks("reply") == many[:2]
    assert probe.closed.is_set()
    assert server.client_disconnected.wait(WAIT)
    assert server.wait_idle(WAIT)
    assert (server.streams_aborted, server.streams_completed) == (1, 0)
    assert server.tokens_sent < len(many)
    # The node did not swallow the cancellation: it unwound with a non-Exception.
    assert probe.exit is None or not isinstance(probe.exit, Exception)


# -- stop during an SDK stream --------------------------------------------------------------


@each_scenario
def test_stop_during_an_sdk_stream_closes_it_and_keeps_the_partial_text(
    server: LLMServer, mode: str, api: str, kind: str
) -> None:
    gate = threading.Semaphore(0)  # one token per release, from token 2 on
    server.configure(tokens=TOKENS, gate=gate, gate_after=2)
    probe = Probe()

    def stop_at_second_token(event: Any, run: Any) -> None:
        if isinstance(event, StreamingChunkEvent) and event.sequence == 1:
            run.stop()
            gate.release()  # token 2 may now come; the node must close before token 3

    seen = run_reply(mode, api, kind, server, probe, on_event=stop_at_second_token)
    result = seen.result
    assert result is not None
    assert result.status is RunStatus.STOPPED
    assert probe.closed.is_set()
    assert server.client_disconnected.wait(WAIT)
    assert server.wait_idle(WAIT)
    assert server.streams_completed == 0
    assert server.tokens_sent <= 3
    streamed = seen.chunks("reply")
    if kind == CTX:
        # It saw stop_requested before passing token 2 on, and returned what it had.
        assert streamed == TOKENS[:2]
        assert result["text"] == "".join(TOKENS[:2])
    else:
        # Closed right after its current chunk: token 1, or token 2 if it was already
        # on its way when the stop came.
        assert streamed in (TOKENS[:2], TOKENS[:3])
        assert result.partial == {"reply": streamed}
        assert "tokens" not in result
