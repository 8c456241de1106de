"""Writes the straight-line function of a graph: the scheduler's decisions made once.

For one graph and one kind of run (SyncRunner or AsyncRunner, "raise" or "continue"),
`compiled_for` writes a plain Python function as source, compiles it and caches it on
the graph: the nodes called in order, a gate's targets under an `if`, a default where
a producer may not have run, failures passed on with "continue", and a cycle whose
members run in one fixed order as a `while` loop of rounds (decisions 0035 and 0041).
What it cannot express gets a reason instead, which `straight.why_not` shows.

The compiler knows for every value whether it is surely there, never there, or maybe
(a gate's target, a failure, an optional input, a cycle), and emits a check only for
"maybe". `runners/straight.py` decides which runs use the function.
"""

from __future__ import annotations

import functools
import heapq
import keyword
import math
import types
from collections.abc import Callable, Iterable
from typing import Any

from .._introspect import fresh_copy
from ..engine.plan import NO_DEFAULT, CycleOrder, Plan
from ..engine.scheduler import loop_error
from ..graph.graph import Graph, _closure
from ..nodes.function import FunctionNode
from ..nodes.gate import IfElseNode, RouteNode
from ..nodes.graph_node import GraphNode, map_items
from ..run.execution import note_origin, shape_outputs

_NO, _MAYBE, _YES = 0, 1, 2  # what the compiler knows about a value, or about a node running


