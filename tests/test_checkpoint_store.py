"""The checkpoint stores on their own: round trips, storage bounds, processes, kill -9."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from hypergraph.durable import (
    CheckpointError,
    MemoryCheckpointer,
    SqliteCheckpointer,
    StepRecord,
)

SRC = str(Path(__file__).resolve().parents[1] / "src")


def _stores(tmp_path: Path) -> list[object]:
    return [MemoryCheckpointer(), SqliteCheckpointer(tmp_path / "cp.sqlite")]


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_a_workflow_reads_back_as_it_was_written(tmp_path: Path, kind: str) -> None:
    cp = MemoryCheckpointer() if kind == "memory" else SqliteCheckpointer(tmp_path / "cp.sqlite")
    cp.create("w", structure={"nodes": {}}, input_values={"x": [1, 2], "y": "hi"})
    cp.append("w", StepRecord(0, "a", "finish", outputs={"z": {"k": 3}}, ended_at=5.0))
    cp.append("w", StepRecord(1, "g", "gate", decision=("a",), attempt=2, ended_at=6.0))
    cp.append("w", StepRecord(2, "b", "fail", ended_at=7.0))
    cp.add_chunks("w", "s", 1, 1, 0, ["He", "l"])
    cp.add_chunks("w", "s", 1, 1, 2, ["lo"])
    cp.set_status("w", "failed")
    record = cp.get("w")
    assert record is not None
    assert record.status == "failed"
    assert record.input_values == {"x": [1, 2], "y": "hi"}
    assert record.values == {"x": [1, 2], "y": "hi", "z": {"k": 3}}
    assert [(s.node, s.kind) for s in record.steps] == [
        ("a", "finish"),
        ("g", "gate"),
        ("b", "fail"),
    ]
    assert record.steps[1].decision == ("a",) and record.steps[1].attempt == 2
    assert [(r.node, r.execution, r.chunks) for r in record.streams] == [
        ("s", 1, ["He", "l", "lo"])
    ]
    assert [w.workflow_id for w in cp.list()] == ["w"]
    cp.truncate("w", 1)
    assert [s.seq for s in cp.get("w").steps] == [0]  # type: ignore[union-attr]
    assert cp.get("other") is None


def test_a_large_list_reads_back_whole_in_its_type(tmp_path: Path) -> None:
    cp = SqliteCheckpointer(tmp_path / "cp.sqlite")
    history = [{"role": "user", "content": "x" * 700 + str(k)} for k in range(40)]
    cp.create("w", structure={}, input_values={"h": history, "t": tuple(history)})
    record = cp.get("w")
    assert record is not None
    assert record.input_values["h"] == history
    assert record.input_values["t"] == tuple(history)


def test_a_value_that_cannot_be_pickled_is_refused_with_its_name(tmp_path: Path) -> None:
    cp = SqliteCheckpointer(tmp_path / "cp.sqlite")
    cp.create("w", structure={}, input_values={})
    with pytest.raises(CheckpointError, match="Output 'f' of node 'a'"):
        cp.append("w", StepRecord(0, "a", "finish", outputs={"f": lambda: 1}))
    assert cp.get("w").steps == []  # type: ignore[union-attr]


def test_a_200_turn_chat_history_stays_under_2_mib_with_its_wal(tmp_path: Path) -> None:
    path = tmp_path / "chat.sqlite"
    cp = SqliteCheckpointer(path)
    cp.create("chat", structure={}, input_values={"history": []})
    history: list[dict[str, str]] = []
    seq = 0
    rng = random.Random(7)  # text of words and numbers: compresses about as prose does
    words = ["the", "model", "answer", "because", "graph", "stream", "user", "context"]
    for _ in range(200):
        reply = " ".join(f"{rng.choice(words)}{rng.randrange(100)}" for _ in range(300))[:2048]
        history = [*history, {"role": "assistant", "content": reply}]
        cp.append("chat", StepRecord(seq, "llm", "finish", outputs={"reply": reply}))
        cp.append("chat", StepRecord(seq + 1, "add", "finish", outputs={"history": history}))
        seq += 2
    size = sum(
        p.stat().st_size for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")) if p.exists()
    )
    assert size < 2 * 1024 * 1024, size
    record = cp.get("chat")
    assert record is not None and record.values["history"] == history


_WRITER = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, {src!r})
    from hypergraph.durable import SqliteCheckpointer, StepRecord
    cp = SqliteCheckpointer(sys.argv[1])
    me = sys.argv[2]
    for run in range(50):
        wid = f"{{me}}-{{run}}"
        cp.create(wid, structure={{}}, input_values={{"x": run}})
        cp.append(wid, StepRecord(0, "a", "finish", outputs={{"y": run}}))
        cp.append(wid, StepRecord(1, "b", "finish", outputs={{"z": [me] * 50}}))
        cp.set_status(wid, "completed")
    """
)


