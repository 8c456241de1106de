"""The straight-line path: a quiet run of a DAG compiled to one plain Python function.

When nobody watches a run (no event processors, no iter() consumer, no stop handle, no
cache or checkpointer) and every node is a plain function, a gate or a nested graph of
the same kind, the scheduler's decisions can be made once, when the function is
written: the nodes are called in order, a gate's targets run under an `if`, a node
whose producer may not have run reads its default. The function is generated as
readable source (`source(graph)` returns it), compiled once per graph and kind of run,
and gives exactly the values, errors, partial values and result of the general path
(decision 0035). Anything it cannot express falls back to the general path: `why_not`
says why.

The runners call `run_sync`, `run_async` and `map_sync` at their entry; each returns
None when the run must take the general path.
"""

from __future__ import annotations

import functools
import heapq
import keyword
import math
import types
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from .._introspect import fresh_copy
from ..engine.plan import NO_DEFAULT, CycleOrder, Plan
from ..engine.scheduler import loop_error
from ..events.types import RunStatus
from ..graph.graph import Graph
from ..nodes.function import FunctionNode
from ..nodes.gate import IfElseNode, RouteNode
from ..nodes.graph_node import GraphNode, map_items
from ..run.execution import merge_inputs, new_id, note_origin, shape_outputs
from ..run.options import DEFAULT_MAX_ITERATIONS
from ..run.result import MapResult, PauseInfo, RunResult

enabled = True
"""False sends every run down the general path (the parity tests compare both)."""

_NO, _MAYBE, _YES = 0, 1, 2  # what the compiler knows about a value, or about a node running


