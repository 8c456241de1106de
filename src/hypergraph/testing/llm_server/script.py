"""What the stand-in server answers: :class:`Script`, :class:`ToolCall`, and the default echo.

A script fixes one reply (its text tokens and tool calls), their pacing, an optional
failure mode, an optional gate, and optionally which request it answers; without
one, the reply is a labelled echo of the last user message.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ...errors import HypergraphError
from .request import RecordedRequest

STAND_IN_PREFIX = "[stand-in model] "
"""Every default reply starts with this, so nobody mistakes it for a real model."""

Gate = threading.Event | threading.Semaphore
"""Holds tokens back: an Event releases all of them, a Semaphore one per ``release()``."""

Match = str | Callable[[RecordedRequest], bool]
"""Which request a queued script answers: a text in its conversation, or a predicate."""

_TOKEN_RE = re.compile(r"\s*\S+|\s+")


class ScriptError(HypergraphError, TypeError, ValueError):
    """A :class:`Script` or :class:`ToolCall` that cannot be played as given.

    Example: ``Script(fail_after=1, drop_after=1)`` raises it (a stream ends one way).
    """


def split_tokens(text: str) -> tuple[str, ...]:
    """Split ``text`` into word-ish tokens that keep their leading whitespace.

    ``"".join(split_tokens(text)) == text`` always holds, e.g.
    ``split_tokens("Hi there") == ("Hi", " there")``.
    """
    return tuple(_TOKEN_RE.findall(text))


def stand_in_reply(user_text: str) -> str:
    """The default reply: a labelled echo of the last user message.

    Example: ``stand_in_reply("hi") == "[stand-in model] You said: hi"``.
    """
    if not user_text.strip():
        return f"{STAND_IN_PREFIX}You said nothing."
    return f"{STAND_IN_PREFIX}You said: {user_text}"


@dataclass(frozen=True)
class ToolCall:
    """One tool (function) call the scripted model makes.

    ``arguments`` is a JSON-able mapping, or a JSON text sent as it is (so a test
    can send malformed arguments on purpose). ``id`` defaults to a per-request id in
    the provider's style (``toolu_…`` for Anthropic, ``call_…`` for OpenAI).

    Streaming, the arguments arrive in pieces split at whitespace: Anthropic
    ``input_json_delta`` events, Chat Completions ``tool_calls`` deltas, Responses
    ``response.function_call_arguments.delta`` events. Each piece is paced like a
    text token (``delay``, ``gate``) and counts as one for ``fail_after``/``drop_after``.

    Example::

        Script(tool_calls=[ToolCall("get_weather", {"city": "Paris"})])
    """

    name: str
    arguments: Mapping[str, Any] | str = field(default_factory=dict, hash=False)
    id: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ScriptError(
                f"ToolCall name {self.name!r} is not a tool name: it must be a non-empty string. "
                'How to fix: ToolCall("get_weather", {"city": "Paris"}).'
            )
        if isinstance(self.arguments, Mapping):
            try:
                # A JSON round trip checks the value and keeps a private deep copy.
                copied = json.loads(json.dumps(dict(self.arguments)))
            except (TypeError, ValueError) as error:
                raise ScriptError(
                    f"The arguments of tool call {self.name!r} cannot be sent as JSON: {error}. "
                    "How to fix: use str, int, float, bool, None, lists and dicts with "
                    "string keys."
                ) from error
            object.__setattr__(self, "arguments", copied)
        elif not isinstance(self.arguments, str):
            raise ScriptError(
                f"The arguments of tool call {self.name!r} are a "
                f"{type(self.arguments).__name__}; they must be a mapping or a JSON text. "
                'How to fix: ToolCall("get_weather", {"city": "Paris"}).'
            )

    @property
    def arguments_json(self) -> str:
        """The arguments as the JSON text the model "writes"."""
        if isinstance(self.arguments, str):
            return self.arguments
        return json.dumps(self.arguments, ensure_ascii=False)

    @property
    def argument_pieces(self) -> tuple[str, ...]:
        """The streamed pieces of :attr:`arguments_json` (at least one, maybe empty)."""
        return split_tokens(self.arguments_json) or ("",)


@dataclass(frozen=True)
class Script:
    """How the server answers one request.

    ``text`` or ``tokens`` fix the reply's text (default: :func:`stand_in_reply` of
    the last user message, split by :func:`split_tokens`; no text when there are
    ``tool_calls``). ``tool_calls`` (a list of :class:`ToolCall`) come after the
    text, and the reply then ends the way a model that calls tools ends it
    (``stop_reason "tool_use"``, ``finish_reason "tool_calls"``, ``function_call``
    output items). ``delay`` is waited before every token and argument piece.

    Failure modes (at most one of ``fail_after``/``drop_after``; K counts text
    tokens, then argument pieces):

    - ``fail_after=K``: K tokens, then the provider's in-stream error event
      (Anthropic ``overloaded_error``, OpenAI ``server_error``) and a clean end of
      the HTTP body. Not streaming: an error status (Anthropic 529, OpenAI 500).
    - ``drop_after=K``: K tokens, then the TCP connection is closed mid-body
      (the chunked body never gets its terminator). Not streaming: closed with no
      response at all.
    - ``http_error=(status, message)``: that status with the provider's JSON
      error body, before any streaming starts.

    ``gate``: before each token with index ``>= gate_after`` the server waits
    for the gate (``Event.wait`` / ``Semaphore.acquire``) and sets
    :attr:`LLMServer.at_gate` if it actually has to wait.

    ``match`` (queued scripts only) says which request the script answers: a
    string found in the request's conversation (:attr:`RecordedRequest.conversation`:
    system prompt and every message, tool results included), or a predicate on the
    :class:`RecordedRequest` (headers, model, metadata). Without it, the script
    answers the next request that no matching script claims.

    Example::

        server.enqueue(
            Script(tool_calls=[ToolCall("get_weather", {"city": "Paris"})], match="Paris"),
            Script(text="Sunny in Paris.", match="Paris"),
        )
    """

    text: str | None = None
    tokens: Sequence[str] | None = None
    delay: float = 0.0
    fail_after: int | None = None
    drop_after: int | None = None
    http_error: tuple[int, str] | None = None
    gate: Gate | None = None
    gate_after: int = 1
    fail_message: str = "stand-in server: scripted failure"
    tool_calls: Sequence[ToolCall] = ()
    match: Match | None = None

    def __post_init__(self) -> None:
        if self.text is not None and self.tokens is not None:
            raise ScriptError("Script got both text and tokens. How to fix: give one of them.")
        if isinstance(self.tokens, str):
            raise ScriptError(
                "Script tokens must be a sequence of strings, not one string. "
                f"How to fix: Script(tokens=[...]) or Script(text={self.tokens!r})."
            )
        if self.tokens is not None:
            # A tuple keeps the frozen script immutable even if the caller's list changes.
            object.__setattr__(self, "tokens", tuple(self.tokens))
        self._check_tool_calls()
        if self.fail_after is not None and self.drop_after is not None:
            raise ScriptError(
                "Script got both fail_after and drop_after, but a stream ends one way. "
                "How to fix: give one of them."
            )
        for name in ("fail_after", "drop_after", "gate_after"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ScriptError(f"Script {name} is {value}. How to fix: give a count >= 0.")
        if self.delay < 0:
            raise ScriptError(f"Script delay is {self.delay}. How to fix: give seconds >= 0.")
        if self.http_error is not None and not 400 <= self.http_error[0] <= 599:
            raise ScriptError(
                f"Script http_error status {self.http_error[0]} is not an error status. "
                "How to fix: give a status in 400..599, e.g. (429, 'rate limited')."
            )
        if self.match is not None and not (
            (isinstance(self.match, str) and self.match) or callable(self.match)
        ):
            raise ScriptError(
                f"Script match {self.match!r} matches nothing useful. How to fix: give a "
                'non-empty text of the request (match="Paris") or a predicate '
                '(match=lambda request: request.model == "small").'
            )

    def _check_tool_calls(self) -> None:
        calls = self.tool_calls
        if isinstance(calls, ToolCall | str | bytes | Mapping):
            raise ScriptError(
                "Script tool_calls must be a list of ToolCall. "
                'How to fix: Script(tool_calls=[ToolCall("name", {...})]).'
            )
        calls = tuple(calls)
        for call in calls:
            if not isinstance(call, ToolCall):
                raise ScriptError(
                    f"Script tool_calls holds {call!r}, which is not a ToolCall. "
                    'How to fix: ToolCall("name", {...}) for each call.'
                )
        object.__setattr__(self, "tool_calls", calls)

    def reply_tokens(self, user_text: str) -> tuple[str, ...]:
        """The text tokens this script sends when the last user message is ``user_text``."""
        if self.tokens is not None:
            return tuple(self.tokens)
        if self.text is not None:
            return split_tokens(self.text)
        return () if self.tool_calls else split_tokens(stand_in_reply(user_text))

    def answers(self, request: RecordedRequest) -> bool:
        """Whether this script may answer ``request`` (always, without ``match``)."""
        if self.match is None:
            return True
        if isinstance(self.match, str):
            return self.match in request.conversation
        return bool(self.match(request))

    @property
    def cut(self) -> int | None:
        """Where the stream stops early (``fail_after`` or ``drop_after``), if anywhere."""
        return self.fail_after if self.fail_after is not None else self.drop_after
