"""DAGs without gates: a linear chain, a diamond, multiple outputs, defaults, derived graphs."""

from __future__ import annotations

from hypergraph import Graph, node

# -- linear chain: x -> doubled -> plus_one -> squared --------------------------------------


@node(output_name="doubled")
def double(x: int) -> int:
    return 2 * x


@node(output_name="plus_one")
def add_one(doubled: int) -> int:
    return doubled + 1


@node(output_name="squared")
def square(plus_one: int) -> int:
    return plus_one * plus_one


def linear_chain() -> Graph:
    return Graph([double, add_one, square])


# -- diamond: x -> base -> (left, right) -> total -------------------------------------------


@node(output_name="base")
def top(x: int) -> int:
    return x + 1


@node(output_name="left")
def left_arm(base: int) -> int:
    return base * 2


@node(output_name="right")
def right_arm(base: int) -> int:
    return base * 3


@node(output_name="total")
def join(left: int, right: int) -> int:
    return left * 100 + right  # not symmetric: swapping the arms would show


def diamond() -> Graph:
    return Graph([top, left_arm, right_arm, join])


# -- one node, several outputs ---------------------------------------------------------------


@node(output_name=("quotient", "remainder"))
def divide(dividend: int, divisor: int) -> tuple[int, int]:
    return divmod(dividend, divisor)


@node(output_name="check")
def recombine(quotient: int, remainder: int, divisor: int) -> int:
    return quotient * divisor + remainder


def multi_output() -> Graph:
    return Graph([divide, recombine])


# -- defaults --------------------------------------------------------------------------------


@node(output_name="scaled")
def scale(x: int, factor: int = 10) -> int:
    return x * factor


@node(output_name="items")
def collect(item: str, items: list[str] = []) -> list[str]:  # noqa: B006 - the point of the test
    items.append(item)  # mutates its default: must not leak into the next run
    return items


def with_defaults() -> Graph:
    return Graph([scale])


def mutable_default() -> Graph:
    return Graph([collect])


# -- bind ------------------------------------------------------------------------------------


@node(output_name="total")
def add(x: int, y: int) -> int:
    return x * 1000 + y


def adder() -> Graph:
    return Graph([add])


# -- graphs that record which nodes ran ------------------------------------------------------


def select_graph(calls: list[str]) -> Graph:
    """`y` needs only `make_y`; `z` and `w` come from a separate branch."""

    @node(output_name="y")
    def make_y(x: int) -> int:
        calls.append("make_y")
        return x + 1

    @node(output_name="z")
    def make_z(x: int) -> int:
        calls.append("make_z")
        return x + 2

    @node(output_name="w")
    def make_w(z: int, y: int) -> int:
        calls.append("make_w")
        return z * y

    return Graph([make_y, make_z, make_w])


def entrypoint_graph(calls: list[str]) -> Graph:
    """first(x) -> p -> second(p) -> q -> third(q) -> r."""

    @node(output_name="p")
    def first(x: int) -> int:
        calls.append("first")
        return x + 1

    @node(output_name="q")
    def second(p: int) -> int:
        calls.append("second")
        return p * 10

    @node(output_name="r")
    def third(q: int) -> int:
        calls.append("third")
        return q - 3

    return Graph([first, second, third])
