"""Where the examples' model lives: a real provider when configured, else the stand-in.

Every example calls `use_stand_in_if_offline()` before it makes an SDK client. With
`ANTHROPIC_API_KEY` (or `OPENAI_API_KEY` / `OPENAI_BASE_URL`, for OpenAI or any
OpenAI-compatible server) set, the real provider answers. Without them, hypergraph's
loopback stand-in server starts on 127.0.0.1 and the real SDKs are pointed at it
through `ANTHROPIC_BASE_URL` / `OPENAI_BASE_URL`, so the same code runs offline. Every
stand-in reply starts with "[stand-in model]".
"""

from __future__ import annotations

import asyncio
import atexit
import os
import sys
from collections.abc import AsyncIterator
from typing import Any

from anthropic import AsyncAnthropic
from openai import AsyncOpenAI

from hypergraph.testing import LLMServer, Script

ANTHROPIC_MODEL = os.environ.get("ANTHROPIC_MODEL", "claude-sonnet-4-6")
OPENAI_MODEL = os.environ.get("OPENAI_MODEL", "gpt-4o-mini")
TOKEN_DELAY = 0.02  # the stand-in's pace, so that streaming is visible in a terminal

_server: LLMServer | None = None
_choice: str | None = None  # "anthropic", "openai" or "stand-in": who answers stream_text


def use_stand_in_if_offline() -> LLMServer | None:
    """Start the stand-in for every provider that is not configured; return it (or None)."""
    global _server, _choice
    has_anthropic = bool(os.environ.get("ANTHROPIC_API_KEY"))
    has_openai = bool(os.environ.get("OPENAI_API_KEY") or os.environ.get("OPENAI_BASE_URL"))
    if _choice is None:
        _choice = "anthropic" if has_anthropic else "openai" if has_openai else "stand-in"
    if has_anthropic and has_openai:
        return _server
    if _server is None:
        _server = LLMServer(Script(delay=TOKEN_DELAY)).start()
        atexit.register(_server.close)
        if _choice == "stand-in":
            print(
                "(offline: no API key set, so a local stand-in model on 127.0.0.1 answers; "
                "set ANTHROPIC_API_KEY or OPENAI_API_KEY for a real one)",
                file=sys.stderr,
            )
    if not has_anthropic:
        os.environ["ANTHROPIC_API_KEY"] = "stand-in"
        os.environ["ANTHROPIC_BASE_URL"] = _server.anthropic_base_url
    if not has_openai:
        os.environ["OPENAI_API_KEY"] = "stand-in"
        os.environ["OPENAI_BASE_URL"] = _server.openai_base_url
    os.environ.setdefault("OPENAI_API_KEY", "local")  # OpenAI-compatible servers need none
    return _server


def describe() -> str:
    """Which model answers `stream_text`, in words."""
    if _choice == "anthropic":
        return f"Anthropic {ANTHROPIC_MODEL}"
    if _choice == "openai":
        return f"{OPENAI_MODEL} at {os.environ.get('OPENAI_BASE_URL', 'OpenAI')}"
    return "a local stand-in model (offline; set ANTHROPIC_API_KEY for a real one)"


async def stream_text(messages: list[dict[str, Any]], system: str = "") -> AsyncIterator[str]:
    """Stream a reply from the configured provider (the stand-in speaks Anthropic's protocol).

    The clients are made in a worker thread: making one loads TLS certificates, which
    would hold the event loop (and every other stream on it) for a few hundred ms.
    """
    if _choice != "openai":
        extra = {"system": system} if system else {}
        anthropic = await asyncio.to_thread(AsyncAnthropic)
        async with anthropic.messages.stream(
            model=ANTHROPIC_MODEL, max_tokens=1024, messages=messages, **extra
        ) as stream:
            async for text in stream.text_stream:
                yield text
        return
    prompt = [{"role": "system", "content": system}] if system else []
    openai = await asyncio.to_thread(AsyncOpenAI)
    chunks = await openai.chat.completions.create(
        model=OPENAI_MODEL, messages=[*prompt, *messages], stream=True
    )
    async for chunk in chunks:
        if chunk.choices and chunk.choices[0].delta.content:
            yield chunk.choices[0].delta.content
