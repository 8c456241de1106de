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
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from .._introspect import fresh_copy
from ..engine.plan import NO_DEFAULT, Plan
from ..events.types import RunStatus
from ..graph.graph import Graph
from ..nodes.function import FunctionNode
from ..nodes.gate import IfElseNode, RouteNode
from ..nodes.graph_node import GraphNode, map_items
from ..run.execution import merge_inputs, new_id, note_origin, shape_outputs
from ..run.result import PauseInfo, RunResult

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

    __slots__ = ("certain", "fn", "plan", "raises", "source")

    def __init__(
        self, fn: Callable[..., Any], source: str, plan: Plan, raises: bool, certain: frozenset[str]
    ) -> None:
        self.fn = fn
        """fn(start_values, path="") -> outputs (raise) or (outputs, first error) (continue)."""
        self.source = source
        self.plan = plan  # what the loop watchdog reads
        self.raises = raises
        self.certain = certain
        """Outputs that are always there after a run that did not fail."""


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
    start = graph._start_values(merge_inputs(values, inputs))
    if compiled.raises:
        return _completed(compiled.fn(start))
    return _result(*compiled.fn(start))


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
    start = graph._start_values(merge_inputs(values, inputs))
    from . import watchdog  # loads asyncio: only once an async run starts

    watched: Any = compiled  # the watchdog reads `.plan`, as on an Execution
    watchdog.watch(watched)
    try:
        if compiled.raises:
            return _completed(await compiled.fn(start))
        return _result(*await compiled.fn(start))
    finally:
        watchdog.unwatch(watched)


def map_sync(
    graph: Graph, items: list[dict[str, Any]], error_handling: str, max_iterations: object
) -> Iterator[tuple[int, RunResult]] | None:
    """The items of `SyncRunner.map_iter` (already checked) on the straight-line path."""
    compiled = _compiled(graph, False, error_handling, max_iterations)
    if compiled is None:
        return None
    return _map_items(compiled, items)


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


def _get(graph: Graph, is_async: bool, raises: bool) -> Straight | str:
    """The graph's compiled function for this kind of run (made once), or why it has none."""
    cache = graph.__dict__.get("_straight")
    if cache is None or cache[0] is not graph:  # a derived graph starts with a copied dict
        cache = graph.__dict__["_straight"] = (graph, {})
    found: dict[tuple[bool, bool], Straight | str] = cache[1]
    key = (is_async, raises)
    compiled = found.get(key)
    if compiled is None:
        try:
            compiled = _Writer(graph, is_async, raises).compile()
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

    def __init__(self, graph: Graph, is_async: bool, raises: bool) -> None:
        self.graph = graph
        self.plan = graph._plan
        self.is_async = is_async
        self.raises = raises
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

    # -- checks --------------------------------------------------------------------------

    def _check(self) -> list[int]:
        plan, graph = self.plan, self.graph
        if plan.cycle_units:
            raise _Unfit("it has a cycle (cycles run on the general path)")
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
                inner = _get(node.graph, self.is_async, self.raises)
                if isinstance(inner, str):
                    raise _Unfit(f"graph node '{node.name}': {inner}")
            elif kind not in (FunctionNode, RouteNode, IfElseNode) or not plan.plain[i]:
                what = "streams, takes a NodeContext or has a policy"
                if kind not in (FunctionNode, RouteNode, IfElseNode):
                    what = f"is {'an' if kind.__name__[0] in 'AEIOU' else 'a'} {kind.__name__}"
                raise _Unfit(f"node '{node.name}' {what}")
        order = _topological(plan)
        # SyncRunner runs the lowest ready node first: with nodes listed out of order, a
        # node left unrun can release a later one early. Without skips the order is fixed.
        skips = any(plan.is_gate) or not self.raises
        if not self.is_async and order != sorted(order) and skips:
            raise _Unfit("its nodes are not listed in an order they can run in")
        if self.is_async:
            _check_sequential(plan, order)
        return order

    # -- the function --------------------------------------------------------------------

    def compile(self) -> Straight:
        order = self._check()
        graph, plan = self.graph, self.plan
        spec = graph.inputs
        given_later = set(spec.required) | set(spec.bound)
        for name in spec.all:
            self.avail[name] = _YES if name in given_later else _MAYBE
        body: list[str] = []
        self.lines = body
        for i in order:
            self._node(i)
        head: list[str] = []
        for name in spec.all:
            if any(name in n.inputs for n in plan.nodes) or name in graph.outputs:
                var = self._var(name)
                if name in given_later:
                    head.append(f"{var} = _values[{name!r}]")
                else:
                    head.append(f"{var} = _values.get({name!r}, _NOTHING)")
        for name in sorted(self.unset - set(spec.all)):
            head.append(f"{self._var(name)} = _NOTHING")
        if self.uses_chosen:
            head.append("_chosen = set()  # the nodes a gate chose")
        if not self.raises:
            head.append("_failed = set()  # the values a failed node did not write")
            head.append("_error = None  # the run's first error")
        tail, certain = self._result()
        fname = "run_" + (graph.name if graph.name and _safe(graph.name) else "graph")
        prefix = "async def" if self.is_async else "def"
        lines = [f'{prefix} {fname}(_values, _path=""):']
        lines += ["    " + line for line in (*head, *body, *tail)]
        text = "\n".join(lines) + "\n"
        code = compile(text, f"<hypergraph straight-line {fname}>", "exec")
        namespace = dict(self.env)
        exec(code, namespace)
        return Straight(namespace[fname], text, plan, self.raises, certain)

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

    def _call(self, i: int) -> list[str]:
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


def _topological(plan: Plan) -> list[int]:
    """Kahn's order, lowest index first: the order SyncRunner runs a DAG in when every
    node that can run does."""
    waiting = [len(p) for p in plan.preds]
    ready = [i for i, w in enumerate(waiting) if w == 0]
    heapq.heapify(ready)
    order: list[int] = []
    while ready:
        i = heapq.heappop(ready)
        order.append(i)
        for s in plan.succs[i]:
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
