"""progress=True (SPEC §13): a rich display in a terminal, plain periodic lines when the
output is not one, and an error that says how to install rich when it is missing.

Periodic lines are tested with a fake clock, never with sleeps; the terminal display with
rich consoles forced into terminal mode and with a real pseudo-terminal.
"""

from __future__ import annotations

import asyncio
import io
import os
import pty
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import aclosing, closing
from typing import Any

import pytest
from rich.console import Console

from conftest import run_async
from hypergraph import AsyncRunner, Graph, RunStatus, SyncRunner, interrupt, node
from hypergraph.errors import InputValueError
from hypergraph.integrations.extras import MissingExtraError
from hypergraph.integrations.progress import ProgressProcessor

pytestmark = pytest.mark.timeout(30)
RUNNERS = ["sync", "async"]


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(autouse=True)
def not_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever the environment says, captured stderr is not a terminal here."""
    for name in ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE"):
        monkeypatch.delenv(name, raising=False)


def flaky() -> Graph:
    @node(output_name="y")
    def check(x: int) -> int:
        if x % 4 == 0:
            raise ValueError(f"bad item {x}")
        return x * 10

    return Graph([check], name="flaky")


def lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("hypergraph:")]


def do_map(kind: str, graph: Graph, values: dict[str, Any], **options: Any) -> Any:
    if kind == "sync":
        return SyncRunner().map(graph, values, **options)
    return run_async(AsyncRunner().map(graph, values, **options))


# -- plain lines --------------------------------------------------------------------------


@pytest.mark.parametrize("kind", RUNNERS)
def test_a_map_with_progress_ends_with_a_summary_of_items_done_and_failed(
    kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    result = do_map(
        kind, flaky(), {"x": list(range(1, 11))}, map_over="x", error_handling="continue",
        progress=True,
    )  # fmt: skip

    assert result.status is RunStatus.PARTIAL
    written = lines(capsys.readouterr().err)
    assert len(written) == 1  # a fast map: no periodic line, just the summary
    assert re.fullmatch(
        r"hypergraph: done: 10/10 items \(2 failed\), [\d,.]+ items/s \| in [\d.]+s", written[0]
    ), written[0]


@pytest.mark.parametrize("kind", RUNNERS)
def test_items_waiting_for_an_answer_are_counted_as_paused(
    kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    @interrupt(output_name="ok")
    def ask(x: int) -> str:
        return f"keep {x}?"

    @node(output_name="kept")
    def keep(x: int, ok: bool) -> int:
        return x

    result = do_map(kind, Graph([ask, keep]), {"x": [1, 2, 3]}, map_over="x", progress=True)
    assert result.status is RunStatus.PAUSED
    assert lines(capsys.readouterr().err)[-1].startswith("hypergraph: done: 3/3 items (3 paused)")


@pytest.mark.parametrize("kind", RUNNERS)
def test_a_map_that_raises_still_counts_the_failing_item_and_summarises(
    kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(ValueError, match="bad item 4"):
        do_map(kind, flaky(), {"x": [1, 2, 3, 4]}, map_over="x", progress=True)

    assert lines(capsys.readouterr().err)[-1].startswith("hypergraph: done: 4/4 items (1 failed)")


@pytest.mark.parametrize("kind", RUNNERS)
def test_map_iter_with_progress_counts_the_items_the_consumer_took(
    kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    values = {"x": [1, 2, 3, 5, 6, 7]}
    if kind == "sync":
        with closing(SyncRunner().map_iter(flaky(), values, map_over="x", progress=True)) as runs:
            for k, _ in runs:
                if k == 2:
                    break
    else:

        async def consume() -> None:
            runs = AsyncRunner().map_iter(
                flaky(), values, map_over="x", progress=True, max_concurrency=1
            )
            async with aclosing(runs):
                async for k, _ in runs:
                    if k == 2:
                        break

        run_async(consume())

    written = lines(capsys.readouterr().err)
    assert len(written) == 1 and written[0].startswith("hypergraph: done: 3/6 items,"), written


def test_periodic_lines_come_at_most_once_per_interval_with_rate_and_time_left() -> None:
    clock = FakeClock()
    out = io.StringIO()
    display = ProgressProcessor(10, file=out, interval=1.0, clock=clock)

    for k in range(10):
        clock.now += 0.25
        display.item_done(RunStatus.FAILED if k == 2 else RunStatus.COMPLETED)
    display.close()
    display.close()  # idempotent: one summary

    # The clock starts at the first item (t=100.25): lines are due at 101.25 (item 5 of
    # 10 comes then), then at 102.25 (item 9); item 10 comes at 102.5, then the summary.
    assert lines(out.getvalue()) == [
        "hypergraph: 5/10 items (1 failed), 5.0 items/s, 1.0s left",
        "hypergraph: 9/10 items (1 failed), 4.5 items/s, 0.2s left",
        "hypergraph: done: 10/10 items (1 failed), 4.4 items/s | in 2.2s",
    ]


def test_plain_lines_show_nested_graphs_and_the_chunk_rate_of_a_streaming_node() -> None:
    clock = FakeClock()
    out = io.StringIO()

    @node(output_name="tokens")
    def talk(prompt: str) -> Iterator[str]:
        for word in prompt.split():
            clock.now += 0.25  # the model takes a quarter second per token
            yield word

    @node(output_name="n")
    def count(tokens: list[str]) -> int:
        return len(tokens)

    inner = Graph([talk, count], name="inner")
    outer = Graph([inner.as_node(name="chat")])
    display = ProgressProcessor(file=out, interval=1.0, clock=clock)

    SyncRunner().run(outer, prompt="a b c d e f g h", event_processors=[display])

    written = lines(out.getvalue())
    assert any(
        "running: chat, chat/talk" in line and "chat/talk streaming 4 chunks (4.0/s)" in line
        for line in written
    ), written
    assert written[-1] == (
        "hypergraph: done: 3 nodes | in 2.0s | chat: 1 run, 2 nodes | 8 chunks (4.0/s)"
    )


def test_the_items_of_a_map_over_node_count_as_runs_of_one_nested_graph() -> None:
    out = io.StringIO()

    @node(output_name="y")
    def half(x: int) -> float:
        if x == 3:
            raise ValueError("odd one")
        return x / 2

    each = Graph([half], name="inner").as_node(name="each").map_over("x", error_handling="continue")
    SyncRunner().run(Graph([each]), x=[1, 2, 3, 4], event_processors=[ProgressProcessor(file=out)])

    assert "each: 4 runs, 4 nodes (1 failed)" in lines(out.getvalue())[-1]


@pytest.mark.parametrize("how", ["run", "iter"])
@pytest.mark.parametrize("kind", RUNNERS)
def test_run_and_iter_with_progress_summarise_the_nodes(
    kind: str, how: str, capsys: pytest.CaptureFixture[str]
) -> None:
    @node(output_name="text")
    def tokens(n: int) -> Iterator[str]:
        yield from ("t" for _ in range(n))

    graph = Graph([tokens])
    if how == "run" and kind == "sync":
        SyncRunner().run(graph, n=5, progress=True)
    elif how == "run":
        run_async(AsyncRunner().run(graph, n=5, progress=True))
    elif kind == "sync":
        with SyncRunner().iter(graph, n=5, progress=True) as run:
            list(run)
    else:

        async def consume() -> None:
            async with AsyncRunner().iter(graph, n=5, progress=True) as run:
                async for _ in run:
                    pass

        run_async(consume())

    written = lines(capsys.readouterr().err)
    assert len(written) == 1
    assert re.fullmatch(
        r"hypergraph: done: 1 node \| in [\d.]+s \| 5 chunks \([\d,.]+/s\)", written[0]
    )


# -- the terminal display -----------------------------------------------------------------


def test_a_terminal_gets_a_bar_with_items_done_and_failed() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=100, color_system="truecolor")
    display = ProgressProcessor(3, console=console)

    for status in (RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.COMPLETED):
        display.item_done(status)
    display.close()

    text = out.getvalue()
    assert "━" in text  # the bar
    assert "3/3 items (1 failed)" in text
    assert "\x1b[" in text  # drawn with escape codes
    assert "hypergraph:" not in text  # no plain lines in a terminal


@pytest.mark.parametrize("kind", RUNNERS)
def test_progress_true_on_a_terminal_draws_the_bar_for_a_map(
    kind: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TTY_COMPATIBLE", "1")  # stderr counts as a terminal
    monkeypatch.setenv("TERM", "xterm-256color")

    do_map(kind, flaky(), {"x": [1, 2, 3, 4, 5]}, map_over="x", error_handling="continue",
           progress=True)  # fmt: skip

    err = capsys.readouterr().err
    assert "5/5 items (1 failed)" in err
    assert "━" in err and "hypergraph:" not in err


def _child(code: str) -> list[str]:
    return [sys.executable, "-c", textwrap.dedent(code)]


CHILD_MAP = """
    from hypergraph import Graph, SyncRunner, node

    @node(output_name="y")
    def check(x: int) -> int:
        if x == 3:
            raise ValueError("bad")
        return x

    result = SyncRunner().map(Graph([check]), x=list(range(8)), map_over="x",
                              error_handling="continue", progress=True)
    print("status", result.status)
