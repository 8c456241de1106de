"""What a graph needs from a run: its InputSpec, and the check of the values a run gets."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from .._names import quoted, suggest
from ..engine.plan import Plan
from ..errors import InputValueError, MissingInputError
from ..nodes.base import HyperNode
from ..nodes.function import FunctionNode


@dataclass(frozen=True)
class InputSpec:
    """The names a graph reads from its caller.

    `required` must be given to `run`; `optional` may be (a default or a bound value
    covers them); `bound` holds the values fixed by `graph.bind(...)`.
    """

    required: tuple[str, ...]
    optional: tuple[str, ...]
    bound: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def all(self) -> tuple[str, ...]:
        return self.required + self.optional


def input_spec(plan: Plan, bound: Mapping[str, Any]) -> InputSpec:
    """Names no node produces, plus the seeds a cycle or accumulator starts from."""
    required: dict[str, bool] = {}
    for node in plan.nodes:
        for name in node.inputs:
            if name in plan.producers:
                if name in plan.seeds:
                    required[name] = required.get(name, False) or plan.seeds[name]
                continue
            required[name] = required.get(name, False) or name not in node.defaults
    for name in bound:
        if name in required:
            required[name] = False
    return InputSpec(
        required=tuple(n for n, r in required.items() if r),
        optional=tuple(n for n, r in required.items() if not r),
        bound=MappingProxyType(dict(bound)),
    )


def start_values(
    plan: Plan,
    spec: InputSpec,
    all_nodes: tuple[HyperNode, ...],
    values: Mapping[str, Any],
) -> dict[str, Any]:
    """Bound values overlaid with run values; raises before anything runs if they do not fit."""
    unknown: list[str] = []
    produced: list[str] = []
    names = spec.all
    for name in values:
        if name in plan.producers:
            if not plan.seedable(name):
                produced.append(name)
        elif name not in names and not _known(name, all_nodes):
            unknown.append(name)
    if produced:
        name = produced[0]
        producer = plan.nodes[plan.producers[name][0]].name
        raise InputValueError(
            f"A value was given for '{name}', but node '{producer}' produces it.\n"
            "In a graph without a cycle through it, a given value would silently race "
            "the node's own.\n"
            f"How to fix: leave '{name}' out of the values, or start after it with "
            f"graph.with_entrypoint(...) naming the nodes that consume '{name}'.",
            names=produced,
        )
    if unknown:
        name = unknown[0]
        hint = suggest(name, spec.all) or context_hint(name, all_nodes)
        raise InputValueError(
            f"Unknown input '{name}': no node of this graph reads it.{hint}\n"
            f"The graph's inputs are: {quoted(spec.all)}.",
            names=unknown,
        )
    merged = {**spec.bound, **values}
    missing = [n for n in spec.required if n not in merged]
    if missing:
        readers = {n: [node.name for node in plan.nodes if n in node.inputs] for n in missing}
        detail = "; ".join(f"'{n}' (read by {quoted(readers[n])})" for n in missing)
        hints = "".join(suggest(n, values) for n in missing)
        raise MissingInputError(
            f"Missing required input{'s' if len(missing) > 1 else ''}: {detail}.{hints}\n"
            f"How to fix: pass {', '.join(f'{n}=...' for n in missing)} to run(), "
            "or fix them with graph.bind(...).",
            missing=missing,
        )
    return merged


def _known(name: str, nodes: tuple[HyperNode, ...]) -> bool:
    """True if some node of the full graph reads or writes `name` (a view may not need it)."""
    return any(name in n.inputs or name in n.outputs for n in nodes)


def context_hint(name: str, nodes: tuple[HyperNode, ...]) -> str:
    for node in nodes:
        if isinstance(node, FunctionNode) and node.context_param == name:
            return (
                f" '{name}' is the NodeContext of node '{node.name}': the runner injects it, "
                "so it cannot be given or bound."
            )
    return ""
