"""Gates decide which nodes run next: `@route`, `@ifelse`, and the END sentinel.

A gate is a plain `def` whose return value names its targets. It writes no values;
its decision shows in events (`RouteDecisionEvent`), not in `RunResult.values`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Final

from .._introspect import mark_decorator, wrong_kind_message
from .._names import quoted
from ..errors import GraphConfigError, NodeOutputError, NodeTypeError
from .base import HyperNode
from .function import FunctionNode


class _End(str):
    """The END sentinel: returned by a gate to stop that path. Compare with `is`.

    It is a `str` (so a gate annotated `-> str` may return it, and it prints and
    serialises as "END"), but it equals only itself: a gate returning the plain
    string "END", or a node called END, is never mistaken for it.

    >>> isinstance(END, str), str(END), END == "END"
    (True, 'END', False)
    """

    __slots__ = ()
    _instance: _End | None = None

    def __new__(cls) -> _End:
        if cls._instance is None:
            cls._instance = super().__new__(cls, "END")
        return cls._instance

    def __eq__(self, other: object) -> bool:
        return other is self

    def __ne__(self, other: object) -> bool:
        return other is not self

    __hash__ = object.__hash__

    def __repr__(self) -> str:
        return "END"

    def __str__(self) -> str:
        return "END"

    def __reduce__(self) -> str:
        return "END"  # pickles (and copies) as the module-level singleton


END: Final = _End()

Target = str | _End


class GateNode(FunctionNode):
    """Base of gates: a sync function whose result chooses among `targets`."""

    targets: tuple[Target, ...]
    """Every place this gate can send control: node names and possibly END."""
    multi_target: bool = False

    def __init__(self, func: Callable[..., Any], name: str | None, kind: str) -> None:
        super().__init__(func, name)
        if self.is_async or self.is_generator:
            mode = "an async" if self.is_async else "a generator"
            raise NodeTypeError(
                f"{kind} '{self.name}' is {mode} function, but gates must be plain `def` "
                "functions: they decide quickly and run before their targets.\n"
                f"How to fix: do the slow work in a node before the gate, and make "
                f"'{self.name}' a def that only reads its result."
            )

    def decide(self, result: object) -> tuple[str, ...]:
        """The node names chosen by `result` (empty for END); raises on invalid results."""
        raise NotImplementedError

    def _invalid(self, result: object, expected: str) -> NodeOutputError:
        hint = ""
        if isinstance(result, str) and result == "END":
            hint = "\nReturn the END constant (from hypergraph import END), not the string 'END'."
        return NodeOutputError(
            f"Gate '{self.name}' returned {result!r}, which is not {expected}.\n"
            f"Valid targets: {_target_list(self.targets)}.{hint}",
            node=self.name,
        )


class RouteNode(GateNode):
    """A gate returning one target name, END, None (fallback) or, if multi_target, a list."""

    def __init__(
        self,
        func: Callable[..., Any],
        targets: Iterable[Target | HyperNode],
        *,
        fallback: Target | HyperNode | None = None,
        multi_target: bool = False,
        name: str | None = None,
    ) -> None:
        super().__init__(func, name, "Route")
        self.targets = _target_names(targets, self.name)
        self.fallback = None if fallback is None else _target_names([fallback], self.name)[0]
        if self.fallback is not None and self.fallback not in self.targets:
            self.targets = (*self.targets, self.fallback)
        self.multi_target = bool(multi_target)

    def decide(self, result: object) -> tuple[str, ...]:
        if result is None:
            result = self.fallback
            if self.multi_target and result is not None:
                result = [result]
        if self.multi_target:
            if result is None or result is END:
                return ()
            if not isinstance(result, list | tuple):
                raise self._invalid(result, "a list of targets (this route is multi_target)")
            chosen: list[str] = []
            for item in result:
                if item is END:
                    continue
                if not isinstance(item, str) or item not in self.targets:
                    raise self._invalid(item, "one of its targets")
                if item not in chosen:
                    chosen.append(item)
            return tuple(chosen)
        if result is None or result is END:
            return ()
        if isinstance(result, str) and result in self.targets:
            return (result,)
        raise self._invalid(result, "one of its targets, END or None")


class IfElseNode(GateNode):
    """A gate that must return a real bool: True → `when_true`, False → `when_false`."""

    def __init__(
        self,
        func: Callable[..., Any],
        when_true: Target | HyperNode,
        when_false: Target | HyperNode,
        *,
        name: str | None = None,
    ) -> None:
        super().__init__(func, name, "IfElse")
        names = _target_names([when_true, when_false], self.name)  # drops a repeat
        if len(names) != 2:
            raise GraphConfigError(
                f"Gate '{self.name}' sends both True and False to {_shown(names[0])}, so it "
                "decides nothing.\nHow to fix: give when_true and when_false different "
                "targets, or drop the gate and connect the node directly."
            )
        self.when_true, self.when_false = names
        self.targets = (self.when_true, self.when_false)

    def decide(self, result: object) -> tuple[str, ...]:
        if type(result) is not bool:
            raise NodeOutputError(
                f"Gate '{self.name}' must return True or False, got "
                f"{type(result).__name__} {result!r:.60}.\n"
                f"How to fix: return bool(...) of the condition.",
                node=self.name,
            )
        target = self.when_true if result else self.when_false
        return () if target is END else (target,)


def route(
    targets: Iterable[Target | HyperNode],
    *,
    fallback: Target | HyperNode | None = None,
    multi_target: bool = False,
    name: str | None = None,
) -> Callable[[Callable[..., Any]], RouteNode]:
    """Decorate a gate function that returns the name of the node to run next.

    >>> @route(targets=["retrieve", END])
    ... def need_more(docs: list) -> str:
    ...     return END if docs else "retrieve"
    """
    if callable(targets) and not isinstance(targets, HyperNode):
        raise GraphConfigError(
            'route needs its targets: write @route(targets=["a", "b", END]), not bare @route.'
        )

    def decorate(func: Callable[..., Any]) -> RouteNode:
        return RouteNode(func, targets, fallback=fallback, multi_target=multi_target, name=name)

    mark_decorator(decorate, "route(targets=...)")
    return decorate


def ifelse(
    when_true: Target | HyperNode,
    when_false: Target | HyperNode,
    *,
    name: str | None = None,
) -> Callable[[Callable[..., Any]], IfElseNode]:
    """Decorate a gate function returning a bool: `@ifelse(when_true="a", when_false=END)`."""

    def decorate(func: Callable[..., Any]) -> IfElseNode:
        return IfElseNode(func, when_true, when_false, name=name)

    mark_decorator(decorate, "ifelse(...)")
    return decorate


def _shown(target: str) -> str:
    return "END" if target is END else f"'{target}'"


def _target_names(targets: Iterable[Target | HyperNode], gate: str) -> tuple[Target, ...]:
    if isinstance(targets, str | HyperNode) or not isinstance(targets, Iterable):
        targets = [targets]
    names: list[Target] = []
    for t in targets:
        wrong_kind = wrong_kind_message(t, f"Gate '{gate}'")
        if wrong_kind:
            raise NodeTypeError(wrong_kind)
        name = t.name if isinstance(t, HyperNode) else t
        if isinstance(name, str) and name is not END and name == "END":
            # The plain string (or a node called END) would later be looked up as a
            # node; the sentinel is the only way to say "stop this path".
            what = "a node named 'END'" if isinstance(t, HyperNode) else "the string 'END'"
            raise GraphConfigError(
                f"Gate '{gate}' has {what} as a target, which is not the END constant.\n"
                "A gate stops a path by returning END itself; 'END' as a name is reserved "
                "for it.\n"
                "How to fix: use the constant (from hypergraph import END) in targets, "
                "fallback and return values"
                + (", and rename the node." if isinstance(t, HyperNode) else ".")
            )
        if not (name is END or (isinstance(name, str) and name)):
            raise GraphConfigError(
                f"Gate '{gate}' has target {t!r}; a target is a node name (a string), "
                "a node, or END."
            )
        if name not in names:
            names.append(name)
    if not names:
        raise GraphConfigError(f"Gate '{gate}' has no targets; give at least one node name or END.")
    return tuple(names)


def _target_list(targets: tuple[Target, ...]) -> str:
    names = quoted(t for t in targets if t is not END)
    return names + (", END" if END in targets else "")
