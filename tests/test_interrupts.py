"""Interrupts (SPEC 11): a node asks a human, the run pauses, the answer resumes it.

Every scenario runs on both runners; counters prove that what finished before a pause
does not run again after it. The resume after a real SIGKILL is at the end.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from conftest import run_async
from hypergraph import (
    END,
    AsyncRunner,
    Graph,
    GraphConfigError,
    InterruptEvent,
    InterruptNode,
    MemoryCheckpointer,
    NodeEndEvent,
    PauseInfo,
    RunStatus,
    SqliteCheckpointer,
    SyncRunner,
    interrupt,
    node,
    route,
)
from hypergraph.errors import InputValueError

calls: Counter[str] = Counter()


@pytest.fixture(autouse=True)
def _reset() -> None:
    calls.clear()


@node(output_name="draft")
def write(topic: str) -> str:
    calls["write"] += 1
    return f"about {topic}"


@interrupt(output_name="approved")
def review(draft: str) -> str:
    calls["review"] += 1
    return f"Send {draft!r}?"


@node(output_name="sent")
def send(draft: str, approved: bool) -> str:
    calls["send"] += 1
    return draft if approved else "dropped"


@node(output_name="length")
def measure(topic: str) -> int:
    calls["measure"] += 1
    return len(topic)


CHAIN = Graph([write, review, send, measure], name="mail")


def _runner(kind: str, cp: Any = None) -> Any:
    return SyncRunner(checkpointer=cp) if kind == "sync" else AsyncRunner(checkpointer=cp)


def _run(kind: str, cp: Any, graph: Graph, values: dict[str, Any], **kw: Any) -> Any:
    runner = _runner(kind, cp)
    if kind == "sync":
        return runner.run(graph, values, **kw)
    return run_async(runner.run(graph, values, **kw))


def _map(kind: str, cp: Any, graph: Graph, values: dict[str, Any], **kw: Any) -> Any:
    runner = _runner(kind, cp)
    if kind == "sync":
        return runner.map(graph, values, **kw)
    return run_async(runner.map(graph, values, **kw))


KINDS = pytest.mark.parametrize("kind", ["sync", "async"])


@pytest.fixture(params=["memory", "sqlite"])
def cp(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    if request.param == "memory":
        return MemoryCheckpointer()
    private = tmp_path / "state"
    private.mkdir(mode=0o700)
    return SqliteCheckpointer(private / "runs.sqlite")


# -- pausing and passing through ------------------------------------------------------------


@KINDS
def test_a_run_without_the_answer_pauses_and_finishes_what_does_not_need_it(kind: str) -> None:
    result = _run(kind, None, CHAIN, {"topic": "tea"})
    assert result.status is RunStatus.PAUSED
    assert result.pauses == [PauseInfo("review", "Send 'about tea'?", "approved")]
    assert result.pause == result.pauses[0]
    assert result.values == {"draft": "about tea", "length": 3}  # measure ran, send did not
    assert result.error is None
    assert calls == Counter(write=1, review=1, measure=1)


@KINDS
def test_a_given_answer_passes_through_without_calling_the_function(kind: str) -> None:
    result = _run(kind, None, CHAIN, {"topic": "tea", "approved": False})
    assert result.status is RunStatus.COMPLETED and result.pauses == [] and result.pause is None
    assert result.values["approved"] is False and result["sent"] == "dropped"
    assert calls["review"] == 0


@KINDS
def test_resume_through_the_checkpointer_with_the_answer_alone_runs_only_what_waited(
    kind: str, cp: Any
) -> None:
    first = _run(kind, cp, CHAIN, {"topic": "tea"}, workflow_id="w")
    assert first.status is RunStatus.PAUSED
    assert cp.get("w").status == "paused"
    calls.clear()
    second = _run(kind, cp, CHAIN, {"approved": True}, workflow_id="w")
    assert second.status is RunStatus.COMPLETED
    assert second.values == {
        "draft": "about tea",
        "approved": True,
        "sent": "about tea",
        "length": 3,
    }
    assert calls == Counter(send=1)  # write, measure and the question did not run again
    assert cp.get("w").status == "completed"


@KINDS
def test_resume_without_the_answer_asks_again_and_stays_paused(kind: str, cp: Any) -> None:
    _run(kind, cp, CHAIN, {"topic": "tea"}, workflow_id="w")
    calls.clear()
    again = _run(kind, cp, CHAIN, {}, workflow_id="w")
    assert again.status is RunStatus.PAUSED and again.pause is not None
    assert again.pause.value == "Send 'about tea'?"
    assert calls == Counter(review=1)


@KINDS
def test_without_a_checkpointer_the_original_values_plus_the_answer_resume(kind: str) -> None:
    paused = _run(kind, None, CHAIN, {"topic": "tea"})
    assert paused.pause is not None
    done = _run(kind, None, CHAIN, {"topic": "tea", paused.pause.response_key: True})
    assert done.status is RunStatus.COMPLETED and done["sent"] == "about tea"


def test_an_async_question_function_pauses_on_the_async_runner() -> None:
    kind = "async"

    @interrupt(output_name="ok")
    async def confirm(x: int) -> str:
        await asyncio.sleep(0)
        return f"ok {x}?"

    graph = Graph([confirm])
    assert _run(kind, None, graph, {"x": 1}).pause == PauseInfo("confirm", "ok 1?", "ok")
    assert _run(kind, None, graph, {"x": 1, "ok": "yes"})["ok"] == "yes"


# -- parallel branches, loops, nesting, map ----------------------------------------------------


@interrupt(output_name="legal_ok")
def ask_legal(draft: str) -> str:
    calls["ask_legal"] += 1
    return "legal?"


@interrupt(output_name="brand_ok")
def ask_brand(draft: str) -> str:
    calls["ask_brand"] += 1
    return "brand?"


@node(output_name="verdict")
def decide(legal_ok: bool, brand_ok: bool) -> bool:
    calls["decide"] += 1
    return legal_ok and brand_ok


PARALLEL = Graph([write, ask_legal, ask_brand, decide])


@KINDS
def test_parallel_interrupts_are_reported_together(kind: str, cp: Any) -> None:
    first = _run(kind, cp, PARALLEL, {"topic": "t"}, workflow_id="p")
    assert first.status is RunStatus.PAUSED
    assert sorted((p.node_name, p.response_key) for p in first.pauses) == [
        ("ask_brand", "brand_ok"),
        ("ask_legal", "legal_ok"),
    ]
    calls.clear()
    half = _run(kind, cp, PARALLEL, {"legal_ok": True}, workflow_id="p")
    assert half.status is RunStatus.PAUSED
    assert [p.response_key for p in half.pauses] == ["brand_ok"]
    assert calls == Counter(ask_brand=1)  # legal was answered; write did not run again
    calls.clear()
    done = _run(kind, cp, PARALLEL, {"brand_ok": False}, workflow_id="p")
    assert done.status is RunStatus.COMPLETED and done["verdict"] is False
    assert calls == Counter(decide=1)


@interrupt(output_name="message")
def ask_user(history: list[str]) -> str:
    calls["ask_user"] += 1
    return f"turn {len(history) // 2}"


@node(output_name="history")
def reply(history: list[str], message: str) -> list[str]:
    calls["reply"] += 1
    return [*history, message, f"echo {message}"]


@route(targets=["ask_user", END])
def more(history: list[str]) -> object:
    return END if len(history) >= 6 else "ask_user"


CHAT = Graph([ask_user, reply, more])


@KINDS
def test_in_a_loop_each_answer_serves_one_round_and_the_next_round_asks_again(
    kind: str, cp: Any
) -> None:
    result = _run(kind, cp, CHAT, {"history": []}, workflow_id="chat")
    questions = []
    for message in ["hi", "how", "bye"]:
        assert result.status is RunStatus.PAUSED
        questions.append(result.pause.value)
        result = _run(kind, cp, CHAT, {"message": message}, workflow_id="chat")
    assert questions == ["turn 0", "turn 1", "turn 2"]
    assert result.status is RunStatus.COMPLETED
    assert result["history"] == ["hi", "echo hi", "how", "echo how", "bye", "echo bye"]
    assert calls == Counter(ask_user=3, reply=3)  # each round's reply ran once


@node(output_name="shout")
def shout(sent: str) -> str:
    calls["shout"] += 1
    return sent.upper()


NESTED = Graph([CHAIN.as_node(), shout])


@KINDS
def test_an_interrupt_in_a_nested_graph_pauses_the_outer_run_under_its_path(
    kind: str, cp: Any
) -> None:
    first = _run(kind, cp, NESTED, {"topic": "n"}, workflow_id="outer")
    assert first.status is RunStatus.PAUSED
    assert first.pauses == [PauseInfo("mail/review", "Send 'about n'?", "mail/approved")]
    calls.clear()
    done = _run(kind, cp, NESTED, {"mail/approved": True}, workflow_id="outer")
    assert done.status is RunStatus.COMPLETED and done["shout"] == "ABOUT N"
    assert calls == Counter(send=1, shout=1)  # the inner write and measure did not run again


@KINDS
def test_nested_answers_resume_without_a_checkpointer_too(kind: str) -> None:
    done = _run(kind, None, NESTED, {"topic": "n", "mail/approved": False})
    assert done.status is RunStatus.COMPLETED and done["shout"] == "DROPPED"


@KINDS
def test_an_interrupt_in_a_mapped_graph_node_is_answered_per_item(kind: str) -> None:
    mapped = Graph([CHAIN.as_node().map_over("topic")])
    paused = _run(kind, None, mapped, {"topic": ["a", "b"]})
    assert [p.response_key for p in paused.pauses] == ["mail[0]/approved", "mail[1]/approved"]
    done = _run(
        kind,
        None,
        mapped,
        {"topic": ["a", "b"], "mail[0]/approved": True, "mail[1]/approved": False},
    )
    assert done["sent"] == ["about a", "dropped"]


@KINDS
def test_a_resumed_map_runs_only_the_items_that_had_not_finished(kind: str, cp: Any) -> None:
    first = _map(kind, cp, CHAIN, {"topic": ["a", "b", "c"]}, map_over="topic", workflow_id="m")
    assert first.status is RunStatus.PAUSED
    assert [k for k, _ in first.pauses] == [0, 1, 2]
    # item 1 is answered on its own, as the workflow "m[1]"
    one = _run(kind, cp, CHAIN, {"approved": False}, workflow_id="m[1]")
    assert one["sent"] == "dropped"
    calls.clear()
    done = _map(
        kind, cp, CHAIN, {"topic": ["a", "b", "c"], "approved": True},
        map_over="topic", workflow_id="m",
    )  # fmt: skip
    assert done.status is RunStatus.COMPLETED
    assert done["sent"] == ["about a", "dropped", "about c"]  # item 1 keeps its stored result
    assert calls == Counter(send=2)  # items 0 and 2 resumed; nothing ran twice


@node(output_name="reply")
def respond(user_msg: str) -> str:
    calls["respond"] += 1
    return f"echo {user_msg}"


@interrupt(output_name="user_msg")
def next_message(reply: str) -> str:
    return reply


@route(targets=["respond", END])
def go_on(user_msg: str) -> object:
    return END if user_msg == "bye" else "respond"


SEEDED = Graph([respond, next_message, go_on])


@KINDS
def test_a_loop_that_starts_from_the_answer_takes_it_as_the_first_input_then_asks(
    kind: str, cp: Any
) -> None:
    assert SEEDED.inputs.required == ("user_msg",)
    first = _run(kind, cp, SEEDED, {"user_msg": "hi"}, workflow_id="s")
    assert first.status is RunStatus.PAUSED and first.pause.value == "echo hi"
    second = _run(kind, cp, SEEDED, {"user_msg": "more"}, workflow_id="s")
    assert second.pause.value == "echo more"
    last = _run(kind, cp, SEEDED, {"user_msg": "bye"}, workflow_id="s")
    assert last.status is RunStatus.COMPLETED and last["reply"] == "echo more"
    assert calls["respond"] == 2
    # Without a checkpointer the name is the loop's input: the run starts and asks.
    assert _run(kind, None, SEEDED, {"user_msg": "hi"}).pause.value == "echo hi"


@KINDS
def test_an_answer_the_paused_workflow_does_not_wait_for_is_refused(kind: str, cp: Any) -> None:
    _run(kind, cp, PARALLEL, {"topic": "t"}, workflow_id="p")
    _run(kind, cp, PARALLEL, {"legal_ok": True}, workflow_id="p")  # brand_ok still waits
    calls.clear()
    with pytest.raises(InputValueError, match=r"'legal_ok' answers no question .* 'brand_ok'"):
        _run(kind, cp, PARALLEL, {"legal_ok": False, "brand_ok": True}, workflow_id="p")
    assert sum(calls.values()) == 0  # refused before anything ran
    assert cp.get("p").status == "paused"


@KINDS
def test_a_failure_beside_a_pause_is_retried_and_keeps_what_finished_and_was_answered(
    kind: str, cp: Any
) -> None:
    @node(output_name="length")
    def flaky(topic: str) -> int:
        calls["flaky"] += 1
        if calls["flaky"] == 1:
            raise ConnectionError("the first call fails")
        return len(topic)

    graph = Graph([write, review, send, flaky])
    first = _run(kind, cp, graph, {"topic": "tea"}, workflow_id="f", error_handling="continue")
    assert first.status is RunStatus.FAILED and first.pause is not None
    done = _run(kind, cp, graph, {"approved": True}, workflow_id="f", error_handling="continue")
    assert done.status is RunStatus.COMPLETED
    assert done.values == {"draft": "about tea", "approved": True, "sent": "about tea", "length": 3}
    assert calls == Counter(write=1, review=1, send=1, flaky=2)  # only the failed node again


@KINDS
def test_map_items_with_a_checkpointer_are_child_workflows_even_without_interrupts(
    kind: str,
) -> None:
    cp = MemoryCheckpointer()
    result = _map(
        kind, cp, Graph([write]), {"topic": ["a", "b"]}, map_over="topic", workflow_id="m"
    )
    assert [r.workflow_id for r in result] == ["m[0]", "m[1]"]
    assert cp.get("m[1]").status == "completed"
    calls.clear()
    _map(kind, cp, Graph([write]), {"topic": ["a", "b"]}, map_over="topic", workflow_id="m")
    assert calls["write"] == 0  # both items were finished: nothing runs again


def test_a_map_on_an_executor_refuses_a_workflow_id() -> None:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool, pytest.raises(InputValueError, match="executor"):
        SyncRunner(checkpointer=MemoryCheckpointer()).map(
            Graph([write]), {"topic": ["a"]}, map_over="topic", executor=pool, workflow_id="m"
        )


# -- events, errors ---------------------------------------------------------------------------


def test_an_interrupt_emits_its_question_then_ends_the_node_without_outputs() -> None:
    with SyncRunner().iter(CHAIN, topic="tea") as run:
        events = [e for e in run if getattr(e, "node_name", None) == "review"]
        result = run.result()
    assert [e.kind for e in events] == ["node_start", "interrupt", "node_end"]
    asked = events[1]
    assert isinstance(asked, InterruptEvent)
    assert (asked.value, asked.response_key) == ("Send 'about tea'?", "approved")
    assert asked.to_dict()["response_key"] == "approved"
    end = events[2]
    assert isinstance(end, NodeEndEvent) and dict(end.outputs) == {}
    assert result.status is RunStatus.PAUSED


def test_a_failure_beside_a_pause_makes_the_run_failed_and_keeps_the_pause() -> None:
    @node(output_name="length")
    def broken(topic: str) -> int:
        raise ValueError("boom")

    graph = Graph([write, review, send, broken])
    result = SyncRunner().run(graph, topic="t", error_handling="continue")
    assert result.status is RunStatus.FAILED
    assert isinstance(result.error, ValueError)
    assert [p.node_name for p in result.pauses] == ["review"]


def test_an_answer_path_that_leads_to_no_interrupt_is_refused_naming_the_real_ones() -> None:
    with pytest.raises(InputValueError, match=r"(?s)'mail/aproved'.*takes: 'mail/approved'"):
        SyncRunner().run(NESTED, {"topic": "n", "mail/aproved": True})
    with pytest.raises(InputValueError, match=r"'mail\[0\]/approved'"):
        SyncRunner().run(NESTED, {"topic": "n", "mail[0]/approved": True})  # not mapped
    mapped = Graph([CHAIN.as_node().map_over("topic")])
    for key in ("mail/approved", "mail[x]/approved", "mail[0/approved"):
        with pytest.raises(InputValueError, match=r"takes: 'mail\[k\]/approved'"):
            SyncRunner().run(mapped, {"topic": ["a"], key: True})


def test_a_misspelled_or_unqualified_answer_is_refused_with_the_key_to_use() -> None:
    with pytest.raises(InputValueError, match=r"(?s)Did you mean 'approved'.*answers under"):
        SyncRunner().run(CHAIN, {"topic": "t", "aproved": True})
    with pytest.raises(
        InputValueError,
        match=r"(?s)the answer of an interrupt inside it.*its path: 'mail/approved'",
    ):
        SyncRunner().run(NESTED, {"topic": "t", "approved": True})


def test_an_interrupt_needs_one_output_name_and_returns_its_question() -> None:
    with pytest.raises(GraphConfigError, match="needs one output_name"):
        InterruptNode(lambda x: x, output_name=("a", "b"))  # type: ignore[arg-type]

    def stream(x: int) -> Any:
        yield x

    with pytest.raises(GraphConfigError, match="is a generator, but an interrupt only returns"):
        interrupt(stream, output_name="ok")
    with pytest.raises(
        GraphConfigError, match='How to fix: @interrupt\\(output_name="approved"\\)'
    ):
        interrupt(lambda draft: draft)  # a bare @interrupt: the answer needs a name


# -- resume after a real kill -------------------------------------------------------------


_CHILD = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from hypergraph import Graph, SqliteCheckpointer, SyncRunner, interrupt, node

    ledger = Path(sys.argv[2])

    def note(name):
        with ledger.open("a") as f:
            f.write(name + "\\n")

    @node(output_name="draft")
    def write(topic: str) -> str:
        note("write")
        return "about " + topic

    @interrupt(output_name="approved")
    def review(draft: str) -> str:
        note("review")
        return "Send?"

    @node(output_name="sent")
    def send(draft: str, approved: bool) -> str:
        note("send")
        return draft if approved else "dropped"

    graph = Graph([write, review, send])
    runner = SyncRunner(checkpointer=SqliteCheckpointer(sys.argv[1]))
    values = {"topic": "tea"} if sys.argv[3] == "start" else {"approved": True}
    result = runner.run(graph, values, workflow_id="kill-me")
    print(result.status.value, result.values.get("sent"), flush=True)
    if sys.argv[3] == "start":
        sys.stdin.readline()  # paused: wait here to be killed
    """
)


def test_a_paused_workflow_resumes_in_a_new_process_after_the_first_was_killed(
    tmp_path: Path,
) -> None:
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    db, ledger, script = state / "runs.sqlite", tmp_path / "ledger", tmp_path / "child.py"
    script.write_text(_CHILD)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "src")}
    first = subprocess.Popen(
        [sys.executable, str(script), str(db), str(ledger), "start"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        assert first.stdout is not None
        assert first.stdout.readline().split() == ["paused", "None"]
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
    assert first.returncode == -signal.SIGKILL
    second = subprocess.run(
        [sys.executable, str(script), str(db), str(ledger), "resume"],
        capture_output=True, text=True, env=env, timeout=60, check=True,
    )  # fmt: skip
    assert second.stdout.split() == ["completed", "about", "tea"]
    assert ledger.read_text().split() == ["write", "review", "send"]  # nothing ran twice
