"""What a node needs to know about a plain function, read once when the node is made."""

from __future__ import annotations

import copy
import functools
import inspect
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .errors import GraphConfigError, NodeTypeError


@dataclass(frozen=True, slots=True)
class Signature:
    """The wiring facts of a function: its parameters, defaults and execution mode."""

    params: tuple[str, ...]
    """Parameters wired by name, in order (the context parameter excluded)."""
    defaults: dict[str, Any]
    context_param: str | None
    is_async: bool
    is_generator: bool


def callable_name(func: Callable[..., Any]) -> str:
    """The name a node takes from its function by default."""
    target = func.func if isinstance(func, functools.partial) else func
    name = getattr(target, "__name__", None) or type(target).__name__
    return str(name)


def check_callable(obj: object, what: str) -> None:
    """Reject things that are not functions with an error that says what was passed."""
    wrong_kind = wrong_kind_message(obj, what)
    if wrong_kind:
        raise NodeTypeError(wrong_kind)
    if inspect.iscoroutine(obj):
        name = getattr(obj, "__name__", "the function")
        obj.close()  # it will never be awaited; closing avoids a second, confusing warning
        raise NodeTypeError(
            f"{what} got a coroutine object, the result of calling '{name}(...)'.\n"
            f"A node wraps the function itself; the runner calls it.\n"
            f"How to fix: pass '{name}' without calling it."
        )
    if not callable(obj):
        raise NodeTypeError(
            f"{what} needs a function, got {type(obj).__name__} {obj!r:.60}.\n"
            "How to fix: pass a def or async def function (or a callable object)."
        )


def wrong_kind_message(obj: object, what: str) -> str | None:
    """The error for a graph or a bare decorator given where a node belongs, else None.

    Both are easy to pass by mistake and both would otherwise be reported as some
    other object ("needs a function, got Graph", "the plain function 'decorate'").
    """
    if type(obj).__name__ == "Graph" and hasattr(obj, "as_node"):
        name = getattr(obj, "name", None)
        label = f"'{name}'" if name else "(unnamed)"
        var = name if isinstance(name, str) and name.isidentifier() else "inner"
        naming = "" if name else ' (it needs a name: inner.as_node(name="..."))'
        return (
            f"{what} got the graph {label} where a node belongs.\n"
            "A graph becomes one node of another graph through .as_node().\n"
            f"How to fix: pass {var}.as_node(){naming}."
        )
    decorator = getattr(obj, DECORATOR_MARK, None)
    if isinstance(decorator, str):
        return (
            f"{what} got the decorator that {decorator} returns, without its function.\n"
            "A decorator makes a node only once it is applied to a function.\n"
            f"How to fix: put @{decorator} on a def, or apply it to one: {decorator}(func)."
        )
    return None


DECORATOR_MARK = "_hypergraph_decorator"
"""Attribute naming the call that made a decorator (`node(output_name='y')`)."""


def mark_decorator(decorate: Callable[..., Any], call: str) -> None:
    """Remember which call made `decorate`, so passing it as a node is reported as such."""
    setattr(decorate, DECORATOR_MARK, call)


def read_signature(func: Callable[..., Any], node_name: str, context_type: type) -> Signature:
    """Read parameters and mode from `func`; reject parameters that cannot be wired by name."""
    try:
        sig = inspect.signature(func)
    except (TypeError, ValueError) as exc:
        raise GraphConfigError(
            f"Cannot read the parameters of '{node_name}': {exc}.\n"
            "How to fix: wrap it in a plain def with named parameters."
        ) from None
    hints = _annotations(func)
    params: list[str] = []
    defaults: dict[str, Any] = {}
    context_param: str | None = None
    for p in sig.parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD, p.POSITIONAL_ONLY):
            kind = {p.VAR_POSITIONAL: "*", p.VAR_KEYWORD: "**", p.POSITIONAL_ONLY: ""}[p.kind]
            why = "is positional-only" if p.kind == p.POSITIONAL_ONLY else "collects arguments"
            raise GraphConfigError(
                f"Parameter '{kind}{p.name}' of node '{node_name}' {why}, so nothing can be "
                "wired to it by name.\n"
                "How to fix: replace it with named parameters, one per value the node needs."
            )
        if _is_context(hints.get(p.name, p.annotation), context_type):
            context_param = p.name
            continue
        params.append(p.name)
        if p.default is not p.empty:
            defaults[p.name] = p.default
    probe = func.__call__ if _is_callable_object(func) else func  # type: ignore[operator]
    is_coro = inspect.iscoroutinefunction(probe)
    is_agen = inspect.isasyncgenfunction(probe)
    is_gen = inspect.isgeneratorfunction(probe)
    return Signature(
        params=tuple(params),
        defaults=defaults,
        context_param=context_param,
        is_async=is_coro or is_agen,
        is_generator=is_gen or is_agen,
    )


_CONTAINERS = (list, dict, set, bytearray)


def needs_copy(value: object) -> bool:
    """True for defaults that a run could mutate in place: lists, dicts, sets and
    bytearrays (also inside tuples and frozensets). Each use gets a fresh copy.

    Any other object (an SDK client, a lock, a model) is passed as it is, the same object
    every run, as a module-level value would be (decision 0022).
    """
    if isinstance(value, _CONTAINERS):
        return True
    if isinstance(value, (tuple, frozenset)):
        return any(needs_copy(v) for v in value)
    return False


def fresh_copy(value: Any) -> Any:
    """A per-use copy of a container default: deep, or, when an element cannot be copied
    (a client inside a list), a copy of the containers that shares such elements."""
    try:
        return copy.deepcopy(value)
    except Exception:
        return _copy_containers(value)


def _copy_containers(value: Any) -> Any:
    if isinstance(value, list):
        return [_copy_containers(v) for v in value]
    if isinstance(value, dict):
        return {k: _copy_containers(v) for k, v in value.items()}
    if isinstance(value, set):
        return set(value)
    if isinstance(value, bytearray):
        return bytearray(value)
    if isinstance(value, tuple) and needs_copy(value):
        return tuple(_copy_containers(v) for v in value)
    return value


def return_annotation(func: Callable[..., Any]) -> Any:
    return _annotations(func).get("return", inspect.Signature.empty)


def param_annotations(func: Callable[..., Any]) -> dict[str, Any]:
    return _annotations(func)


def _annotations(func: Callable[..., Any]) -> dict[str, Any]:
    target = func.func if isinstance(func, functools.partial) else func
    if _is_callable_object(target):
        target = target.__call__  # type: ignore[operator]
    try:
        return typing.get_type_hints(target)
    except Exception:
        # Unresolvable forward references: fall back to the raw annotations.
        return dict(getattr(target, "__annotations__", {}) or {})


def _is_callable_object(func: object) -> bool:
    return not (
        inspect.isfunction(func)
        or inspect.ismethod(func)
        or inspect.isbuiltin(func)
        or isinstance(func, functools.partial)
    ) and callable(func)


def _is_context(annotation: object, context_type: type) -> bool:
    if annotation is context_type:
        return True
    return isinstance(annotation, str) and annotation.split(".")[-1] == context_type.__name__
