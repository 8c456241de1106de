"""A stand-in LLM provider on 127.0.0.1 that speaks the real SDKs' wire formats.

Tests and offline demos point the real ``anthropic`` and ``openai`` clients at an
:class:`LLMServer` and get byte-accurate replies without a network or an API key:
Anthropic Messages (``POST /v1/messages``), OpenAI Chat Completions
(``POST /v1/chat/completions``) and OpenAI Responses (``POST /v1/responses``), each
streaming (SSE) or not.

What a request gets back is described by a :class:`Script`: the text tokens, the
:class:`ToolCall` s the model makes, a per-token delay, a failure mode (an
in-stream error, a dropped connection, an HTTP error status) and an optional gate
that holds tokens back until the test releases them. Queued scripts answer
requests in arrival order, or, with ``match``, the request they name. Without a
script the reply is a deterministic, clearly labelled echo of the last user message.

The server records what it saw (:attr:`LLMServer.requests`) and signals what
happened (:attr:`LLMServer.client_disconnected`, :attr:`LLMServer.at_gate`, stream
counters, :meth:`LLMServer.wait_idle`), so tests wait on events instead of
sleeping. Standard library only.

Modules: ``script`` (what to answer), ``request`` (what was asked), ``state`` (what
the server keeps), ``dialect`` with ``anthropic``, ``openai_chat`` and
``openai_responses`` (the wire formats), ``handler`` (one HTTP exchange), ``httpd``
(the threaded HTTP server) and ``server`` (:class:`LLMServer`).
"""

from .request import RecordedRequest
from .script import (
    STAND_IN_PREFIX,
    Gate,
    Match,
    Script,
    ScriptError,
    ToolCall,
    split_tokens,
    stand_in_reply,
)
from .server import LLMServer

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
