"""Scripted tool calls, parsed by the real anthropic and openai SDKs, streaming and not.

Each API's own parser decides: the SDK must find the tool call's name, id and
arguments (as JSON) in what the stand-in server sends, the way an agent loop reads
them from a live model.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

import anthropic
import openai
import pytest

from hypergraph import END, Graph, HypergraphError, SyncRunner, node, route
from hypergraph.testing import LLMServer, Script, ScriptError, ToolCall

pytestmark = pytest.mark.timeout(30)

MODEL = "stand-in-test-model"
WAIT = 5.0
PROMPT = "What is the weather in Paris?"
WEATHER_ARGS = {"city": "Paris", "unit": "celsius", "days": [1, 2]}
ANTHROPIC_TOOLS: list[Any] = [
    {
        "name": "get_weather",
        "description": "The weather for a city.",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
    }
]
CHAT_TOOLS: list[Any] = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
]
RESPONSES_TOOLS: list[Any] = [
    {
        "type": "function",
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        "strict": False,
    }
]


# What one reply looked like through an SDK: its text, its tool calls as
# (id, name, arguments) with the arguments parsed from JSON, how it stopped, and the
# argument pieces the stream delivered (empty when not streaming).
Seen = tuple[str, list[tuple[str, str, Any]], str | None, list[str]]


def anthropic_reply(client: anthropic.Anthropic, streaming: bool) -> Seen:
    messages: list[Any] = [{"role": "user", "content": PROMPT}]
    pieces: list[str] = []
    if streaming:
        with client.messages.stream(
            model=MODEL, max_tokens=64, messages=messages, tools=ANTHROPIC_TOOLS
        ) as stream:
            pieces = [e.partial_json for e in stream if e.type == "input_json"]
            message = stream.get_final_message()
    else:
        message = client.messages.create(
            model=MODEL, max_tokens=64, messages=messages, tools=ANTHROPIC_TOOLS
        )
    text = "".join(block.text for block in message.content if block.type == "text")
    calls = [(b.id, b.name, b.input) for b in message.content if b.type == "tool_use"]
    return text, calls, message.stop_reason, pieces


def chat_reply(client: openai.OpenAI, streaming: bool) -> Seen:
    messages: list[Any] = [{"role": "user", "content": PROMPT}]
    pieces: list[str] = []
    if streaming:
        # The SDK's own accumulator rebuilds the message from the deltas.
        with client.chat.completions.stream(
            model=MODEL, messages=messages, tools=CHAT_TOOLS
        ) as stream:
            pieces = [e.arguments_delta for e in stream if e.type.endswith("arguments.delta")]
            completion = stream.get_final_completion()
    else:
        completion = client.chat.completions.create(
            model=MODEL, messages=messages, tools=CHAT_TOOLS
        )
    choice = completion.choices[0]
    calls = [
        (c.id, c.function.name, json.loads(c.function.arguments))
        for c in choice.message.tool_calls or []
        if c.type == "function"
    ]
    return choice.message.content or "", calls, choice.finish_reason, pieces


def responses_reply(client: openai.OpenAI, streaming: bool) -> Seen:
    pieces: list[str] = []
    if streaming:
        with client.responses.stream(model=MODEL, input=PROMPT, tools=RESPONSES_TOOLS) as stream:
            pieces = [e.delta for e in stream if e.type == "response.function_call_arguments.delta"]
            response = stream.get_final_response()
    else:
        response = client.responses.create(model=MODEL, input=PROMPT, tools=RESPONSES_TOOLS)
    calls = [
        (item.call_id, item.name, json.loads(item.arguments))
        for item in response.output
        if item.type == "function_call"
    ]
    stop = "function_call" if calls else response.status
    return response.output_text, calls, stop, pieces


Reader = Callable[[LLMServer, bool], Seen]


def _read(api: str, server: LLMServer, streaming: bool) -> Seen:
    if api == "anthropic":
        with anthropic.Anthropic(
            base_url=server.anthropic_base_url, api_key="test", max_retries=0
        ) as claude:
            return anthropic_reply(claude, streaming)
    with openai.OpenAI(base_url=server.openai_base_url, api_key="test", max_retries=0) as gpt:
        if api == "openai-chat":
            return chat_reply(gpt, streaming)
        return responses_reply(gpt, streaming)


TOOL_STOP = {
    "anthropic": "tool_use",
    "openai-chat": "tool_calls",
    "openai-responses": "function_call",
}
ID_PREFIX = {"anthropic": "toolu_", "openai-chat": "call_", "openai-responses": "call_"}
each_api_and_mode = pytest.mark.parametrize(
    ("api", "streaming"),
    [
        pytest.param(api, streaming, id=f"{api}-{'stream' if streaming else 'whole'}")
        for api in ("anthropic", "openai-chat", "openai-responses")
        for streaming in (True, False)
    ],
)


@each_api_and_mode
def test_the_sdk_parses_a_scripted_tool_call_with_name_id_and_json_arguments(
    server: LLMServer, api: str, streaming: bool
) -> None:
    server.configure(tool_calls=[ToolCall("get_weather", WEATHER_ARGS)])
    text, calls, stop, pieces = _read(api, server, streaming)
    assert text == ""  # a reply that only calls a tool has no text (and no echo)
    [(call_id, name, arguments)] = calls
    assert name == "get_weather"
    assert arguments == WEATHER_ARGS
    assert call_id.startswith(ID_PREFIX[api])
    assert stop == TOOL_STOP[api]
    if streaming:
        # The arguments really arrive in several deltas, as from a live model.
        assert len(pieces) > 1
        assert json.loads("".join(pieces)) == WEATHER_ARGS


@each_api_and_mode
def test_text_then_two_tool_calls_reach_the_sdk_in_order_with_their_ids(
    server: LLMServer, api: str, streaming: bool
) -> None:
    server.configure(
        text="Let me check both.",
        tool_calls=[
            ToolCall("get_weather", {"city": "Paris"}, id="call_paris"),
            ToolCall("get_time", {"zone": "Europe/Rome"}),
        ],
    )
    text, calls, stop, _ = _read(api, server, streaming)
    assert text == "Let me check both."
    assert [(name, arguments) for _, name, arguments in calls] == [
        ("get_weather", {"city": "Paris"}),
        ("get_time", {"zone": "Europe/Rome"}),
    ]
    assert calls[0][0] == "call_paris"  # a scripted id is sent as given
    assert calls[1][0].startswith(ID_PREFIX[api])
    assert stop == TOOL_STOP[api]


def test_anthropic_raw_stream_has_tool_use_blocks_and_input_json_deltas(
    server: LLMServer, claude: anthropic.Anthropic
) -> None:
    server.configure(text="Checking.", tool_calls=[ToolCall("get_weather", {"city": "Paris"})])
    with claude.messages.create(
        model=MODEL, max_tokens=64, messages=[{"role": "user", "content": PROMPT}], stream=True
    ) as stream:
        events = list(stream)
    starts = [e.content_block for e in events if e.type == "content_block_start"]
    assert [block.type for block in starts] == ["text", "tool_use"]
    tool_use = starts[1]
    assert tool_use.type == "tool_use"
    assert (tool_use.name, tool_use.input) == ("get_weather", {})
    json_deltas = [
        (e.index, e.delta.partial_json)
        for e in events
        if e.type == "content_block_delta" and e.delta.type == "input_json_delta"
    ]
    assert {index for index, _ in json_deltas} == {1}
    assert json.loads("".join(piece for _, piece in json_deltas)) == {"city": "Paris"}
    assert [e.index for e in events if e.type == "content_block_stop"] == [0, 1]
    [delta] = [e for e in events if e.type == "message_delta"]
    assert delta.delta.stop_reason == "tool_use"


def test_openai_chat_raw_stream_sends_id_and_name_first_then_argument_deltas(
    server: LLMServer, gpt: openai.OpenAI
) -> None:
    server.configure(tool_calls=[ToolCall("get_weather", {"city": "Paris", "unit": "C"})])
    with gpt.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": PROMPT}], stream=True
    ) as stream:
        chunks = [c for c in stream if c.choices]
    deltas = [d for c in chunks for d in c.choices[0].delta.tool_calls or []]
    assert deltas[0].id is not None
    assert deltas[0].function is not None
    assert deltas[0].function.name == "get_weather"
    assert all(d.index == 0 and d.id is None for d in deltas[1:])
    arguments = "".join(d.function.arguments or "" for d in deltas if d.function)
    assert json.loads(arguments) == {"city": "Paris", "unit": "C"}
    assert chunks[0].choices[0].delta.content is None
    assert [c.choices[0].finish_reason for c in chunks][-1] == "tool_calls"


def test_openai_responses_raw_stream_has_a_function_call_item_with_argument_deltas(
    server: LLMServer, gpt: openai.OpenAI
) -> None:
    server.configure(tool_calls=[ToolCall("get_weather", {"city": "Paris"})])
    with gpt.responses.create(
        model=MODEL, input=PROMPT, tools=RESPONSES_TOOLS, stream=True
    ) as stream:
        events = list(stream)
    assert [e.sequence_number for e in events] == list(range(len(events)))
    kinds = [e.type for e in events]
    assert kinds[:3] == ["response.created", "response.in_progress", "response.output_item.added"]
    assert kinds[-3:] == [
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]
    added = events[2]
    assert added.type == "response.output_item.added"
    assert added.item.type == "function_call"
    assert (added.item.name, added.item.arguments) == ("get_weather", "")
    deltas = [e for e in events if e.type == "response.function_call_arguments.delta"]
    assert {e.item_id for e in deltas} == {added.item.id}
    assert json.loads("".join(e.delta for e in deltas)) == {"city": "Paris"}


def test_the_async_anthropic_client_parses_a_streamed_tool_call(server: LLMServer) -> None:
    import asyncio

    server.configure(tool_calls=[ToolCall("get_weather", WEATHER_ARGS)])

    async def run() -> Any:
        async with (
            anthropic.AsyncAnthropic(
                base_url=server.anthropic_base_url, api_key="test", max_retries=0
            ) as client,
            client.messages.stream(
                model=MODEL, max_tokens=64, messages=[{"role": "user", "content": PROMPT}]
            ) as stream,
        ):
            return await stream.get_final_message()

    message = asyncio.run(run())
    [block] = message.content
    assert block.type == "tool_use"
    assert (block.name, block.input) == ("get_weather", WEATHER_ARGS)


def test_argument_pieces_are_paced_by_the_gate_like_tokens(
    server: LLMServer, gpt: openai.OpenAI
) -> None:
    gate = threading.Event()
    server.configure(tool_calls=[ToolCall("get_weather", WEATHER_ARGS)], gate=gate, gate_after=1)
    with gpt.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": PROMPT}], stream=True
    ) as stream:
        chunks = iter(stream)
        seen = []
        while not seen:  # the role chunk first, then the call's opening with one piece
            seen = next(chunks).choices[0].delta.tool_calls or []
        assert seen[0].function is not None
        assert seen[0].function.name == "get_weather"
        # An agent sees which tool is coming while the server holds the arguments.
        assert server.at_gate.wait(WAIT)
        assert server.tokens_sent == 1
        gate.set()
        rest = list(chunks)
    assert rest[-1].choices[0].finish_reason == "tool_calls"


def test_fail_after_cuts_a_tool_call_mid_arguments_and_the_sdk_raises(
    server: LLMServer, claude: anthropic.Anthropic
) -> None:
    server.configure(tool_calls=[ToolCall("get_weather", WEATHER_ARGS)], fail_after=2)
    pieces: list[str] = []
    with (
        pytest.raises(anthropic.APIStatusError, match="scripted failure"),
        claude.messages.stream(
            model=MODEL, max_tokens=64, messages=[{"role": "user", "content": PROMPT}]
        ) as stream,
    ):
        pieces.extend(e.partial_json for e in stream if e.type == "input_json")
    assert len(pieces) == 2
    assert server.wait_idle(WAIT)
    assert server.streams_failed == 1


def test_malformed_arguments_text_is_sent_verbatim(server: LLMServer, gpt: openai.OpenAI) -> None:
    server.configure(tool_calls=[ToolCall("get_weather", '{"city": "Par')])
    completion = gpt.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": PROMPT}]
    )
    [call] = completion.choices[0].message.tool_calls or []
    assert call.type == "function"
    assert call.function.arguments == '{"city": "Par'  # the agent must cope, as with a live model


def test_tool_call_and_script_mistakes_raise_script_errors_that_say_how_to_fix() -> None:
    with pytest.raises(ScriptError, match="How to fix"):
        ToolCall("", {})
    with pytest.raises(ScriptError, match="cannot be sent as JSON"):
        ToolCall("f", {"when": object()})
    with pytest.raises(ScriptError, match="must be a list of ToolCall"):
        Script(tool_calls=ToolCall("f"))  # type: ignore[arg-type]
    with pytest.raises(ScriptError, match="not a ToolCall"):
        Script(tool_calls=[{"name": "f"}])  # type: ignore[list-item]
    with pytest.raises(ScriptError) as raised:
        Script(fail_after=1, drop_after=1)
    assert isinstance(raised.value, HypergraphError)
    assert isinstance(raised.value, ValueError)


def test_a_tool_calls_arguments_are_copied_when_scripted() -> None:
    arguments: dict[str, Any] = {"city": "Paris"}
    call = ToolCall("get_weather", arguments)
    arguments["city"] = "Rome"
    assert call.arguments_json == '{"city": "Paris"}'


# -- an agent loop, end to end ---------------------------------------------------------------


def test_an_agent_loop_graph_calls_the_tool_and_answers_offline(
    server: LLMServer, claude: anthropic.Anthropic
) -> None:
    """A model -> tool -> model cycle with the real SDK: the path a live agent takes."""
    server.enqueue(
        Script(tool_calls=[ToolCall("get_weather", {"city": "Paris"})]),
        Script(text="It is sunny in Paris."),
    )
    tool_runs: list[dict[str, Any]] = []

    @node(output_name="reply")
    def call_model(messages: list[Any]) -> Any:
        return claude.messages.create(
            model=MODEL, max_tokens=64, messages=messages, tools=ANTHROPIC_TOOLS
        )

    @node(output_name="messages")
    def run_tools(messages: list[Any], reply: Any) -> list[Any]:
        results = []
        for block in reply.content:
            if block.type == "tool_use":
                tool_runs.append(block.input)
                results.append({"type": "tool_result", "tool_use_id": block.id, "content": "sunny"})
        assistant = {"role": "assistant", "content": [b.model_dump() for b in reply.content]}
        return [*messages, assistant, {"role": "user", "content": results}]

    @route(targets=["run_tools", END])
    def needs_tool(reply: Any) -> object:
        return "run_tools" if reply.stop_reason == "tool_use" else END

    agent = Graph([call_model, run_tools, needs_tool], name="agent", entrypoint="call_model")
    result = SyncRunner().run(agent, messages=[{"role": "user", "content": PROMPT}])

    assert tool_runs == [{"city": "Paris"}]
    assert result["reply"].content[0].text == "It is sunny in Paris."
    second = server.requests[1].body["messages"]
    assert second[-1]["content"][0]["tool_use_id"] == second[-2]["content"][0]["id"]