"""


def test_in_a_pseudo_terminal_the_display_is_drawn_live() -> None:
    controller, terminal = pty.openpty()
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "100"}
    for name in ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "NO_COLOR"):
        env.pop(name, None)
    child = subprocess.Popen(
        _child(CHILD_MAP), stdin=terminal, stdout=terminal, stderr=terminal, env=env
    )
    os.close(terminal)
    output = b""
    while True:
        try:
            chunk = os.read(controller, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        output += chunk
    os.close(controller)
    assert child.wait(timeout=20) == 0

    text = output.decode()
    assert "8/8 items (1 failed)" in text
    assert "━" in text and "\x1b[" in text
    assert "hypergraph:" not in text
    assert "status partial" in text


def test_through_a_pipe_the_output_is_plain_lines() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "TTY_COMPATIBLE")}
    out = subprocess.run(_child(CHILD_MAP), capture_output=True, text=True, env=env, timeout=20)

    assert out.returncode == 0, out.stderr
    assert out.stdout == "status partial\n"
    written = lines(out.stderr)
    assert len(written) == 1 and written[0].startswith("hypergraph: done: 8/8 items (1 failed)")
    assert "\x1b[" not in out.stderr


@pytest.mark.parametrize("kind", RUNNERS)
def test_progress_given_something_other_than_a_bool_says_to_pass_an_input_in_the_dict(
    kind: str,
) -> None:
    @node(output_name="done")
    def report(progress: float) -> str:
        return f"{progress:.0%}"

    graph = Graph([report])
    with pytest.raises(InputValueError, match=r"progress takes True or False, got 0\.5") as err:
        if kind == "sync":
            SyncRunner().run(graph, progress=0.5)
        else:
            run_async(AsyncRunner().run(graph, progress=0.5))
    assert '{"progress": ...}' in str(err.value)
    assert SyncRunner().run(graph, {"progress": 0.5})["done"] == "50%"


# -- without rich -------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["run", "map"])
@pytest.mark.parametrize("kind", RUNNERS)
def test_without_rich_progress_true_says_how_to_install_it(
    kind: str, how: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "rich", None)  # as if rich were not installed
    graph = flaky()

    with pytest.raises(MissingExtraError, match=r'pip install "hypergraph\[progress\]"') as err:
        if how == "map":
            do_map(kind, graph, {"x": [1]}, map_over="x", progress=True)
        elif kind == "sync":
            SyncRunner().run(graph, x=1, progress=True)
        else:
            run_async(AsyncRunner().run(graph, x=1, progress=True))
    assert "'rich'" in str(err.value)


def test_without_progress_nothing_is_written_and_rich_is_not_needed(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "rich", None)

    SyncRunner().map(flaky(), {"x": [1, 2]}, map_over="x")
    asyncio.run(AsyncRunner().map(flaky(), {"x": [1, 2]}, map_over="x"))

    assert capsys.readouterr().err == ""


def test_the_example_in_the_docstring_runs() -> None:
    import doctest

    import hypergraph.integrations.progress

    failed, attempted = doctest.testmod(hypergraph.integrations.progress)
    assert attempted and not failed
