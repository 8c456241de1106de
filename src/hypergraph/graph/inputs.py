"""What a graph needs from a run: its InputSpec, and the check of the values a run gets."""

from __future__ import annotations

from collections.abc import Container, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from .._names import closest, quoted, suggest
from ..engine.plan import Plan
from ..errors import InputValueError, MissingInputError
from ..nodes.base import HyperNode
from ..nodes.function import FunctionNode
from ..nodes.graph_node import GraphNode


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
    not_names = [name for name in values if not isinstance(name, str)]
    if not_names:
        bad = not_names[0]
        raise InputValueError(
            f"A run value is keyed by {type(bad).__name__} {bad!r:.40}, but input names "
            "are strings: each key names the parameter that reads the value.\n"
            f"How to fix: key the value by an input name. The graph's inputs are: "
            f"{quoted(spec.all)}.",
            names=not_names,
        )
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
        nested = [k for k in answer_keys(plan) if k.endswith("/" + name)] if plan.asks else []
        if nested:
            raise InputValueError(
                f"A value was given for '{name}', which node '{producer}' produces; it is "
                f"the answer of an interrupt inside it.\nHow to fix: give the answer under "
                f"its path: {quoted(nested)}.",
                names=produced,
            )
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
        answers = answer_keys(plan) if plan.asks else []
        hint = option_hint(name, "run") or (
            suggest(name, [*spec.all, *answers]) or context_hint(name, all_nodes)
        )
        also = f"\nIts interrupts take answers under: {quoted(answers)}." if answers else ""
        raise InputValueError(
            f"Unknown input '{name}': no node of this graph reads it.{hint}\n"
            f"The graph's inputs are: {quoted(spec.all)}.{also}",
            names=unknown,
        )
    merged = {**spec.bound, **values}
    missing = [n for n in spec.required if n not in merged]
    if missing:
        readers = {n: [node.name for node in plan.nodes if n in node.inputs] for n in missing}
        detail = "; ".join(f"'{n}' (read by {quoted(readers[n])})" for n in missing)
        hints = "".join(_near_name(n, readers[n], values, plan, spec) for n in missing)
        raise MissingInputError(
            f"Missing required input{'s' if len(missing) > 1 else ''}: {detail}.{hints}\n"
            f"How to fix: pass {', '.join(f'{n}=...' for n in missing)} to run(), "
            "or fix them with graph.bind(...).",
            missing=missing,
        )
    return merged


def _near_name(
    name: str, readers: list[str], values: Mapping[str, Any], plan: Plan, spec: InputSpec
) -> str:
    """A "did you mean" for a missing input: a given value, a produced output or a bound
    input with a close name, in that order (a typo in the run call is the likeliest)."""
    given = suggest(name, values)
    if given:
        return given
    other = closest(name, [p for p in plan.producers if p != name])
    if other is not None:
        producer = plan.nodes[plan.producers[other][0]].name
        reader = readers[0] if readers else "node"
        return (
            f" Did you mean '{other}', which node '{producer}' produces? An output feeds "
            "only the parameters with exactly its name: rename one, e.g. "
            f'{reader}.with_inputs({name}="{other}").'
        )
    other = closest(name, [b for b in spec.bound if b != name])
    if other is not None:
        return f" Did you mean '{other}', which is bound? Each input name is bound on its own."
    return ""


# Names that are options of some other call, and where they belong. A user who passes
# one of them to run() (or in the values dict) gets pointed there instead of being told
# only that no node reads it.
_OTHER_APIS: dict[str, str] = {
    "max_concurrency": (
        "an option of AsyncRunner (run, iter, map, map_iter): SyncRunner runs one node "
        "at a time and has no such option.\n"
        "How to fix: use AsyncRunner().run(graph, ..., max_concurrency=N), or drop it"
    ),
    "map_over": (
        "an option of runner.map(...) and runner.map_iter(...), which run the graph once "
        "per item; run() runs it once.\n"
        'How to fix: runner.map(graph, values, map_over="x"), or for a nested graph '
        'graph.as_node().map_over("x")'
    ),
    "map_mode": (
        "an option of runner.map(...) and runner.map_iter(...).\n"
        'How to fix: runner.map(graph, values, map_over="x", map_mode="product")'
    ),
    "select": (
        "not an option of a run: a graph chooses its outputs with graph.select(...).\n"
        'How to fix: runner.run(graph.select("y"), ...)'
    ),
    "buffer_size": (
        "an option of iter(), where a consumer reads events as they happen.\n"
        "How to fix: runner.iter(graph, values, buffer_size=N)"
    ),
    "overflow": (
        "an option of iter(), where a consumer reads events as they happen.\n"
        'How to fix: runner.iter(graph, values, overflow="drop_oldest")'
    ),
    "entrypoint": (
        "not an option of a run: a graph chooses where it starts.\n"
        'How to fix: runner.run(graph.with_entrypoint("node"), ...) or '
        "Graph([...], entrypoint=...)"
    ),
    "strict_types": (
        "an option of Graph(...), checked when the graph is built.\n"
        "How to fix: Graph([...], strict_types=True)"
    ),
}
_RUN_OPTIONS = ("max_iterations", "error_handling", "event_processors")


