"""A chat loop where a human approves each reply before it is sent, and which survives a
restart: every step is checkpointed in SQLite, so quitting (or a crash, or kill -9)
while a question waits loses nothing. Run it again and it asks the pending question.

    python examples/approval_chat.py                  # answer with y / n; Ctrl-D to leave
    python examples/approval_chat.py --workflow demo  # later: picks up where it stopped

The model drafts a reply (streamed to the terminal); `approve` is an interrupt: the run
pauses with the draft as its question. The answer resumes the same workflow id, and
only what waited for it runs: the draft is not written (nor paid for) twice.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from _provider import stream_text, use_stand_in_if_offline

from hypergraph import (
    END,
    AsyncRunner,
    Graph,
    RunResult,
    RunStatus,
    SqliteCheckpointer,
    StreamingChunkEvent,
    interrupt,
    node,
    route,
)

use_stand_in_if_offline()


@node(output_name="draft")
async def write_draft(messages: list) -> AsyncIterator[str]:
    async for text in stream_text(messages, system="You are a friendly tutor."):
        yield text


@interrupt(output_name="decision")
def approve(draft: list[str]) -> str:
    return "".join(draft)  # the question a human sees: the reply about to be sent


@node(output_name="messages")
def update_history(messages: list, draft: list[str], decision: str, user_turns: list) -> list:
    text = "".join(draft) if decision == "y" else "(a reply was withheld by the reviewer)"
    history = [*messages, {"role": "assistant", "content": text}]
    asked = sum(m["role"] == "user" for m in history)
    if asked < len(user_turns):
        history.append({"role": "user", "content": user_turns[asked]})
    return history


@route(targets=["write_draft", END])
def should_continue(messages: list) -> object:
    return END if messages[-1]["role"] == "assistant" else "write_draft"


chat = Graph([write_draft, approve, update_history, should_continue], name="approval_chat")

TURNS = ["What is a graph?", "And a cycle?"]
DEFAULT_DB = Path.home() / ".local" / "state" / "hypergraph" / "approval_chat.sqlite"


async def step(runner: AsyncRunner, values: dict, workflow_id: str) -> RunResult:
    """Run (or resume) the workflow until it pauses or ends, printing the drafts as they
    stream."""
    async with runner.iter(chat, values, workflow_id=workflow_id) as run:
        async for event in run:
            if isinstance(event, StreamingChunkEvent):
                print(event.chunk, end="", flush=True)
        result = await run.result()
    print()
    return result


async def main(
    db: Path = DEFAULT_DB,
    workflow_id: str = "approval-chat",
    turns: list[str] = TURNS,
    ask: Callable[[str], str] = input,
) -> RunResult:
    """Start the workflow, or resume it if it waits for an answer; answer each question
    with `ask` until the conversation ends (or `ask` raises EOFError: stop for now)."""
    db.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    checkpointer = SqliteCheckpointer(db)
    runner = AsyncRunner(checkpointer=checkpointer)
    stored = checkpointer.get(workflow_id)
    if stored is None or stored.status != "paused":
        first = [{"role": "user", "content": turns[0]}]
        result = await step(runner, {"messages": first, "user_turns": turns}, workflow_id)
    else:
        result = await step(runner, {}, workflow_id)  # asks the pending question again
        if result.pause is not None:
            print(f"(resumed; the draft waiting for you)\n{result.pause.value}")
    while result.status is RunStatus.PAUSED and result.pause is not None:
        try:
            answer = ask("Send this reply? [y/n] ").strip().lower()[:1] or "y"
        except EOFError:
            print(f"\nPaused. Run again with --workflow {workflow_id} to answer.")
            return result
        result = await step(runner, {result.pause.response_key: answer}, workflow_id)
    for message in result["messages"]:
        print(f"{message['role']}: {message['content']}")
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, default=DEFAULT_DB)
    parser.add_argument("--workflow", default="approval-chat")
    args = parser.parse_args()
    asyncio.run(main(args.db, args.workflow))
