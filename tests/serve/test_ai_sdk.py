"""The Vercel AI SDK (`ai` npm package, under Node) consumes /api/chat unchanged.

`tests/js/ai_chat_client.mjs` uses the package's own DefaultChatTransport and
readUIMessageStream, as a `useChat` front end does. Under CI=true these tests always
run; elsewhere they skip only when Node or tests/js/node_modules is missing.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from hypergraph.testing import LLMServer, Script

from .harness import Running

pytestmark = pytest.mark.timeout(40)

JS = Path(__file__).resolve().parents[1] / "js"


def _need_ai_sdk() -> str:
    node = shutil.which("node")
    missing = []
    if node is None:
        missing.append("the `node` binary")
    if not (JS / "node_modules" / "ai").is_dir():
        missing.append("tests/js/node_modules/ai (run `npm ci --prefix tests/js`)")
    if missing:
        why = f"needs {' and '.join(missing)}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"Under CI the AI SDK test must run, but it {why}.")
        pytest.skip(f"Not under CI and this machine lacks what the test {why}.")
    assert node is not None
    return node


def _chat(server: Running, **options: Any) -> dict[str, Any]:
    node = _need_ai_sdk()
    args = json.dumps({"api": f"{server.url}/api/chat", **options})
    out = subprocess.run(
        [node, str(JS / "ai_chat_client.mjs"), args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    report: dict[str, Any] = json.loads(out.stdout)
    return report


def test_the_ai_sdk_reads_a_multi_turn_chat_with_node_progress(
    served: Running, llm: LLMServer
) -> None:
    llm.enqueue(Script(text="First reply."), Script(text="Second reply."))
    report = _chat(served, turns=["Hello", "And again"])
    first, second = report["turns"]
    assert first["errors"] == [] and second["errors"] == []
    assert first["text"] == "First reply." and second["text"] == "Second reply."
    types = first["chunkTypes"]
    assert types[0] == "start" and types[-1] == "finish"
    text_types = [t for t in types if t.startswith("text-")]
    assert text_types[0] == "text-start" and text_types[-1] == "text-end"
    assert set(text_types[1:-1]) == {"text-delta"} and len(text_types) == 2 + 2
    nodes = {
        p["data"]["name"]: p["data"] for p in first["message"]["parts"] if p["type"] == "data-node"
    }
    assert [n["status"] for n in nodes.values()] == ["completed"] * 3
    assert nodes["decide"]["decision"] == "reply"
    # The second turn carried the whole conversation, as chat messages.
    assert llm.requests[1].body["messages"] == [
        {"role": "user", "content": "Hello"},
        {"role": "assistant", "content": "First reply."},
        {"role": "user", "content": "And again"},
    ]


def test_a_failing_node_reaches_the_ai_sdk_as_an_error_after_the_partial_text(
    served: Running, llm: LLMServer
) -> None:
    llm.enqueue(Script(text="half an answer then trouble", fail_after=3))
    (turn,) = _chat(served, turns=["Hi"])["turns"]
    assert turn["text"] == "half an answer"
    assert turn["errors"] == ["Node 'reply' failed: APIError: stand-in server: scripted failure"]
    assert turn["chunkTypes"][-2:] == ["error", "finish"]
    reply = next(p for p in turn["message"]["parts"] if p.get("data", {}).get("name") == "reply")
    assert reply["data"]["status"] == "failed"


def test_aborting_the_request_like_use_chat_stop_cancels_the_run(
    served: Running, llm: LLMServer
) -> None:
    gate = threading.Semaphore(0)
    llm.enqueue(Script(text="one two three four", gate=gate, gate_after=2))
    (turn,) = _chat(served, turns=["Hi"], abortAfterDeltas=2)["turns"]
    assert turn["aborted"]
    assert llm.wait_until(lambda: llm.client_disconnected.is_set(), 5)  # provider closed
    assert served.runs.idle.wait(5)


def test_the_stream_is_marked_as_a_ui_message_stream_and_ends_with_done(
    served: Running, llm: LLMServer
) -> None:
    body = {"messages": [{"id": "1", "role": "user", "parts": [{"type": "text", "text": "Hi"}]}]}
    response = httpx.post(f"{served.url}/api/chat", json=body, timeout=10)
    assert response.headers["x-vercel-ai-ui-message-stream"] == "v1"
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.text.endswith("data: [DONE]\n\n")
    bad = httpx.post(f"{served.url}/api/chat", json={"messages": "Hi"}, timeout=10)
    assert bad.status_code == 400 and "UI messages" in bad.json()["error"]["message"]