def option_hint(name: str, where: str) -> str:
    """Where an option that was given as an input value belongs, or an empty string."""
    if name in _OTHER_APIS:
        return f" '{name}' is {_OTHER_APIS[name]}."
    if name in _RUN_OPTIONS:
        return (
            f" '{name}' is an option of run(), iter() and map(), so it is read as one "
            "only when given as a keyword argument, not inside the values dict.\n"
            f"How to fix: runner.run(graph, values, {name}=...)"
            + ("." if where == "run" else ", not bind().")
        )
    return ""


def _known(name: str, nodes: tuple[HyperNode, ...]) -> bool:
    """True if some node of the full graph reads or writes `name` (a view may not need it)."""
    return any(name in n.inputs or name in n.outputs for n in nodes)


def context_hint(name: str, nodes: tuple[HyperNode, ...]) -> str:
    for node in nodes:
        # A node without a context parameter has context_param None: compare only names.
        context = node.context_param if isinstance(node, FunctionNode) else None
        if context is not None and context == name:
            return (
                f" '{name}' is the NodeContext of node '{node.name}': the runner "
                "injects it, so it cannot be given or bound."
            )
    return ""


def split_answers(
    plan: Plan,
    values: Mapping[str, Any],
    input_names: Container[str] = (),
    pending: Container[str] = (),
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The run values without the interrupts' answers, and the answers (SPEC 11).

    An answer is keyed by its interrupt's output name (`"approved"`), or for an interrupt
    in a nested graph by the path to it (`"review/approved"`, `"review[2]/approved"` for
    item 2 of a mapped graph node). A path that leads to no interrupt is refused. A name
    that is also one of `input_names` (a loop that starts from the answer) is an input,
    unless it is `pending`: the answer an interrupt of a paused workflow waits for.
    """
    rest: dict[str, Any] = {}
    answers: dict[str, Any] = {}
    for key, value in values.items():
        if key in plan.answers and (key not in input_names or key in pending):
            answers[key] = value
        elif isinstance(key, str) and "/" in key:
            if not _leads_to_interrupt(plan, key.split("/")):
                raise InputValueError(
                    f"'{key}' looks like the answer to a nested interrupt, but no interrupt "
                    f"answers under that path.\nThe answers this graph takes: "
                    f"{quoted(answer_keys(plan)) or 'none'}.",
                    names=[key],
                )
            answers[key] = value
        else:
            rest[key] = value
    return rest, answers


def answer_keys(plan: Plan, prefix: str = "") -> list[str]:
    """Every key an answer can be given under, nested interrupts included (`[k]` stands
    for an item's index under a mapped graph node)."""
    keys = [prefix + name for name in plan.answers]
    for node in plan.nodes:
        if isinstance(node, GraphNode) and node.graph._plan.asks:
            item = "[k]" if node.map_params else ""
            keys += answer_keys(node.graph._plan, f"{prefix}{node.name}{item}/")
    return keys


def _leads_to_interrupt(plan: Plan, parts: list[str]) -> bool:
    if len(parts) == 1:
        return parts[0] in plan.answers
    name, bracket, item = parts[0].partition("[")
    i = plan.index.get(name)
    node = plan.nodes[i] if i is not None else None
    if not isinstance(node, GraphNode):
        return False
    # An item of a mapped graph node is named by its index; a graph node that does not
    # map has no items.
    if node.map_params:
        if not (bracket and item.endswith("]") and item[:-1].isdigit()):
            return False
    elif bracket:
        return False
    return _leads_to_interrupt(node.graph._plan, parts[1:])
