"""The node API (SPEC §3): making nodes, what they expose, and renaming without mutation.

Errors raised while making or renaming nodes are in test_errors.py.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from conftest import run_async
from hypergraph import AsyncRunner, FunctionNode, Graph, NodeContext, RunResult, node

RunFn = Callable[..., RunResult]

# -- functions used as nodes ------------------------------------------------------------


def add(x: int, y: int = 1) -> int:
    return x + y


def plain(x: int) -> int:
    return x


async def coroutine(x: int) -> int:
    return x


def generator(x: int):  # type: ignore[no-untyped-def]
    yield x


async def async_generator(x: int):  # type: ignore[no-untyped-def]
    yield x


# -- making nodes -----------------------------------------------------------------------


def test_node_decorator_with_one_output_name_makes_a_function_node() -> None:
    @node(output_name="total")
    def total(a: int, b: int) -> int:
        return a + b

    assert isinstance(total, FunctionNode)
    assert total.name == "total"
    assert total.inputs == ("a", "b")
    assert total.outputs == ("total",)


def test_node_decorator_with_a_tuple_declares_several_outputs_in_order() -> None:
    @node(output_name=("quotient", "remainder"))
    def divide(a: int, b: int) -> tuple[int, int]:
        return divmod(a, b)

    assert divide.outputs == ("quotient", "remainder")


def test_bare_node_decorator_makes_a_side_effect_node_without_outputs() -> None:
    @node
    def log(message: str) -> None:
        pass

    assert isinstance(log, FunctionNode)
    assert log.name == "log"
    assert log.inputs == ("message",)
    assert log.outputs == ()


def test_call_form_takes_the_function_and_the_output_name() -> None:
    n = node(add, "total")
    assert n.name == "add"
    assert n.inputs == ("x", "y")
    assert n.outputs == ("total",)
    assert n.func is add


def test_call_form_accepts_a_name() -> None:
    n = node(add, "total", name="adder")
    assert n.name == "adder"


def test_function_node_constructor_takes_name_output_and_input_renames() -> None:
    n = FunctionNode(add, name="adder", output_name="total", rename_inputs={"x": "base"})
    assert n.name == "adder"
    assert n.inputs == ("base", "y")
    assert n.outputs == ("total",)
    assert n.defaults == {"y": 1}


def test_function_node_defaults_to_the_function_name_and_no_outputs() -> None:
    n = FunctionNode(add)
    assert n.name == "add"
    assert n.outputs == ()


def test_inputs_are_the_parameter_names_in_declaration_order() -> None:
    def f(zeta: int, alpha: int, mid: int = 0, *, last: int = 1) -> int:
        return 0

    assert node(f, "out").inputs == ("zeta", "alpha", "mid", "last")


def test_defaults_map_each_defaulted_input_to_its_default() -> None:
    def f(a: int, b: int = 2, *, c: str = "c") -> int:
        return 0

    assert node(f, "out").defaults == {"b": 2, "c": "c"}


def test_func_is_the_untouched_function_and_calling_the_node_calls_it() -> None:
    n = node(add, "total")
    assert n.func is add
    assert n(2, 3) == 5
    assert n(x=2) == 3


def test_node_keeps_the_function_docstring() -> None:
    def documented(x: int) -> int:
        """Say what it does."""
        return x

    assert node(documented, "y").__doc__ == "Say what it does."


@pytest.mark.parametrize(
    ("func", "is_async", "is_generator"),
    [
        (plain, False, False),
        (coroutine, True, False),
        (generator, False, True),
        (async_generator, True, True),
    ],
    ids=["def", "async def", "generator", "async generator"],
)
def test_execution_mode_is_detected_from_the_function(
    func: object, is_async: bool, is_generator: bool
) -> None:
    n = node(func, "out")  # type: ignore[call-overload]
    assert n.is_async is is_async
    assert n.is_generator is is_generator


def test_a_node_context_parameter_is_not_an_input() -> None:
    def write(prompt: str, ctx: NodeContext, style: str = "plain") -> str:
        return prompt

    write.__annotations__["ctx"] = NodeContext  # the class itself, not a string
    n = node(write, "text")
    assert n.inputs == ("prompt", "style")
    assert "ctx" not in n.defaults


def test_a_node_context_parameter_given_as_a_string_annotation_is_not_an_input() -> None:
    def write(prompt: str, ctx: NodeContext) -> str:
        return prompt

    write.__annotations__["ctx"] = "NodeContext"
    assert node(write, "text").inputs == ("prompt",)


def test_a_node_context_is_injected_when_the_node_runs(run: RunFn) -> None:
    seen: list[object] = []

    @node(output_name="text")
    def write(prompt: str, ctx: NodeContext) -> str:
        seen.append(ctx)
        return prompt.upper()

    result = run(Graph([write]), {"prompt": "hi"})
    assert result["text"] == "HI"
    assert len(seen) == 1
    assert isinstance(seen[0], NodeContext)


# -- running nodes ----------------------------------------------------------------------


def test_a_multi_output_node_writes_each_tuple_item_to_its_name(run: RunFn) -> None:
    @node(output_name=("quotient", "remainder"))
    def divide(a: int, b: int) -> tuple[int, int]:
        return divmod(a, b)

    result = run(Graph([divide]), {"a": 7, "b": 2})
    assert result.values == {"quotient": 3, "remainder": 1}


def test_a_generator_node_outputs_the_list_of_what_it_yields(run: RunFn) -> None:
    @node(output_name="numbers")
    def count(n: int):  # type: ignore[no-untyped-def]
        yield from range(n)

    assert run(Graph([count]), {"n": 3})["numbers"] == [0, 1, 2]


def test_an_async_generator_node_outputs_the_list_of_what_it_yields() -> None:
    @node(output_name="numbers")
    async def count(n: int):  # type: ignore[no-untyped-def]
        for i in range(n):
            yield i

    result = run_async(AsyncRunner().run(Graph([count]), {"n": 3}))
    assert result["numbers"] == [0, 1, 2]


def test_a_node_without_outputs_runs_for_its_side_effect(run: RunFn) -> None:
    seen: list[str] = []

    @node
    def log(message: str) -> None:
        seen.append(message)

    result = run(Graph([log]), {"message": "hello"})
    assert seen == ["hello"]
    assert result.values == {}


def test_a_mutable_default_is_never_shared_between_runs(run: RunFn) -> None:
    @node(output_name="bag")
    def collect(item: int, items: list[int] = []) -> list[int]:  # noqa: B006 - the point
        items.append(item)
        return items

    graph = Graph([collect])
    assert run(graph, {"item": 1})["bag"] == [1]
    assert run(graph, {"item": 2})["bag"] == [2]
    assert collect.defaults == {"items": []}


def test_a_mutable_default_of_a_renamed_input_is_still_per_use(run: RunFn) -> None:
    @node(output_name="bag")
    def collect(item: int, items: list[int] = []) -> list[int]:  # noqa: B006 - the point
        items.append(item)
        return items

    graph = Graph([collect.with_inputs(items="pile")])
    assert run(graph, {"item": 1})["bag"] == [1]
    assert run(graph, {"item": 2})["bag"] == [2]


# -- renaming ---------------------------------------------------------------------------


def test_with_name_returns_a_new_node_and_leaves_the_original_alone() -> None:
    original = node(add, "total")
    renamed = original.with_name("adder")
    assert renamed is not original
    assert renamed.name == "adder"
    assert original.name == "add"
    assert renamed.inputs == original.inputs
    assert renamed.outputs == original.outputs
    assert renamed.func is add


def test_with_inputs_returns_a_new_node_and_leaves_the_original_alone() -> None:
    original = node(add, "total")
    renamed = original.with_inputs(x="base", y="step")
    assert renamed is not original
    assert renamed.inputs == ("base", "step")
    assert renamed.defaults == {"step": 1}
    assert original.inputs == ("x", "y")
    assert original.defaults == {"y": 1}


def test_with_inputs_accepts_a_mapping() -> None:
    assert node(add, "total").with_inputs({"x": "base"}).inputs == ("base", "y")


def test_rename_inputs_is_an_alias_of_with_inputs() -> None:
    original = node(add, "total")
    assert original.rename_inputs(x="base").inputs == ("base", "y")
    assert original.inputs == ("x", "y")


def test_with_outputs_returns_a_new_node_and_leaves_the_original_alone() -> None:
    def divide(a: int, b: int) -> tuple[int, int]:
        return divmod(a, b)

    original = node(divide, ("q", "r"))
    renamed = original.with_outputs(q="quotient")
    assert renamed is not original
    assert renamed.outputs == ("quotient", "r")
    assert original.outputs == ("q", "r")


def test_rename_outputs_is_an_alias_of_with_outputs() -> None:
    original = node(add, "total")
    assert original.rename_outputs(total="sum").outputs == ("sum",)
    assert original.outputs == ("total",)


def test_inputs_can_be_swapped_in_one_rename() -> None:
    def sub(a: int, b: int) -> int:
        return a - b

    assert node(sub, "d").with_inputs(a="b", b="a").inputs == ("b", "a")


def test_a_renamed_node_reads_and_writes_its_new_names(run: RunFn) -> None:
    renamed = node(add, "total").with_inputs(x="base").with_outputs(total="sum")
    result = run(Graph([renamed]), {"base": 10})
    assert result.values == {"sum": 11}


def test_one_function_can_appear_twice_in_a_graph_under_two_names(run: RunFn) -> None:
    first = node(add, "once").with_name("first")
    second = node(add, "twice").with_name("second").with_inputs(x="once")
    result = run(Graph([first, second]), {"x": 1})
    assert result.values == {"once": 2, "twice": 3}
