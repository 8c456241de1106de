"""InterruptNode and `@interrupt`: a node that asks a human and waits for the answer (SPEC 11).

The decorated function returns the question (any value: a draft to approve, a list of
options). Its one output is the answer. A run that was given the answer (a value under
the output's name) passes it through without calling the function; a run without it
calls the function, pauses the node, finishes whatever does not depend on the answer
and returns with `status == RunStatus.PAUSED` and the question in `result.pauses`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, overload

from .._introspect import mark_decorator
from ..errors import GraphConfigError
from .function import FunctionNode


class InterruptNode(FunctionNode):
    """A function node whose output is a human's answer to the question it returns.

    >>> from hypergraph import Graph, SyncRunner, interrupt
    >>> @interrupt(output_name="approved")
    ... def review(draft: str) -> str:
    ...     return f"Send {draft!r}?"
    >>> result = SyncRunner().run(Graph([review]), draft="hi")
    >>> result.status.value, result.pause.value, result.pause.response_key
    ('paused', "Send 'hi'?", 'approved')
    >>> SyncRunner().run(Graph([review]), draft="hi", approved=True)["approved"]
    True
    """

    def __init__(
        self,
        func: Callable[..., Any],
        name: str | None = None,
        output_name: str | None = None,
        *,
        rename_inputs: Mapping[str, str] | None = None,
    ) -> None:
        shown = getattr(func, "__name__", "the function")
        if not isinstance(output_name, str) or not output_name:
            raise GraphConfigError(
                f"Interrupt '{name or shown}' needs one output_name: the name its answer "
                f"is given under, got {output_name!r}.\n"
                'How to fix: @interrupt(output_name="approved").'
            )
        super().__init__(func, name, output_name, rename_inputs=rename_inputs)
        if self.is_generator or self.context_param is not None:
            what = "is a generator" if self.is_generator else "takes a NodeContext"
            raise GraphConfigError(
                f"Interrupt '{self.name}' {what}, but an interrupt only returns its "
                "question: nothing streams from it.\n"
                "How to fix: return the question (any value) from a plain function; "
                "stream in a node before it."
            )

    @property
    def answer_name(self) -> str:
        """The name the answer is given under (the node's output)."""
        return self.outputs[0]


@overload
def interrupt(
    func: Callable[..., Any], *, output_name: str | None = None, name: str | None = None
) -> InterruptNode: ...
@overload
def interrupt(
    *, output_name: str, name: str | None = None
) -> Callable[[Callable[..., Any]], InterruptNode]: ...
def interrupt(
    func: Callable[..., Any] | None = None,
    *,
    output_name: str | None = None,
    name: str | None = None,
) -> InterruptNode | Callable[[Callable[..., Any]], InterruptNode]:
    """Make an interrupt: `@interrupt(output_name="approved")` on a function returning the
    question. See `InterruptNode`. (A bare `@interrupt` is refused: the answer needs a
    name.)"""
    if func is None:

        def decorate(f: Callable[..., Any]) -> InterruptNode:
            return InterruptNode(f, name, output_name)

        mark_decorator(decorate, f"interrupt(output_name={output_name!r})")
        return decorate
    return InterruptNode(func, name, output_name)