class _Nothing:
    """The value of a name that no node has written (yet) in a straight-line run."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "_NOTHING"


_NOTHING = _Nothing()


class Straight:
    """One graph compiled for one kind of run (sync or async, raise or continue)."""

    __slots__ = ("certain", "cycle", "fn", "plan", "raises", "seeds", "source")

    def __init__(
        self,
        fn: Callable[..., Any],
        source: str,
        plan: Plan,
        raises: bool,
        certain: frozenset[str],
        cycle: frozenset[str] | None = None,
        seeds: frozenset[str] = frozenset(),
    ) -> None:
        self.fn = fn
        """fn(start_values, path="") -> outputs (raise) or (outputs, first error) (continue);
        with a cycle, fn(start_values, path, max_iterations)."""
        self.source = source
        self.plan = plan  # what the loop watchdog reads
        self.raises = raises
        self.certain = certain
        """Outputs that are always there after a run that did not fail."""
        self.cycle = cycle
        """The names the graph's cycle writes (None without one). Which of them a run gives
        decides where the cycle starts, so each such set gets its own function."""
        self.seeds = seeds
        """The names of `cycle` this function was written for."""


class _Unfit(Exception):
    """Why a graph takes the general path (internal)."""


def compiled_for(
    graph: Graph, is_async: bool, raises: bool, seeds: frozenset[str] | None = None
) -> Straight | str:
    """The graph's function for this kind of run (written once), or why it has none.
    With a cycle, `seeds` are the names of the cycle a run gives (None: the ones every run
    gives, its required and bound inputs)."""
    cache = graph.__dict__.get("_straight")
    if cache is None or cache[0] is not graph:  # a derived graph starts with a copied dict
        cache = graph.__dict__["_straight"] = (graph, {})
    found: dict[tuple[bool, bool, frozenset[str] | None], Straight | str] = cache[1]
    key = (is_async, raises, seeds)
    compiled = found.get(key)
    if compiled is None:
        try:
            compiled = _Writer(graph, is_async, raises, seeds).compile()
        except _Unfit as why:
            compiled = str(why)
        found[key] = compiled
    return compiled


# -- helpers the generated code calls ----------------------------------------------------------


def _nested(inner: Graph, compiled: Straight) -> Callable[..., Any]:
    """A graph node's one inner run: its output values, or the inner run's error raised."""
    fn, check = compiled.fn, inner._start_values

    if compiled.raises:

        def run(args: dict[str, Any], path: str) -> dict[str, Any]:
            out: dict[str, Any] = fn(check(args), path)
            return out

        return run

    def run_continue(args: dict[str, Any], path: str) -> dict[str, Any]:
        out, error = fn(check(args), path)
        if error is not None:
            raise error
        return dict(out)

    return run_continue


def _nested_async(inner: Graph, compiled: Straight) -> Callable[..., Any]:
    """`_nested` for AsyncRunner: the inner run is awaited in line."""
    fn, check = compiled.fn, inner._start_values

    async def run(args: dict[str, Any], path: str) -> dict[str, Any]:
        if compiled.raises:
            out: dict[str, Any] = await fn(check(args), path)
            return out
        out, error = await fn(check(args), path)
        if error is not None:
            raise error
        return dict(out)

    return run


def _mapped(node: GraphNode, compiled: Straight) -> Callable[..., Any]:
    """A mapped graph node (SyncRunner): one inner run per item, in order; each output a list."""
    fn, check = compiled.fn, node.graph._start_values
    inner = dict(zip(node.inputs, node._params, strict=True))
    over = [inner[p] for p in node.map_params]
    pairs = list(zip(node.outputs, node.inner_outputs, strict=True))
    skip_failed = node.map_errors == "continue"

    def run(args: dict[str, Any], path: str) -> dict[str, list[Any]]:
        starts = [check(item) for item in map_items(node.name, args, over, node.map_mode)]
        columns: dict[str, list[Any]] = {outer: [] for outer, _ in pairs}
        for k, start in enumerate(starts):
            where = f"{path}{node.name}[{k}]/"
            error: BaseException | None = None
            if compiled.raises:
                try:
                    out = fn(start, where)
                except Exception as exc:
                    error = exc
            else:
                out, error = fn(start, where)
            if error is not None:
                if not skip_failed:
                    raise error
                out = {}
            for outer, name in pairs:
                columns[outer].append(out.get(name))
        return columns

    return run


# -- the compiler ------------------------------------------------------------------------------


_CALLED = frozenset({"set", "isinstance", "tuple", "len", "Exception"})
"""The builtins the generated code uses: a value of that name gets a variable of its own."""


def _safe(name: str) -> bool:
    """A value name usable as a local variable as it is."""
    return (
        name.isidentifier()
        and not keyword.iskeyword(name)
        and not name.startswith("_")
        and name not in _CALLED
    )


def _literal(value: object) -> str | None:
    """Source for a default that reads better inline (small numbers, strings, None)."""
    finite = type(value) is float and math.isfinite(value)
    if not (value is None or type(value) in (bool, int, str) or finite):
        return None
    text = repr(value)
    return text if len(text) <= 40 else None


def _branches(clauses: list[tuple[str, str]], otherwise: list[str]) -> list[str]:
    """`if c1: a1 / elif c2: a2 / ... / else: otherwise` (just `otherwise` without clauses)."""
    lines: list[str] = []
    for k, (cond, action) in enumerate(clauses):
        lines += [f"{'if' if k == 0 else 'elif'} {cond}:", f"    {action}"]
    if not clauses:
        return otherwise
    if otherwise:
        lines += ["else:", *_indent(otherwise)]
    return lines


def _indent(lines: Iterable[str]) -> list[str]:
    return ["    " + line for line in lines]


class _Writer:
    """Writes the straight-line function of one graph for one kind of run."""

    def __init__(
        self, graph: Graph, is_async: bool, raises: bool, seeds: frozenset[str] | None = None
    ) -> None:
        self.graph = graph
        self.plan = graph._plan
        self.is_async = is_async
        self.raises = raises
        self.seeds = seeds
        self.names: dict[str, str] = {}  # value name -> local variable
        self.env: dict[str, Any] = {
            "_NOTHING": _NOTHING,
            "_note": note_origin,
            "_fresh_copy": fresh_copy,
            "_shape_outputs": shape_outputs,
        }
        self.refs: dict[str, tuple[int, str]] = {}  # name in env -> (node, what)
        self.avail: dict[str, int] = {}
        self.failed: set[str] = set()  # names that may be marked failed (continue)
        self.fail_only: set[str] = set()  # names missing only if their producer failed
        self.unset: set[str] = set()  # locals that start as _NOTHING
        self.runs: list[int] = [_NO] * len(self.plan.nodes)
        self.uses_chosen = False
        self.order: CycleOrder  # the order of the graph's cycle, if it has one

    # -- checks --------------------------------------------------------------------------

    def _check(self) -> tuple[list[int], list[int], list[int]]:
        """The nodes in the order they run: before the cycle, in it (one round), after it."""
        plan, graph = self.plan, self.graph
        if len(plan.cycle_units) > 1:
            raise _Unfit("it has more than one cycle (they run on the general path)")
        if not self.is_async and graph.has_async_nodes:
            raise _Unfit("it has async nodes, which SyncRunner refuses")
        for i, node in enumerate(plan.nodes):
            kind = type(node)
            if kind is GraphNode:
                assert isinstance(node, GraphNode)
                if node.map_params and self.is_async:
                    raise _Unfit(
                        f"graph node '{node.name}' maps: AsyncRunner runs its items at once"
                    )
                if plan.cyclic[i] or node.graph.has_cycles:
                    raise _Unfit(f"graph node '{node.name}' is in a cycle or has one")
                inner = compiled_for(node.graph, self.is_async, self.raises)
                if isinstance(inner, str):
                    raise _Unfit(f"graph node '{node.name}': {inner}")
            elif kind not in (FunctionNode, RouteNode, IfElseNode) or not plan.plain[i]:
                what = "streams, takes a NodeContext or has a policy"
                if kind not in (FunctionNode, RouteNode, IfElseNode):
                    what = f"is {'an' if kind.__name__[0] in 'AEIOU' else 'a'} {kind.__name__}"
                raise _Unfit(f"node '{node.name}' {what}")
        if plan.cycle_units:
            return self._around_cycle(plan.cycle_units[0])
        order = _topological(plan, range(len(plan.nodes)))
        # SyncRunner runs the lowest ready node first: with nodes listed out of order, a
        # node left unrun can release a later one early. Without skips the order is fixed.
        skips = any(plan.is_gate) or not self.raises
        if not self.is_async and order != sorted(order) and skips:
            raise _Unfit("its nodes are not listed in an order they can run in")
        if self.is_async:
            _check_sequential(plan, order)
        return order, [], []

    def _around_cycle(self, u: int) -> tuple[list[int], list[int], list[int]]:
        """The nodes before the cycle, its members in their order, the nodes after it.

        The cycle's members must run in one fixed order in each round (each after all the
        ones before it), so that only one of them is ever free to run. SyncRunner runs the
        lowest ready node first: the nodes upstream of the cycle must be listed before its
        members, and the nodes unrelated to it before or after all of them. AsyncRunner
        starts every ready node at once: no two nodes may ever be ready together."""
        plan = self.plan
        members = plan.units[u]
        inside = set(members)
        written = plan.produced_in[u]
        for i, node in enumerate(plan.nodes):
            if i not in inside and not written.isdisjoint(node.outputs):
                raise _Unfit(f"node '{node.name}' writes a value its cycle writes too")
        down = _closure(members, plan.succs) - inside
        up = _closure(members, plan.preds) - inside
        others = set(range(len(plan.nodes))) - inside - down - up
        low, high = min(members), max(members)
        if self.is_async:
            if others:
                name = plan.nodes[min(others)].name
                raise _Unfit(
                    f"node '{name}' can run at the same time as its cycle, and AsyncRunner "
                    "runs them concurrently"
                )
            before = sorted(up)
        else:
            if max(up, default=-1) > low:
                raise _Unfit("a node upstream of its cycle is listed after a node of the cycle")
            if any(low < i < high for i in others):
                raise _Unfit("a node unrelated to its cycle is listed between nodes of the cycle")
            before = sorted(up | {i for i in others if i < low})
            if _closure(before, plan.preds) != set(before):
                raise _Unfit("a node listed before its cycle reads from one listed after it")
        before = _topological(plan, before)
        after = _topological(plan, set(range(len(plan.nodes))) - inside - set(before))
        if not self.is_async and (before != sorted(before) or after != sorted(after)):
            raise _Unfit("its nodes are not listed in an order they can run in")
        if self.seeds is None:  # the run's required and bound inputs
            spec = self.graph.inputs
            self.seeds = written.intersection((*spec.required, *spec.bound))
        self.order = order = plan.cycle_order(u, self.seeds)
        chain = sorted(members, key=lambda m: len(order.ancestors[m]))
        for k, m in enumerate(chain):
            if order.ancestors[m] != frozenset(chain[:k]):
                other = next(plan.nodes[o].name for o in chain[:k] if o not in order.ancestors[m])
                raise _Unfit(
                    f"nodes '{other}' and '{plan.nodes[m].name}' of its cycle do not depend on "
                    "each other (such cycles run on the general path)"
                )
        if self.is_async:
            # The nodes before the cycle one after the other, the cycle's first member
            # (which holds back the others) after the last of them, then the nodes after
            # the cycle one after the other.
            _check_sequential(plan, before)
            if before and before[-1] not in plan.preds[chain[0]]:
                first, second = plan.nodes[before[-1]].name, plan.nodes[chain[0]].name
                raise _Unfit(
                    f"nodes '{first}' and '{second}' can run at the same time, and "
                    "AsyncRunner runs them concurrently"
                )
            _check_sequential(plan, after)
        return before, chain, after

    # -- the function --------------------------------------------------------------------

    def compile(self) -> Straight:
        before, cycle, after = self._check()
        graph, plan = self.graph, self.plan
        spec = graph.inputs
        given = set(spec.required) | set(spec.bound) | (self.seeds or set())
        read = (*spec.all, *sorted(given.difference(spec.all)))  # seeds of the cycle too
        for name in read:
            self.avail[name] = _YES if name in given else _MAYBE
        body = [line for i in before for line in self._node(i)]
        if cycle:
            body += self._cycle(cycle)
        rest = [line for i in after for line in self._node(i)]
        if cycle and rest and not self.raises:  # a run that reached max_iterations ends there
            rest = ["if not _halted:", *_indent(rest)]
        body += rest
        head: list[str] = []
        for name in read:
            if any(name in n.inputs for n in plan.nodes) or name in graph.outputs:
                var = self._var(name)
                if name in given:
                    head.append(f"{var} = _values[{name!r}]")
                else:
                    head.append(f"{var} = _values.get({name!r}, _NOTHING)")
        for name in sorted(self.unset.difference(read)):
            head.append(f"{self._var(name)} = _NOTHING")
        if self.uses_chosen:
            head.append("_chosen = set()  # the nodes a gate chose")
        if not self.raises:
            head.append("_failed = set()  # the values a failed node did not write")
            head.append("_error = None  # the run's first error")
            if cycle:
                head.append("_halted = False  # max_iterations was reached")
        tail, certain = self._result()
        fname = "run_" + (graph.name if graph.name and _safe(graph.name) else "graph")
        prefix = "async def" if self.is_async else "def"
        limit = ", _max=1000" if cycle else ""
        lines = [f'{prefix} {fname}(_values, _path=""{limit}):', *_indent((*head, *body, *tail))]
        text = "\n".join(lines) + "\n"
        code = compile(text, f"<hypergraph straight-line {fname}>", "exec")
        namespace = dict(self.env)
        exec(code, namespace)
        fn = namespace[fname]
        if not cycle:
            return Straight(fn, text, plan, self.raises, certain)
        assert self.seeds is not None
        written = plan.produced_in[plan.unit_of[cycle[0]]]
        return Straight(fn, text, plan, self.raises, certain, written, self.seeds)

    def _result(self) -> tuple[list[str], frozenset[str]]:
        outputs = self.graph.outputs
        certain = frozenset(n for n in outputs if self.avail.get(n, _NO) == _YES)
        done = "_out" if self.raises else "_out, _error"
        if all(self.avail.get(n, _NO) != _MAYBE for n in outputs):
            items = ", ".join(f"{n!r}: {self._var(n)}" for n in outputs if n in certain)
            value = "{" + items + "}"
            return [f"return {value}" if self.raises else f"return {value}, _error"], certain
        tail = ["_out = {}"]
        for n in outputs:
            state = self.avail.get(n, _NO)
            if state == _YES:
                tail.append(f"_out[{n!r}] = {self._var(n)}")
            elif state == _MAYBE:
                tail.append(f"if {self._var(n)} is not _NOTHING:")
                tail.append(f"    _out[{n!r}] = {self._var(n)}")
        tail.append(f"return {done}")
        return tail, certain

    def _var(self, name: str) -> str:
        var = self.names.get(name)
        if var is None:
            var = name if _safe(name) else f"_val{len(self.names)}"
            self.names[name] = var
        return var

    def _ref(self, prefix: str, i: int, value: Any, what: str = "") -> str:
        """The name under which the code reads `value` (node `i`'s function, its default
        for parameter `what`, ...): `_f_<node>`, or `_f3` where that would be ambiguous."""
        name = self.plan.nodes[i].name
        ident = f"{prefix}_{name}{'_' + what if what else ''}"
        if not _safe(name) or self.refs.get(ident, (i, what)) != (i, what):
            ident = f"{prefix}{i}{'_' + what if what else ''}"  # a digit cannot start a name
        self.refs[ident] = (i, what)
        self.env[ident] = value
        return ident

    def _local(self, prefix: str, i: int) -> str:
        name = self.plan.nodes[i].name
        return f"{prefix}_{name}" if _safe(name) else f"{prefix}{i}"

    # -- one node ------------------------------------------------------------------------

    def _clauses(self, i: int) -> tuple[list[tuple[str, str]], bool, int]:
        """Why node `i` may not run, as (condition, action) in the scheduler's order: not
        chosen by its gate, then per input a failed one or a missing one. Also: whether
        an input it needs is never there, and how many clauses are failures."""
        plan, node = self.plan, self.plan.nodes[i]
        clauses: list[tuple[str, str]] = []
        if plan.gated[i]:
            unchosen = f"{node.name!r} not in _chosen"
            if plan.cyclic[i] and i not in self.order.forward_gated:
                unchosen += f" and {self._local('_runs', i)}"  # the first time, it runs
            clauses.append((unchosen, "pass  # no gate chose it"))
        propagate = f"_failed.update({node.outputs!r})" if node.outputs else "pass"
        failures = 0
        for name, _param, default, _copied in plan.arg_specs[i]:
            if name in self.failed:
                clauses.append((f"{name!r} in _failed", f"{propagate}  # it needs a failed value"))
                failures += 1
            state = self.avail.get(name, _NO)
            if default is NO_DEFAULT and state == _NO:
                return clauses, True, failures
            if default is NO_DEFAULT and state == _MAYBE and name not in self.fail_only:
                clauses.append((f"{self._var(name)} is _NOTHING", f"pass  # no {name!r}"))
        return clauses, False, failures

    def _guarded(self, i: int, call: list[str], then: list[str]) -> list[str]:
        """`call` in a try: an error gets the node's note, and is raised ("raise") or kept
        as the run's first error, the node's outputs failed ("continue"); `then` follows
        a call that did not fail."""
        node = self.plan.nodes[i]
        lines = ["try:", *_indent(call), "except Exception as _exc:"]
        lines.append(f"    _note(_exc, _path + {node.name!r})")
        if self.raises:
            return [*lines, "    raise", *then]
        lines += ["    if _error is None:", "        _error = _exc"]
        if node.outputs:
            lines.append(f"    _failed.update({node.outputs!r})")
            self.failed.update(node.outputs)
        return lines + (["else:", *_indent(then)] if then else [])

    def _node(self, i: int) -> list[str]:
        """A node outside any cycle: it runs at most once, here."""
        plan, node = self.plan, self.plan.nodes[i]
        kind = "gate" if plan.is_gate[i] else "graph node" if type(node) is GraphNode else "node"
        lines = [f"# {kind} {node.name!r}"]
        if plan.gated[i]:
            if all(self.runs[g] == _NO for g in plan.controllers[i]):
                return [*lines, "pass  # no gate that chooses it can run"]
            self.uses_chosen = True
        clauses, never, failures = self._clauses(i)
        if failures:
            self.failed.update(node.outputs)
        if never:  # an input it needs is never there: it only passes a failure on
            self.runs[i] = _NO
            if not failures:
                return [*lines, "pass  # an input it needs is never there"]
            return lines + _branches(clauses, [])
        self.runs[i] = _MAYBE if clauses else _YES
        lines += _branches(clauses, self._guarded(i, self._call(i), []))
        certain = self.runs[i] == _YES and self.raises
        only_failures = failures == len(clauses)
        for name in node.outputs:
            if type(node) is GraphNode and not self._inner_certain(node, name):
                sure = False
            else:
                sure = certain
            before = self.avail.get(name, _NO)
            if before == _YES or sure:
                self.avail[name] = _YES
                continue
            self.avail[name] = _MAYBE
            # Written unless the node fails (continue): a consumer checks the failure first.
            if before == _NO and only_failures and type(node) is not GraphNode:
                self.fail_only.add(name)
            else:
                self.fail_only.discard(name)
            if before == _NO:
                self.unset.add(name)
        return lines

    # -- the cycle -----------------------------------------------------------------------

    def _cycle(self, chain: list[int]) -> list[str]:
        """The cycle as the scheduler runs it: round after round, each member that is due
        (pending) runs or is let go, in `chain` order (Scheduler._due/_decide/_leave).

        A member that runs makes due the members that read what it wrote (a gate: the
        members it chose): along a forward edge, in this round (a later member), along a
        back edge, in the next (an earlier member, or itself). With members in one fixed
        order, neither can be due already, so no flag needs a check before it is set."""
        plan = self.plan
        written = plan.produced_in[plan.unit_of[chain[0]]]
        for name in sorted(written):
            if self.avail.get(name, _NO) != _YES:
                self.avail[name] = _MAYBE
                self.fail_only.discard(name)
                self.unset.add(name)
        if not self.raises:
            self.failed.update(written)
        for m in chain:
            self.runs[m] = _MAYBE
            self.uses_chosen = self.uses_chosen or plan.gated[m] or plan.is_gate[m]
        due = [self._local("_due", m) for m in chain]
        later = [self._local("_next", m) for m in chain]
        runs = [self._local("_runs", m) for m in chain]
        names = " -> ".join(repr(plan.nodes[m].name) for m in chain)
        rounds = [line for m in chain for line in self._member(m)]
        return [
            f"# cycle {names}: a round runs each member that is due, in this order",
            f"{' = '.join(due)} = True  # in the first round, every member is due",
            f"{' = '.join(later)} = False  # due in the next round",
            f"{' = '.join(runs)} = 0",
            "while True:",
            *_indent(rounds),
            f"    if not ({' or '.join(later)}):",
            "        break  # nothing is due: the cycle is over",
            f"    {', '.join(due)} = {', '.join(later)}",
            f"    {' = '.join(later)} = False",
        ]

    def _member(self, i: int) -> list[str]:
        """One member of the cycle: if it is due, it runs or is let go."""
        plan, node = self.plan, self.plan.nodes[i]
        due, runs = self._local("_due", i), self._local("_runs", i)
        clauses, never, _ = self._clauses(i)
        if never:
            run = [] if clauses else ["pass  # an input it needs is never there"]
        else:
            if self.raises:
                limit = [f"    raise _loop_error({node.name!r}, _max)"]
            else:
                limit = [
                    "    if _error is None:",
                    f"        _error = _loop_error({node.name!r}, _max)",
                    "    _halted = True",
                    "    break",
                ]
            self.env["_loop_error"] = loop_error
            call = self._call(i, keep=True)
            run = [f"if {runs} >= _max:", *limit, f"{runs} += 1"]
            run += self._guarded(i, call, self._triggers(i))
        body = [f"{due} = False", *_branches(clauses, run)]
        if plan.gated[i]:
            body.append(f"_chosen.discard({node.name!r})")
        kind = "gate" if plan.is_gate[i] else "node"
        return [f"# {kind} {node.name!r}", f"if {due}:", *_indent(body)]

    def _triggers(self, i: int) -> list[str]:
        """The members member `i`'s run makes due (see `_cycle`)."""
        plan, order = self.plan, self.order
        members = plan.units[plan.unit_of[i]]
        if plan.is_gate[i]:
            targets = [t for t in plan.gate_targets[i] if t in members and t != i]
        else:
            targets = list(plan.cycle_consumers[i])
        lines = []
        for t in targets:
            name = plan.nodes[t].name
            if (i, t) in order.back:
                set_flag = f"{self._local('_next', t)} = True  # {name!r} runs in the next round"
            else:
                set_flag = f"{self._local('_due', t)} = True  # {name!r} runs in this round"
            lines += [f"if {name!r} in _c:", f"    {set_flag}"] if plan.is_gate[i] else [set_flag]
        return lines

    # -- calls ---------------------------------------------------------------------------

    def _inner_certain(self, node: GraphNode, outer: str) -> bool:
        if node.map_params:
            return True  # every output is a list, one entry per item
        compiled = compiled_for(node.graph, self.is_async, self.raises)
        assert not isinstance(compiled, str)
        inner = node.inner_outputs[node.outputs.index(outer)]
        return self.raises and inner in compiled.certain

    def _args(self, i: int) -> list[tuple[str, str]]:
        """(parameter, expression) for each argument of node `i`."""
        args = []
        for name, param, default, copied in self.plan.arg_specs[i]:
            state = self.avail.get(name, _NO)
            var = self._var(name) if state != _NO else ""
            if state == _YES or (state == _MAYBE and default is NO_DEFAULT):
                args.append((param, var))
                continue
            literal = None if copied else _literal(default)
            if literal is None:
                ref = self._ref("_d", i, default, param)
                literal = f"_fresh_copy({ref})" if copied else ref
            expr = literal if state == _NO else f"({var} if {var} is not _NOTHING else {literal})"
            args.append((param, expr))
        return args

    def _call(self, i: int, keep: bool = False) -> list[str]:
        """The lines that call node `i` and write its outputs (`keep`: a gate's choice is
        kept in `_c` too)."""
        node = self.plan.nodes[i]
        args = self._args(i)
        if isinstance(node, GraphNode):
            return self._graph_call(i, node, args)
        assert isinstance(node, FunctionNode)
        func = self._ref("_f", i, node.func)
        if _positional(node.func, [p for p, _ in args]):
            call = f"{func}({', '.join(e for _, e in args)})"
        else:
            call = f"{func}({', '.join(f'{p}={e}' for p, e in args)})"
        if self.is_async and node.is_async:
            call = f"await {call}"
        elif self.is_async and not self.plan.is_gate[i]:
            from .threads import in_thread, outcome  # loads asyncio: async runs only

            self.env["_in_thread"], self.env["_outcome"] = in_thread, outcome
            self.env["_partial"] = functools.partial
            parts = ", ".join([func, *(f"{p}={e}" for p, e in args)])
            call = f"_outcome(await _in_thread(_partial({parts})))  # in a worker thread"
        if self.plan.is_gate[i]:
            decide = self._ref("_decide", i, node.decide)  # type: ignore[attr-defined]
            if not self.plan.gate_targets[i]:  # END (or targets outside this graph) only
                return [f"{decide}({call})  # checks the decision; it chooses no node here"]
            self.uses_chosen = True
            if keep:
                return [f"_c = {decide}({call})", "_chosen.update(_c)"]
            return [f"_chosen.update({decide}({call}))"]
        outputs = node.outputs
        if not outputs:
            return [call]
        if len(outputs) == 1:
            return [f"{self._var(outputs[0])} = {call}"]
        ref = self._ref("_node", i, node)
        return [
            f"_r = {call}",
            f"if not isinstance(_r, tuple) or len(_r) != {len(outputs)}:",
            f"    _shape_outputs({ref}, _r)  # raises: the wrong number of outputs",
            f"{', '.join(self._var(o) for o in outputs)} = _r",
        ]

    def _graph_call(self, i: int, node: GraphNode, args: list[tuple[str, str]]) -> list[str]:
        compiled = compiled_for(node.graph, self.is_async, self.raises)
        assert not isinstance(compiled, str)
        values = "{" + ", ".join(f"{p!r}: {e}" for p, e in args) + "}"
        if node.map_params:
            run = self._ref("_map", i, _mapped(node, compiled))
            lines = [f"_r = {run}({values}, _path)"]
            return lines + [f"{self._var(o)} = _r[{o!r}]" for o in node.outputs]
        if self.is_async:
            run = self._ref("_graph", i, _nested_async(node.graph, compiled))
            lines = [f"_r = await {run}({values}, _path + {node.name + '/'!r})"]
        else:
            run = self._ref("_graph", i, _nested(node.graph, compiled))
            lines = [f"_r = {run}({values}, _path + {node.name + '/'!r})"]
        for outer, inner in zip(node.outputs, node.inner_outputs, strict=True):
            if self.raises and inner in compiled.certain:
                lines.append(f"{self._var(outer)} = _r[{inner!r}]")
            else:
                lines.append(f"if {inner!r} in _r:")
                lines.append(f"    {self._var(outer)} = _r[{inner!r}]")
        return lines


