"""Gates: @route to each target or END, fallback, multi-target routes, @ifelse."""

from __future__ import annotations

from hypergraph import END, Graph, ifelse, node, route


def single_route(calls: list[str]) -> Graph:
    """`pick(choice)` sends `x` to `handle_a` or `handle_b` (both produce `handled`) or END."""

    @route(targets=["handle_a", "handle_b", END])
    def pick(choice: str) -> object:
        calls.append("pick")
        return END if choice == "end" else f"handle_{choice}"

    @node(output_name="handled")
    def handle_a(x: int) -> str:
        calls.append("handle_a")
        return f"A{x}"

    @node(output_name="handled")
    def handle_b(x: int) -> str:
        calls.append("handle_b")
        return f"B{x}"

    @node(output_name="final")
    def finish(handled: str) -> str:
        calls.append("finish")
        return handled + "!"

    return Graph([pick, handle_a, handle_b, finish])


def fallback_route(calls: list[str], fallback: str | None) -> Graph:
    """`maybe(x)` returns None when x is negative: the fallback runs, or nothing does."""

    @route(targets=["positive"], fallback=fallback)
    def maybe(x: int) -> str | None:
        return "positive" if x >= 0 else None

    @node(output_name="sign")
    def positive(x: int) -> str:
        calls.append("positive")
        return "+"

    @node(output_name="sign")
    def negative(x: int) -> str:
        calls.append("negative")
        return "-"

    nodes = [maybe, positive, negative] if fallback else [maybe, positive]
    return Graph(nodes)


def gate_listed_after_target(calls: list[str]) -> Graph:
    """The gate comes last in graph order, yet it must decide before its target runs."""

    @node(output_name="guarded")
    def guarded_work(x: int) -> int:
        calls.append("guarded_work")
        return x

    @route(targets=["guarded_work", END])
    def gatekeeper(x: int) -> object:
        calls.append("gatekeeper")
        return "guarded_work" if x > 0 else END

    return Graph([guarded_work, gatekeeper])


def multi_route(calls: list[str]) -> Graph:
    """`fan(picks)` returns the list `picks`: every chosen worker runs.

    `gather` reads all three results with defaults, so it runs whatever was chosen.
    """

    @route(targets=["work_a", "work_b", "work_c", END], multi_target=True)
    def fan(picks: list[str]) -> list[str]:
        return list(picks)

    @node(output_name="a")
    def work_a(x: int) -> int:
        calls.append("work_a")
        return x + 1

    @node(output_name="b")
    def work_b(x: int) -> int:
        calls.append("work_b")
        return x + 2

    @node(output_name="c")
    def work_c(x: int) -> int:
        calls.append("work_c")
        return x + 3

    @node(output_name="gathered")
    def gather(a: int = 0, b: int = 0, c: int = 0) -> int:
        calls.append("gather")
        return 100 * a + 10 * b + c

    return Graph([fan, work_a, work_b, work_c, gather])


def if_else(calls: list[str]) -> Graph:
    """x > 0 doubles it, otherwise negates it; both branches produce `y`."""

    @ifelse(when_true="double_it", when_false="negate_it")
    def is_positive(x: int) -> bool:
        return x > 0

    @node(output_name="y")
    def double_it(x: int) -> int:
        calls.append("double_it")
        return 2 * x

    @node(output_name="y")
    def negate_it(x: int) -> int:
        calls.append("negate_it")
        return -x

    return Graph([is_positive, double_it, negate_it])


def if_else_to_end(calls: list[str]) -> Graph:
    @ifelse(when_true="shout", when_false=END)
    def loud(text: str) -> bool:
        return text.endswith("!")

    @node(output_name="shouted")
    def shout(text: str) -> str:
        calls.append("shout")
        return text.upper()

    return Graph([loud, shout])


def if_else_non_bool(calls: list[str]) -> Graph:
    """The gate returns 1, not True: the gate fails and neither branch runs."""

    @ifelse(when_true="yes", when_false="no")
    def truthy(x: int) -> bool:
        return x  # type: ignore[return-value]

    @node(output_name="answer")
    def yes(x: int) -> str:
        calls.append("yes")
        return "yes"

    @node(output_name="answer")
    def no(x: int) -> str:
        calls.append("no")
        return "no"

    return Graph([truthy, yes, no])
