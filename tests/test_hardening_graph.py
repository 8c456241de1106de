"""Issue 9, items 15-17 and 23-25: wrong things handed to nodes, graphs and runs get an
error that says what was passed and which API fits; END is a str; strict_types sees
through nested graphs; producers on exclusive branches are accepted wherever they lie.
"""

from __future__ import annotations

import copy
import pickle
from collections.abc import Callable
from typing import Any

import pytest

from conftest import run_async
from hypergraph import (
    END,
    AsyncRunner,
    FunctionNode,
    Graph,
    GraphConfigError,
    HypergraphError,
    MissingInputError,
    RenameError,
    RunResult,
    SyncRunner,
    ifelse,
    node,
    route,
)
from hypergraph.errors import InputValueError, NodeOutputError, NodeTypeError

RunFn = Callable[..., RunResult]


def says(exc: BaseException, *fragments: str) -> None:
    message = str(exc)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in message:\n{message}"


def never_says(exc: BaseException, *fragments: str) -> None:
    message = str(exc)
    for fragment in fragments:
        assert fragment not in message, f"{fragment!r} in message:\n{message}"


def echo(x: int) -> int:
    return x


def inner_graph() -> Graph:
    return Graph([node(echo, "y")], name="inner")


# -- item 15: what was passed, said plainly ---------------------------------------------


GRAPH_AS_NODE: dict[str, Callable[[Graph], object]] = {
    "in the node list": lambda g: Graph([g]),
    "as the node list": lambda g: Graph(g),  # type: ignore[arg-type]
    "to node()": lambda g: node(g, "y"),  # type: ignore[call-overload]
    "to FunctionNode": lambda g: FunctionNode(g, output_name="y"),  # type: ignore[arg-type]
    "as a route target": lambda g: route(targets=[g, END])(lambda y: END),  # type: ignore[list-item]
    "as an ifelse target": lambda g: ifelse(g, END)(lambda y: True),  # type: ignore[arg-type]
    "as the entrypoint": lambda g: Graph([node(echo, "z")], entrypoint=g),  # type: ignore[arg-type]
}


@pytest.mark.parametrize("where", GRAPH_AS_NODE)
def test_a_graph_passed_where_a_node_belongs_is_told_to_use_as_node(where: str) -> None:
    with pytest.raises(GraphConfigError) as info:
        GRAPH_AS_NODE[where](inner_graph())
    says(info.value, "'inner'", ".as_node()", "How to fix")


@pytest.mark.parametrize("key", [None, 1, ("x",)])
def test_a_run_value_whose_name_is_not_a_string_fails_saying_names_are_strings(
    run: RunFn, key: object
) -> None:
    @node(output_name="y")
    def f(x: int) -> int:
        return x

    with pytest.raises(InputValueError) as info:
        run(Graph([f]), {key: 1, "x": 1})
    says(info.value, repr(key), type(key).__name__, "string", "How to fix")
    never_says(info.value, "NodeContext")
    assert info.value.names == [key]


def test_node_given_none_as_its_function_says_none_was_passed() -> None:
    with pytest.raises(GraphConfigError) as info:
        node(None, "y")  # type: ignore[call-overload]
    says(info.value, "None", "function", "node(func, 'y')")
    never_says(info.value, "decorate")


@pytest.mark.parametrize(
    ("decorator", "shown"),
    [
        (node(output_name="y"), "@node"),
        (node(), "@node"),
        (route(targets=["a", END]), "@route"),
        (ifelse("a", END), "@ifelse"),
    ],
)
def test_a_decorator_given_without_its_function_is_named_as_a_decorator(
    decorator: object, shown: str
) -> None:
    with pytest.raises(GraphConfigError) as info:
        Graph([decorator])  # type: ignore[list-item]
    says(info.value, shown, "decorator", "without its function", "How to fix")
    never_says(info.value, "'decorate'")


# -- item 16: "did you mean" for a missing input ----------------------------------------


