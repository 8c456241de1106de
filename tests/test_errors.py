"""Every error of SPEC §3-6: the documented class, raised at the documented moment, with a
message that names the culprit in quotes and says how to fix it.

A node's own exception (not hypergraph's) is at the end of this file.
"""

from __future__ import annotations

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
    IncompatibleRunnerError,
    InfiniteLoopError,
    MissingInputError,
    NodeContext,
    RenameError,
    RunResult,
    RunStatus,
    SyncRunner,
    ifelse,
    node,
    route,
)
from hypergraph.errors import InputValueError, NodeOutputError

RunFn = Callable[..., RunResult]


def says(exc: BaseException, *fragments: str) -> None:
    """Assert that the message of `exc` contains every fragment."""
    message = str(exc)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in message:\n{message}"


def chain(calls: list[str]) -> Graph:
    """fetch(url) -> page; parse(page, lang) -> words. Records which nodes ran."""

    @node(output_name="page")
    def fetch(url: str) -> str:
        calls.append("fetch")
        return f"<{url}>"

    @node(output_name="words")
    def parse(page: str, lang: str) -> list[str]:
        calls.append("parse")
        return page.split()

    return Graph([fetch, parse])


def double(x: int) -> int:
    return 2 * x


# -- the error classes ------------------------------------------------------------------


def test_error_classes_have_the_documented_bases() -> None:
    assert issubclass(GraphConfigError, HypergraphError)
    assert issubclass(GraphConfigError, ValueError)
    assert issubclass(RenameError, GraphConfigError)
    assert issubclass(MissingInputError, HypergraphError)
    assert issubclass(InputValueError, HypergraphError)
    assert issubclass(InputValueError, ValueError)
    assert issubclass(NodeOutputError, HypergraphError)
    assert issubclass(InfiniteLoopError, HypergraphError)
    assert issubclass(IncompatibleRunnerError, HypergraphError)


# -- making a node ----------------------------------------------------------------------


def test_a_plain_function_in_a_graph_fails_telling_to_decorate_it() -> None:
    def summarize(text: str) -> str:
        return text

    with pytest.raises(GraphConfigError) as info:
        Graph([summarize])
    says(info.value, "'summarize'", "@node(output_name=")


def test_a_called_async_function_in_a_graph_fails_telling_to_pass_the_function() -> None:
    async def fetch(url: str) -> str:
        return url

    with pytest.raises(GraphConfigError) as info:
        Graph([fetch("https://example.com")])  # type: ignore[list-item]
    says(info.value, "coroutine", "fetch", "without calling it")


def test_a_non_callable_in_a_graph_fails_saying_what_it_got() -> None:
    with pytest.raises(GraphConfigError) as info:
        Graph([42])  # type: ignore[list-item]
    says(info.value, "int", "42")


def test_a_graph_of_something_other_than_a_list_fails_showing_the_right_call() -> None:
    with pytest.raises(GraphConfigError) as info:
        Graph(node(double, "y"))  # type: ignore[arg-type]
    says(info.value, "Graph([")


def test_node_given_a_called_async_function_fails_telling_to_pass_the_function() -> None:
    async def fetch(url: str) -> str:
        return url

    with pytest.raises(GraphConfigError) as info:
        node(fetch("u"), "page")  # type: ignore[call-overload]
    says(info.value, "coroutine", "fetch", "without calling it")


def test_node_given_a_non_callable_fails_saying_what_it_got() -> None:
    with pytest.raises(GraphConfigError) as info:
        node(output_name="y")(42)  # type: ignore[arg-type]
    says(info.value, "int", "42")


def test_node_given_a_string_instead_of_a_function_shows_the_decorator_form() -> None:
    with pytest.raises(GraphConfigError) as info:
        node("summary")  # type: ignore[call-overload]
    says(info.value, "output_name='summary'")


def test_an_output_name_that_is_not_a_name_fails_showing_the_right_form() -> None:
    with pytest.raises(GraphConfigError) as info:
        node(double, 5)  # type: ignore[call-overload]
    says(info.value, "'double'", 'output_name="result"')


