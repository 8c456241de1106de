"""Turn the JSON lines of many workload processes into the markdown table of medians.

Each cell is the median over rounds and its cost relative to plain Python: ``153 (3,500×)``
means 3,500 times the cost of the same work done with plain function calls. For
higher-is-better metrics (items/s) the ratio is inverted so that it still reads as a cost.
Memory is compared by difference (``+12.5``), not ratio. The last column compares
hypergraph with the cheapest peer that can run the workload; a ✓ or ✗ after the hypergraph
value says whether the issue's target is met.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import statistics
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workloads.spec import PEERS, ExtraRow, Workload

DISTRIBUTIONS = {
    "hypergraph": "hypergraph",
    "langgraph": "langgraph",
    "pydantic_graph": "pydantic-graph",
    "hamilton": "apache-hamilton",
    "pipefunc": "pipefunc",
}
LABELS = {
    **DISTRIBUTIONS,
    "plain": "plain Python",
    "hypergraph_general": "hypergraph, general path",
}
REASON_WIDTH = 60


@dataclass
class Cell:
    """Every round's outcome for one workload and one library."""

    values: list[float] = field(default_factory=list)
    extras: list[Mapping[str, Any]] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    notes: dict[str, None] = field(default_factory=dict)
    settled: bool = False
    """No later round should run this: the library cannot express it, or said not to repeat."""

    def add(self, line: Mapping[str, Any]) -> None:
        if line.get("status") == "ok":
            self.values.append(float(line["value"]))
            self.extras.append(line.get("extra") or {})
            self.notes.update(dict.fromkeys(line.get("notes") or []))
            self.settled = line.get("repeat") is False
        else:
            self.settled = line.get("status") == "na"
            self.reasons.append(str(line.get("reason", "no reason given")))

    @property
    def median(self) -> float | None:
        return statistics.median(self.values) if self.values else None

    def extra_median(self, key: str) -> float | None:
        found = [float(e[key]) for e in self.extras if key in e]
        return statistics.median(found) if found else None


def machine_info(python: Path) -> dict[str, str]:
    """Date, cores, CPU model, the measured interpreter and the libraries' versions."""
    cpu = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    probe = (
        "import json, sys, importlib.metadata as m\n"
        "def v(d):\n"
        "    try:\n"
        "        return m.version(d)\n"
        "    except m.PackageNotFoundError:\n"
        "        return 'not installed'\n"
        f"names = {list(DISTRIBUTIONS.values())!r}\n"
        "print(json.dumps({'python': sys.version.split()[0], **{d: v(d) for d in names}}))\n"
    )
    done = subprocess.run([str(python), "-c", probe], capture_output=True, text=True, check=False)
    versions: dict[str, str] = json.loads(done.stdout) if done.returncode == 0 else {}
    affinity = getattr(os, "sched_getaffinity", None)
    cores = len(affinity(0)) if affinity else os.cpu_count()
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": str(cores),
        "cpu": cpu,
        "os": f"{platform.system()} {platform.release()}",
        "python": versions.pop("python", "unknown"),
        "versions": ", ".join(f"{d} {v}" for d, v in versions.items()),
    }


def _num(value: float) -> str:
    size = abs(value)
    if size >= 1000:
        return f"{value:,.0f}"
    if size >= 100:
        return f"{value:.0f}"
    if size >= 10:
        return f"{value:.1f}"
    if size >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def _times(ratio: float) -> str:
    if ratio >= 10:
        return f"{ratio:,.0f}×"
    return f"{ratio:.1f}×" if ratio >= 1 else f"{ratio:.2f}×"


def _cost(workload: Workload, value: float) -> float:
    return 1 / value if workload.higher_is_better else value


def _short(reason: str) -> str:
    return reason if len(reason) <= REASON_WIDTH else reason[: REASON_WIDTH - 1] + "…"


