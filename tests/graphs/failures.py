"""A graph where one node raises: its downstream stops, an independent branch goes on."""

from __future__ import annotations

from hypergraph import Graph, node


class NodeBoom(RuntimeError):
    """The failing node's own exception type."""


def failing_graph(calls: list[str], raised: list[BaseException]) -> Graph:
    """x -> prepared -> explode (raises) -> after_explode; x -> independent -> also_independent.

    `raised` receives the exact exception object that `explode` raised.
    """

    @node(output_name="prepared")
    def prepare(x: int) -> int:
        calls.append("prepare")
        return x + 1

    @node(output_name="exploded")
    def explode(prepared: int) -> int:
        calls.append("explode")
        exc = NodeBoom(f"cannot handle {prepared}")
        raised.append(exc)
        raise exc

    @node(output_name="after")
    def after_explode(exploded: int) -> int:
        calls.append("after_explode")
        return exploded

    @node(output_name="independent")
    def independent(x: int) -> int:
        calls.append("independent")
        return x * 7

    @node(output_name="also_independent")
    def also_independent(independent: int) -> int:
        calls.append("also_independent")
        return independent + 1

    return Graph([prepare, explode, after_explode, independent, also_independent])