def test_a_generator_node_with_several_outputs_fails_when_made() -> None:
    def tokens(prompt: str):  # type: ignore[no-untyped-def]
        yield prompt

    with pytest.raises(GraphConfigError) as info:
        node(tokens, ("a", "b"))
    says(info.value, "'tokens'", "one output_name")


def _star_args(*parts: str) -> str:
    return "".join(parts)


def _star_kwargs(**options: str) -> str:
    return ""


def _positional_only(text: str, /) -> str:
    return text


@pytest.mark.parametrize(
    ("func", "shown"),
    [(_star_args, "'*parts'"), (_star_kwargs, "'**options'"), (_positional_only, "'text'")],
    ids=["*args", "**kwargs", "positional-only"],
)
def test_a_parameter_that_cannot_be_wired_by_name_fails_when_the_node_is_made(
    func: Callable[..., Any], shown: str
) -> None:
    with pytest.raises(GraphConfigError) as info:
        node(func, "out")
    says(info.value, shown, f"'{func.__name__}'", "How to fix")


def _async_decide() -> Any:
    async def decide(x: int) -> str:
        return "a"

    return decide


def _sync_gen_decide() -> Any:
    def decide(x: int):  # type: ignore[no-untyped-def]
        yield "a"

    return decide


def _async_gen_decide() -> Any:
    async def decide(x: int):  # type: ignore[no-untyped-def]
        yield "a"

    return decide


@pytest.mark.parametrize(
    "make",
    [_async_decide, _sync_gen_decide, _async_gen_decide],
    ids=["async def", "generator", "async generator"],
)
@pytest.mark.parametrize("gate", ["route", "ifelse"])
def test_a_gate_that_is_not_a_plain_def_fails_when_made(make: Callable[[], Any], gate: str) -> None:
    decorate = route(targets=["a", END]) if gate == "route" else ifelse("a", END)
    with pytest.raises(GraphConfigError) as info:
        decorate(make())
    says(info.value, "'decide'", "plain `def`", "How to fix")


def test_bare_route_decorator_fails_showing_the_targets_form() -> None:
    with pytest.raises(GraphConfigError) as info:

        @route  # type: ignore[arg-type]
        def decide(x: int) -> str:
            return "a"

    says(info.value, "@route(targets=")


def test_a_route_target_that_is_not_a_name_fails_when_made() -> None:
    with pytest.raises(GraphConfigError) as info:

        @route(targets=[1, END])  # type: ignore[list-item]
        def decide(x: int) -> int:
            return 1

    says(info.value, "'decide'", "1")


# -- renames ----------------------------------------------------------------------------


def test_renaming_an_unknown_input_lists_the_inputs_and_suggests_the_closest() -> None:
    n = node(double, "y")
    with pytest.raises(RenameError) as info:
        n.with_inputs(xx="value")
    says(info.value, "'xx'", "'double'", "Did you mean 'x'?", "'x'")
    assert isinstance(info.value, GraphConfigError)


def test_renaming_an_unknown_output_lists_the_outputs_and_suggests_the_closest() -> None:
    n = node(double, "doubled")
    with pytest.raises(RenameError) as info:
        n.with_outputs(double="twice")
    says(info.value, "'double'", "Did you mean 'doubled'?", "'doubled'")


def test_renaming_an_input_onto_another_input_fails_naming_the_clash() -> None:
    def add(x: int, y: int) -> int:
        return x + y

    n = node(add, "total")
    with pytest.raises(RenameError) as info:
        n.with_inputs(x="y")
    says(info.value, "'add'", "'y'", "How to fix")
    assert n.inputs == ("x", "y")


def test_renaming_an_output_onto_another_output_fails_naming_the_clash() -> None:
    def split(pair: str) -> tuple[str, str]:
        a, b = pair.split(",")
        return a, b

    n = node(split, ("left", "right"))
    with pytest.raises(RenameError) as info:
        n.rename_outputs(left="right")
    says(info.value, "'split'", "'right'")
    assert n.outputs == ("left", "right")


