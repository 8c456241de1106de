"""Fixtures shared by the tests of the stand-in LLM server: the server, and a client of
each real SDK pointed at it. A test module imports the ones it uses by name."""

from __future__ import annotations

from collections.abc import Iterator

import anthropic
import openai
import pytest

from hypergraph.testing import LLMServer


@pytest.fixture
def server() -> Iterator[LLMServer]:
    with LLMServer() as running:
        yield running


@pytest.fixture
def claude(server: LLMServer) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(
        base_url=server.anthropic_base_url, api_key="test", max_retries=0
    ) as client:
        yield client


@pytest.fixture
def gpt(server: LLMServer) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=server.openai_base_url, api_key="test", max_retries=0) as client:
        yield client
