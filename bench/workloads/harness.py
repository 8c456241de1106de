"""What every workload module shares: results, timing, and the odd generated function.

A library module (``plain.py``, ``hypergraph.py``, ...) defines ``IMPORT`` (the statement a
user writes to start using it) and ``WORKLOADS``, a dict from workload id to a function
that takes the sizes from ``spec`` and returns a :class:`Result`. A workload a library
cannot express raises :class:`NotApplicable` with the reason, or is listed in the module's
``NOT_APPLICABLE`` dict.

Timing uses ``time.perf_counter``; every timed function is called once before timing
(warm-up), and the value reported is the median of several samples.
"""

from __future__ import annotations

import asyncio
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

Params = Mapping[str, int]

SAMPLE_SECONDS = 0.02
"""A sample repeats the call until it lasts this long, so timer resolution never matters."""
BUDGET_SECONDS = 0.5
"""Samples are taken until this much time has been spent (and at least ``MIN_SAMPLES``)."""
MIN_SAMPLES = 3
MAX_SAMPLES = 25
SLOW_BUILD_SECONDS = 5.0
"""A graph that takes longer than this to build is measured in the first round only."""


@dataclass
class Result:
    """A workload's measurement in the unit ``spec`` names, plus anything worth reporting."""

    value: float
    extra: dict[str, Any] = field(default_factory=dict)
    repeat: bool = True
    """False when later rounds would learn nothing new (memory) or cost too much (a slow build)."""
    notes: list[str] = field(default_factory=list)
    """Caveats printed under the table, e.g. a raised recursion limit."""


class NotApplicable(Exception):
    """The library cannot express this workload; the message says why."""


class WrongResult(AssertionError):
    """A run returned something other than what the workload computes: no number is reported."""


def _brief(value: object) -> str:
    text = repr(value)
    return text if len(text) < 60 else text[:57] + "..."


def expect(actual: object, wanted: object, what: str) -> None:
    """Refuse to report a timing for a run that computed the wrong thing."""
    if actual != wanted:
        raise WrongResult(f"{what}: expected {_brief(wanted)}, got {_brief(actual)}")


def seconds_per_call(call: Callable[[], object], *, budget: float = BUDGET_SECONDS) -> float:
    """Median seconds per call of ``call``, after one warm-up call."""
    call()
    inner = 1
    while True:
        start = time.perf_counter()
        for _ in range(inner):
            call()
        elapsed = time.perf_counter() - start
        if elapsed >= SAMPLE_SECONDS:
            break
        inner = max(inner * 2, int(inner * SAMPLE_SECONDS / max(elapsed, 1e-9)) + 1)
    samples = [elapsed / inner]
    deadline = time.perf_counter() + budget
    while len(samples) < MAX_SAMPLES and (
        len(samples) < MIN_SAMPLES or time.perf_counter() < deadline
    ):
        start = time.perf_counter()
        for _ in range(inner):
            call()
        samples.append((time.perf_counter() - start) / inner)
    return statistics.median(samples)


async def aseconds_per_call(
    call: Callable[[], Awaitable[object]], *, budget: float = BUDGET_SECONDS
) -> float:
    """The async twin of :func:`seconds_per_call`; runs on the caller's event loop."""
    await call()
    inner = 1
    while True:
        start = time.perf_counter()
        for _ in range(inner):
            await call()
        elapsed = time.perf_counter() - start
        if elapsed >= SAMPLE_SECONDS:
            break
        inner = max(inner * 2, int(inner * SAMPLE_SECONDS / max(elapsed, 1e-9)) + 1)
    samples = [elapsed / inner]
    deadline = time.perf_counter() + budget
    while len(samples) < MAX_SAMPLES and (
        len(samples) < MIN_SAMPLES or time.perf_counter() < deadline
    ):
        start = time.perf_counter()
        for _ in range(inner):
            await call()
        samples.append((time.perf_counter() - start) / inner)
    return statistics.median(samples)


