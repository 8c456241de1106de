"""Random DAGs for property tests: a plain description, a builder, and a reference evaluator.

Node `n{i}` produces `v{i}` = i + Σ (k+1)·arg_k over its parameters in order; gate `g{i}`
chooses among later nodes from the sum of its arguments. Graph inputs are `in0`, `in1`, ...
A parameter may have a default (one value per name, shared by every consumer that opts in).
The reference evaluator applies SPEC §6 in plain Python, in index order (which is a
topological order: every edge goes from a lower index to a higher one).
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hypergraph import END, FunctionNode, Graph, RouteNode


@dataclass(frozen=True)
class NodeSpec:
    index: int
    is_gate: bool
    params: tuple[str, ...]
    defaulted: frozenset[str]
    targets: tuple[str, ...] = ()  # gates only: names of later nodes
    multi_target: bool = False
    salt: int = 0
    yields: int = 0  # async nodes await asyncio.sleep(0) this many times

    @property
    def name(self) -> str:
        return f"{'g' if self.is_gate else 'n'}{self.index}"

    @property
    def output(self) -> str:
        return f"v{self.index}"


@dataclass(frozen=True)
class DagSpec:
    nodes: tuple[NodeSpec, ...]
    defaults: dict[str, int]  # the default of every name that some parameter may default
    inputs: dict[str, int]  # the values given to the run


def compute(spec: NodeSpec, args: dict[str, Any]) -> int:
    return spec.index + sum((k + 1) * args[p] for k, p in enumerate(spec.params))


def decide(spec: NodeSpec, args: dict[str, Any]) -> Any:
    total = spec.salt + sum(args.values())
    if spec.multi_target:
        return [t for k, t in enumerate(spec.targets) if (total + k) % 3 != 0]
    options: list[Any] = [*spec.targets, END]
    return options[total % len(options)]


def chosen_names(spec: NodeSpec, decision: Any) -> list[str]:
    if spec.multi_target:
        return list(decision)
    return [] if decision is END else [decision]


def _signature(spec: NodeSpec, defaults: dict[str, int]) -> inspect.Signature:
    kind = inspect.Parameter.KEYWORD_ONLY  # defaults may come in any order
    return inspect.Signature(
        [
            inspect.Parameter(p, kind, default=defaults[p])
            if p in spec.defaulted
            else inspect.Parameter(p, kind)
            for p in spec.params
        ]
    )


class DagFailure(RuntimeError):
    """Raised by the node chosen to fail."""


def build(
    dag: DagSpec,
    calls: list[str],
    *,
    asynchronous: bool = False,
    failing: str | None = None,
    raised: list[BaseException] | None = None,
) -> Graph:
    """The graph of `dag`; every node and gate appends its name to `calls` when it runs.

    The node named `failing` raises a DagFailure after recording it in `raised`.
    """
    nodes: list[FunctionNode] = []
    for spec in dag.nodes:
        if spec.name == failing:
            func = _failing_func(spec, calls, raised if raised is not None else [])
        elif spec.is_gate:
            func = _gate_func(spec, calls)
        else:
            func = _node_func(spec, calls, asynchronous)
        func.__signature__ = _signature(spec, dag.defaults)  # type: ignore[attr-defined]
        func.__name__ = spec.name
        if spec.is_gate:
            targets: list[Any] = [*spec.targets, END]
            nodes.append(RouteNode(func, targets, multi_target=spec.multi_target, name=spec.name))
        else:
            nodes.append(FunctionNode(func, name=spec.name, output_name=spec.output))
    return Graph(nodes)


def _failing_func(spec: NodeSpec, calls: list[str], raised: list[BaseException]) -> Any:
    def fail(**args: Any) -> Any:
        calls.append(spec.name)
        exc = DagFailure(f"{spec.name} failed")
        raised.append(exc)
        raise exc

    return fail


def _gate_func(spec: NodeSpec, calls: list[str]) -> Callable[..., Any]:
    def gate(**args: Any) -> Any:
        calls.append(spec.name)
        return decide(spec, args)

    return gate


def _node_func(spec: NodeSpec, calls: list[str], asynchronous: bool) -> Callable[..., Any]:
    if asynchronous:

        async def async_fn(**args: Any) -> int:
            for _ in range(spec.yields):
                await asyncio.sleep(0)  # yield to the loop: varies the completion order
            calls.append(spec.name)
            return compute(spec, args)

        return async_fn

    def fn(**args: Any) -> int:
        calls.append(spec.name)
        return compute(spec, args)

    return fn


def reference(dag: DagSpec) -> tuple[dict[str, int], list[str]]:
    """Plain-Python evaluation: (the values produced, the nodes that ran in index order)."""
    available: dict[str, Any] = dict(dag.inputs)
    gated = {t for spec in dag.nodes if spec.is_gate for t in spec.targets}
    chosen: set[str] = set()
    ran: list[str] = []
    for spec in dag.nodes:
        if spec.name in gated and spec.name not in chosen:
            continue  # no gate chose it
        args: dict[str, Any] = {}
        for p in spec.params:
            if p in available:
                args[p] = available[p]
            elif p in spec.defaulted:
                args[p] = dag.defaults[p]
            else:
                break  # its producer never ran and it has no default
        else:
            ran.append(spec.name)
            if spec.is_gate:
                chosen.update(chosen_names(spec, decide(spec, args)))
            else:
                available[spec.output] = compute(spec, args)
    values = {s.output: available[s.output] for s in dag.nodes if s.output in available}
    return values, ran


def expected_inputs(dag: DagSpec) -> tuple[set[str], set[str]]:
    """(required, optional) graph inputs of `dag`."""
    consumed: dict[str, bool] = {}  # name -> some consumer has no default
    for spec in dag.nodes:
        for p in spec.params:
            if p.startswith("in"):
                consumed[p] = consumed.get(p, False) or p not in spec.defaulted
    required = {n for n, r in consumed.items() if r}
    return required, set(consumed) - required


def descendants(dag: DagSpec, name: str) -> set[str]:
    """Every node reachable from `name` along data edges and gate-to-target edges."""
    by_name = {s.name: s for s in dag.nodes}
    found: set[str] = set()
    todo = [name]
    while todo:
        spec = by_name[todo.pop()]
        nxt = set(spec.targets) if spec.is_gate else set()
        if not spec.is_gate:
            nxt |= {s.name for s in dag.nodes if spec.output in s.params}
        for n in nxt - found:
            found.add(n)
            todo.append(n)
    return found
