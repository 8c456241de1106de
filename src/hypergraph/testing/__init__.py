"""Test helpers for hypergraph: a stand-in LLM server the real provider SDKs can talk to."""

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