class _Nothing:
    """The value of a name that no node has written (yet) in a straight-line run."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "_NOTHING"


_NOTHING = _Nothing()


class StraightResult(RunResult):
    """The result of a straight-line run: a RunResult whose id and partial dict are made
    only when first read (a map of small items makes millions of them)."""

    status = RunStatus.COMPLETED
    error: BaseException | None = None
    workflow_id: str | None = None

    def __init__(
        self,
        values: dict[str, Any],
        status: RunStatus = RunStatus.COMPLETED,
        run_id: str | None = None,
        error: BaseException | None = None,
        partial: dict[str, list[Any]] | None = None,
        workflow_id: str | None = None,
        pauses: list[PauseInfo] | None = None,
    ) -> None:
        # RunResult's fields, so that dataclasses.replace works; what is left out is made
        # when first read.
        self.values = values
        if status is not RunStatus.COMPLETED:
            self.status = status
        if run_id is not None:
            self.run_id = run_id
        if error is not None:
            self.error = error
        if partial is not None:
            self.partial = partial
        if workflow_id is not None:
            self.workflow_id = workflow_id
        if pauses:
            self.pauses = pauses

    @functools.cached_property
    def run_id(self) -> str:  # type: ignore[override]
        return new_id()

    @functools.cached_property
    def partial(self) -> dict[str, list[Any]]:  # type: ignore[override]
        return {}  # no node of a straight-line run streams

    @functools.cached_property
    def pauses(self) -> list[PauseInfo]:  # type: ignore[override]
        return []  # a straight-line run has no interrupt

    def _plain(self) -> RunResult:
        return RunResult(
            self.values, self.status, self.run_id, self.error, self.partial, self.workflow_id
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RunResult) and self._plain() == (
            other._plain() if isinstance(other, StraightResult) else other
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return repr(self._plain())

    def __reduce__(self) -> tuple[Any, ...]:
        return (RunResult, (self.values, self.status, self.run_id, self.error, self.partial))


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


# -- entry points (the runners' hooks) -------------------------------------------------------


def run_sync(
    graph: Graph,
    values: Mapping[str, Any] | None,
    inputs: dict[str, Any],
    error_handling: str,
    max_iterations: object,
) -> RunResult | None:
    """`SyncRunner.run` on the straight-line path, or None when it must take the general one.
    The caller has checked that nobody listens and nothing is cached or checkpointed."""
    compiled = _compiled(graph, False, error_handling, max_iterations)
    if compiled is None:
        return None
    prepared = _prepare(graph, compiled, values, inputs, max_iterations, False)
    if prepared is None:
        return None
    compiled, args = prepared
    out = compiled.fn(*args)
    return _completed(out) if compiled.raises else _result(*out)


def _prepare(
    graph: Graph,
    compiled: Straight,
    values: Mapping[str, Any] | None,
    inputs: dict[str, Any],
    max_iterations: object,
    is_async: bool,
) -> tuple[Straight, tuple[Any, ...]] | None:
    """The function for this run and its arguments; with a cycle, the function written for
    the names of the cycle the run gives (None if that one cannot be written)."""
    start = graph._start_values(merge_inputs(values, inputs))
    if compiled.cycle is None:
        return compiled, (start,)
    seeds = compiled.cycle.intersection(start)
    if seeds != compiled.seeds:
        found = _get(graph, is_async, compiled.raises, seeds)
        if isinstance(found, str):
            return None
        compiled = found
    return compiled, (start, "", max_iterations or DEFAULT_MAX_ITERATIONS)


async def run_async(
    graph: Graph,
    values: Mapping[str, Any] | None,
    inputs: dict[str, Any],
    error_handling: str,
    max_iterations: object,
    max_concurrency: object,
) -> RunResult | None:
    """`AsyncRunner.run` on the straight-line path, or None (see `run_sync`)."""
    if max_concurrency is not None and not _positive(max_concurrency):
        return None
    compiled = _compiled(graph, True, error_handling, max_iterations)
    if compiled is None:
        return None
    prepared = _prepare(graph, compiled, values, inputs, max_iterations, True)
    if prepared is None:
        return None
    compiled, args = prepared
    from . import watchdog  # loads asyncio: only once an async run starts

    watched: Any = compiled  # the watchdog reads `.plan`, as on an Execution
    watchdog.watch(watched)
    try:
        out = await compiled.fn(*args)
    finally:
        watchdog.unwatch(watched)
    return _completed(out) if compiled.raises else _result(*out)


def map_sync(
    graph: Graph, items: list[dict[str, Any]], error_handling: str, max_iterations: object
) -> MapItems | None:
    """The items of `SyncRunner.map_iter` (already checked) on the straight-line path."""
    compiled = _compiled(graph, False, error_handling, max_iterations)
    if compiled is None or compiled.cycle is not None:
        return None  # (a cycle: each item may seed it differently; the general path)
    return MapItems(compiled, items)


class MapItems(Iterator[tuple[int, RunResult]]):
    """The items of a SyncRunner map on the straight-line path: yielded one at a time
    (`map_iter`), or run all at once into a MapResult (`map`) that makes its RunResults
    only when they are read."""

    def __init__(self, compiled: Straight, items: list[dict[str, Any]]) -> None:
        self._compiled = compiled
        self._items = items
        self._running: Iterator[tuple[int, RunResult]] | None = None

    def __next__(self) -> tuple[int, RunResult]:
        if self._running is None:
            self._running = _map_items(self._compiled, self._items)
        return next(self._running)

    def mapped(self) -> MapResult:
        """Every item, run in order (the first error raised, with "raise")."""
        assert self._running is None, "the items are being iterated already"
        fn, items = self._compiled.fn, self._items
        if self._compiled.raises:
            return MapResult.of_values([fn(item) for item in items], None, _result)
        pairs = [fn(item) for item in items]
        errors = [error for _, error in pairs]
        rows = [values for values, _ in pairs]
        return MapResult.of_values(rows, errors if any(errors) else None, _result)


def _map_items(compiled: Straight, items: list[dict[str, Any]]) -> Iterator[tuple[int, RunResult]]:
    fn = compiled.fn
    if compiled.raises:
        new = StraightResult.__new__  # `_completed`, in line: once per item
        for k, item in enumerate(items):
            result = new(StraightResult)
            result.values = fn(item)
            yield k, result
    else:
        for k, item in enumerate(items):
            yield k, _result(*fn(item))


def _completed(values: dict[str, Any], _new: Any = StraightResult.__new__) -> StraightResult:
    """The result of a run that completed (`StraightResult(values)` without the call to
    `__init__` and its keywords: a map makes one per item)."""
    result: StraightResult = _new(StraightResult)
    result.values = values
    return result


def _result(values: dict[str, Any], error: BaseException | None) -> StraightResult:
    """The result of a run with error_handling="continue"."""
    if error is None:
        return _completed(values)
    return StraightResult(values, RunStatus.FAILED, error=error)


def source(graph: Graph, *, runner: str = "sync", error_handling: str = "raise") -> str | None:
    """The generated source of `graph`'s straight-line function, or None if it has none.

    >>> from hypergraph import Graph, node
    >>> @node(output_name="doubled")
    ... def double(x: int) -> int:
    ...     return 2 * x
    >>> print(source(Graph([double], name="doubler")), end="")
    def run_doubler(_values, _path=""):
        x = _values['x']
        # node 'double'
        try:
            doubled = _f_double(x)
        except Exception as _exc:
            _note(_exc, _path + 'double')
            raise
        return {'doubled': doubled}
    """
    compiled = _get(graph, runner == "async", error_handling == "raise")
    return None if isinstance(compiled, str) else compiled.source


def why_not(graph: Graph, *, runner: str = "sync", error_handling: str = "raise") -> str | None:
    """Why `graph` takes the general path on quiet runs, or None if it runs straight."""
    compiled = _get(graph, runner == "async", error_handling == "raise")
    return compiled if isinstance(compiled, str) else None


def _compiled(
    graph: Graph, is_async: bool, error_handling: str, max_iterations: object
) -> Straight | None:
    if not enabled or type(graph) is not Graph:
        return None
    if max_iterations is not None and not _positive(max_iterations):
        return None  # the general path says what is wrong with it
    if error_handling == "raise":
        found = _get(graph, is_async, True)
    elif error_handling == "continue":
        found = _get(graph, is_async, False)
    else:
        return None
    return None if isinstance(found, str) else found


def _positive(value: object) -> bool:
    return type(value) is int and value >= 1


def _get(
    graph: Graph, is_async: bool, raises: bool, seeds: frozenset[str] | None = None
) -> Straight | str:
    """The graph's compiled function for this kind of run (made once), or why it has none.
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


