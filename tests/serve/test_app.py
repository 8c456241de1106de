"""create_app's options and choices, the lazy extra, and the page's static files."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator
from importlib import resources
from typing import Any

import httpx
import pytest

import hypergraph.serve._extra as extra
from hypergraph import Graph, GraphConfigError, NodeContext, node
from hypergraph.serve import MissingExtraError, create_app
from hypergraph.serve.chat_shape import chat_shape

from .harness import Running

pytestmark = pytest.mark.timeout(30)


@node(output_name="answer")
async def reply(messages: list[Any]) -> AsyncIterator[str]:
    yield "hi"


@node(output_name="context")
def lookup(messages: list[Any]) -> str:
    return "ctx"


@node(output_name="critique")
def critic(answer: list[str], ctx: NodeContext) -> str:
    ctx.stream("hmm")
    return "fine"


def test_importing_hypergraph_serve_loads_no_web_framework_until_an_app_is_made() -> None:
    code = (
        "import sys, hypergraph.serve\n"
        "print('starlette' in sys.modules, 'uvicorn' in sys.modules)\n"
        "from hypergraph import Graph, node\n"
        "hypergraph.serve.create_app(Graph([node(output_name='y')(lambda x: x)]))\n"
        "print('starlette' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False", "True"]


def test_without_the_extra_create_app_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = extra.importlib.util.find_spec
    monkeypatch.setattr(
        extra.importlib.util, "find_spec", lambda name: None if name == "uvicorn" else real(name)
    )
    with pytest.raises(MissingExtraError) as missing:
        create_app(Graph([reply]))
    assert 'pip install "hypergraph[serve]"' in str(missing.value)
    assert "needs uvicorn, which is not installed" in str(missing.value)


@pytest.mark.parametrize(
    "options",
    [
        {"resume_window": 0},
        {"resume_window": -5},
        {"heartbeat": "15"},
        {"slow_reader_timeout": True},
        {"log_size": 4},
        {"log_size": 10.5},
    ],
)
def test_create_app_rejects_options_that_cannot_work(options: dict[str, Any]) -> None:
    with pytest.raises(GraphConfigError) as bad:
        create_app(Graph([reply]), **options)
    name = next(iter(options))
    assert f"create_app({name}=" in str(bad.value) and "How to fix" in str(bad.value)


def test_create_app_serves_only_graphs() -> None:
    with pytest.raises(GraphConfigError, match="serves a Graph, got FunctionNode"):
        create_app(reply)  # type: ignore[arg-type]


def test_the_one_streaming_node_is_the_answer_even_inside_a_nested_graph() -> None:
    assert chat_shape(Graph([lookup, reply])).answer_node == "reply"
    inner = Graph([reply], name="inner").as_node()
    shape = chat_shape(Graph([lookup, inner]))
    assert shape.answer_node == "inner/reply" and shape.problem is None
    assert chat_shape(Graph([lookup, inner]), answer_node="reply").answer_node == "reply"


def test_with_two_streaming_nodes_chat_requests_are_told_to_name_one() -> None:
    shape = chat_shape(Graph([reply, critic]))
    assert shape.answer_node is None
    assert shape.problem is not None
    assert "'reply', 'critic'" in shape.problem and "answer_node='critic'" in shape.problem
    assert chat_shape(Graph([reply, critic]), answer_node="reply").problem is None


def test_naming_something_the_graph_lacks_fails_when_the_app_is_made() -> None:
    with pytest.raises(GraphConfigError, match=r"answer_node 'rply' .* Did you mean 'reply'"):
        create_app(Graph([lookup, reply]), answer_node="rply")
    with pytest.raises(GraphConfigError, match=r"answer_output 'answr' .* Did you mean 'answer'"):
        create_app(Graph([reply]), answer_output="answr")


def test_a_graph_without_a_messages_input_still_serves_runs_and_says_why_chat_is_off() -> None:
    @node(output_name="y")
    def double(x: int) -> int:
        return 2 * x

    shape = chat_shape(Graph([double]))
    assert shape.problem is not None
    assert "no input 'messages'" in shape.problem and "messages_input=" in shape.problem
    assert shape.answer_output == "y"  # a non-streaming graph's one output is its reply


def test_the_page_loads_nothing_from_elsewhere() -> None:
    page = resources.files("hypergraph.serve") / "page"
    for name in ("index.html", "chat.js", "chat.css"):
        text = (page / name).read_text()
        assert "http://" not in text and "https://" not in text and "//cdn" not in text, name


def test_the_page_its_files_and_info_are_served(served: Running) -> None:
    page = httpx.get(f"{served.url}/", timeout=10)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "<title>rag · hypergraph</title>" in page.text
    script = httpx.get(f"{served.url}/static/chat.js", timeout=10)
    assert script.status_code == 200 and "runs/stream" in script.text
    assert httpx.get(f"{served.url}/static/secret.py", timeout=10).status_code == 404
    info = httpx.get(f"{served.url}/info", timeout=10).json()
    assert info["messages_input"] == "messages" and info["answer_node"] == "reply"
    assert info["inputs"] == {"required": ["messages"], "optional": []}