def test_a_failed_rename_leaves_the_node_unchanged() -> None:
    n = node(double, "y")
    with pytest.raises(RenameError):
        n.with_inputs(x="value", nope="other")
    assert n.inputs == ("x",)


def test_renaming_to_an_empty_name_fails() -> None:
    n = node(double, "y")
    with pytest.raises(RenameError):
        n.with_name("")
    with pytest.raises(RenameError) as info:
        n.with_inputs(x="")
    says(info.value, "'x'", "'double'")


def test_renaming_with_a_non_string_key_fails_with_a_rename_error() -> None:
    n = node(double, "y")
    with pytest.raises(RenameError):
        n.with_inputs({1: "value"})  # type: ignore[dict-item]


# -- building a graph -------------------------------------------------------------------


def test_two_nodes_with_one_name_fail_telling_to_rename_one() -> None:
    first = node(double, "y")
    second = node(lambda x: x, "z", name="double")
    with pytest.raises(GraphConfigError) as info:
        Graph([first, second])
    says(info.value, "'double'", "with_name(")


def test_two_producers_of_one_output_fail_naming_both_and_the_fix() -> None:
    @node(output_name="doc")
    def load_pdf(path: str) -> str:
        return path

    @node(output_name="doc")
    def load_html(path: str) -> str:
        return path

    with pytest.raises(GraphConfigError) as info:
        Graph([load_pdf, load_html])
    says(info.value, "'doc'", "'load_pdf'", "'load_html'", "with_outputs(", "How to fix")


def test_branches_of_a_multi_target_route_may_not_produce_the_same_output() -> None:
    @route(targets=["a", "b"], multi_target=True)
    def both(x: int) -> list[str]:
        return ["a", "b"]

    a = node(double, "y", name="a")
    b = node(double, "y", name="b")
    with pytest.raises(GraphConfigError) as info:
        Graph([both, a, b])
    says(info.value, "'y'", "'a'", "'b'")


def test_producers_controlled_by_two_different_gates_are_not_exclusive() -> None:
    @ifelse(when_true="a", when_false=END)
    def gate_a(x: int) -> bool:
        return True

    @ifelse(when_true="b", when_false=END)
    def gate_b(x: int) -> bool:
        return True

    a = node(double, "y", name="a")
    b = node(double, "y", name="b")
    with pytest.raises(GraphConfigError) as info:
        Graph([gate_a, gate_b, a, b])
    says(info.value, "'y'", "'a'", "'b'")


def test_route_to_unknown_target_fails_when_graph_is_built() -> None:
    @route(targets=["sumarize", END])
    def decide(text: str) -> str:
        return "sumarize"

    summarize = node(lambda text: text, "summary", name="summarize")
    with pytest.raises(GraphConfigError) as info:
        Graph([decide, summarize])
    says(info.value, "'decide'", "'sumarize'", "Did you mean 'summarize'?", "How to fix")


def test_ifelse_to_unknown_target_fails_when_graph_is_built() -> None:
    @ifelse(when_true="retry", when_false=END)
    def failed(status: int) -> bool:
        return status >= 500

    with pytest.raises(GraphConfigError) as info:
        Graph([failed])
    says(info.value, "'failed'", "'retry'")


def test_a_gate_listing_itself_fails_when_graph_is_built() -> None:
    @route(targets=["decide", END])
    def decide(x: int) -> object:
        return END

    with pytest.raises(GraphConfigError) as info:
        Graph([decide])
    says(info.value, "'decide'", "itself", "How to fix")


def test_a_cycle_without_a_gate_fails_listing_its_nodes() -> None:
    @node(output_name="draft")
    def write(feedback: str) -> str:
        return feedback

    @node(output_name="critique")
    def review(draft: str) -> str:
        return draft

    @node(output_name="feedback")
    def revise(critique: str) -> str:
        return critique

    @node(output_name="unrelated")
    def other(seed: int) -> int:
        return seed

    with pytest.raises(GraphConfigError) as info:
        Graph([other, write, review, revise])
    says(info.value, "'write'", "'review'", "'revise'", "gate", "How to fix")
    assert "'other'" not in str(info.value)


