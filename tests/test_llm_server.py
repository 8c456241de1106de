"""The stand-in LLM server, driven by the real anthropic and openai SDKs.

Nothing here sleeps to wait for something: tests wait on the server's events
(with timeouts) or hold tokens back with a gate.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

import anthropic
import openai
import pytest
from anthropic.types import MessageParam
from hypothesis import given, settings
from hypothesis import strategies as st
from openai.types.chat import ChatCompletionMessageParam

from hypergraph.testing import STAND_IN_PREFIX, LLMServer, Script, split_tokens

TOKENS = ["Hello", ",", " streaming", " world", "!"]
MODEL = "stand-in-test-model"
MESSAGES: list[MessageParam] = [{"role": "user", "content": "Say hello"}]
CHAT_MESSAGES: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Say hello"}]
WAIT = 5.0


# Each API's text tokens as the SDK hands them to a consumer, inside the SDK's own
# stream context manager (leaving it closes the HTTP response).


@contextmanager
def anthropic_text(server: LLMServer) -> Iterator[Iterator[str]]:
    with (
        anthropic.Anthropic(
            base_url=server.anthropic_base_url, api_key="test", max_retries=0
        ) as client,
        client.messages.stream(model=MODEL, max_tokens=64, messages=MESSAGES) as stream,
    ):
        yield stream.text_stream


@contextmanager
def chat_text(server: LLMServer) -> Iterator[Iterator[str]]:
    with (
        openai.OpenAI(base_url=server.openai_base_url, api_key="test", max_retries=0) as client,
        client.chat.completions.create(model=MODEL, messages=CHAT_MESSAGES, stream=True) as stream,
    ):
        # The first chunk carries only the role (content ""), as with the live API.
        yield (
            chunk.choices[0].delta.content
            for chunk in stream
            if chunk.choices and chunk.choices[0].delta.content
        )


@contextmanager
def responses_text(server: LLMServer) -> Iterator[Iterator[str]]:
    with (
        openai.OpenAI(base_url=server.openai_base_url, api_key="test", max_retries=0) as client,
        client.responses.stream(model=MODEL, input="Say hello") as stream,
    ):
        yield (event.delta for event in stream if event.type == "response.output_text.delta")


TextStream = Callable[[LLMServer], AbstractContextManager[Iterator[str]]]
TEXT_STREAMS: dict[str, TextStream] = {
    "anthropic": anthropic_text,
    "openai-chat": chat_text,
    "openai-responses": responses_text,
}
each_api = pytest.mark.parametrize("api", list(TEXT_STREAMS))


def consume(api: str, server: LLMServer, received: list[str]) -> None:
    with TEXT_STREAMS[api](server) as text:
        for token in text:
            received.append(token)


# -- happy paths ------------------------------------------------------------


def test_anthropic_sync_text_stream_yields_the_scripted_tokens_in_order(
    server: LLMServer, claude: anthropic.Anthropic
) -> None:
    server.configure(tokens=TOKENS)
    with claude.messages.stream(model=MODEL, max_tokens=64, messages=MESSAGES) as stream:
        assert list(stream.text_stream) == TOKENS
        final = stream.get_final_message()
    assert final.content[0].type == "text"
    assert final.content[0].text == "".join(TOKENS)
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens == len(TOKENS)


def test_anthropic_async_text_stream_yields_the_scripted_tokens_in_order(
    server: LLMServer,
) -> None:
    server.configure(tokens=TOKENS)

    async def run() -> list[str]:
        async with (
            anthropic.AsyncAnthropic(
                base_url=server.anthropic_base_url, api_key="test", max_retries=0
            ) as client,
            client.messages.stream(model=MODEL, max_tokens=64, messages=MESSAGES) as stream,
        ):
            return [token async for token in stream.text_stream]

    assert asyncio.run(run()) == TOKENS


def test_anthropic_create_stream_true_yields_events_in_protocol_order(
    server: LLMServer, claude: anthropic.Anthropic
) -> None:
    server.configure(tokens=TOKENS)
    with claude.messages.create(
        model=MODEL, max_tokens=64, messages=MESSAGES, stream=True
    ) as stream:
        events = list(stream)
    # The server sends a ping after content_block_start; the SDK swallows it.
    assert [event.type for event in events] == [
        "message_start",
        "content_block_start",
        *["content_block_delta"] * len(TOKENS),
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    deltas = [event.delta for event in events if event.type == "content_block_delta"]
    assert [delta.text for delta in deltas if delta.type == "text_delta"] == TOKENS


def test_anthropic_async_create_stream_true_yields_the_tokens(server: LLMServer) -> None:
    server.configure(tokens=TOKENS)

    async def run() -> list[str]:
        async with anthropic.AsyncAnthropic(
            base_url=server.anthropic_base_url, api_key="test", max_retries=0
        ) as client:
            stream = await client.messages.create(
                model=MODEL, max_tokens=64, messages=MESSAGES, stream=True
            )
            async with stream:
                return [
                    event.delta.text
                    async for event in stream
                    if event.type == "content_block_delta" and event.delta.type == "text_delta"
                ]

    assert asyncio.run(run()) == TOKENS


def test_default_reply_is_a_labelled_echo_of_the_last_user_message(
    claude: anthropic.Anthropic,
) -> None:
    message = claude.messages.create(
        model=MODEL,
        max_tokens=64,
        messages=[
            {"role": "user", "content": "first"},
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": [{"type": "text", "text": "second one"}]},
        ],
    )
    assert message.content[0].type == "text"
    assert message.content[0].text == f"{STAND_IN_PREFIX}You said: second one"


def test_openai_chat_completions_stream_yields_the_tokens(
    server: LLMServer, gpt: openai.OpenAI
) -> None:
    server.configure(tokens=TOKENS)
    with gpt.chat.completions.create(
        model=MODEL, messages=CHAT_MESSAGES, stream=True, stream_options={"include_usage": True}
    ) as stream:
        chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    text = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert text == TOKENS
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == len(TOKENS)


def test_openai_async_chat_completions_stream_yields_the_paced_tokens(server: LLMServer) -> None:
    server.configure(tokens=TOKENS, delay=0.005)

    async def run() -> list[str]:
        async with openai.AsyncOpenAI(
            base_url=server.openai_base_url, api_key="test", max_retries=0
        ) as client:
            stream = await client.chat.completions.create(
                model=MODEL, messages=CHAT_MESSAGES, stream=True
            )
            async with stream:
                return [
                    chunk.choices[0].delta.content
                    async for chunk in stream
                    if chunk.choices and chunk.choices[0].delta.content
                ]

    assert asyncio.run(run()) == TOKENS


def test_openai_chat_completions_without_stream_returns_the_whole_reply(
    server: LLMServer, gpt: openai.OpenAI
) -> None:
    server.configure(text="Hi there, friend.")
    completion = gpt.chat.completions.create(model=MODEL, messages=CHAT_MESSAGES)
    assert completion.choices[0].message.content == "Hi there, friend."
    assert completion.choices[0].finish_reason == "stop"


def test_openai_responses_create_stream_yields_output_text_deltas_in_order(
    server: LLMServer, gpt: openai.OpenAI
) -> None:
    server.configure(tokens=TOKENS)
    with gpt.responses.create(model=MODEL, input="Say hello", stream=True) as stream:
        events = list(stream)
    assert [e.delta for e in events if e.type == "response.output_text.delta"] == TOKENS
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert events[0].type == "response.created"
    assert events[-1].type == "response.completed"
    assert events[-1].response.output_text == "".join(TOKENS)


def test_openai_responses_stream_helper_yields_deltas_and_the_final_text(
    server: LLMServer, gpt: openai.OpenAI
) -> None:
    server.configure(tokens=TOKENS)
    with gpt.responses.stream(model=MODEL, input="Say hello") as stream:
        deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert deltas == TOKENS
    assert final.output_text == "".join(TOKENS)


def test_openai_async_responses_stream_yields_the_deltas(server: LLMServer) -> None:
    server.configure(tokens=TOKENS)

    async def run() -> list[str]:
        async with (
            openai.AsyncOpenAI(
                base_url=server.openai_base_url, api_key="test", max_retries=0
            ) as client,
            client.responses.stream(model=MODEL, input="Say hello") as stream,
        ):
            return [e.delta async for e in stream if e.type == "response.output_text.delta"]

    assert asyncio.run(run()) == TOKENS


def test_openai_responses_without_stream_has_output_text(
    server: LLMServer, gpt: openai.OpenAI
) -> None:
    response = gpt.responses.create(model=MODEL, input=[{"role": "user", "content": "echo me"}])
    assert response.output_text == f"{STAND_IN_PREFIX}You said: echo me"


# -- pacing -------------------------------------------------------------------


@each_api
def test_first_token_reaches_the_consumer_while_the_server_holds_the_rest(
    server: LLMServer, api: str
) -> None:
    gate = threading.Event()
    server.configure(tokens=TOKENS, gate=gate, gate_after=1)
    with TEXT_STREAMS[api](server) as text:
        tokens = iter(text)
        assert next(tokens) == TOKENS[0]
        assert server.at_gate.wait(WAIT)
        assert server.tokens_sent == 1
        gate.set()
        assert list(tokens) == TOKENS[1:]
    assert server.wait_idle(WAIT)
    assert server.streams_completed == 1


def test_a_semaphore_gate_releases_one_token_per_release(
    server: LLMServer, claude: anthropic.Anthropic
) -> None:
    gate = threading.Semaphore(0)
    server.configure(tokens=TOKENS, gate=gate, gate_after=1)
    with claude.messages.stream(model=MODEL, max_tokens=64, messages=MESSAGES) as stream:
        tokens = iter(stream.text_stream)
        assert next(tokens) == TOKENS[0]
        for sent, expected in enumerate(TOKENS[1:], start=1):

            def holding(n: int = sent) -> bool:
                return server.gate_waits == n

            # The server is holding token number `sent` and has sent nothing more.
            assert server.wait_until(holding, WAIT)
            assert server.tokens_sent == sent
            gate.release()
            assert next(tokens) == expected
        assert list(tokens) == []


def test_the_server_streams_to_concurrent_clients_at_once(server: LLMServer) -> None:
    gate = threading.Event()
    server.configure(tokens=TOKENS, gate=gate, gate_after=1)
    results: dict[int, list[str]] = {0: [], 1: []}
    workers = [
        threading.Thread(target=consume, args=("anthropic", server, results[i])) for i in (0, 1)
    ]
    for worker in workers:
        worker.start()
    # Both streams are open and held at once; one server thread per connection.
    assert server.wait_until(lambda: server.tokens_sent == 2, WAIT)
    gate.set()
    for worker in workers:
        worker.join(WAIT)
    assert results == {0: TOKENS, 1: TOKENS}


# -- failure modes ------------------------------------------------------------

FAIL_ERRORS: dict[str, type[Exception]] = {
    # A 200 response with an in-stream error event: the base status error, status 200.
    "anthropic": anthropic.APIStatusError,
    # An SSE payload with an "error" key: APIError, not a status error.
    "openai-chat": openai.APIError,
    "openai-responses": openai.APIError,
}


@each_api
def test_fail_after_k_delivers_k_tokens_then_the_sdk_raises(server: LLMServer, api: str) -> None:
    server.configure(tokens=TOKENS, fail_after=2, fail_message="scripted overload")
    received: list[str] = []
    with pytest.raises(FAIL_ERRORS[api]) as raised:
        consume(api, server, received)
    assert received == TOKENS[:2]
    assert "scripted overload" in str(raised.value)
    if api == "anthropic":
        assert isinstance(raised.value, anthropic.APIStatusError)
        assert raised.value.status_code == 200
        assert raised.value.body == {
            "type": "error",
            "error": {"type": "overloaded_error", "message": "scripted overload"},
        }
    else:
        assert not isinstance(raised.value, openai.APIStatusError)
    assert server.wait_idle(WAIT)
    assert server.streams_failed == 1


def test_fail_after_without_streaming_answers_with_the_providers_overload_status(
    server: LLMServer, claude: anthropic.Anthropic, gpt: openai.OpenAI
) -> None:
    server.enqueue(Script(fail_after=1), Script(fail_after=1))
    with pytest.raises(anthropic.OverloadedError) as claude_error:
        claude.messages.create(model=MODEL, max_tokens=64, messages=MESSAGES)
    assert claude_error.value.status_code == 529
    with pytest.raises(openai.InternalServerError) as gpt_error:
        gpt.chat.completions.create(model=MODEL, messages=CHAT_MESSAGES)
    assert gpt_error.value.status_code == 500


@each_api
def test_drop_after_k_delivers_k_tokens_then_the_sdk_raises(server: LLMServer, api: str) -> None:
    server.configure(tokens=TOKENS, drop_after=3)
    received: list[str] = []
    with pytest.raises(Exception) as raised:
        consume(api, server, received)
    assert received == TOKENS[:3]
    if api == "anthropic":
        # The anthropic SDK does not wrap transport errors raised mid-stream: the
        # HTTP library's own error (httpx2 in this SDK version) reaches the caller.
        assert type(raised.value).__name__ == "RemoteProtocolError"
        assert "incomplete chunked read" in str(raised.value)
    else:
        assert isinstance(raised.value, openai.APIConnectionError)
        assert type(raised.value.__cause__).__name__ == "RemoteProtocolError"
    assert server.wait_idle(WAIT)
    assert server.streams_dropped == 1


def test_drop_after_in_the_async_anthropic_client_raises_too(server: LLMServer) -> None:
    server.configure(tokens=TOKENS, drop_after=1)
    received: list[str] = []

    async def run() -> None:
        async with (
            anthropic.AsyncAnthropic(
                base_url=server.anthropic_base_url, api_key="test", max_retries=0
            ) as client,
            client.messages.stream(model=MODEL, max_tokens=64, messages=MESSAGES) as stream,
        ):
            async for token in stream.text_stream:
                received.append(token)

    with pytest.raises(Exception, match="incomplete chunked read"):
        asyncio.run(run())
    assert received == TOKENS[:1]


@pytest.mark.parametrize(
    ("api", "status", "error"),
    [
        ("anthropic", 429, anthropic.RateLimitError),
        ("anthropic", 500, anthropic.InternalServerError),
        ("openai-chat", 429, openai.RateLimitError),
        ("openai-chat", 500, openai.InternalServerError),
        ("openai-responses", 429, openai.RateLimitError),
        ("openai-responses", 500, openai.InternalServerError),
    ],
)
def test_http_error_makes_the_sdk_raise_its_status_error(
    server: LLMServer, api: str, status: int, error: type[Exception]
) -> None:
    server.configure(http_error=(status, "scripted status"))
    received: list[str] = []
    with pytest.raises(error) as raised:
        consume(api, server, received)
    assert received == []
    assert getattr(raised.value, "status_code", None) == status
    assert "scripted status" in str(raised.value)
    assert len(server.requests) == 1  # max_retries=0: no retry behind our back


# -- disconnects and lifecycle ------------------------------------------------


@each_api
def test_closing_the_sdk_stream_early_is_seen_by_the_server_as_a_disconnect(
    server: LLMServer, api: str
) -> None:
    gate = threading.Event()
    server.configure(tokens=TOKENS, gate=gate, gate_after=1)
    with TEXT_STREAMS[api](server) as text:
        for token in text:
            assert token == TOKENS[0]
            break
    assert server.client_disconnected.wait(WAIT)
    assert server.wait_idle(WAIT)
    assert (server.streams_aborted, server.streams_completed) == (1, 0)
    assert not gate.is_set()


def test_async_anthropic_early_close_is_seen_as_a_disconnect(server: LLMServer) -> None:
    gate = threading.Event()
    server.configure(tokens=TOKENS, gate=gate)

    async def run() -> str:
        async with (
            anthropic.AsyncAnthropic(
                base_url=server.anthropic_base_url, api_key="test", max_retries=0
            ) as client,
            client.messages.stream(model=MODEL, max_tokens=64, messages=MESSAGES) as stream,
        ):
            async for token in stream.text_stream:
                return token
        raise AssertionError("no token")

    assert asyncio.run(run()) == TOKENS[0]
    assert server.client_disconnected.wait(WAIT)


def test_a_disconnect_during_a_long_token_delay_is_noticed_promptly(
    server: LLMServer, claude: anthropic.Anthropic
) -> None:
    # Far longer than the test timeout: only prompt detection lets this pass.
    server.configure(tokens=TOKENS, delay=120.0)
    with claude.messages.create(
        model=MODEL, max_tokens=64, messages=MESSAGES, stream=True
    ) as stream:
        assert next(iter(stream)).type == "message_start"
    assert server.client_disconnected.wait(WAIT)
    assert server.wait_idle(WAIT)
    assert server.tokens_sent == 0


def test_no_server_threads_remain_after_close() -> None:
    before = set(threading.enumerate())
    with LLMServer() as server:
        with anthropic.Anthropic(
            base_url=server.anthropic_base_url, api_key="test", max_retries=0
        ) as client:
            client.messages.create(model=MODEL, max_tokens=64, messages=MESSAGES)
        assert any(t.name.startswith("llm-server") for t in threading.enumerate())
    assert set(threading.enumerate()) == before


def test_close_mid_stream_releases_the_held_handler_and_leaves_no_threads() -> None:
    before = set(threading.enumerate())
    server = LLMServer(Script(tokens=TOKENS, gate=threading.Event())).start()
    with (
        anthropic.Anthropic(
            base_url=server.anthropic_base_url, api_key="test", max_retries=0
        ) as client,
        client.messages.stream(model=MODEL, max_tokens=64, messages=MESSAGES) as stream,
    ):
        tokens = iter(stream.text_stream)
        assert next(tokens) == TOKENS[0]
        assert server.at_gate.wait(WAIT)
        server.close()  # the gate is never opened: close() must not wait for it
        assert set(threading.enumerate()) == before
        assert not server.client_disconnected.is_set()  # the server hung up, not the client
        with pytest.raises(Exception, match="incomplete chunked read"):
            list(tokens)


# -- scripting and records ----------------------------------------------------


def test_enqueued_scripts_answer_consecutive_requests_then_the_default_returns(
    server: LLMServer, claude: anthropic.Anthropic
) -> None:
    server.configure(text="default reply")
    server.enqueue(Script(text="first"), Script(tokens=["sec", "ond"]))

    def ask() -> str:
        with claude.messages.stream(model=MODEL, max_tokens=64, messages=MESSAGES) as stream:
            return stream.get_final_text()

    assert [ask(), ask(), ask()] == ["first", "second", "default reply"]


def test_requests_are_recorded_with_path_and_parsed_body(
    server: LLMServer, claude: anthropic.Anthropic, gpt: openai.OpenAI
) -> None:
    claude.messages.create(model=MODEL, max_tokens=7, messages=MESSAGES)
    with gpt.responses.stream(model=MODEL, input="hi") as stream:
        stream.until_done()
    assert server.wait_for_requests(2, WAIT)
    first, second = server.requests
    assert (first.path, first.body["max_tokens"], first.stream) == ("/v1/messages", 7, False)
    assert first.body["messages"] == MESSAGES
    assert (second.path, second.body["input"], second.stream) == ("/v1/responses", "hi", True)


def test_script_rejects_contradictory_settings() -> None:
    with pytest.raises(ValueError):
        Script(text="a", tokens=["a"])
    with pytest.raises(ValueError):
        Script(fail_after=1, drop_after=1)
    with pytest.raises(TypeError):
        Script(tokens="abc")


@settings(max_examples=50, deadline=None)
@given(st.text())
def test_split_tokens_keeps_every_character(text: str) -> None:
    assert "".join(split_tokens(text)) == text