def test_a_missing_input_suggests_the_produced_output_with_a_near_name(run: RunFn) -> None:
    @node(output_name="docs")
    def load(path: str) -> list[str]:
        return [path]

    @node(output_name="summary")
    def summarize(doc: list[str]) -> str:
        return " ".join(doc)

    with pytest.raises(MissingInputError) as info:
        run(Graph([load, summarize]), {"path": "a.txt"})
    says(
        info.value,
        "'doc'",
        "Did you mean 'docs'",
        "'load' produces",
        'summarize.with_inputs(doc="docs")',
    )
    assert info.value.missing == ["doc"]


def test_a_missing_input_suggests_a_bound_input_with_a_near_name(run: RunFn) -> None:
    @node(output_name="n")
    def count(items: list[int]) -> int:
        return len(items)

    @node(output_name="first")
    def head(item: list[int]) -> int:
        return item[0]

    graph = Graph([count, head]).bind(items=[1, 2])
    with pytest.raises(MissingInputError) as info:
        run(graph)
    says(info.value, "'item'", "Did you mean 'items'", "bound")


# -- item 17: END is a str; async gates raise a TypeError -------------------------------


def test_end_is_a_str_that_prints_as_end() -> None:
    assert isinstance(END, str)
    assert str(END) == "END"
    assert f"{END}" == "END"
    assert repr(END) == "END"


def test_end_stays_one_object_that_equals_only_itself() -> None:
    assert copy.copy(END) is END
    assert copy.deepcopy(END) is END
    assert pickle.loads(pickle.dumps(END)) is END
    assert type(END)() is END
    assert END == END
    assert END != "END"
    assert "END" != END  # noqa: SIM300 - the reflected comparison is the point
    assert "END" not in {END}
    assert "END" not in (END,)
    assert END not in {"END": 1}


def test_a_gate_annotated_str_returning_end_ends_that_path(run: RunFn) -> None:
    calls: list[str] = []

    @route(targets=["more", END])
    def decide(x: int) -> str:
        return END

    @node(output_name="y")
    def more(x: int) -> int:
        calls.append("more")
        return x

    result = run(Graph([decide, more]), {"x": 1})
    assert calls == []
    assert "y" not in result


def test_a_route_returning_the_plain_string_end_is_still_not_end(run: RunFn) -> None:
    @route(targets=["more", END])
    def decide(x: int) -> str:
        return "END"

    more = node(echo, "y", name="more")
    with pytest.raises(NodeOutputError) as info:
        run(Graph([decide, more]), {"x": 1})
    says(info.value, "from hypergraph import END")


async def _async_gate(x: int) -> bool:
    return True


def _generator_gate(x: int) -> Any:
    yield True


async def _async_generator_gate(x: int) -> Any:
    yield True


@pytest.mark.parametrize("func", [_async_gate, _generator_gate, _async_generator_gate])
@pytest.mark.parametrize("kind", ["route", "ifelse"])
def test_a_gate_that_is_not_a_plain_def_fails_with_an_error_that_is_also_a_type_error(
    func: Callable[..., Any], kind: str
) -> None:
    make = route(targets=["a", END]) if kind == "route" else ifelse("a", END)
    with pytest.raises(TypeError) as info:
        make(func)
    assert isinstance(info.value, GraphConfigError)
    assert isinstance(info.value, HypergraphError)
    assert isinstance(info.value, NodeTypeError)
    says(info.value, f"'{func.__name__}'", "plain `def`", "How to fix")


def test_a_non_callable_node_fails_with_an_error_that_is_also_a_type_error() -> None:
    with pytest.raises(TypeError) as info:
        node(42, "y")  # type: ignore[call-overload]
    assert isinstance(info.value, GraphConfigError)


# -- item 23: strict_types at nested-graph boundaries -----------------------------------


def _inner_str() -> Graph:
    @node(output_name="shout")
    def upper(text: str) -> str:
        return text.upper()

    return Graph([upper], name="inner")


def test_strict_types_refuses_an_int_output_into_a_nested_str_parameter() -> None:
    @node(output_name="text")
    def count(n: int) -> int:
        return n

    with pytest.raises(GraphConfigError) as info:
        Graph([count, _inner_str().as_node()], strict_types=True)
    says(info.value, "'count'", "'text'", "'inner/upper'", "int", "str")