def test_eight_processes_share_one_file_without_database_is_locked(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite"
    SqliteCheckpointer(path).close()
    script = _WRITER.format(src=SRC)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(path), f"p{k}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for k in range(8)
    ]
    errors = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * 8, errors
    assert not any("locked" in e for e in errors)
    cp = SqliteCheckpointer(path)
    listed = cp.list()
    assert len(listed) == 400 and {w.status for w in listed} == {"completed"}
    assert cp.get("p3-49").values == {"x": 49, "y": 49, "z": ["p3"] * 50}  # type: ignore[union-attr]


_KILLED = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, {src!r})
    from hypergraph.durable import SqliteCheckpointer, StepRecord
    cp = SqliteCheckpointer(sys.argv[1])
    cp.create("w", structure={{}}, input_values={{}})
    seq = 0
    big = "v" * 50_000
    while True:
        cp.append("w", StepRecord(seq, "n", "finish", outputs={{"v": f"{{seq}}{{big}}"}}))
        print(seq, flush=True)
        seq += 1
    """
)


def test_a_writer_killed_mid_commit_leaves_every_acknowledged_step_readable(
    tmp_path: Path,
) -> None:
    path = tmp_path / "killed.sqlite"
    proc = subprocess.Popen(
        [sys.executable, "-c", _KILLED.format(src=SRC), str(path)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    acknowledged = -1
    for line in proc.stdout:  # each line: a commit that returned
        acknowledged = int(line)
        if acknowledged == 40:
            break
    os.kill(proc.pid, signal.SIGKILL)  # it is writing step 41 or 42 now
    proc.wait(timeout=30)
    record = SqliteCheckpointer(path).get("w")
    assert record is not None
    seqs = [s.seq for s in record.steps]
    assert seqs == list(range(len(seqs))) and len(seqs) >= acknowledged + 1
    assert all(s.outputs["v"].startswith(str(s.seq)) for s in record.steps)  # type: ignore[index]


@pytest.mark.skipif(
    not hasattr(os, "fork") and os.environ.get("CI") != "true",
    reason="os.fork is POSIX only",
)
def test_a_forked_child_writes_steps_through_a_connection_of_its_own(tmp_path: Path) -> None:
    cp = SqliteCheckpointer(tmp_path / "cp.sqlite")
    cp.create("w", structure={}, input_values={})
    cp.append("w", StepRecord(0, "a", "finish", outputs={"y": "x" * 1000}))
    inherited = cp._conn
    pid = os.fork()
    if pid == 0:  # child: the parent's connection must stay unused
        code = 1
        try:
            cp.append("w", StepRecord(1, "b", "finish", outputs={"z": 2}))
            code = 0 if cp._conn is not inherited else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    cp.append("w", StepRecord(2, "c", "finish", outputs={"y": "x" * 1000}))
    assert cp.get("w").values == {"y": "x" * 1000, "z": 2}  # type: ignore[union-attr]


def test_a_step_mixing_small_and_large_outputs_reads_back_in_order(tmp_path: Path) -> None:
    cp = SqliteCheckpointer(tmp_path / "cp.sqlite")
    cp.create("w", structure={}, input_values={})
    outputs = {"n": 1, "big": "x" * 5000, "pair": [1, "a"], "rows": list(range(3000))}
    cp.append("w", StepRecord(0, "a", "finish", outputs=outputs))
    cp.append("w", StepRecord(1, "b", "finish", outputs={"big": "x" * 5000}))  # stored once
    steps = SqliteCheckpointer(tmp_path / "cp.sqlite").get("w").steps  # type: ignore[union-attr]
    assert steps[0].outputs == outputs and list(steps[0].outputs) == list(outputs)  # type: ignore[arg-type]
    assert steps[1].outputs == {"big": "x" * 5000}
