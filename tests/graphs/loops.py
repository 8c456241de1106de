"""Cycles and accumulators: the seed's chat loop, a counter loop, a runaway loop."""

from __future__ import annotations

from collections.abc import Iterator

from hypergraph import END, Graph, node, route

REPLY = "Same reply every turn."
MAX_MESSAGES = 20


def _turn(messages: list[dict[str, str]], response: str) -> list[dict[str, str]]:
    user = {"role": "user", "content": f"question {len(messages) // 2 + 1}"}
    return [*messages, user, {"role": "assistant", "content": response}]


@route(targets=["stream_turn", END])
def should_continue(messages: list[dict[str, str]]) -> object:
    return END if len(messages) >= MAX_MESSAGES else "stream_turn"


def chat_loop(turns: list[int]) -> Graph:
    """The seed's loop, no entrypoint; `stream_turn` records the history length it saw."""

    @node(output_name="response")
    def stream_turn(messages: list[dict[str, str]]) -> str:
        turns.append(len(messages))
        return REPLY  # the model says the same thing every turn: the loop must still go round

    @node(output_name="messages")
    def update_history(messages: list[dict[str, str]], response: str) -> list[dict[str, str]]:
        return _turn(messages, response)

    return Graph([stream_turn, update_history, should_continue])


def async_chat_loop(turns: list[int]) -> Graph:
    """The same loop with an `async def` model call, as in the seed."""

    @node(output_name="response")
    async def stream_turn(messages: list[dict[str, str]]) -> str:
        turns.append(len(messages))
        return REPLY

    @node(output_name="messages")
    def update_history(messages: list[dict[str, str]], response: str) -> list[dict[str, str]]:
        return _turn(messages, response)

    return Graph([stream_turn, update_history, should_continue])


def chat_loop_with_summary(turns: list[int], summaries: list[int]) -> Graph:
    """The chat loop plus `summarize`, downstream of the loop, and an unrelated `side` node."""

    @node(output_name="summary")
    def summarize(messages: list[dict[str, str]]) -> str:
        summaries.append(len(messages))
        return f"{len(messages)} messages"

    @node(output_name="side")
    def side(topic: str) -> str:
        return topic.upper()

    return Graph([*chat_loop(turns).nodes.values(), summarize, side])


REPLY_TOKENS = ("Same ", "reply ", "every ", "turn.")


def streaming_chat_loop(turns: list[int]) -> Graph:
    """The chat loop with a generator model call: `response` is the list of its tokens."""

    @node(output_name="response")
    def stream_turn(messages: list[dict[str, str]]) -> Iterator[str]:
        turns.append(len(messages))
        yield from REPLY_TOKENS

    @node(output_name="messages")
    def update_history(messages: list[dict[str, str]], response: list[str]) -> list[dict[str, str]]:
        return _turn(messages, "".join(response))

    return Graph([stream_turn, update_history, should_continue])


def counter_loop(calls: list[int]) -> Graph:
    """increment(count) -> count, gated by check: END at 10."""

    @node(output_name="count")
    def increment(count: int) -> int:
        calls.append(count)
        return count + 1

    @route(targets=["increment", END])
    def check(count: int) -> object:
        return END if count >= 10 else "increment"

    return Graph([increment, check])


def runaway_loop(calls: list[int]) -> Graph:
    """Like the counter loop, but its gate never says END."""

    @node(output_name="count")
    def increment(count: int) -> int:
        calls.append(count)
        return count + 1

    @route(targets=["increment", END])
    def always_again(count: int) -> object:
        return "increment"

    return Graph([increment, always_again])


def accumulator(calls: list[str]) -> Graph:
    """`messages` in, `messages` out: runs once, not a cycle."""

    @node(output_name="messages")
    def append_message(messages: list[str], text: str) -> list[str]:
        calls.append(text)
        return [*messages, text]

    return Graph([append_message])