def timed(call: Callable[[], object]) -> tuple[float, object]:
    """Seconds taken by one call, and what it returned (for runs too long to repeat)."""
    start = time.perf_counter()
    out = call()
    return time.perf_counter() - start, out


def timed_median(
    call: Callable[[], object], budget: float = 1.0, most: int = 5
) -> tuple[float, object]:
    """Median seconds of up to `most` calls within about `budget` seconds, and the last output.

    A single short call in a fresh process swings by a third on a shared machine (W5:
    0.1 s calls measured 59k-95k items/s); a call that already takes seconds runs once.
    """
    samples: list[float] = []
    out: object = None
    while len(samples) < most and (not samples or sum(samples) < budget):
        seconds, out = timed(call)
        samples.append(seconds)
    return statistics.median(samples), out


def allow_deep_graph(nodes: int) -> list[str]:
    """Raise the interpreter's recursion limit for libraries that walk a graph recursively.

    Hamilton and pipefunc raise ``RecursionError`` on a 1,000-node chain at Python's default
    limit (1,000 frames). A user with such a graph raises the limit, and so does the bench;
    the returned note goes under the table so the cell is not mistaken for an
    out-of-the-box result.
    """
    needed = 4 * nodes
    if needed <= sys.getrecursionlimit():
        return []
    sys.setrecursionlimit(needed)
    return [f"needs sys.setrecursionlimit({needed}) (RecursionError at the default)"]


def chain_result(
    seconds_per_run: float, nodes: int, build_seconds: float, notes: Sequence[str] = ()
) -> Result:
    """A sync chain's result: µs per node, plus how long building the graph took."""
    result = Result(
        seconds_per_run / nodes * 1e6, {"build_ms": build_seconds * 1e3}, notes=[*notes]
    )
    if build_seconds > SLOW_BUILD_SECONDS:
        result.repeat = False
        result.notes.append(
            f"measured in round 1 only: building the graph took {build_seconds:.0f} s"
        )
    return result


def max_rss_mib() -> float:
    """Peak resident set size of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def memory_after_runs(run_once: Callable[[], object], runs: int) -> Result:
    """W7-memory: peak RSS after ``runs`` calls, and how much the runs themselves added."""
    before = max_rss_mib()
    for _ in range(runs):
        run_once()
    after = max_rss_mib()
    # Peak RSS barely moves between processes: one round says it all.
    return Result(after, {"growth_mib": round(after - before, 2), "runs": runs}, repeat=False)


def import_time(statement: str, repeats: int) -> Result:
    """W7-import: median ms for ``statement`` in fresh interpreters, after one warm-up.

    Only ``time`` is imported before the clock starts, so shared standard-library modules
    count towards the library that pulls them in. The warm-up run writes any missing
    bytecode caches, which a user's first import pays once and never again.
    """
    code = (
        "import time\n"
        "start = time.perf_counter()\n"
        f"{statement}\n"
        "print(time.perf_counter() - start)\n"
    )
    samples: list[float] = []
    for i in range(repeats + 1):
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise RuntimeError(f"{statement!r} failed: {last}")
        if i:
            samples.append(float(done.stdout.strip()) * 1e3)
    return Result(statistics.median(samples), {"statement": statement})


def make_function(name: str, params: Sequence[str], *body: str, is_async: bool = False) -> Any:
    """A real ``def`` with named parameters, for graphs wired by parameter name.

    Hypergraph and Hamilton read a node's inputs from its signature, so a join over 200
    outputs, or a Hamilton chain whose node ``x7`` consumes ``x6``, needs functions whose
    parameter names are only known at run time. ``body`` is the function's lines, and
    ``asyncio`` is in scope.
    """
    keyword = "async def" if is_async else "def"
    namespace: dict[str, Any] = {"asyncio": asyncio}
    lines = "".join(f"    {line}\n" for line in body)
    source = f"{keyword} {name}({', '.join(params)}):\n{lines}"
    exec(compile(source, f"<bench {name}>", "exec"), namespace)
    return namespace[name]
