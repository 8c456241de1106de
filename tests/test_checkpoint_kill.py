"""The kill test (SPEC 11): a durable run killed with SIGKILL at 50-60 random moments ends
with an uninterrupted run's values, and no node execution that had ended starts again.

The child (`python -m tests.durable_app`) runs a 32-round loop with a 4-way fan-out, a
streaming node and a nested graph, and keeps a ledger of node starts and ends (each line
fsynced; an end is written only after the node's checkpoint was committed). Each kill
lands at a seeded random moment after the child is up (SyncRunner: 60 kills; AsyncRunner,
where the fan-out runs in parallel threads: 50): while it opens the file, replays
the log, runs a node, or commits a step.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hypergraph import SqliteCheckpointer

ROOT = Path(__file__).resolve().parents[1]


def _start(tmp: Path, name: str, kind: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable, "-m", "tests.durable_app",
            str(tmp / f"{name}.sqlite"), "w-kill", str(tmp / f"{name}.ledger"),
            str(tmp / f"{name}.json"), kind,
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip


def _ready(proc: subprocess.Popen[str]) -> None:
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"


@pytest.mark.parametrize(("kind", "kills_wanted"), [("sync", 60), ("async", 50)])
def test_a_run_killed_at_random_moments_ends_as_an_uninterrupted_one(
    tmp_path: Path, kind: str, kills_wanted: int
) -> None:
    baseline = _start(tmp_path, "baseline", kind)
    _ready(baseline)
    assert baseline.wait(timeout=60) == 0
    expected = json.loads((tmp_path / "baseline.json").read_text())

    rng = random.Random(11)
    kills = 0
    while True:
        proc = _start(tmp_path, "killed", kind)
        _ready(proc)
        if kills < kills_wanted:
            time.sleep(rng.uniform(0.0, 0.03))  # the random moment of the kill, not a wait
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout=30)
                kills += 1
                continue
        assert proc.wait(timeout=60) == 0
        break
    assert kills == kills_wanted, "the run finished before every kill: make it longer"

    assert json.loads((tmp_path / "killed.json").read_text()) == expected
    assert len(expected["history"]) == 31 and expected["round"] == 31

    ended: set[str] = set()
    started_again_after_end: list[str] = []
    starts: dict[str, int] = {}
    for line in (tmp_path / "killed.ledger").read_text().splitlines():
        what, key = line.split(" ", 1)
        if what == "start":
            if key in ended:
                started_again_after_end.append(key)
            starts[key] = starts.get(key, 0) + 1
        else:
            ended.add(key)
    assert started_again_after_end == []
    assert any(n > 1 for n in starts.values()), "no kill interrupted a node: the test proves little"

    cp = SqliteCheckpointer(tmp_path / "killed.sqlite")
    record = cp.get("w-kill")
    assert record is not None and record.status == "completed"
    children = [w for w in cp.list() if w.parent == "w-kill"]
    assert len(children) == 31 and {w.status for w in children} == {"completed"}
    assert {s.node for s in record.streams} == {"talk"}