def test_strict_types_refuses_a_nested_output_into_a_mismatched_parameter() -> None:
    @node(output_name="n")
    def length(shout: int) -> int:
        return shout

    with pytest.raises(GraphConfigError) as info:
        Graph([_inner_str().as_node(), length], strict_types=True)
    says(info.value, "'inner/upper'", "'length'", "'shout'", "str", "int")


def test_strict_types_checks_a_renamed_nested_input_under_its_outer_name() -> None:
    @node(output_name="message")
    def count(n: int) -> int:
        return n

    inner = _inner_str().as_node().with_inputs(text="message")
    with pytest.raises(GraphConfigError) as info:
        Graph([count, inner], strict_types=True)
    says(info.value, "'message'", "'inner/upper'")


def test_strict_types_looks_through_two_levels_of_nesting() -> None:
    middle = Graph([_inner_str().as_node()], name="middle")

    @node(output_name="text")
    def count(n: int) -> int:
        return n

    with pytest.raises(GraphConfigError) as info:
        Graph([count, middle.as_node()], strict_types=True)
    says(info.value, "'middle/inner/upper'", "int", "str")


def test_strict_types_accepts_agreeing_annotations_across_a_nested_graph(run: RunFn) -> None:
    @node(output_name="text")
    def greet(name: str) -> str:
        return f"hi {name}"

    @node(output_name="n")
    def length(shout: str) -> int:
        return len(shout)

    graph = Graph([greet, _inner_str().as_node(), length], strict_types=True)
    assert run(graph, {"name": "bo"})["n"] == 5


def test_strict_types_treats_a_mapped_nested_input_and_output_as_lists(run: RunFn) -> None:
    @node(output_name="text")
    def split(line: str) -> list[str]:
        return line.split()

    @node(output_name="n")
    def count(shout: list[str]) -> int:
        return len(shout)

    mapped = _inner_str().as_node().map_over("text")
    graph = Graph([split, mapped, count], strict_types=True)
    assert run(graph, {"line": "a b c"})["n"] == 3

    @node(output_name="n")
    def wrong(shout: str) -> int:
        return len(shout)

    with pytest.raises(GraphConfigError) as info:
        Graph([split, mapped, wrong], strict_types=True)
    says(info.value, "'inner/upper'", "'wrong'", "list[str]")


# -- item 24: producers downstream of different gate targets ----------------------------


def branches(*, default_on_b: bool = False, multi: bool = False) -> list[Any]:
    """decide -> path_a -> end_a(result); decide -> path_b -> end_b(result); report(result)."""

    if multi:

        @route(targets=["path_a", "path_b"], multi_target=True)
        def decide(x: int) -> list[str]:
            return ["path_a"]

    else:

        @route(targets=["path_a", "path_b"])
        def decide(x: int) -> str:
            return "path_a" if x > 0 else "path_b"

    @node(output_name="a")
    def path_a(x: int) -> int:
        return x + 1

    @node(output_name="b")
    def path_b(x: int) -> int:
        return x - 1

    @node(output_name="result")
    def end_a(a: int) -> str:
        return f"a{a}"

    if default_on_b:

        @node(output_name="result")
        def end_b(b: int = 0) -> str:
            return f"b{b}"

    else:

        @node(output_name="result")
        def end_b(b: int) -> str:
            return f"b{b}"

    @node(output_name="report")
    def report(result: str) -> str:
        return f"[{result}]"

    return [decide, path_a, path_b, end_a, end_b, report]


@pytest.mark.parametrize("runner", ["sync", "async"])
def test_producers_downstream_of_different_route_targets_are_exclusive(runner: str) -> None:
    graph = Graph(branches())

    def go(x: int) -> RunResult:
        if runner == "sync":
            return SyncRunner().run(graph, x=x)
        return run_async(AsyncRunner().run(graph, x=x))

    left, right = go(1), go(-1)
    assert left["result"] == "a2"
    assert left["report"] == "[a2]"
    assert "b" not in left
    assert right["result"] == "b-2"
    assert right["report"] == "[b-2]"
    assert "a" not in right


