"""Replies matched to their requests.

A queued script with ``match`` answers the request it names, so concurrent or lost
requests cannot shift replies onto the wrong caller; scripts without it keep the
simple in-order mode.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import anthropic
import openai
import pytest

from hypergraph.testing import LLMServer, RecordedRequest, Script, ScriptError, ToolCall

pytestmark = pytest.mark.timeout(30)

MODEL = "stand-in-test-model"
WAIT = 5.0


def ask(client: openai.OpenAI, question: str) -> str:
    completion = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": question}]
    )
    return completion.choices[0].message.content or ""


def test_matched_replies_answer_their_own_requests_whatever_the_arrival_order(
    server: LLMServer, gpt: openai.OpenAI
) -> None:
    server.enqueue(
        Script(text="Paris reply", match="Paris"),
        Script(text="Rome reply", match="Rome"),
        Script(text="Oslo reply", match="Oslo"),
    )
    assert ask(gpt, "Tell me about Oslo") == "Oslo reply"
    assert ask(gpt, "Tell me about Paris") == "Paris reply"
    assert ask(gpt, "Tell me about Rome") == "Rome reply"
    assert server.pending_scripts == []


def test_a_lost_request_leaves_its_reply_queued_instead_of_shifting_the_others(
    server: LLMServer, gpt: openai.OpenAI
) -> None:
    lost = Script(text="second reply", match="second")
    server.enqueue(Script(text="first reply", match="first"), lost)
    server.enqueue(Script(text="third reply", match="third"))
    assert ask(gpt, "the first question") == "first reply"
    # The second request never reaches the server (a crashed worker, a timeout...).
    assert ask(gpt, "the third question") == "third reply"
    assert server.pending_scripts == [lost]


def test_concurrent_clients_each_get_the_reply_scripted_for_their_question(
    server: LLMServer,
) -> None:
    questions = [f"question number {n}." for n in range(16)]
    # Queued in the reverse of any likely arrival order.
    server.enqueue(*(Script(text=f"answer to {q}", match=q) for q in reversed(questions)))
    start = threading.Barrier(len(questions))
    answers: dict[str, str] = {}

    def client(question: str) -> None:
        with openai.OpenAI(base_url=server.openai_base_url, api_key="test", max_retries=0) as gpt:
            start.wait(WAIT)
            answers[question] = ask(gpt, question)

    threads = [threading.Thread(target=client, args=(q,)) for q in questions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT * 2)
    assert answers == {q: f"answer to {q}" for q in questions}


def test_matching_scripts_go_first_and_in_order_scripts_keep_their_order(
    server: LLMServer, gpt: openai.OpenAI
) -> None:
    server.configure(text="default")
    server.enqueue(
        Script(text="in order 1"),
        Script(text="for Rome", match="Rome"),
        Script(text="in order 2"),
    )
    assert ask(gpt, "Rome?") == "for Rome"
    assert ask(gpt, "Paris?") == "in order 1"
    assert ask(gpt, "Rome again?") == "in order 2"  # its matching script is used up
    assert ask(gpt, "anything") == "default"


def test_two_matching_scripts_for_one_key_answer_its_requests_in_queue_order(
    server: LLMServer, gpt: openai.OpenAI
) -> None:
    server.enqueue(
        Script(text="Rome 1", match="Rome"),
        Script(text="Paris 1", match="Paris"),
        Script(text="Rome 2", match="Rome"),
    )
    assert [ask(gpt, "Rome"), ask(gpt, "Rome"), ask(gpt, "Paris")] == [
        "Rome 1",
        "Rome 2",
        "Paris 1",
    ]


def test_a_predicate_matches_a_request_by_header_or_model(
    server: LLMServer, gpt: openai.OpenAI
) -> None:
    server.enqueue(
        Script(text="for case b", match=lambda r: r.headers.get("x-test-case") == "b"),
        Script(text="for the small model", match=lambda r: r.model == "small"),
    )
    small = gpt.chat.completions.create(model="small", messages=[{"role": "user", "content": "hi"}])
    case_b = gpt.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "hi"}],
        extra_headers={"X-Test-Case": "b"},
    )
    assert small.choices[0].message.content == "for the small model"
    assert case_b.choices[0].message.content == "for case b"


def test_a_predicate_that_raises_is_reported_to_the_client(
    server: LLMServer, gpt: openai.OpenAI
) -> None:
    server.enqueue(Script(text="never", match=lambda r: r.body["no such key"]))
    with pytest.raises(openai.InternalServerError, match="KeyError") as raised:
        ask(gpt, "hi")
    assert "How to fix" in str(raised.value)
    assert server.wait_idle(WAIT)


def test_the_default_script_cannot_have_a_match() -> None:
    with pytest.raises(ScriptError, match=r"server\.enqueue"):
        LLMServer(Script(match="Paris"))
    with LLMServer() as server, pytest.raises(ScriptError):
        server.configure(text="x", match="Paris")
    with pytest.raises(ScriptError, match="non-empty"):
        Script(match="")


def test_a_structural_word_does_not_match_every_request() -> None:
    request = RecordedRequest(
        "POST",
        "/v1/chat/completions",
        "",
        {},
        {"model": MODEL, "messages": [{"role": "user", "content": "hello"}]},
    )
    assert request.conversation == "hello"
    assert not Script(match="user").answers(request)
    assert Script(match="hello").answers(request)


# -- the turns of concurrent agent conversations --------------------------------------------

CITIES = {"Paris": "sunny", "Rome": "rainy"}


def anthropic_turns(server: LLMServer, city: str) -> tuple[Any, Any]:
    question: Any = {"role": "user", "content": f"Weather in {city}?"}
    with anthropic.Anthropic(
        base_url=server.anthropic_base_url, api_key="test", max_retries=0
    ) as client:
        first = client.messages.create(model=MODEL, max_tokens=64, messages=[question])
        call = first.content[0]
        assert call.type == "tool_use"
        result = {"type": "tool_result", "tool_use_id": call.id, "content": CITIES[city]}
        second = client.messages.create(
            model=MODEL,
            max_tokens=64,
            messages=[
                question,
                {"role": "assistant", "content": [call.model_dump()]},
                {"role": "user", "content": [result]},
            ],
        )
        assert second.content[0].type == "text"
        return call.input, second.content[0].text


def chat_turns(server: LLMServer, city: str) -> tuple[Any, Any]:
    question: Any = {"role": "user", "content": f"Weather in {city}?"}
    with openai.OpenAI(base_url=server.openai_base_url, api_key="test", max_retries=0) as gpt:
        first = gpt.chat.completions.create(model=MODEL, messages=[question])
        message = first.choices[0].message
        [call] = message.tool_calls or []
        assert call.type == "function"
        second = gpt.chat.completions.create(
            model=MODEL,
            messages=[
                question,
                message.model_dump(exclude_none=True),  # type: ignore[list-item]
                {"role": "tool", "tool_call_id": call.id, "content": CITIES[city]},
            ],
        )
        return json.loads(call.function.arguments), second.choices[0].message.content


def responses_turns(server: LLMServer, city: str) -> tuple[Any, Any]:
    question: Any = {"role": "user", "content": f"Weather in {city}?"}
    with openai.OpenAI(base_url=server.openai_base_url, api_key="test", max_retries=0) as gpt:
        first = gpt.responses.create(model=MODEL, input=[question])
        [call] = [item for item in first.output if item.type == "function_call"]
        second = gpt.responses.create(
            model=MODEL,
            input=[
                question,
                call.model_dump(exclude_none=True),  # type: ignore[list-item]
                {"type": "function_call_output", "call_id": call.call_id, "output": CITIES[city]},
            ],
        )
        return json.loads(call.arguments), second.output_text


TURNS = {
    "anthropic": anthropic_turns,
    "openai-chat": chat_turns,
    "openai-responses": responses_turns,
}


@pytest.mark.parametrize("api", list(TURNS))
def test_concurrent_agent_conversations_each_get_their_tool_call_and_final_answer(
    server: LLMServer, api: str
) -> None:
    for city in CITIES:
        server.enqueue(
            Script(tool_calls=[ToolCall("get_weather", {"city": city})], match=city),
            Script(text=f"{city} is {CITIES[city]}.", match=city),
        )
    results: dict[str, object] = {}
    start = threading.Barrier(len(CITIES))

    def conversation(city: str) -> None:
        try:
            start.wait(WAIT)
            results[city] = TURNS[api](server, city)
        except Exception as error:
            results[city] = error

    threads = [threading.Thread(target=conversation, args=(city,)) for city in CITIES]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT * 2)
    assert results == {
        city: ({"city": city}, f"{city} is {weather}.") for city, weather in CITIES.items()
    }
    assert server.pending_scripts == []
