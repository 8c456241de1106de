"""The official `openai` SDK talks to a served graph unchanged: /v1/chat/completions, /v1/models."""

from __future__ import annotations

from typing import Any

import httpx
import openai
import pytest

from hypergraph import Graph, node
from hypergraph.testing import LLMServer, Script

from .graphs import chat_graph
from .harness import Running

pytestmark = pytest.mark.timeout(30)

ASK = [{"role": "user", "content": "What is a graph?"}]


def _client(server: Running) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key="unused", timeout=10)


def test_the_sdk_streams_the_reply_nodes_chunks_as_content_deltas(
    served: Running, llm: LLMServer
) -> None:
    llm.enqueue(Script(text="Nodes wired by name."))
    stream = _client(served).chat.completions.create(
        model="anything", messages=ASK, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    deltas = [c.choices[0].delta for c in chunks if c.choices]
    assert deltas[0].role == "assistant"
    content = [d.content for d in deltas if d.content]
    assert "".join(content) == "Nodes wired by name."
    assert len(content) == 4  # one delta per streamed chunk, not one lump
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    usage = chunks[-1].usage
    assert not chunks[-1].choices and usage is not None
    assert usage.completion_tokens == 4 and usage.total_tokens == 4
    assert {c.id for c in chunks} == {chunks[0].id} and chunks[0].model == "rag"
    assert llm.requests[0].body["messages"] == ASK  # the messages went through unchanged


def test_without_include_usage_no_chunk_carries_usage(served: Running, llm: LLMServer) -> None:
    stream = _client(served).chat.completions.create(model="rag", messages=ASK, stream=True)
    assert all(c.usage is None for c in stream)


def test_the_sdk_gets_one_completion_when_not_streaming(served: Running, llm: LLMServer) -> None:
    llm.enqueue(Script(text="All at once."))
    completion = _client(served).chat.completions.create(model="rag", messages=ASK)
    assert completion.choices[0].message.content == "All at once."
    assert completion.choices[0].message.role == "assistant"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None and completion.usage.completion_tokens == 3


def test_the_models_list_names_the_graph(served: Running) -> None:
    models = _client(served).models.list()
    assert [m.id for m in models.data] == ["rag"]
    assert models.data[0].owned_by == "hypergraph"


def test_a_node_failing_mid_stream_raises_in_the_sdk_after_the_text_that_arrived(
    served: Running, llm: LLMServer
) -> None:
    llm.enqueue(Script(text="this breaks half way", fail_after=2))
    got = []
    with pytest.raises(openai.APIError) as failure:
        for chunk in _client(served).chat.completions.create(
            model="rag", messages=ASK, stream=True
        ):
            if chunk.choices and chunk.choices[0].delta.content:
                got.append(chunk.choices[0].delta.content)
    assert "".join(got) == "this breaks"
    assert "Node 'reply' failed" in failure.value.message
    assert isinstance(failure.value.body, dict)
    assert failure.value.body["partial_text"] == "this breaks"


def test_a_failure_without_streaming_is_a_500_the_sdk_does_not_retry(
    served: Running, llm: LLMServer
) -> None:
    llm.enqueue(Script(text="this breaks half way", fail_after=2))
    client = openai.OpenAI(base_url=f"{served.url}/v1", api_key="x", max_retries=2, timeout=10)
    with pytest.raises(openai.InternalServerError) as failure:
        client.chat.completions.create(model="rag", messages=ASK)
    assert "Node 'reply' failed" in failure.value.message
    assert len(llm.requests) == 1  # not run again: the error says so (x-should-retry)


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"model": "rag", "messages": "hi"}, "'messages' must be a list"),
        ({"model": "rag", "messages": [], "values": [1]}, "'values' (extra graph inputs)"),
    ],
)
def test_a_bad_chat_request_is_a_400_the_sdk_reports(
    served: Running, body: dict[str, Any], says: str
) -> None:
    response = httpx.post(f"{served.url}/v1/chat/completions", json=body, timeout=10)
    assert response.status_code == 400
    assert says in response.json()["error"]["message"]
    assert "How to fix" in response.json()["error"]["message"]


def test_extra_graph_inputs_come_from_values_in_the_request(serve_app: Any, llm: LLMServer) -> None:
    @node(output_name="reply")
    def shout(messages: list[dict[str, Any]], volume: int = 1) -> str:
        return messages[-1]["content"].upper() + "!" * volume

    server = serve_app(Graph([shout], name="shout"))
    completion = _client(server).chat.completions.create(
        model="shout", messages=ASK, extra_body={"values": {"volume": 3}}
    )
    # A graph that does not stream answers with its one output.
    assert completion.choices[0].message.content == "WHAT IS A GRAPH?!!!"
    with pytest.raises(openai.BadRequestError) as unknown:
        _client(server).chat.completions.create(
            model="shout", messages=ASK, extra_body={"values": {"volum": 3}}
        )
    assert "Did you mean 'volume'?" in unknown.value.message


def test_chat_endpoints_say_which_node_to_name_when_two_nodes_stream(
    serve_app: Any, llm: LLMServer
) -> None:
    first = chat_graph(llm).nodes["reply"]
    second = first.with_name("critique").with_outputs(answer="critique")
    server = serve_app(Graph([first, second]))
    response = httpx.post(
        f"{server.url}/v1/chat/completions", json={"model": "x", "messages": ASK}, timeout=10
    )
    assert response.status_code == 501
    message = response.json()["error"]["message"]
    assert "'reply', 'critique'" in message and "answer_node=" in message
    # /runs needs no answer node: it still works.
    assert httpx.post(f"{server.url}/runs", json={"values": {"messages": ASK}}).status_code == 200