def _positional(func: Callable[..., Any], params: list[str]) -> bool:
    """True if `func(*values)` binds like `func(**dict(zip(params, values)))`: a plain
    function whose leading positional parameters are `params`, in order, and no others
    (a signature set by hand or a wrapper could mean something else: keywords then)."""
    if type(func) is not types.FunctionType:
        return False
    if "__signature__" in func.__dict__ or "__wrapped__" in func.__dict__:
        return False
    code = func.__code__
    names = code.co_varnames[: code.co_argcount]
    return list(names) == params and not code.co_kwonlyargcount


def _topological(plan: Plan, nodes: Iterable[int]) -> list[int]:
    """Kahn's order of `nodes` (a DAG; their other predecessors have run), lowest index
    first: the order SyncRunner runs them in when every node that can run does."""
    inside = set(nodes)
    waiting = {i: sum(p in inside for p in plan.preds[i]) for i in inside}
    ready = [i for i, w in waiting.items() if w == 0]
    heapq.heapify(ready)
    order: list[int] = []
    while ready:
        i = heapq.heappop(ready)
        order.append(i)
        for s in plan.succs[i]:
            if s in inside:
                waiting[s] -= 1
                if waiting[s] == 0:
                    heapq.heappush(ready, s)
    return order


def _check_sequential(plan: Plan, order: list[int]) -> None:
    """AsyncRunner starts every ready node at once: awaiting them one by one is the same
    only if no two nodes can ever be ready together (gates included: a gate that fails
    while another node is ready has let that node start already)."""
    ancestors = [0] * len(plan.nodes)
    for i in order:
        for p in plan.preds[i]:
            ancestors[i] |= ancestors[p] | (1 << p)
    previous = None
    for i in order:
        if previous is not None and not ancestors[i] >> previous & 1:
            first, second = plan.nodes[previous].name, plan.nodes[i].name
            raise _Unfit(
                f"nodes '{first}' and '{second}' can run at the same time, and AsyncRunner "
                "runs them concurrently"
            )
        previous = i
