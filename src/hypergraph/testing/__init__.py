"""Test helpers for hypergraph: a stand-in LLM server the real provider SDKs can talk to.

:class:`LLMServer` answers the ``anthropic`` and ``openai`` SDKs on 127.0.0.1 with
scripted replies (text, tool calls, failures, pacing), so LLM nodes and agent loops
run in tests and offline demos without a network or an API key. See the README
section "Testing without a provider".

Example (an agent's tool call, streamed, as the Anthropic SDK sees it):

>>> import anthropic
>>> from hypergraph.testing import LLMServer, Script, ToolCall
>>> with LLMServer() as server, anthropic.Anthropic(
...     base_url=server.anthropic_base_url, api_key="test"
... ) as claude:
...     server.enqueue(Script(tool_calls=[ToolCall("search", {"query": "graphs"})]))
...     ask = [{"role": "user", "content": "Find graphs"}]
...     with claude.messages.stream(model="any", max_tokens=100, messages=ask) as stream:
...         message = stream.get_final_message()
>>> message.stop_reason, message.content[0].name, message.content[0].input
('tool_use', 'search', {'query': 'graphs'})
"""

from hypergraph.testing.llm_server import (
    STAND_IN_PREFIX,
    Gate,
    LLMServer,
    Match,
    RecordedRequest,
    Script,
    ScriptError,
    ToolCall,
    split_tokens,
    stand_in_reply,
)

__all__ = [
    "STAND_IN_PREFIX",
    "Gate",
    "LLMServer",
    "Match",
    "RecordedRequest",
    "Script",
    "ScriptError",
    "ToolCall",
    "split_tokens",
    "stand_in_reply",
]
