"""One workflow id, one run at a time (decision 0037): real processes on a real SQLite file.

A second opener of a workflow that a live run holds gets `WorkflowBusyError` and runs
nothing; a holder killed with SIGKILL (reaped or still a zombie) blocks nothing; of several
processes racing for one workflow, its nodes run once.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import pytest

from hypergraph import Graph, MemoryCheckpointer, SqliteCheckpointer, SyncRunner, node
from hypergraph.durable import Holder, WorkflowBusyError, WorkflowConflictError
from hypergraph.durable import lease as lease_module

SRC = str(Path(__file__).resolve().parents[1] / "src")
BUSY = 3

# The child: runs `pay` then `receipt` under workflow argv[2]. `pay` appends a line to the
# ledger; with "block" it then says "paying" and waits for a line on stdin. "race" is
# "block" after the child said "ready" and got a line. It prints the values, or "busy";
# with "block" it then waits for another line before it exits.
_CHILD = textwrap.dedent(
    """
    import json, os, sys
    sys.path.insert(0, {src!r})
    from hypergraph import Graph, SqliteCheckpointer, SyncRunner, node
    from hypergraph.durable import WorkflowBusyError

    path, wid, ledger, mode = sys.argv[1:5]

    @node(output_name="paid")
    def pay(amount: int) -> int:
        fd = os.open(ledger, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.write(fd, f"pay {{os.getpid()}}\\n".encode())
        os.close(fd)
        if mode in ("block", "race"):
            print("paying", flush=True)
            sys.stdin.readline()
        return amount

    @node(output_name="receipt")
    def receipt(paid: int) -> str:
        return f"paid {{paid}}"

    runner = SyncRunner(checkpointer=SqliteCheckpointer(path))
    if mode == "race":
        print("ready", flush=True)
        sys.stdin.readline()
    try:
        result = runner.run(Graph([pay, receipt]), amount=42, workflow_id=wid)
    except WorkflowBusyError as exc:
        print("busy", json.dumps(str(exc)), flush=True)
        sys.exit({busy})
    print("done", json.dumps(result.values), flush=True)
    if mode == "block":  # stays alive until told: its run is over, the process is not
        sys.stdin.readline()
    """
).format(src=SRC, busy=BUSY)


def _child(tmp: Path, mode: str, wid: str = "w-pay") -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(tmp / "cp.sqlite"), wid, str(tmp / "ledger"), mode],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _expect_line(proc: subprocess.Popen[str], line: str) -> None:
    assert proc.stdout is not None
    got = proc.stdout.readline().strip()  # the child says it, or exits (EOF: "")
    assert got == line, (got, proc.stderr.read() if proc.stderr else "")


def _finish(proc: subprocess.Popen[str]) -> tuple[int, str]:
    out, err = proc.communicate(timeout=60)
    return proc.returncode, out + err


def _payments(tmp: Path) -> list[str]:
    ledger = tmp / "ledger"
    return ledger.read_text().splitlines() if ledger.exists() else []


def test_a_second_process_is_refused_while_another_runs_the_workflow(tmp_path: Path) -> None:
    first = _child(tmp_path, "block")
    _expect_line(first, "paying")  # the first holds the workflow, in the middle of `pay`

    code, out = _finish(_child(tmp_path, "once"))
    assert code == BUSY, out
    assert f"is being run by process {first.pid}" in out and "How to fix" in out
    assert len(_payments(tmp_path)) == 1  # the second paid nothing

    assert first.stdin is not None and first.stdout is not None
    first.stdin.write("\n")
    first.stdin.flush()
    assert first.stdout.readline().startswith("done")
    # Its run is over, its process still alive: the workflow is free, and finished (the
    # stored result, nothing runs).
    code, out = _finish(_child(tmp_path, "once"))
    assert code == 0 and '"receipt": "paid 42"' in out, out
    assert len(_payments(tmp_path)) == 1
    first.stdin.write("\n")
    first.stdin.flush()
    assert _finish(first)[0] == 0


def test_a_holder_killed_with_sigkill_does_not_block_the_resume(tmp_path: Path) -> None:
    first = _child(tmp_path, "block")
    _expect_line(first, "paying")
    os.kill(first.pid, signal.SIGKILL)
    first.wait(timeout=30)

    code, out = _finish(_child(tmp_path, "once"))
    assert code == 0 and '"receipt": "paid 42"' in out, out
    assert len(_payments(tmp_path)) == 2  # `pay` had not finished: it ran again, once


@pytest.mark.skipif(
    not hasattr(os, "waitid") and os.environ.get("CI") != "true",
    reason="os.waitid(WNOWAIT) keeps a killed child a zombie; this platform has no waitid",
)
def test_a_holder_killed_but_not_yet_reaped_does_not_block_the_resume(tmp_path: Path) -> None:
    first = _child(tmp_path, "block")
    _expect_line(first, "paying")
    os.kill(first.pid, signal.SIGKILL)
    os.waitid(os.P_PID, first.pid, os.WEXITED | os.WNOWAIT)  # dead, still in the table
    try:
        code, out = _finish(_child(tmp_path, "once"))
        assert code == 0 and '"receipt": "paid 42"' in out, out
    finally:
        first.wait(timeout=30)


def test_of_processes_racing_for_one_workflow_one_runs_its_nodes(tmp_path: Path) -> None:
    racers = [_child(tmp_path, "race") for _ in range(4)]
    for proc in racers:
        _expect_line(proc, "ready")
    for proc in racers:  # go: all open the workflow at once
        assert proc.stdin is not None
        proc.stdin.write("\n")
        proc.stdin.flush()
    # Each says "paying" (and holds on in the middle of `pay`) or is refused: the one that
    # pays holds the workflow until it is let go, so no other can find it finished.
    said = []
    for proc in racers:
        assert proc.stdout is not None
        said.append(proc.stdout.readline().split()[0])
    assert sorted(said) == ["busy", "busy", "busy", "paying"], said
    for proc in racers:
        if proc.poll() is None:
            assert proc.stdin is not None
            proc.stdin.write("\n\n")
            proc.stdin.flush()
    outcomes = [_finish(proc) for proc in racers]
    assert sorted(code for code, _ in outcomes) == [0, BUSY, BUSY, BUSY], outcomes
    assert len(_payments(tmp_path)) == 1


def _blocking_graph(entered: threading.Event, release: threading.Event) -> Graph:
    @node(output_name="paid")
    def pay(amount: int) -> int:
        entered.set()
        assert release.wait(30)
        return amount

    return Graph([pay])


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_a_second_run_in_the_same_process_is_refused_while_the_first_runs(
    tmp_path: Path, kind: str
) -> None:
    cp: Any = MemoryCheckpointer() if kind == "memory" else SqliteCheckpointer(tmp_path / "cp")
    entered, release = threading.Event(), threading.Event()
    graph = _blocking_graph(entered, release)
    runner = SyncRunner(checkpointer=cp)
    results: list[Any] = []
    first = threading.Thread(
        target=lambda: results.append(runner.run(graph, amount=5, workflow_id="w"))
    )
    first.start()
    try:
        assert entered.wait(30)
        with pytest.raises(WorkflowBusyError, match="another run in this process") as caught:
            runner.run(graph, amount=5, workflow_id="w")
        assert caught.value.holder.pid == os.getpid()
    finally:
        release.set()
        first.join(30)
    assert results[0]["paid"] == 5
    assert runner.run(graph, amount=5, workflow_id="w")["paid"] == 5  # released at its end


def test_a_run_refused_for_a_conflict_gives_the_lease_back(tmp_path: Path) -> None:
    entered, release = threading.Event(), threading.Event()
    release.set()
    graph = _blocking_graph(entered, release)
    runner = SyncRunner(checkpointer=SqliteCheckpointer(tmp_path / "cp.sqlite"))
    runner.run(graph, amount=5, workflow_id="w")
    with pytest.raises(WorkflowConflictError) as caught:
        runner.run(graph, amount=6, workflow_id="w")
    # The refused run's objects are still alive (the traceback holds them): its lease
    # must be gone from the file all the same, or this next run would be refused.
    assert caught.value.workflow_id == "w"
    assert runner.run(graph, amount=5, workflow_id="w")["paid"] == 5


def test_a_holder_on_another_machine_blocks_until_released_by_hand(tmp_path: Path) -> None:
    cp = SqliteCheckpointer(tmp_path / "cp.sqlite")
    elsewhere = Holder("another-machine", os.getpid(), "", "t0", 0.0)
    cp.acquire("w", elsewhere)
    runner = SyncRunner(checkpointer=cp)
    graph = _blocking_graph(threading.Event(), threading.Event())
    with pytest.raises(WorkflowBusyError, match=r"cp.release\('w'\)"):
        runner.run(graph, amount=5, workflow_id="w")
    cp.release("w")
    graph = Graph([node(output_name="paid")(lambda amount: amount)])
    assert runner.run(graph, amount=5, workflow_id="w")["paid"] == 5


@pytest.mark.skipif(
    not os.path.isdir("/proc/self") and os.environ.get("CI") != "true",
    reason="telling a later process with the same pid apart needs Linux's /proc",
)
def test_a_later_process_with_the_holders_pid_is_not_taken_for_the_holder() -> None:
    parent = os.getppid()  # a live process that is not this one
    marker = lease_module._start_marker(parent)
    assert marker
    host = lease_module._identity()[1]
    assert lease_module.alive(Holder(host, parent, marker, "t", 0.0))
    assert not lease_module.alive(Holder(host, parent, marker + "0", "t", 0.0))
