"""The scheduler: the state of one run, and the rules of SPEC §6 that move it forward.

It is pure: it never calls user code, never awaits and never touches threads. A
runner asks `start()` which nodes are ready, executes them however it likes, and
reports each outcome with `finish`, `finish_gate` or `fail`, which return the nodes
that became ready as a result. Both runners drive this one class, so they cannot
disagree about semantics.

Its state can be saved and restored: `snapshot()` copies it, `Scheduler.restore` makes a
scheduler that continues from a snapshot, and `Scheduler.replay` rebuilds one from the
log of completions a run was given (what a checkpoint stores). `suspend` is the
outcome of a node that asked a human and waits for the answer: it stays busy, so
what depends on it waits, and the run ends when nothing else can run.

The rules, in the terms used below:
- A node is *pending* while it is due to run: it never ran, or (not gate-controlled)
  another node wrote one of its inputs since it last ran, or (gate-controlled) a gate
  chose it since it last ran. A pending node is *busy* once handed to the runner.
- A pending node waits while anything upstream of it may still write: every unit
  (node or cycle) upstream must be resolved (a counter per node), and inside a cycle
  no member ahead of it in the current round, or in an earlier round, may be pending.
- When nothing holds it back, a pending node is *decided*: it runs if a gate lets it
  and its inputs are available (or defaulted); otherwise it leaves pending unrun, and
  the nodes waiting on it are decided in turn.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from .._introspect import fresh_copy
from ..errors import InfiniteLoopError
from .plan import CycleOrder, Plan

_RESOLVE, _RECHECK = 0, 1

# The per-node and per-unit lists that make up a scheduler's state.
_LIST_STATE = (
    "pending", "busy", "wave", "rerun", "chosen", "runs", "ext_count",
    "unit_pending", "unit_done", "suspended",
)  # fmt: skip

Completion = tuple[str, int, Any]
"""One logged outcome: ("finish", i, outputs), ("gate", i, targets), ("fail", i, None) or
("suspend", i, None)."""


def loop_error(node: str, max_iterations: int) -> InfiniteLoopError:
    """The error of a run whose node `node` would run more than `max_iterations` times."""
    return InfiniteLoopError(
        f"Node '{node}' would run more than max_iterations={max_iterations} "
        "times; the cycle it is in does not stop.\n"
        "How to fix: check the gate that should END the cycle, or pass a larger "
        "max_iterations to run() if the loop really needs more rounds.",
        node=node,
        max_iterations=max_iterations,
    )


class SchedulerState:
    """A saved scheduler state (see `Scheduler.snapshot`); treat it as read-only."""

    __slots__ = ("failed_outputs", "lists", "max_iterations", "orders", "values")

    def __init__(
        self,
        *,
        values: dict[str, Any],
        lists: dict[str, list[Any]],
        failed_outputs: frozenset[str],
        orders: dict[int, CycleOrder],
        max_iterations: int,
    ) -> None:
        self.values = values
        self.lists = lists
        self.failed_outputs = failed_outputs
        self.orders = orders
        self.max_iterations = max_iterations


class Scheduler:
    """Run state of one run of a plan."""

    def __init__(self, plan: Plan, values: dict[str, Any], max_iterations: int) -> None:
        self.plan = plan
        self.values = values
        self.max_iterations = max_iterations
        count = len(plan.nodes)
        self.pending = [True] * count
        self.busy = [False] * count
        self.wave = [0] * count
        self.rerun = [-1] * count  # wave of a rerun requested while the node was busy
        self.chosen = [False] * count
        self.runs = [0] * count
        self.ext_count = list(plan.ext_count)
        self.unit_pending = list(plan.unit_sizes)
        self.unit_done = [False] * len(plan.unit_sizes)
        self.failed_outputs: set[str] = set()
        self.orders: dict[int, CycleOrder] = {
            u: plan.cycle_order(u, values) for u in plan.cycle_units
        }
        self.suspended: list[int] = []
        self._work: deque[tuple[int, int]] = deque()
        self._ready: list[int] = []

    # -- what runners call ------------------------------------------------------------

    def start(self) -> list[int]:
        """The nodes ready when the run starts."""
        plan = self.plan
        for i in plan.sources:
            if self.ext_count[i] == 0:
                u = plan.unit_of[i]
                if plan.is_cycle[u]:
                    self._work.append((_RECHECK, u))
                else:
                    self._decide(i)
        return self._drain()

    def inputs_for(self, i: int) -> dict[str, Any]:
        """Mark node `i` as running; its arguments by parameter name, defaults filled in."""
        self.runs[i] += 1
        self.chosen[i] = False
        values = self.values
        args: dict[str, Any] = {}
        for name, param, default, copied in self.plan.arg_specs[i]:
            if name in values:
                args[param] = values[name]
            else:
                # Defaults are per use: a mutable default is never shared between runs.
                args[param] = fresh_copy(default) if copied else default
        return args

    def finish(self, i: int, outputs: dict[str, Any]) -> list[int]:
        """Node `i` completed and wrote `outputs`; returns the nodes now ready."""
        plan = self.plan
        self.busy[i] = False
        if not plan.cyclic[i]:
            # The common case: a node outside any cycle runs once and releases the nodes
            # downstream of it; no consumer can become due a second time.
            self.values.update(outputs)
            self.pending[i] = False
            self._resolve(plan.unit_of[i])
            return self._drain() if self._work else self._take()
        self.values.update(outputs)
        for c in plan.cycle_consumers[i]:
            self._due(c, i)
        self._ran(i)
        return self._drain()

    def finish_gate(self, i: int, targets: tuple[str, ...]) -> list[int]:
        """Gate `i` chose `targets` (node names; empty for END)."""
        self.busy[i] = False
        index = self.plan.index
        for name in targets:
            t = index.get(name)
            if t is not None:  # a target outside the selected part of the graph never runs
                self.chosen[t] = True
                self._due(t, i)
        self._ran(i)
        return self._drain()

    def fail(self, i: int) -> list[int]:
        """Node `i` failed: it writes nothing, and nodes that need its outputs never run."""
        self.busy[i] = False
        self.rerun[i] = -1
        self.failed_outputs.update(self.plan.nodes[i].outputs)
        self._leave(i)
        return self._drain()

    def suspend(self, i: int) -> list[int]:
        """Node `i` waits for an answer from outside. It stays busy (parked): what needs
        its outputs, and in a cycle the rest of the round, waits as if it were still
        running, while the rest of the run goes on. A run resumed with the answer runs
        it again (`busy_nodes()` lists it)."""
        self.suspended.append(i)
        return []

    # -- saving and restoring ---------------------------------------------------------

    def snapshot(self) -> SchedulerState:
        """A copy of the state, taken between two calls (values are copied shallowly)."""
        return SchedulerState(
            values=dict(self.values),
            lists={name: list(getattr(self, name)) for name in _LIST_STATE},
            failed_outputs=frozenset(self.failed_outputs),
            orders=dict(self.orders),
            max_iterations=self.max_iterations,
        )

    @classmethod
    def restore(cls, plan: Plan, state: SchedulerState) -> Scheduler:
        """A scheduler that continues from `state`; nodes that were busy when it was taken
        are busy again (`busy_nodes()` lists them, for the runner to execute)."""
        sched = cls.__new__(cls)
        sched.plan = plan
        sched.values = dict(state.values)
        sched.max_iterations = state.max_iterations
        for name, value in state.lists.items():
            setattr(sched, name, list(value))
        sched.failed_outputs = set(state.failed_outputs)
        sched.orders = dict(state.orders)
        sched._work = deque()
        sched._ready = []
        return sched

    @classmethod
    def replay(
        cls,
        plan: Plan,
        values: dict[str, Any],
        max_iterations: int,
        log: list[Completion],
        rerun_failed: bool = False,
    ) -> Scheduler:
        """Rebuild a run's state from its start values and the completions it was given, in
        order. Each logged node must be busy when its completion is replayed (as it was in
        the run); what is busy afterwards ran when the log ended and must run again. A
        suspended node (and with `rerun_failed`, a failed one) stays busy: it runs again."""
        sched = cls(plan, values, max_iterations)
        sched.start()
        for kind, i, payload in log:
            if not sched.busy[i]:
                raise ValueError(
                    f"The log does not fit the plan: node {plan.nodes[i].name!r} completes "
                    "but was not running at that point."
                )
            if kind == "suspend" or (rerun_failed and kind == "fail"):
                continue  # it stays busy, and runs again (as the same execution) on resume
            sched.runs[i] += 1
            sched.chosen[i] = False
            if kind == "finish":
                sched.finish(i, payload)
            elif kind == "gate":
                sched.finish_gate(i, payload)
            else:
                sched.fail(i)
        return sched

    def busy_nodes(self) -> list[int]:
        """Nodes handed to the runner and not reported back."""
        return [i for i, busy in enumerate(self.busy) if busy]

    def output_values(self, names: tuple[str, ...]) -> dict[str, Any]:
        values = self.values
        return {n: values[n] for n in names if n in values}

    # -- the rules --------------------------------------------------------------------

    def _due(self, c: int, src: int) -> None:
        """`src` wrote to `c` (or chose it): `c` is due again, in this round or the next."""
        u = self.plan.unit_of[c]
        if u != self.plan.unit_of[src]:
            return  # c is downstream of src's unit and still waiting for it
        wave = self.wave[src] + ((src, c) in self.orders[u].back)
        if self.busy[c]:
            self.rerun[c] = max(self.rerun[c], wave)
        elif not self.pending[c]:
            self.pending[c] = True
            self.wave[c] = wave
            self.unit_pending[u] += 1

    def _ran(self, i: int) -> None:
        if self.rerun[i] >= 0:
            self.wave[i] = self.rerun[i]
            self.rerun[i] = -1
            self._work.append((_RECHECK, self.plan.unit_of[i]))
        else:
            self._leave(i)

    def _leave(self, i: int) -> None:
        """Node `i` is no longer pending: whoever waited on it may go on."""
        self.pending[i] = False
        self.chosen[i] = False
        u = self.plan.unit_of[i]
        self.unit_pending[u] -= 1
        self._work.append((_RECHECK if self.plan.is_cycle[u] else _RESOLVE, u))

    def _decide(self, i: int) -> None:
        """Nothing upstream can still write to pending node `i`: run it, or let it go."""
        if not self.pending[i] or self.busy[i]:
            return
        plan = self.plan
        node = plan.nodes[i]
        if plan.gated[i] and not self.chosen[i]:
            u = plan.unit_of[i]
            gate_first = i in self.orders[u].forward_gated if plan.is_cycle[u] else True
            if self.runs[i] or gate_first:
                self._leave(i)  # its gate did not choose it
                return
        failed = self.failed_outputs
        values = self.values
        for name in node.inputs:
            if failed and name in failed:
                failed.update(node.outputs)  # what depends on a failure does not run
                self._leave(i)
                return
            if name not in values and name not in node.defaults:
                self._leave(i)  # its producer can no longer run and it has no default
                return
        if self.runs[i] >= self.max_iterations:
            raise loop_error(node.name, self.max_iterations)
        self.busy[i] = True
        self._ready.append(i)

    def _recheck(self, u: int) -> None:
        """Decide every member of cycle `u` that nothing ahead of it holds back."""
        pending, wave = self.pending, self.wave
        ancestors = self.orders[u].ancestors
        live = [m for m in self.plan.units[u] if pending[m]]
        for m in live:
            if self.busy[m] or self.ext_count[m] or not pending[m]:
                continue
            ahead, mine = ancestors[m], wave[m]
            for p in live:
                # p holds m back if it is pending in an earlier round, or ahead of m in this one
                if p != m and pending[p] and (wave[p] < mine or (wave[p] == mine and p in ahead)):
                    break
            else:
                self._decide(m)
        if self.unit_pending[u] == 0 and not self.unit_done[u]:
            self._resolve(u)

    def _resolve(self, u: int) -> None:
        """Unit `u` will never write again: release the nodes downstream of it."""
        self.unit_done[u] = True
        plan = self.plan
        for m in plan.notify[u]:
            self.ext_count[m] -= 1
            if self.ext_count[m] == 0:
                mu = plan.unit_of[m]
                if plan.is_cycle[mu]:
                    self._work.append((_RECHECK, mu))
                else:
                    self._decide(m)

    def _drain(self) -> list[int]:
        work = self._work
        while work:
            kind, u = work.popleft()
            if kind == _RECHECK:
                self._recheck(u)
            elif not self.unit_done[u]:
                self._resolve(u)
        return self._take()

    def _take(self) -> list[int]:
        ready, self._ready = self._ready, []
        return ready
