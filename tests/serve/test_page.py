"""The chat page in real headless Chromium (Debian's), driven through Playwright.

A person's session: type a message, watch the reply grow while the model is still
talking, press Stop, see a failing turn keep its text and show the error, and a second
turn carry the conversation. The page loads nothing from anywhere but this server.
Under CI=true this runs; elsewhere it skips only when Chromium or Playwright is missing.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hypergraph.testing import LLMServer, Script

from .harness import Running

pytestmark = pytest.mark.timeout(60)

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    missing = []
    if not Path(chromium).exists():
        missing.append("Debian's chromium (/usr/bin/chromium)")
    if importlib.util.find_spec("playwright") is None:
        missing.append("the playwright package (the test extra)")
    if missing:
        why = f"needs {' and '.join(missing)}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"Under CI the browser test must run, but it {why}.")
        pytest.skip(f"Not under CI and this machine lacks what the browser test {why}.")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # A persistent context is how Playwright takes a fresh --user-data-dir.
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=chromium,
            headless=True,
            args=FLAGS,
            viewport={"width": 1100, "height": 760},
        )
        yield context
        context.close()


def _reply_text(page: Any, index: int) -> str:
    text: str = page.locator(".msg.assistant .text").nth(index).inner_text()
    return text


def test_a_person_chats_watches_tokens_arrive_stops_and_sees_errors(
    served: Running, llm: LLMServer, browser: Any, tmp_path: Path
) -> None:
    page = browser.new_page()
    asked = []
    page.on("request", lambda request: asked.append(request.url))
    gate = threading.Semaphore(0)
    llm.enqueue(Script(text="alpha beta gamma delta epsilon zeta eta", gate=gate, gate_after=2))
    page.goto(served.url + "/")
    page.wait_for_function("document.getElementById('about').textContent.includes('reply')")

    # Turn 1: the reply grows in the DOM while the model is still talking.
    page.fill("#input", "Tell me the Greek letters")
    page.press("#input", "Enter")
    page.wait_for_function(
        "document.querySelector('.msg.assistant .text')?.textContent === 'alpha beta'"
    )
    early = _reply_text(page, 0)
    assert (
        llm.at_gate.wait(5)
        and page.locator(".msg.assistant").get_attribute("data-state") == "running"
    )
    gate.release()
    page.wait_for_function(
        "document.querySelector('.msg.assistant .text').textContent.includes('gamma')"
    )
    later = _reply_text(page, 0)
    assert early == "alpha beta" and later == "alpha beta gamma"  # two reads, two moments
    assert page.locator(".node[data-node='reply']").get_attribute("data-status") == "running"

    # Stop: the run ends as stopped and what arrived stays.
    page.click("#stop")
    page.wait_for_selector(".msg.assistant .status:has-text('stopping')")
    gate.release()  # the node is closed at its next chunk
    page.wait_for_selector(".msg.assistant[data-state='stopped']")
    assert _reply_text(page, 0) == "alpha beta gamma delta"
    assert page.locator(".node[data-node='reply']").get_attribute("data-status") == "stopped"
    assert llm.wait_until(lambda: llm.client_disconnected.is_set(), 5)

    # Turn 2: a node fails mid-stream; the text that arrived stays, with the error.
    llm.enqueue(Script(text="this will break soon", fail_after=3))
    page.fill("#input", "Now fail")
    page.press("#input", "Enter")
    page.wait_for_selector(".msg.assistant >> nth=1 >> .error")
    page.wait_for_selector(".msg.assistant[data-state='failed']")
    assert _reply_text(page, 1) == "this will break"
    error = page.locator(".msg.assistant").nth(1).locator(".error").inner_text()
    assert "Node 'reply' failed: APIError" in error

    # Turn 3: the conversation so far goes with the next message.
    llm.enqueue(Script(text="All done."))
    page.fill("#input", "Thanks")
    page.press("#input", "Enter")
    page.wait_for_selector(".msg.assistant >> nth=2 >> text=All done.")
    page.wait_for_selector(".msg.assistant >> nth=2 >> .status:has-text('completed')")
    assert [m["content"] for m in llm.requests[-1].body["messages"]] == [
        "Tell me the Greek letters",
        "alpha beta gamma delta",
        "Now fail",
        "this will break",
        "Thanks",
    ]
    shot = tmp_path / "chat.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    # Everything the page loaded came from this server: it works offline.
    assert asked and all(url.startswith(served.url) for url in asked)
    page.close()


def test_a_rejected_request_shows_the_servers_how_to_fix_message(
    serve_app: Any, llm: LLMServer, browser: Any
) -> None:
    server = serve_app(messages_input="history")  # the graph reads 'messages'
    page = browser.new_page()
    page.goto(server.url + "/")
    page.wait_for_selector("#banner:not([hidden])")
    assert "no input 'history'" in page.inner_text("#banner")
    page.fill("#input", "Hello")
    page.press("#input", "Enter")
    page.wait_for_selector(".msg.assistant[data-state='rejected'] .error")
    error = page.locator(".msg.assistant .error").inner_text()
    assert "Unknown input 'history'" in error
    page.close()


def test_the_page_continues_the_same_run_after_its_connection_drops(
    serve_app: Any, llm: LLMServer, browser: Any
) -> None:
    server = serve_app(resume_window=10)
    page = browser.new_page()
    reconnects = []
    page.on(
        "request",
        lambda r: (
            reconnects.append(r.headers.get("last-event-id"))
            if r.method == "GET" and "/runs/" in r.url
            else None
        ),
    )
    gate = threading.Semaphore(0)
    llm.enqueue(Script(text="one two three four five", gate=gate, gate_after=2))
    page.goto(server.url + "/")
    page.wait_for_function("document.getElementById('about').textContent.includes('reply')")
    page.fill("#input", "Count")
    page.press("#input", "Enter")
    page.wait_for_function(
        "document.querySelector('.msg.assistant .text')?.textContent === 'one two'"
    )
    assert server.drop_connections() >= 1  # the network drops mid-answer
    for _ in range(3):
        gate.release()
    page.wait_for_selector(".msg.assistant[data-state='completed']")
    assert _reply_text(page, 0) == "one two three four five"  # nothing lost or repeated
    assert len(reconnects) == 1 and reconnects[0] is not None  # with Last-Event-ID
    assert len(llm.requests) == 1  # the same run went on
    page.close()