def test_inconsistent_defaults_for_one_input_fail_naming_both_nodes() -> None:
    @node(output_name="a")
    def first(limit: int = 5) -> int:
        return limit

    @node(output_name="b")
    def second(limit: int = 10) -> int:
        return limit

    with pytest.raises(GraphConfigError) as info:
        Graph([first, second])
    says(info.value, "'limit'", "'first'", "'second'", "5", "10", "How to fix")


def test_strict_types_mismatch_fails_naming_both_nodes_and_types() -> None:
    @node(output_name="count")
    def produce(text: str) -> int:
        return len(text)

    @node(output_name="label")
    def consume(count: str) -> str:
        return count

    with pytest.raises(GraphConfigError) as info:
        Graph([produce, consume], strict_types=True)
    says(info.value, "'produce'", "'consume'", "'count'", "int", "str", "How to fix")


def test_strict_types_missing_parameter_annotation_fails_naming_the_consumer() -> None:
    @node(output_name="count")
    def produce(text: str) -> int:
        return len(text)

    @node(output_name="label")
    def consume(count):  # type: ignore[no-untyped-def]
        return str(count)

    with pytest.raises(GraphConfigError) as info:
        Graph([produce, consume], strict_types=True)
    says(info.value, "'consume'", "'count'", "annotat", "How to fix")


def test_strict_types_missing_return_annotation_fails_naming_the_producer() -> None:
    @node(output_name="count")
    def produce(text: str):  # type: ignore[no-untyped-def]
        return len(text)

    @node(output_name="label")
    def consume(count: int) -> str:
        return str(count)

    with pytest.raises(GraphConfigError) as info:
        Graph([produce, consume], strict_types=True)
    says(info.value, "'produce'", "'count'", "annotat")


@pytest.mark.parametrize("name", ["", "outer/inner", 5])
def test_an_unusable_graph_name_fails(name: Any) -> None:
    with pytest.raises(GraphConfigError) as info:
        Graph([node(double, "y")], name=name)
    says(info.value, repr(name))


def test_a_graph_node_from_an_unnamed_graph_fails_showing_how_to_name_it() -> None:
    with pytest.raises(GraphConfigError) as info:
        Graph([node(double, "y")]).as_node()
    says(info.value, "name=", "How to fix")


def test_select_of_an_unknown_output_suggests_the_closest() -> None:
    graph = chain([])
    with pytest.raises(GraphConfigError) as info:
        graph.select("word")
    says(info.value, "'word'", "Did you mean 'words'?")


def test_select_of_an_input_fails_saying_no_node_produces_it() -> None:
    with pytest.raises(GraphConfigError) as info:
        chain([]).select("url")
    says(info.value, "'url'", "produces")


def test_bind_of_an_unknown_name_suggests_the_closest() -> None:
    with pytest.raises(GraphConfigError) as info:
        chain([]).bind(ulr="https://example.com")
    says(info.value, "'ulr'", "Did you mean 'url'?")


def test_bind_of_a_produced_name_fails_naming_the_producer() -> None:
    with pytest.raises(GraphConfigError) as info:
        chain([]).bind(page="<p>")
    says(info.value, "'page'", "'fetch'")


def test_binding_the_node_context_parameter_fails_saying_the_runner_injects_it() -> None:
    @node(output_name="text")
    def write(prompt: str, ctx: NodeContext) -> str:
        return prompt

    with pytest.raises(GraphConfigError) as info:
        Graph([write]).bind(ctx=None)
    says(info.value, "'ctx'", "NodeContext")


def test_with_entrypoint_of_an_unknown_node_suggests_the_closest() -> None:
    with pytest.raises(GraphConfigError) as info:
        chain([]).with_entrypoint("prase")
    says(info.value, "'prase'", "Did you mean 'parse'?")


def test_entrypoint_argument_of_an_unknown_node_suggests_the_closest() -> None:
    graph = chain([])
    with pytest.raises(GraphConfigError) as info:
        Graph(list(graph.nodes.values()), entrypoint="fetc")
    says(info.value, "'fetc'", "Did you mean 'fetch'?")


