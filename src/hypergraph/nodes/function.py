"""FunctionNode and the `@node` decorator: a plain function with named outputs."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, overload

from .._introspect import callable_name, check_callable, needs_copy, read_signature
from ..errors import GraphConfigError
from .base import HyperNode
from .context import NodeContext


class FunctionNode(HyperNode):
    """A node made from a function; its parameters are its inputs.

    >>> double = FunctionNode(lambda x: 2 * x, name="double", output_name="y")
    >>> double(3)          # still callable like the function
    6
    """

    func: Callable[..., Any]
    context_param: str | None

    def __init__(
        self,
        func: Callable[..., Any],
        name: str | None = None,
        output_name: str | tuple[str, ...] | list[str] | None = None,
        *,
        rename_inputs: Mapping[str, str] | None = None,
    ) -> None:
        if isinstance(func, FunctionNode):
            func = func.func
        check_callable(func, "A node")
        self.func = func
        self.name = name if name is not None else callable_name(func)
        if not isinstance(self.name, str) or not self.name:
            raise GraphConfigError(f"A node name must be a non-empty string, got {self.name!r}.")
        sig = read_signature(func, self.name, NodeContext)
        self.inputs = self._params = sig.params
        self.defaults = dict(sig.defaults)
        self.context_param = sig.context_param
        self.is_async = sig.is_async
        self.is_generator = sig.is_generator
        self.outputs = _output_names(output_name, self.name)
        if self.is_generator and len(self.outputs) > 1:
            raise GraphConfigError(
                f"Generator node '{self.name}' declares {len(self.outputs)} outputs "
                f"{self.outputs!r}, but a generator's output is the single list of what it "
                "yields.\nHow to fix: give it one output_name."
            )
        self.copied_defaults = frozenset(k for k, v in self.defaults.items() if needs_copy(v))
        self.__doc__ = getattr(func, "__doc__", None)
        self.__wrapped__ = func
        if rename_inputs:
            self._rename_inputs(dict(rename_inputs))

    def _rename_inputs(self, changes: dict[str, str]) -> None:
        super()._rename_inputs(changes)
        self.copied_defaults = frozenset(changes.get(k, k) for k in self.copied_defaults)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.func(*args, **kwargs)


@overload
def node(
    func: Callable[..., Any],
    output_name: str | tuple[str, ...] | None = None,
    *,
    name: str | None = None,
    rename_inputs: Mapping[str, str] | None = None,
) -> FunctionNode: ...
@overload
def node(
    func: None = None,
    output_name: str | tuple[str, ...] | None = None,
    *,
    name: str | None = None,
    rename_inputs: Mapping[str, str] | None = None,
) -> Callable[[Callable[..., Any]], FunctionNode]: ...
def node(
    func: Callable[..., Any] | None = None,
    output_name: str | tuple[str, ...] | None = None,
    *,
    name: str | None = None,
    rename_inputs: Mapping[str, str] | None = None,
) -> FunctionNode | Callable[[Callable[..., Any]], FunctionNode]:
    """Make a node from a function: `@node(output_name="y")`, bare `@node`, or `node(f, "y")`.

    >>> @node(output_name="greeting")
    ... def greet(name: str) -> str:
    ...     return f"Hello, {name}"
    >>> greet.inputs, greet.outputs
    (('name',), ('greeting',))
    """
    if isinstance(func, str):
        raise GraphConfigError(
            f"node({func!r}) got a string where the function belongs.\n"
            f"How to fix: write @node(output_name={func!r})."
        )
    if func is None:

        def decorate(f: Callable[..., Any]) -> FunctionNode:
            return FunctionNode(f, name, output_name, rename_inputs=rename_inputs)

        return decorate
    return FunctionNode(func, name, output_name, rename_inputs=rename_inputs)


def _output_names(output_name: object, node_name: str) -> tuple[str, ...]:
    if output_name is None:
        return ()
    names = (output_name,) if isinstance(output_name, str) else output_name
    if not isinstance(names, tuple | list) or not all(isinstance(n, str) and n for n in names):
        raise GraphConfigError(
            f"output_name of node '{node_name}' must be a name or a tuple of names, "
            f'got {output_name!r}.\nHow to fix: output_name="result" or '
            'output_name=("a", "b").'
        )
    if len(set(names)) != len(names):
        raise GraphConfigError(
            f"Node '{node_name}' declares output names {tuple(names)!r} with a repeat; "
            "each output needs its own name."
        )
    return tuple(names)