def _safe(name: str) -> bool:
    return name.isidentifier() and not keyword.iskeyword(name) and not name.startswith("_")


def _literal(value: object) -> str | None:
    """Source for a default that reads better inline (small numbers, strings, None)."""
    finite = type(value) is float and math.isfinite(value)
    if not (value is None or type(value) in (bool, int, str) or finite):
        return None
    text = repr(value)
    return text if len(text) <= 40 else None


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
        self.lines: list[str] = []
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
                inner = _get(node.graph, self.is_async, self.raises)
                if isinstance(inner, str):
                    raise _Unfit(f"graph node '{node.name}': {inner}")
            elif kind not in (FunctionNode, RouteNode, IfElseNode) or not plan.plain[i]:
                what = "streams, takes a NodeContext or has a policy"
                if kind not in (FunctionNode, RouteNode, IfElseNode):
                    what = f"is {'an' if kind.__name__[0] in 'AEIOU' else 'a'} {kind.__name__}"
                raise _Unfit(f"node '{node.name}' {what}")
        if plan.cycle_units:
            return self._cycle_order(plan.cycle_units[0])
        order = _topological(plan, range(len(plan.nodes)))
        # SyncRunner runs the lowest ready node first: with nodes listed out of order, a
        # node left unrun can release a later one early. Without skips the order is fixed.
        skips = any(plan.is_gate) or not self.raises
        if not self.is_async and order != sorted(order) and skips:
            raise _Unfit("its nodes are not listed in an order they can run in")
        if self.is_async:
            _check_sequential(plan, order)
        return order, [], []

    def _cycle_order(self, u: int) -> tuple[list[int], list[int], list[int]]:
        """The runners run the nodes upstream of the cycle first, then the cycle, then what
        is downstream of it, if: the cycle's members run in one fixed order in each round
        (each member after all the ones before it: so only one is ever ready), and, for
        SyncRunner, which runs the lowest ready node first, every node upstream is listed
        before the cycle; for AsyncRunner, which starts every ready node at once, no two
        nodes can ever be ready together."""
        plan = self.plan
        members = plan.units[u]
        inside = set(members)
        written = plan.produced_in[u]
        for i, node in enumerate(plan.nodes):
            if i not in inside and not written.isdisjoint(node.outputs):
                raise _Unfit(f"node '{node.name}' writes a value its cycle writes too")
        down: set[int] = set()
        todo = list(members)
        while todo:
            for s in plan.succs[todo.pop()]:
                if s not in inside and s not in down:
                    down.add(s)
                    todo.append(s)
        before = _topological(plan, [i for i in range(len(plan.nodes)) if i not in inside | down])
        after = _topological(plan, sorted(down))
        listed = before == sorted(before) and after == sorted(after)
        if not self.is_async and not (listed and max(before, default=-1) < min(members)):
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
            # One node at a time: the nodes before the cycle one after the other, the
            # cycle's first member (which holds back the others) after the last of them,
            # and the nodes after the cycle one after the other.
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
        given_later = set(spec.required) | set(spec.bound) | (self.seeds or set())
        read = (*spec.all, *sorted(given_later.difference(spec.all)))  # seeds of the cycle too
        for name in read:
            self.avail[name] = _YES if name in given_later else _MAYBE
        body: list[str] = []
        self.lines = body
        for i in before:
            self._node(i)
        if cycle:
            self._cycle(cycle)
            if after and not self.raises:  # a run that reached max_iterations ends there
                body.append("if not _halted:")
                self.lines = []
        for i in after:
            self._node(i)
        if self.lines is not body:
            body += ["    " + line for line in self.lines]
        head: list[str] = []
        for name in read:
            if any(name in n.inputs for n in plan.nodes) or name in graph.outputs:
                var = self._var(name)
                if name in given_later:
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
        lines = [f'{prefix} {fname}(_values, _path=""{limit}):']
        lines += ["    " + line for line in (*head, *body, *tail)]
        text = "\n".join(lines) + "\n"
        code = compile(text, f"<hypergraph straight-line {fname}>", "exec")
        namespace = dict(self.env)
        exec(code, namespace)
        if not cycle:
            return Straight(namespace[fname], text, plan, self.raises, certain)
        written = plan.produced_in[plan.unit_of[cycle[0]]]
        assert self.seeds is not None
        return Straight(namespace[fname], text, plan, self.raises, certain, written, self.seeds)

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

    def _ref(self, prefix: str, node_index: int, value: Any, suffix: str = "") -> str:
        name = self.plan.nodes[node_index].name
        ident = f"{prefix}_{name}{suffix}" if _safe(name) else f"{prefix}{node_index}{suffix}"
        self.env[ident] = value
        return ident

    # -- one node ------------------------------------------------------------------------

    def _node(self, i: int) -> None:
        plan, out = self.plan, self.lines
        node = plan.nodes[i]
        kind = "gate" if plan.is_gate[i] else "graph node" if type(node) is GraphNode else "node"
        out.append(f"# {kind} {node.name!r}")
        clauses: list[tuple[str, str]] = []  # (condition, what to do: "pass" or propagate)
        never = False
        if plan.gated[i]:
            if all(self.runs[g] == _NO for g in plan.controllers[i]):
                out.append("pass  # no gate that chooses it can run")
                return
            self.uses_chosen = True
            clauses.append((f"{node.name!r} not in _chosen", "pass  # no gate chose it"))
        propagate = f"_failed.update({node.outputs!r})"
        for name, _param, default, _copied in plan.arg_specs[i]:
            if name in self.failed:
                clauses.append((f"{name!r} in _failed", propagate))
            state = self.avail.get(name, _NO)
            if default is NO_DEFAULT and state == _NO:
                never = True
                break
            if default is NO_DEFAULT and state == _MAYBE and name not in self.fail_only:
                clauses.append((f"{self._var(name)} is _NOTHING", f"pass  # no {name!r}"))
        if any(action == propagate for _, action in clauses) and node.outputs:
            self.failed.update(node.outputs)
        if never:  # an input it needs is never there: it only passes a failure on
            self.runs[i] = _NO
            if not any(action == propagate for _, action in clauses):
                out.append("pass  # an input it needs is never there")
                return
            for k, (cond, action) in enumerate(clauses):
                out.append(f"{'if' if k == 0 else 'elif'} {cond}:")
                out.append(f"    {action}")
            return
        self.runs[i] = _MAYBE if clauses else _YES
        indent = ""
        for k, (cond, action) in enumerate(clauses):
            out.append(f"{'if' if k == 0 else 'elif'} {cond}:")
            out.append(f"    {action}")
        if clauses:
            out.append("else:")
            indent = "    "
        call = self._call(i)
        body = ["try:", *("    " + line for line in call), "except Exception as _exc:"]
        body.append(f"    _note(_exc, _path + {node.name!r})")
        if self.raises:
            body.append("    raise")
        else:
            body += ["    if _error is None:", "        _error = _exc"]
            if node.outputs:
                body.append(f"    {propagate}")
                self.failed.update(node.outputs)
        out += [indent + line for line in body]
        certain = self.runs[i] == _YES and self.raises
        only_failures = all(action == propagate for _, action in clauses)
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

    # -- the cycle -----------------------------------------------------------------------

    def _cycle(self, chain: list[int]) -> None:
        """The cycle, as SyncRunner runs it: round after round, each member that is due
        (pending) runs or lets the round go on, in `chain` order. A write along a forward
        edge makes its reader due in this round, along a back edge in the next one; a
        member already due stays as it is (Scheduler._due)."""
        plan, out = self.plan, self.lines
        written = plan.produced_in[plan.unit_of[chain[0]]]
        for name in sorted(written):
            if self.avail.get(name, _NO) != _YES:
                self.avail[name] = _MAYBE
                self.fail_only.discard(name)
                if name not in self.graph.inputs.all:
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
        out.append(f"# cycle {names}: a round runs each member that is due, in this order")
        out.append(f"{' = '.join(due)} = True  # in the first round, every member is due")
        out.append(f"{' = '.join(later)} = False  # due in the next round")
        out.append(f"{' = '.join(runs)} = 0")
        out.append("while True:")
        for m in chain:
            self.lines = []
            self._member(m)
            out += ["    " + line for line in self.lines]
        out.append(f"    if not ({' or '.join(later)}):")
        out.append("        break  # nothing is due: the cycle is over")
        out.append(f"    {', '.join(due)} = {', '.join(later)}")
        out.append(f"    {' = '.join(later)} = False")
        self.lines = out

    def _local(self, prefix: str, i: int) -> str:
        name = self.plan.nodes[i].name
        return f"{prefix}_{name}" if _safe(name) else f"{prefix}{i}"

    def _member(self, i: int) -> None:
        """One member of the cycle: if it is due, it runs or is let go (Scheduler._decide)."""
        plan, out = self.plan, self.lines
        node = plan.nodes[i]
        order = self.order
        due, runs = self._local("_due", i), self._local("_runs", i)
        out.append(f"# {'gate' if plan.is_gate[i] else 'node'} {node.name!r}")
        out.append(f"if {due}:")
        out.append(f"    {due} = False")
        clauses: list[tuple[str, str]] = []
        if plan.gated[i]:
            unchosen = f"{node.name!r} not in _chosen"
            if i not in order.forward_gated:  # its gate is behind it: the first time, it runs
                unchosen += f" and {runs}"
            clauses.append((unchosen, "pass  # no gate chose it"))
        propagate = f"_failed.update({node.outputs!r})" if node.outputs else "pass"
        never = False
        for name, _param, default, _copied in plan.arg_specs[i]:
            if name in self.failed:
                clauses.append((f"{name!r} in _failed", f"{propagate}  # it needs a failed value"))
            state = self.avail.get(name, _NO)
            if default is NO_DEFAULT and state == _NO:
                never = True
                break
            if default is NO_DEFAULT and state == _MAYBE:
                clauses.append((f"{self._var(name)} is _NOTHING", f"pass  # no {name!r}"))
        body: list[str] = []
        for k, (cond, action) in enumerate(clauses):
            body += [f"{'if' if k == 0 else 'elif'} {cond}:", f"    {action}"]
        if not never:
            run = self._member_run(i)
            if clauses:
                body += ["else:", *("    " + line for line in run)]
            else:
                body += run
        elif not clauses:
            body.append("pass  # an input it needs is never there")
        if plan.gated[i]:
            body.append(f"_chosen.discard({node.name!r})")
        out += ["    " + line for line in body]

    def _member_run(self, i: int) -> list[str]:
        plan = self.plan
        node = plan.nodes[i]
        runs = self._local("_runs", i)
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
        lines = [f"if {runs} >= _max:", *limit, f"{runs} += 1"]
        call = self._call(i, keep=True)
        lines += ["try:", *("    " + line for line in call), "except Exception as _exc:"]
        lines.append(f"    _note(_exc, _path + {node.name!r})")
        triggers = self._triggers(i)
        if self.raises:
            return [*lines, "    raise", *triggers]
        lines += ["    if _error is None:", "        _error = _exc"]
        if node.outputs:
            lines.append(f"    _failed.update({node.outputs!r})")
        if triggers:
            lines += ["else:", *("    " + line for line in triggers)]
        return lines

    def _triggers(self, i: int) -> list[str]:
        """What member `i`'s run makes due: the members reading what it wrote, or, for a
        gate, the members it chose."""
        plan, order = self.plan, self.order
        members = plan.units[plan.unit_of[i]]
        if plan.is_gate[i]:
            targets = [t for t in plan.gate_targets[i] if t in members and t != i]
        else:
            targets = list(plan.cycle_consumers[i])
        lines = []
        for t in targets:
            due, later = self._local("_due", t), self._local("_next", t)
            if (i, t) in order.back:
                flag, unless, when = later, due, "the next round"
            else:
                flag, unless, when = due, later, "this round"
            cond = f"not {unless}"
            if plan.is_gate[i]:
                cond = f"{plan.nodes[t].name!r} in _c and {cond}"
            lines += [f"if {cond}:", f"    {flag} = True  # {plan.nodes[t].name!r} runs {when}"]
        return lines

    def _inner_certain(self, node: GraphNode, outer: str) -> bool:
        if node.map_params:
            return True  # every output is a list, one entry per item
        compiled = _get(node.graph, self.is_async, self.raises)
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
                ref = self._ref("_d", i, default, f"_{param}")
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
        compiled = _get(node.graph, self.is_async, self.raises)
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