def test_producers_downstream_of_ifelse_branches_are_exclusive(run: RunFn) -> None:
    @ifelse(when_true="fetch", when_false="guess")
    def online(q: str) -> bool:
        return q.startswith("web:")

    @node(output_name="page")
    def fetch(q: str) -> str:
        return q[4:]

    @node(output_name="hint")
    def guess(q: str) -> str:
        return q.upper()

    @node(output_name="answer")
    def from_page(page: str) -> str:
        return f"page {page}"

    @node(output_name="answer")
    def from_hint(hint: str) -> str:
        return f"hint {hint}"

    graph = Graph([online, fetch, guess, from_page, from_hint])
    assert run(graph, {"q": "web:x"})["answer"] == "page x"
    assert run(graph, {"q": "y"})["answer"] == "hint Y"


def test_a_producer_that_can_run_without_its_branch_is_not_exclusive() -> None:
    # end_b's input has a default: end_b runs even when path_b does not.
    with pytest.raises(GraphConfigError) as info:
        Graph(branches(default_on_b=True))
    says(info.value, "'result'", "'end_a'", "'end_b'", "default", "How to fix")


def test_producers_under_a_multi_target_route_are_not_exclusive() -> None:
    with pytest.raises(GraphConfigError) as info:
        Graph(branches(multi=True))
    says(info.value, "'result'", "'end_a'", "'end_b'", "'decide' is multi_target")


def test_a_producer_reachable_from_both_branches_is_not_exclusive() -> None:
    decide, path_a, path_b, end_a, _end_b, report = branches()

    @node(output_name="result")
    def join(a: int | None = None, b: int | None = None) -> str:
        return "join"

    with pytest.raises(GraphConfigError) as info:
        Graph([decide, path_a, path_b, end_a, join, report])
    says(info.value, "'result'", "'end_a'", "'join'")


def test_producers_on_one_branch_are_not_exclusive() -> None:
    decide, path_a, path_b, end_a, _end_b, report = branches()

    @node(output_name="result")
    def also_a(a: int) -> str:
        return "also"

    with pytest.raises(GraphConfigError) as info:
        Graph([decide, path_a, path_b, end_a, also_a, report])
    says(info.value, "'result'", "'end_a'", "'also_a'", "'path_a'")


def test_a_branch_target_that_a_second_gate_controls_is_not_exclusive() -> None:
    nodes = branches()

    @ifelse(when_true="path_b", when_false=END)
    def other(x: int) -> bool:
        return True

    with pytest.raises(GraphConfigError) as info:
        Graph([*nodes, other])
    says(info.value, "'result'", "'end_a'", "'end_b'", "two gates")


def test_an_entrypoint_past_the_gate_refuses_producers_it_lets_run_together() -> None:
    graph = Graph(branches())
    with pytest.raises(GraphConfigError) as info:
        graph.with_entrypoint("end_a", "end_b")
    says(info.value, "'result'", "'end_a'", "'end_b'", "entrypoint")
    with pytest.raises(GraphConfigError):
        Graph(branches(), entrypoint=["path_a", "path_b"])
    assert graph.with_entrypoint("decide").entrypoint == ("decide",)


# -- item 25: names and options that belong elsewhere -----------------------------------


SLASH_NAMES: dict[str, Callable[[], object]] = {
    "as_node(name=)": lambda: inner_graph().as_node(name="a/b"),
    "GraphNode.with_name": lambda: inner_graph().as_node().with_name("c/d"),
    "FunctionNode.with_name": lambda: node(echo, "y").with_name("c/d"),
    "node(name=)": lambda: node(echo, "y", name="a/b"),
    "FunctionNode(name=)": lambda: FunctionNode(echo, name="a/b", output_name="y"),
    "route(name=)": lambda: route(targets=["a", END], name="a/b")(echo),
    "ifelse(name=)": lambda: ifelse("a", END, name="a/b")(echo),
}


@pytest.mark.parametrize("where", SLASH_NAMES)
def test_a_slash_in_a_node_name_is_refused(where: str) -> None:
    with pytest.raises(GraphConfigError) as info:
        SLASH_NAMES[where]()
    says(info.value, "'/'", "path", "How to fix")