@pytest.mark.parametrize(
    "build",
    [
        lambda g: g.select(5),
        lambda g: g.select(None),
        lambda g: Graph(list(g.nodes.values()), entrypoint=5),
    ],
    ids=["select(5)", "select(None)", "Graph(entrypoint=5)"],
)
def test_a_name_that_is_not_a_string_fails_with_a_graph_config_error(
    build: Callable[[Graph], object],
) -> None:
    with pytest.raises(GraphConfigError):
        build(chain([]))


# -- starting a run ---------------------------------------------------------------------


def test_missing_input_fails_before_any_node_runs(run: RunFn) -> None:
    calls: list[str] = []
    with pytest.raises(MissingInputError) as info:
        run(chain(calls), {"url": "u"})
    assert calls == []
    assert info.value.missing == ["lang"]
    says(info.value, "'lang'", "'parse'", "bind")
    assert isinstance(info.value, HypergraphError)


def test_missing_input_lists_every_missing_name_and_every_reader(run: RunFn) -> None:
    @node(output_name="a")
    def first(key: str) -> str:
        return key

    @node(output_name="b")
    def second(key: str, mode: str) -> str:
        return key + mode

    with pytest.raises(MissingInputError) as info:
        run(Graph([first, second]), {})
    assert sorted(info.value.missing) == ["key", "mode"]
    says(info.value, "'key'", "'mode'", "'first'", "'second'")


def test_missing_input_with_a_near_miss_name_suggests_it(run: RunFn) -> None:
    calls: list[str] = []
    with pytest.raises((MissingInputError, InputValueError)) as info:
        run(chain(calls), {"url": "u", "lnag": "en"})
    assert calls == []
    says(info.value, "Did you mean 'lang'?")


def test_a_bound_input_is_not_missing(run: RunFn) -> None:
    result = run(chain([]).bind(lang="en"), {"url": "u"})
    assert result.status is RunStatus.COMPLETED


def test_an_unknown_value_name_fails_before_any_node_runs_and_suggests_the_closest(
    run: RunFn,
) -> None:
    calls: list[str] = []
    with pytest.raises(InputValueError) as info:
        run(chain(calls), {"url": "u", "lang": "en", "langs": "de"})
    assert calls == []
    assert info.value.names == ["langs"]
    says(info.value, "'langs'", "Did you mean 'lang'?")


def test_a_value_for_the_node_context_parameter_fails_saying_it_is_injected(run: RunFn) -> None:
    @node(output_name="text")
    def write(prompt: str, ctx: NodeContext) -> str:
        return prompt

    with pytest.raises(InputValueError) as info:
        run(Graph([write]), {"prompt": "p", "ctx": None})
    says(info.value, "'ctx'", "NodeContext", "'write'")


def test_a_value_for_a_produced_name_in_a_dag_fails_naming_the_producer(run: RunFn) -> None:
    calls: list[str] = []
    with pytest.raises(InputValueError) as info:
        run(chain(calls), {"url": "u", "lang": "en", "page": "<cached>"})
    assert calls == []
    assert info.value.names == ["page"]
    says(info.value, "'page'", "'fetch'", "with_entrypoint")


def test_a_value_for_a_produced_name_is_the_seed_of_a_cycle(run: RunFn) -> None:
    @node(output_name="draft")
    def grow(draft: str) -> str:
        return draft + "!"

    @route(targets=["grow", END])
    def enough(draft: str) -> object:
        return END if len(draft) >= 4 else "grow"

    assert run(Graph([grow, enough]), {"draft": "hi"})["draft"] == "hi!!"


def test_an_input_given_both_in_the_dict_and_as_keyword_fails(run: RunFn) -> None:
    with pytest.raises(InputValueError) as info:
        run(chain([]), {"url": "u", "lang": "en"}, url="v")
    assert info.value.names == ["url"]
    says(info.value, "'url'", "once")


def test_an_input_named_like_a_run_option_goes_in_the_dict(run: RunFn) -> None:
    @node(output_name="y")
    def configure(max_iterations: int, error_handling: str) -> str:
        return f"{max_iterations}/{error_handling}"

    result = run(Graph([configure]), {"max_iterations": 3, "error_handling": "retry"})
    assert result["y"] == "3/retry"


