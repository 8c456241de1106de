"""Benchmark hypergraph against plain Python and its peers: ``python3 bench/run.py``.

Creates ``bench/.venv-peers`` on first use (peers from PyPI, hypergraph from this repo; see
``peers_env.py``), then runs every workload for every library in its own fresh process,
interleaved (round 1: W1 plain, W1 hypergraph, W1 langgraph, ..., W2 plain, ...; round 2:
the same again), and prints a markdown table of medians over the rounds.

    python3 bench/run.py                         # the full run (a few minutes on 2 cores)
    python3 bench/run.py --rounds 1 --quick      # a fast check while developing
    python3 bench/run.py --only W1,W4 --libs hypergraph,langgraph
    python3 bench/run.py --out bench/out/table.md
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import peers_env
import report
from workloads import spec

# Peers that phone home or trace would measure the network, not the library.
QUIET_ENV = {
    "LANGSMITH_TRACING": "false",
    "LANGCHAIN_TRACING_V2": "false",
    "HAMILTON_TELEMETRY_ENABLED": "false",
}


def _select(text: str | None, known: Sequence[str], what: str) -> list[str]:
    """Known names matching a comma list; ``W7`` selects ``W7-import`` and ``W7-memory``."""
    if not text:
        return list(known)
    chosen: list[str] = []
    for token in (t.strip() for t in text.split(",") if t.strip()):
        token = token.replace("-", "_") if what == "library" else token
        hits = [k for k in known if k == token or k.startswith(token + "-")]
        if not hits:
            sys.exit(f"unknown {what} {token!r}; known: {', '.join(known)}")
        chosen += [h for h in hits if h not in chosen]
    return [k for k in known if k in chosen]


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Benchmark hypergraph against plain Python and its peers.",
    )
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    parser.add_argument("--only", help="workload ids, comma-separated (W1,W1b,W4,W7-import...)")
    parser.add_argument(
        "--libs",
        help="libraries, comma-separated (default all: " + ",".join(spec.LIBRARIES) + ");"
        " plain Python always runs, it is the baseline",
    )
    parser.add_argument("--quick", action="store_true", help="smaller sizes (checks, not records)")
    parser.add_argument("--out", type=Path, help="also write the table to this file")
    parser.add_argument(
        "--timeout", type=float, default=300, help="seconds per workload process (default 300)"
    )
    parser.add_argument(
        "--no-install", action="store_true", help="use bench/.venv-peers as it is, install nothing"
    )
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    return args


def run_one(library: str, workload: str, *, quick: bool, timeout: float) -> dict[str, Any]:
    """One measurement in a fresh process; always returns a result line, never raises."""
    cmd = [str(peers_env.PYTHON), "-m", "workloads", library, workload]
    cmd += ["--quick"] if quick else []
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(QUIET_ENV)
    failed = {"library": library, "workload": workload, "status": "error"}
    try:
        done = subprocess.run(
            cmd,
            cwd=peers_env.BENCH,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return {**failed, "reason": f"timed out after {timeout:.0f} s"}
    for line in reversed(done.stdout.splitlines()):
        if line.startswith("{"):
            parsed: dict[str, Any] = json.loads(line)
            return parsed
    tail = (done.stderr.strip().splitlines() or [f"exit code {done.returncode}"])[-1]
    return {**failed, "reason": f"process died: {tail}"}


def _progress(round_no: int, rounds: int, line: dict[str, Any], seconds: float) -> None:
    if line.get("status") == "ok":
        outcome = f"{line['value']:.4g} {line.get('metric', '')}"
    else:
        outcome = f"{line.get('status')}: {line.get('reason')}"
    where = f"[round {round_no}/{rounds}] {line['workload']:<9} {line['library']:<14}"
    print(f"{where} {outcome} ({seconds:.1f} s)", file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(argv)
    workloads = [spec.BY_ID[w] for w in _select(args.only, list(spec.BY_ID), "workload")]
    libraries = _select(args.libs, spec.LIBRARIES, "library")
    libraries = ["plain", *(lib for lib in libraries if lib != "plain")]

    hypergraph_problem = peers_env.ensure(install=not args.no_install)
    info = report.machine_info(peers_env.PYTHON)
    table = report.Table(workloads, libraries, quick=args.quick)
    started = time.perf_counter()
    for round_no in range(1, args.rounds + 1):
        for workload in workloads:
            for library in libraries:
                if table.is_settled(workload.id, library):
                    continue  # n/a, or one round says it all (see Result.repeat)
                begin = time.perf_counter()
                if library == "hypergraph" and hypergraph_problem:
                    line = {"library": library, "workload": workload.id, "status": "error"}
                    line["reason"] = hypergraph_problem
                else:
                    line = run_one(library, workload.id, quick=args.quick, timeout=args.timeout)
                table.add(line)
                _progress(round_no, args.rounds, line, time.perf_counter() - begin)

    command = "python3 bench/run.py " + shlex.join(argv if argv is not None else sys.argv[1:])
    text = report.render(table, info, rounds=args.rounds, command=command.strip())
    print(f"total time {time.perf_counter() - started:.0f} s", file=sys.stderr)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