def test_with_name_refuses_a_slash_with_a_rename_error() -> None:
    with pytest.raises(RenameError):
        node(echo, "y").with_name("a/b")


END_STRINGS: dict[str, Callable[[], object]] = {
    "route target": lambda: route(targets=["a", "END"])(echo),
    "route fallback": lambda: route(targets=["a"], fallback="END")(echo),
    "ifelse when_true": lambda: ifelse("END", "a")(echo),
    "ifelse when_false": lambda: ifelse("a", "END")(echo),
    "a node called END": lambda: route(targets=[node(echo, "y", name="END")])(echo),
}


@pytest.mark.parametrize("where", END_STRINGS)
def test_the_string_end_as_a_gate_target_is_refused_pointing_to_the_constant(where: str) -> None:
    with pytest.raises(GraphConfigError) as info:
        END_STRINGS[where]()
    says(info.value, "'END'", "from hypergraph import END", "How to fix")
    never_says(info.value, "add 'END' to the graph")


EMPTY_ENTRYPOINTS: dict[str, Callable[[Graph], object]] = {
    "with_entrypoint()": lambda g: g.with_entrypoint(),
    "entrypoint=[]": lambda g: Graph(list(g.nodes.values()), entrypoint=[]),
    "entrypoint=()": lambda g: Graph(list(g.nodes.values()), entrypoint=()),
}


@pytest.mark.parametrize("how", EMPTY_ENTRYPOINTS)
def test_an_empty_entrypoint_is_refused(how: str) -> None:
    graph = Graph([node(echo, "y")])
    with pytest.raises(GraphConfigError) as info:
        EMPTY_ENTRYPOINTS[how](graph)
    says(info.value, "entrypoint", "at least one", "How to fix")


@pytest.mark.parametrize(
    ("option", "value", "api"),
    [
        ("max_concurrency", 2, "AsyncRunner"),
        ("map_over", "x", "runner.map("),
        ("map_mode", "zip", "runner.map("),
        ("select", "y", "graph.select("),
        ("buffer_size", 8, "iter("),
        ("overflow", "drop_oldest", "iter("),
        ("entrypoint", "f", "with_entrypoint("),
    ],
)
def test_an_option_of_another_api_given_to_run_points_to_that_api(
    option: str, value: object, api: str
) -> None:
    graph = Graph([node(echo, "y")])
    with pytest.raises(InputValueError) as info:
        SyncRunner().run(graph, x=1, **{option: value})
    says(info.value, f"'{option}'", api, "How to fix")
    with pytest.raises(GraphConfigError) as bound:
        graph.bind(**{option: value})
    says(bound.value, f"'{option}'", api)


def test_a_run_option_put_in_the_values_dict_is_told_to_be_a_keyword() -> None:
    graph = Graph([node(echo, "y")])
    with pytest.raises(InputValueError) as info:
        SyncRunner().run(graph, {"x": 1, "max_iterations": 5})
    says(info.value, "'max_iterations'", "keyword", "run(")


def test_branch_exclusivity_is_found_through_chains_longer_than_the_recursion_limit() -> None:
    @route(targets=["a0", "b0"])
    def decide(x: int) -> str:
        return "a0"

    def chain(prefix: str, length: int) -> list[FunctionNode]:
        steps = [node(echo, f"{prefix}0", name=f"{prefix}0")]
        for k in range(1, length):
            steps.append(
                node(echo, f"{prefix}{k}", name=f"{prefix}{k}").with_inputs(x=f"{prefix}{k - 1}")
            )
        last = node(echo, "result", name=f"{prefix}_end").with_inputs(x=f"{prefix}{length - 1}")
        return [*steps, last]

    graph = Graph([decide, *chain("a", 1200), *chain("b", 1200)])
    assert "result" in graph.outputs


@pytest.mark.parametrize("target", ["a", END])
def test_an_ifelse_with_the_same_target_twice_fails_saying_it_decides_nothing(target: Any) -> None:
    with pytest.raises(GraphConfigError, match="decides nothing"):
        ifelse(when_true=target, when_false=target)(lambda x: True)