def test_values_that_are_not_a_dict_fail_showing_the_right_call(run: RunFn) -> None:
    with pytest.raises(InputValueError) as info:
        run(chain([]), ["u", "en"])
    says(info.value, "list", "run(graph, {")


def test_a_value_name_that_is_not_a_string_fails_with_an_input_value_error(run: RunFn) -> None:
    with pytest.raises(InputValueError):
        run(chain([]), {"url": "u", "lang": "en", 1: "one"})


@pytest.mark.parametrize("mode", ["ignore", "RAISE", None])
def test_an_invalid_error_handling_fails_listing_the_valid_modes(run: RunFn, mode: Any) -> None:
    calls: list[str] = []
    with pytest.raises(InputValueError) as info:
        run(chain(calls), {"url": "u", "lang": "en"}, error_handling=mode)
    assert calls == []
    says(info.value, "error_handling", "'raise'", "'continue'")


@pytest.mark.parametrize("limit", [0, -1, 2.5, "10"])
def test_an_invalid_max_iterations_fails_before_any_node_runs(run: RunFn, limit: Any) -> None:
    calls: list[str] = []
    with pytest.raises(InputValueError) as info:
        run(chain(calls), {"url": "u", "lang": "en"}, max_iterations=limit)
    assert calls == []
    says(info.value, "max_iterations", "positive int")


@pytest.mark.parametrize("cap", [0, -2, "4", 1.5])
def test_an_invalid_max_concurrency_fails_before_any_node_runs(cap: Any) -> None:
    calls: list[str] = []
    with pytest.raises(InputValueError) as info:
        run_async(AsyncRunner().run(chain(calls), {"url": "u", "lang": "en"}, max_concurrency=cap))
    assert calls == []
    says(info.value, "max_concurrency", "positive int")


@pytest.mark.parametrize(
    "target",
    [node(double, "y"), [node(double, "y")], None],
    ids=["a node", "a list of nodes", "None"],
)
def test_running_something_that_is_not_a_graph_fails_showing_the_right_call(
    run: RunFn, target: Any
) -> None:
    with pytest.raises(InputValueError) as info:
        run(target, {"x": 1})
    says(info.value, "Graph([")


# -- a node that returns the wrong thing ------------------------------------------------


def divide_graph(result: object, calls: list[str] | None = None) -> Graph:
    """start(x) -> x2; divide(x2) declares ("q", "r") and returns `result`."""

    @node(output_name="x2")
    def start(x: int) -> int:
        return x

    @node(output_name=("q", "r"))
    def divide(x2: int) -> object:
        return result

    @node(output_name="after")
    def after(q: int) -> int:
        if calls is not None:
            calls.append("after")
        return q

    return Graph([start, divide, after])


def test_a_multi_output_node_returning_a_wrong_length_tuple_fails_naming_both_lengths(
    run: RunFn,
) -> None:
    with pytest.raises(NodeOutputError) as info:
        run(divide_graph((1, 2, 3)), {"x": 1})
    assert info.value.node == "divide"
    says(info.value, "'divide'", "2", "3", "How to fix")


def test_a_multi_output_node_returning_a_non_tuple_fails_naming_the_node(run: RunFn) -> None:
    with pytest.raises(NodeOutputError) as info:
        run(divide_graph(7), {"x": 1})
    assert info.value.node == "divide"
    says(info.value, "'divide'", "2", "int", "tuple")


def test_a_wrong_output_shape_with_continue_gives_a_failed_result(run: RunFn) -> None:
    calls: list[str] = []
    result = run(divide_graph((1,), calls), {"x": 5}, error_handling="continue")
    assert result.status is RunStatus.FAILED
    assert isinstance(result.error, NodeOutputError)
    assert result.error.node == "divide"
    assert result.values == {"x2": 5}
    assert calls == []


