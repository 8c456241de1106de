"""FunctionNode and the `@node` decorator: a plain function with named outputs."""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, overload

from .._introspect import (
    callable_name,
    check_callable,
    mark_decorator,
    needs_copy,
    param_annotations,
    read_signature,
    return_annotation,
)
from ..errors import GraphConfigError, NodeTypeError
from .base import HyperNode, check_node_name
from .context import NodeContext
from .policy import NodePolicy

if TYPE_CHECKING:
    from .retry import RetryPolicy


class FunctionNode(HyperNode):
    """A node made from a function; its parameters are its inputs.

    >>> double = FunctionNode(lambda x: 2 * x, name="double", output_name="y")
    >>> double(3)          # still callable like the function
    6

    `retry=`, `timeout=`, `idle_timeout=` and `cache=` guard its calls (SPEC 10).
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
        retry: RetryPolicy | None = None,
        timeout: float | None = None,
        idle_timeout: float | None = None,
        cache: bool = False,
    ) -> None:
        if isinstance(func, FunctionNode):
            func = func.func
        check_callable(func, "A node")
        self.func = func
        self.name = name if name is not None else callable_name(func)
        check_node_name(self.name)
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
        self.policy = NodePolicy.of(
            self.name,
            retry=retry,
            timeout=timeout,
            idle_timeout=idle_timeout,
            cache=cache,
            is_generator=self.is_generator,
            has_context=self.context_param is not None,
        )
        self.__doc__ = getattr(func, "__doc__", None)
        self.__wrapped__ = func
        if rename_inputs:
            self._rename_inputs(dict(rename_inputs))

    def _rename_inputs(self, changes: dict[str, str]) -> None:
        super()._rename_inputs(changes)
        self.copied_defaults = frozenset(changes.get(k, k) for k in self.copied_defaults)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.func(*args, **kwargs)

    def input_types(self) -> dict[str, list[tuple[str, Any]]]:
        hints = param_annotations(self.func)
        return {
            inp: [(self.name, hints.get(param, inspect.Parameter.empty))]
            for inp, param in zip(self.inputs, self._params, strict=True)
        }

    def output_types(self) -> dict[str, list[tuple[str, Any]]]:
        ret = return_annotation(self.func)
        count = len(self.outputs)
        return {
            out: [(self.name, self._output_type(ret, i, count))]
            for i, out in enumerate(self.outputs)
        }

    def _output_type(self, ret: Any, i: int, count: int) -> Any:
        if ret is inspect.Parameter.empty:
            return ret
        if self.is_generator:
            # A generator's output is the list of what it yields: Iterator[T] -> list[T].
            args = typing.get_args(ret)
            return list[args[0]] if args else list  # type: ignore[valid-type]
        if count == 1:
            return ret
        args = typing.get_args(ret)
        return args[i] if typing.get_origin(ret) is tuple and len(args) == count else ret


_NO_FUNCTION: Any = object()


@overload
def node(
    func: Callable[..., Any],
    output_name: str | tuple[str, ...] | None = None,
    *,
    name: str | None = None,
    rename_inputs: Mapping[str, str] | None = None,
    retry: RetryPolicy | None = None,
    timeout: float | None = None,
    idle_timeout: float | None = None,
    cache: bool = False,
) -> FunctionNode: ...
@overload
def node(
    *,
    output_name: str | tuple[str, ...] | None = None,
    name: str | None = None,
    rename_inputs: Mapping[str, str] | None = None,
    retry: RetryPolicy | None = None,
    timeout: float | None = None,
    idle_timeout: float | None = None,
    cache: bool = False,
) -> Callable[[Callable[..., Any]], FunctionNode]: ...
def node(
    func: Callable[..., Any] = _NO_FUNCTION,
    output_name: str | tuple[str, ...] | None = None,
    *,
    name: str | None = None,
    rename_inputs: Mapping[str, str] | None = None,
    retry: RetryPolicy | None = None,
    timeout: float | None = None,
    idle_timeout: float | None = None,
    cache: bool = False,
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
        # Explicitly None (a variable that was meant to hold the function): without this
        # check node() would return a decorator and the mistake would surface later.
        shown = f", {output_name!r}" if output_name is not None else ""
        raise NodeTypeError(
            f"node() got None where the function belongs.\n"
            f"How to fix: pass the function itself, node(func{shown}), or use "
            f"@node(output_name=...) as a decorator."
        )
    guards: dict[str, Any] = {
        "retry": retry,
        "timeout": timeout,
        "idle_timeout": idle_timeout,
        "cache": cache,
    }
    if func is _NO_FUNCTION:

        def decorate(f: Callable[..., Any]) -> FunctionNode:
            return FunctionNode(f, name, output_name, rename_inputs=rename_inputs, **guards)

        shown = "" if output_name is None else f"output_name={output_name!r}"
        mark_decorator(decorate, f"node({shown})")
        return decorate
    return FunctionNode(func, name, output_name, rename_inputs=rename_inputs, **guards)


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
