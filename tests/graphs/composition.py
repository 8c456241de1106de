"""Graphs built from graphs: nested graphs, mapped graph nodes, nested loops and maps."""

from __future__ import annotations

from collections.abc import Iterator

from hypergraph import END, Graph, node, route


class ItemBoom(RuntimeError):
    """The exception an item of a map raises on purpose."""


# -- one level -------------------------------------------------------------------------------


@node(output_name="doubled")
def double(x: int) -> int:
    return 2 * x


@node(output_name="y")
def add_offset(doubled: int, offset: int = 1) -> int:
    return doubled + offset


def inner_graph() -> Graph:
    """x -> doubled -> y (y = 2x + offset, offset defaults to 1), named "inner"."""
    return Graph([double, add_offset], name="inner")


@node(output_name="x")
def prepare(a: int) -> int:
    return a + 1


@node(output_name="report")
def report(y: int) -> str:
    return f"y={y}"


def flat_nesting() -> Graph:
    """a -> prepare -> x -> [inner: doubled, y] -> report."""
    return Graph([prepare, inner_graph().as_node(), report])


# -- two levels ------------------------------------------------------------------------------


@node(output_name="tripled")
def triple(value: int) -> int:
    return value * 3


def two_levels() -> Graph:
    """outer: start(seed) -> value -> a[ b[ node: tripled ] , plus_one ] -> finish.

    Events of the innermost node carry the path "a/b/node".
    """
    b = Graph([triple.with_name("node")], name="b")

    @node(output_name="plus_one")
    def plus_one(tripled: int) -> int:
        return tripled + 1

    a = Graph([b.as_node(), plus_one], name="a")

    @node(output_name="value")
    def start(seed: int) -> int:
        return seed * 10

    @node(output_name="final")
    def finish(plus_one: int, tripled: int) -> tuple[int, int]:
        return (tripled, plus_one)

    return Graph([start, a.as_node(), finish])


# -- maps ------------------------------------------------------------------------------------


@node(output_name="scaled")
def scale(x: int, factor: int) -> int:
    return x * factor


@node(output_name="label")
def label(scaled: int, prefix: str = "#") -> str:
    return f"{prefix}{scaled}"


def scale_graph() -> Graph:
    """x, factor (, prefix) -> scaled -> label; named "scale"."""
    return Graph([scale, label], name="scale")


def failing_items(raised: dict[int, BaseException], bad: set[int]) -> Graph:
    """x -> checked (raises ItemBoom for x in `bad`, recording the object in `raised`)."""

    @node(output_name="checked")
    def check_item(x: int) -> int:
        if x in bad:
            exc = ItemBoom(f"item x={x} is bad")
            raised[x] = exc
            raise exc
        return x * 10

    return Graph([check_item], name="items")


# -- loops -----------------------------------------------------------------------------------


def counter_loop(calls: list[int]) -> Graph:
    """The counter loop, named "loop": increment(count) -> count until check says END at 10."""

    @node(output_name="count")
    def increment(count: int) -> int:
        calls.append(count)
        return count + 1

    @route(targets=["increment", END])
    def check(count: int) -> object:
        return END if count >= 10 else "increment"

    return Graph([increment, check], name="loop")


def loop_inside_outer(calls: list[int]) -> Graph:
    """start -> seed -> loop (count: seed in, final out) -> summary."""

    @node(output_name="seed")
    def make_seed(start: int) -> int:
        return start * 2

    loop = counter_loop(calls).as_node().with_inputs(count="seed").with_outputs(count="final")

    @node(output_name="summary")
    def summarize(final: int, seed: int) -> str:
        return f"{seed}->{final}"

    return Graph([make_seed, loop, summarize])


# -- streaming -------------------------------------------------------------------------------


@node(output_name="tokens")
def spell(word: str) -> Iterator[str]:
    yield from word


@node(output_name="text")
def join_tokens(tokens: list[str]) -> str:
    return "".join(tokens)


def speller() -> Graph:
    """word -> tokens (a generator: one chunk per letter) -> text; named "inner"."""
    return Graph([spell, join_tokens], name="inner")
