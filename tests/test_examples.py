"""Every script in examples/ runs against the loopback LLMServer, through the real SDKs.

The environment points both SDKs at a server the test starts (as a user's API keys and
base URLs would point them at a provider) before the example is imported: the examples
read it at import. Each example is imported fresh, with its helper modules, and what it
prints and returns is checked against the stand-in model's labelled echo.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from conftest import run_async
from hypergraph import RunStatus
from hypergraph.testing import STAND_IN_PREFIX, LLMServer, Script, split_tokens, stand_in_reply

pytestmark = pytest.mark.timeout(30)

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
# Modules the examples import from examples/ itself; they keep state, so each test
# imports them afresh.
HELPERS = ("_provider", "rag_pipeline")


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[LLMServer]:
    with LLMServer() as running:
        monkeypatch.setenv("ANTHROPIC_API_KEY", "test")
        monkeypatch.setenv("ANTHROPIC_BASE_URL", running.anthropic_base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "test")
        monkeypatch.setenv("OPENAI_BASE_URL", running.openai_base_url)
        for name in ("ANTHROPIC_MODEL", "OPENAI_MODEL", "ANTHROPIC_AUTH_TOKEN"):
            monkeypatch.delenv(name, raising=False)
        yield running


@pytest.fixture
def load(monkeypatch: pytest.MonkeyPatch, server: LLMServer) -> Iterator[Callable[[str], Any]]:
    """Import an example by name, fresh, after the environment points at `server`."""
    monkeypatch.syspath_prepend(str(EXAMPLES))
    loaded: list[str] = []

    def forget(names: tuple[str, ...] | list[str]) -> None:
        for name in names:
            sys.modules.pop(name, None)

    def _load(name: str) -> ModuleType:
        forget((*HELPERS, name))
        loaded.append(name)
        return importlib.import_module(name)

    yield _load
    forget((*HELPERS, *loaded))


def reply_to(text: str) -> str:
    expected = stand_in_reply(text)
    assert expected.startswith(STAND_IN_PREFIX)
    return expected


def last_user_text(server: LLMServer, index: int = -1) -> str:
    body = server.requests[index].body
    messages = body.get("messages") or body.get("input")
    assert isinstance(messages, list)
    (content,) = [m["content"] for m in messages if m["role"] == "user"][-1:]
    return str(content)


def test_anthropic_basic_streams_the_reply_to_the_terminal_and_returns_it(
    load: Callable[[str], Any], server: LLMServer, capsys: pytest.CaptureFixture[str]
) -> None:
    example = load("anthropic_basic")
    response = run_async(example.main())
    expected = reply_to("Hi")
    assert response == expected
    assert expected in capsys.readouterr().out
    (request,) = server.requests
    assert request.path == "/v1/messages"
    assert request.stream
    assert request.body["system"] == "Be brief."


def test_openai_stream_shows_chat_completion_deltas_and_joins_them(
    load: Callable[[str], Any], server: LLMServer, capsys: pytest.CaptureFixture[str]
) -> None:
    example = load("openai_stream")
    answer = example.main("What is a graph?")
    expected = reply_to("What is a graph?")
    assert answer == expected
    assert expected in capsys.readouterr().out
    (request,) = server.requests
    assert request.path == "/v1/chat/completions"
    assert request.stream


def test_async_generator_node_prints_the_tokens_and_counts_the_words(
    load: Callable[[str], Any], server: LLMServer, capsys: pytest.CaptureFixture[str]
) -> None:
    example = load("async_generator_node")
    words = run_async(example.main("Write one sentence about rivers."))
    expected = reply_to("Write one sentence about rivers.")
    assert words == len(expected.split())
    out = capsys.readouterr().out
    assert expected in out
    assert f"({words} words)" in out


def test_rag_pipeline_retrieves_context_and_streams_the_answer(
    load: Callable[[str], Any], server: LLMServer, capsys: pytest.CaptureFixture[str]
) -> None:
    example = load("rag_pipeline")
    answer = run_async(example.main("How do cycles stop?"))
    prompt = last_user_text(server)
    # The nested retrieval graph found the document about cycles.
    assert "A cycle stops when a route gate returns END." in prompt
    assert prompt.endswith("Question: How do cycles stop?")
    assert answer == reply_to(prompt)
    assert answer in capsys.readouterr().out


def test_cached_rag_second_run_makes_no_provider_call_and_still_streams(
    load: Callable[[str], Any],
    server: LLMServer,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    example = load("cached_rag")
    cache_file = tmp_path / "cache.sqlite"
    first = run_async(example.main("How do cycles stop?", cache_file))
    requests = len(server.requests)
    first_out = capsys.readouterr().out
    second = run_async(example.main("How do cycles stop?", cache_file))
    second_out = capsys.readouterr().out
    assert len(server.requests) == requests == 1
    assert second == first and first in first_out and first in second_out
    assert "from the cache" in second_out and "from the cache" not in first_out


def test_callbacks_get_every_token_and_a_processor_sees_the_summary_chunks(
    load: Callable[[str], Any], server: LLMServer, capsys: pytest.CaptureFixture[str]
) -> None:
    example = load("callbacks")
    got = example.main()
    expected = reply_to("Name three colours.")
    assert got["response"] == expected
    assert got["tokens"] == list(split_tokens(expected))  # on_token saw each token
    assert len(got["tokens"]) > 1
    words = expected.split()[:8]
    assert got["chunks"] == [w + " " for w in words]  # the processor saw ctx.stream chunks
    assert got["summary"] == " ".join(words)
    out = capsys.readouterr().out
    assert expected in out
    assert f"[summarize] {words[0]} " in out


def test_chat_loop_runs_three_turns_and_returns_the_history(
    load: Callable[[str], Any], server: LLMServer, capsys: pytest.CaptureFixture[str]
) -> None:
    example = load("chat_loop")
    turns = ["What is a graph?", "And a cycle?", "Thanks!"]
    history = run_async(example.main(turns))
    assert history == [
        message
        for turn in turns
        for message in (
            {"role": "user", "content": turn},
            {"role": "assistant", "content": reply_to(turn)},
        )
    ]
    assert sum(m["role"] == "assistant" for m in history) == 3
    assert len(server.requests) == 3
    out = capsys.readouterr().out
    for turn in turns:
        assert reply_to(turn) in out


def test_approval_chat_pauses_for_each_reply_and_resumes_after_a_restart(
    load: Callable[[str], Any],
    server: LLMServer,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    example = load("approval_chat")
    db = tmp_path / "state" / "chat.sqlite"
    turns = ["What is a graph?", "And a cycle?"]
    asked: list[str] = []

    def leave(question: str) -> str:
        asked.append(question)
        raise EOFError  # the user leaves while a question waits

    first = run_async(example.main(db, "w", turns, leave))
    assert first.status is RunStatus.PAUSED
    assert first.pause.value == reply_to(turns[0])  # the question is the streamed draft
    assert len(server.requests) == 1
    # A restart: a new runner and checkpointer on the same file answer the questions.
    answers = iter(["y", "n"])
    second = run_async(example.main(db, "w", turns, lambda q: next(answers)))
    assert second.status is RunStatus.COMPLETED
    assert second["messages"] == [
        {"role": "user", "content": turns[0]},
        {"role": "assistant", "content": reply_to(turns[0])},
        {"role": "user", "content": turns[1]},
        {"role": "assistant", "content": "(a reply was withheld by the reviewer)"},
    ]
    assert len(server.requests) == 2  # the first draft was not written again
    out = capsys.readouterr().out
    assert "Run again with --workflow w to answer." in out
    assert reply_to(turns[1]) in out  # the second draft streamed to the terminal


def test_partial_on_error_keeps_the_text_streamed_before_the_failure(
    load: Callable[[str], Any], server: LLMServer, capsys: pytest.CaptureFixture[str]
) -> None:
    server.enqueue(Script(fail_after=5))
    example = load("partial_on_error")
    got = run_async(example.main("tides"))
    prompt = last_user_text(server)
    assert prompt == "Write about tides."
    kept = "".join(split_tokens(reply_to(prompt))[:5])
    assert got == {"status": RunStatus.FAILED, "partial": kept, "title": "Tides"}
    out = capsys.readouterr().out
    assert "status: failed" in out
    assert f"kept:   {kept!r}" in out
    assert server.streams_failed == 1


def test_consumer_iter_labels_the_chunks_of_two_streaming_nodes(
    load: Callable[[str], Any], server: LLMServer, capsys: pytest.CaptureFixture[str]
) -> None:
    example = load("consumer_iter")
    texts = run_async(example.main("the moon"))
    assert texts == {
        "haiku": reply_to("A haiku about the moon."),
        "fact": reply_to("One fact about the moon."),
    }
    out = capsys.readouterr().out
    for name in ("haiku", "fact"):
        assert f"-> {name} started" in out
        assert f"<- {name} done" in out
        assert f"   {name}#0: " in out


def test_demo_prints_the_streamed_answer_and_the_run_status(
    load: Callable[[str], Any], server: LLMServer, capsys: pytest.CaptureFixture[str]
) -> None:
    example = load("demo")
    assert run_async(example.main("How do nodes get wired?")) is None
    prompt = last_user_text(server)
    assert prompt.endswith("Question: How do nodes get wired?")
    answer = reply_to(prompt)
    out = capsys.readouterr().out
    assert answer in out
    assert "Question: How do nodes get wired?" in out
    assert "[retrieval/tokenize]" in out and "[generate]" in out
    assert f"{len(answer)} characters" in out
    assert "status completed" in out


def test_every_example_script_is_covered_here() -> None:
    scripts = {p.stem for p in EXAMPLES.glob("*.py")} - set(HELPERS)
    tested = {
        name.split("_", 1)[1]
        for name in globals()
        if name.startswith("test_") and name != "test_every_example_script_is_covered_here"
    }
    covered = {s for s in scripts if any(t.startswith(s) for t in tested)}
    assert covered == scripts


def test_the_demo_runs_offline_as_a_script_with_a_labelled_stand_in_model() -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("ANTHROPIC_", "OPENAI_")) and k != "PYTHONPATH"
    }
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "demo.py"), "How do cycles stop?"],
        env=env,
        capture_output=True,
        text=True,
        timeout=25,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert STAND_IN_PREFIX in done.stdout
    assert "stand-in" in done.stderr  # says that no real model answers
    assert "status completed" in done.stdout
