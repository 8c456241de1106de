"""The graph the kill test runs in a child process, and its ledger of node starts and ends.

Each round of a 32-round loop fans out to four nodes, streams a reply, and runs a nested
graph; a gate decides whether to go round again. Every node writes `start <key>` to the
ledger when it begins; a processor writes `end <key>` when the node's end event goes
out, which is after its checkpoint was committed. Each line is appended, flushed and
fsynced, so what the ledger says happened did happen before a kill.
"""

from __future__ import annotations

import os
import time
from typing import Any

from hypergraph import END, Graph, NodeContext, NodeEndEvent, node, route

ROUNDS = 32
WORK = 0.004  # seconds of "work" per node: spreads the kills over the whole run


class Ledger:
    """Appends `start`/`end` lines, each durable before the next step."""

    def __init__(self, path: str) -> None:
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self.current: dict[str, str] = {}  # node name -> key of its running execution

    def write(self, line: str) -> None:
        os.write(self.fd, (line + "\n").encode())
        os.fsync(self.fd)

    def start(self, name: str, key: str) -> None:
        self.current[name] = key
        self.write(f"start {key}")

    def on_event(self, event: Any) -> None:
        if isinstance(event, NodeEndEvent) and event.node_name in self.current:
            self.write(f"end {self.current.pop(event.node_name)}")


LEDGER: Ledger | None = None


def _begin(name: str, round_: int) -> None:
    assert LEDGER is not None
    LEDGER.start(name, f"{name}:{round_}")
    time.sleep(WORK)


def _fan(k: int) -> Any:
    @node(name=f"fan{k}", output_name=f"part{k}")
    def fan(round: int) -> str:
        _begin(f"fan{k}", round)
        return f"p{k}.{round * (k + 1)}"

    return fan


@node(output_name="words")
def talk(round: int, ctx: NodeContext) -> str:
    _begin("talk", round)
    chunks = [f"w{round}-{j} " for j in range(12)]
    for chunk in chunks:
        ctx.stream(chunk)
        time.sleep(WORK / 4)
    return "".join(chunks)


@node(output_name="joined")
def join(round: int, part0: str, part1: str, part2: str, part3: str) -> str:
    _begin("join", round)
    return "|".join([part0, part1, part2, part3])


@node(output_name="digest")
def digest_of(round: int, joined: str, words: str) -> str:
    _begin("digest_of", round)
    return f"r{round}:{len(joined)}:{len(words)}:{sum(map(ord, joined + words)) % 9973}"


INNER = Graph([join, digest_of], name="inner")


@route(targets=["advance", END])
def again(round: int, digest: str = "") -> object:
    _begin("again", round)
    return "advance" if round < ROUNDS - 1 else END


@node(output_name=("round", "history"))
def advance(round: int, history: list[str], digest: str = "") -> tuple[int, list[str]]:
    _begin("advance", round)
    return round + 1, [*history, digest]


def build() -> Graph:
    fans = [_fan(k) for k in range(4)]
    return Graph([*fans, talk, INNER.as_node(), again, advance])