class Table:
    """The rows of one run: workloads down, libraries across."""

    def __init__(
        self, workloads: Sequence[Workload], libraries: Sequence[str], *, quick: bool
    ) -> None:
        self.workloads = workloads
        self.libraries = libraries
        self.quick = quick
        self.cells: dict[tuple[str, str], Cell] = {}
        self.notes: dict[str, None] = {}  # ordered set: caveats and untruncated reasons

    def add(self, line: Mapping[str, Any]) -> None:
        key = (str(line["workload"]), str(line["library"]))
        self.cells.setdefault(key, Cell()).add(line)

    def is_settled(self, workload_id: str, library: str) -> bool:
        cell = self.cells.get((workload_id, library))
        return bool(cell and cell.settled)

    def _cell(self, workload: Workload, library: str) -> Cell:
        return self.cells.get((workload.id, library), Cell())

    def _best_peer(self, workload: Workload) -> tuple[str, float] | None:
        found = [
            (lib, m)
            for lib in self.libraries
            if lib in PEERS and (m := self._cell(workload, lib).median) is not None
        ]
        return min(found, key=lambda item: _cost(workload, item[1])) if found else None

    def _failure(self, cell: Cell) -> str:
        reason = cell.reasons[-1]
        if len(reason) > REASON_WIDTH:
            self.notes[reason] = None
        return f"n/a ({_short(reason)})"

    def _main_cell(self, workload: Workload, library: str, plain: float | None) -> str:
        cell = self._cell(workload, library)
        value = cell.median
        if value is None:
            return self._failure(cell) if cell.reasons else "—"
        text = _num(value)
        if library != "plain" and plain is not None:
            if workload.compare == "delta":
                text += f" ({value - plain:+.1f})"
            else:
                text += f" ({_times(_cost(workload, value) / _cost(workload, plain))})"
        if library == "hypergraph" and workload.check is not None:
            best = self._best_peer(workload)
            met = workload.check(value, plain, best[1] if best else None)
            text += "" if met is None else " ✓" if met else " ✗"
        if cell.reasons:
            text += f" ({len(cell.reasons)} failed)"
            self.notes[cell.reasons[-1]] = None
        if cell.notes:
            text += " †"
        for note in cell.notes:
            self.notes[f"† {LABELS[library]}, {workload.id}: {note}"] = None
        return text

    def _versus_best(self, workload: Workload) -> str:
        hypergraph = self._cell(workload, "hypergraph").median
        best = self._best_peer(workload)
        if hypergraph is None or best is None:
            return "—"
        name, value = best
        if workload.compare == "delta":
            return f"{hypergraph - value:+.1f} vs {LABELS[name]}"
        ratio = _cost(workload, hypergraph) / _cost(workload, value)
        return f"{_times(ratio)} {LABELS[name]}"

    def _extra_cell(self, workload: Workload, row: ExtraRow, library: str) -> str:
        cell = self._cell(workload, library)
        value = cell.extra_median(row.key)
        if value is None:
            return "n/a" if cell.reasons else "—"
        text = _num(value)
        if library == "hypergraph" and row.check is not None:
            text += " ✓" if row.check(value, workload.sizes(quick=self.quick)) else " ✗"
        return text

    def rows(self) -> list[list[str]]:
        head = ["id", "workload", "unit", "target", *(LABELS[lib] for lib in self.libraries)]
        rows = [[*head, "hypergraph vs best peer"]]
        for w in self.workloads:
            plain = self._cell(w, "plain").median if "plain" in self.libraries else None
            cells = [self._main_cell(w, lib, plain) for lib in self.libraries]
            rows.append([w.id, w.title, w.unit, w.target, *cells, self._versus_best(w)])
            for extra in w.extra_rows:
                cells = [self._extra_cell(w, extra, lib) for lib in self.libraries]
                rows.append([w.id, extra.label, extra.unit, extra.target, *cells, ""])
        return rows


def render(table: Table, info: Mapping[str, str], *, rounds: int, command: str) -> str:
    """The markdown report: header with machine and versions, table, notes."""
    rows = table.rows()
    lines = [
        "## hypergraph benchmarks",
        "",
        f"- date: {info['date']}",
        f"- machine: {info['nproc']} cores (nproc), {info['cpu']}, {info['os']}",
        f"- python: {info['python']}; {info['versions']}",
        f"- command: `{command}` ({rounds} round(s), medians over rounds"
        + ("; QUICK sizes, not a record" if table.quick else "")
        + ")",
        "- cells: median (× plain Python's cost; memory: difference in MiB);"
        " ✓/✗: hypergraph meets the issue's target",
        "",
        "| " + " | ".join(rows[0]) + " |",
        "|" + "|".join(" --- " for _ in rows[0]) + "|",
        *("| " + " | ".join(row) + " |" for row in rows[1:]),
    ]
    if table.notes:
        lines += ["", "Notes:", ""]
        lines += [f"- {note}" for note in table.notes]
    return "\n".join(lines) + "\n"