def gate_graph(gate: FunctionNode, calls: list[str] | None = None) -> Graph:
    """`gate` (targets "left", "right", maybe END) in front of two recording nodes."""

    @node(output_name="l")
    def left(x: int) -> int:
        if calls is not None:
            calls.append("left")
        return x

    @node(output_name="r")
    def right(x: int) -> int:
        if calls is not None:
            calls.append("right")
        return x

    return Graph([gate, left, right])


@pytest.mark.parametrize("returned", ["middle", 3, ["left"], {"left"}])
def test_a_route_returning_something_not_in_its_targets_fails_listing_them(
    run: RunFn, returned: object
) -> None:
    @route(targets=["left", "right", END])
    def decide(x: int) -> object:
        return returned

    calls: list[str] = []
    with pytest.raises(NodeOutputError) as info:
        run(gate_graph(decide, calls), {"x": 1})
    assert calls == []
    assert info.value.node == "decide"
    says(info.value, "'decide'", "'left'", "'right'", "END")


def test_a_route_returning_the_string_end_gets_a_hint_to_use_the_constant(run: RunFn) -> None:
    @route(targets=["left", END])
    def decide(x: int) -> str:
        return "END"

    with pytest.raises(NodeOutputError) as info:
        run(gate_graph(decide), {"x": 1})
    says(info.value, "'decide'", "END constant", "from hypergraph import END")


def test_a_route_returning_an_ambiguous_object_fails_with_a_node_output_error(
    run: RunFn,
) -> None:
    class ArrayLike:
        """Compares element-wise and has no truth value, like a numpy array."""

        def __eq__(self, other: object) -> bool:
            raise ValueError("The truth value of an array is ambiguous.")

        __hash__ = None  # type: ignore[assignment]

    @route(targets=["left", END])
    def decide(x: int) -> object:
        return ArrayLike()

    with pytest.raises(NodeOutputError) as info:
        run(gate_graph(decide), {"x": 1})
    says(info.value, "'decide'", "'left'")


def test_a_multi_target_route_returning_a_non_list_fails(run: RunFn) -> None:
    @route(targets=["left", "right"], multi_target=True)
    def decide(x: int) -> str:
        return "left"

    calls: list[str] = []
    with pytest.raises(NodeOutputError) as info:
        run(gate_graph(decide, calls), {"x": 1})
    assert calls == []
    assert info.value.node == "decide"
    says(info.value, "'decide'", "list", "'left'", "'right'")


def test_a_multi_target_route_returning_an_unknown_target_fails_listing_them(
    run: RunFn,
) -> None:
    @route(targets=["left", "right"], multi_target=True)
    def decide(x: int) -> list[str]:
        return ["left", "middle"]

    with pytest.raises(NodeOutputError) as info:
        run(gate_graph(decide), {"x": 1})
    says(info.value, "'decide'", "'middle'", "'left'", "'right'")


def test_a_multi_target_route_returning_none_goes_to_its_fallback(run: RunFn) -> None:
    @route(targets=["left", "right"], fallback="right", multi_target=True)
    def decide(x: int) -> None:
        return None

    calls: list[str] = []
    result = run(gate_graph(decide, calls), {"x": 1})
    assert result.status is RunStatus.COMPLETED
    assert calls == ["right"]


@pytest.mark.parametrize("returned", [1, 0, None, "yes", []])
def test_an_ifelse_returning_a_non_bool_fails(run: RunFn, returned: object) -> None:
    @ifelse(when_true="left", when_false="right")
    def check(x: int) -> object:
        return returned

    calls: list[str] = []
    with pytest.raises(NodeOutputError) as info:
        run(gate_graph(check, calls), {"x": 1})
    assert calls == []
    assert info.value.node == "check"
    says(info.value, "'check'", "True or False", "bool(")


def test_a_gate_output_error_with_continue_gives_a_failed_result(run: RunFn) -> None:
    @ifelse(when_true="left", when_false="right")
    def check(x: int) -> object:
        return None

    result = run(gate_graph(check), {"x": 1}, error_handling="continue")
    assert result.status is RunStatus.FAILED
    assert isinstance(result.error, NodeOutputError)
    assert result.error.node == "check"
    assert result.values == {}


# -- loops that do not stop -------------------------------------------------------------


def endless() -> Graph:
    @node(output_name="n")
    def step(n: int) -> int:
        return n + 1

    @route(targets=["step", END])
    def again(n: int) -> str:
        return "step"

    return Graph([step, again])


def test_a_loop_beyond_max_iterations_fails_naming_the_node_and_the_limit(run: RunFn) -> None:
    with pytest.raises(InfiniteLoopError) as info:
        run(endless(), {"n": 0}, max_iterations=5)
    assert info.value.max_iterations == 5
    assert info.value.node in {"step", "again"}
    says(info.value, f"'{info.value.node}'", "max_iterations=5", "How to fix")


def test_a_loop_that_stops_within_max_iterations_completes(run: RunFn) -> None:
    @node(output_name="n")
    def step(n: int) -> int:
        return n + 1

    @route(targets=["step", END])
    def again(n: int) -> object:
        return "step" if n < 5 else END

    # `again` decides at n = 0, 1, ..., 5: six runs, the most any node makes.
    result = run(Graph([step, again]), {"n": 0}, max_iterations=6)
    assert result["n"] == 5


# -- the wrong runner -------------------------------------------------------------------


def test_sync_runner_refuses_async_nodes_up_front_naming_them() -> None:
    calls: list[str] = []

    @node(output_name="a")
    def first(x: int) -> int:
        calls.append("first")
        return x

    @node(output_name="b")
    async def fetch(a: int) -> int:
        return a

    @node(output_name="c")
    async def stream(b: int):  # type: ignore[no-untyped-def]
        yield b

    with pytest.raises(IncompatibleRunnerError) as info:
        SyncRunner().run(Graph([first, fetch, stream]), {"x": 1})
    assert calls == []
    assert info.value.nodes == ["fetch", "stream"]
    says(info.value, "'fetch'", "'stream'", "AsyncRunner")


def test_sync_runner_refuses_a_nested_graph_with_async_nodes() -> None:
    @node(output_name="b")
    async def fetch(a: int) -> int:
        return a

    inner = Graph([fetch], name="inner").as_node()
    with pytest.raises(IncompatibleRunnerError) as info:
        SyncRunner().run(Graph([inner]), {"a": 1})
    says(info.value, "'inner'", "AsyncRunner")


# -- a node's own exception -------------------------------------------------------------


def failing(error: BaseException, calls: list[str]) -> Graph:
    """ok(x) -> a; explode(a) raises `error`; after(b) never gets its input."""

    @node(output_name="a")
    def ok(x: int) -> int:
        calls.append("ok")
        return x + 1

    @node(output_name="b")
    def explode(a: int) -> int:
        calls.append("explode")
        raise error

    @node(output_name="c")
    def after(b: int) -> int:
        calls.append("after")
        return b

    return Graph([ok, explode, after])


def test_a_node_exception_is_re_raised_as_the_same_object_with_a_note_naming_the_node(
    run: RunFn,
) -> None:
    error = KeyError("missing key")
    calls: list[str] = []
    with pytest.raises(KeyError) as info:
        run(failing(error, calls), {"x": 1})
    assert info.value is error
    assert any("'explode'" in note for note in getattr(info.value, "__notes__", []))
    assert calls == ["ok", "explode"]


def test_a_node_exception_with_continue_gives_a_failed_result_with_what_was_produced(
    run: RunFn,
) -> None:
    error = RuntimeError("model overloaded")
    calls: list[str] = []
    result = run(failing(error, calls), {"x": 1}, error_handling="continue")
    assert result.status is RunStatus.FAILED
    assert result.error is error
    assert result.values == {"a": 2}
    assert calls == ["ok", "explode"]


def test_an_independent_branch_still_finishes_with_continue(run: RunFn) -> None:
    @node(output_name="bad")
    def explode(x: int) -> int:
        raise ValueError("boom")

    @node(output_name="good")
    def fine(x: int) -> int:
        return x

    result = run(Graph([explode, fine]), {"x": 3}, error_handling="continue")
    assert result.status is RunStatus.FAILED
    assert isinstance(result.error, ValueError)
    assert result.values == {"good": 3}
