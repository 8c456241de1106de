"""The graph API (SPEC §4): wiring by name, InputSpec, and the derived graphs.

Build-time validation errors are in test_errors.py.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from hypergraph import (
    END,
    Graph,
    GraphNode,
    InputSpec,
    RunResult,
    SyncRunner,
    ifelse,
    node,
    route,
)

RunFn = Callable[..., RunResult]


def pipeline(calls: list[str]) -> Graph:
    """load(path) -> text; clean(text) -> cleaned; count(cleaned, unit="words") -> n."""

    @node(output_name="text")
    def load(path: str) -> str:
        calls.append("load")
        return f"contents of {path}"

    @node(output_name="cleaned")
    def clean(text: str) -> str:
        calls.append("clean")
        return text.upper()

    @node(output_name="n")
    def count(cleaned: str, unit: str = "words") -> int:
        calls.append("count")
        return len(cleaned.split()) if unit == "words" else len(cleaned)

    return Graph([load, clean, count], name="pipeline")


def two_branches(calls: list[str]) -> Graph:
    """Two independent chains: left(a) -> l; right(b) -> r."""

    @node(output_name="l")
    def left(a: int) -> int:
        calls.append("left")
        return a + 1

    @node(output_name="r")
    def right(b: int) -> int:
        calls.append("right")
        return b * 2

    return Graph([left, right])


# -- structure --------------------------------------------------------------------------


def test_an_output_feeds_every_parameter_of_the_same_name(run: RunFn) -> None:
    @node(output_name="x")
    def make(seed: int) -> int:
        return seed + 1

    @node(output_name="double")
    def twice(x: int) -> int:
        return 2 * x

    @node(output_name="square")
    def squared(x: int) -> int:
        return x * x

    result = run(Graph([make, twice, squared]), {"seed": 2})
    assert result.values == {"x": 3, "double": 6, "square": 9}


def test_nodes_maps_each_name_to_its_node_in_graph_order() -> None:
    graph = pipeline([])
    assert isinstance(graph.nodes, Mapping)
    assert list(graph.nodes) == ["load", "clean", "count"]
    assert graph.nodes["clean"].inputs == ("text",)


def test_outputs_are_every_produced_name_in_graph_order() -> None:
    assert pipeline([]).outputs == ("text", "cleaned", "n")


def test_name_is_the_name_given_or_none() -> None:
    assert pipeline([]).name == "pipeline"
    assert two_branches([]).name is None


def test_inputs_are_an_input_spec_of_names_no_node_produces() -> None:
    spec = pipeline([]).inputs
    assert isinstance(spec, InputSpec)
    assert spec.required == ("path",)
    assert spec.optional == ("unit",)
    assert dict(spec.bound) == {}


def test_an_input_is_optional_only_when_every_consumer_has_a_default() -> None:
    @node(output_name="a")
    def first(limit: int = 5) -> int:
        return limit

    @node(output_name="b")
    def second(limit: int) -> int:
        return limit

    assert Graph([first]).inputs.optional == ("limit",)
    mixed = Graph([first, second]).inputs
    assert mixed.required == ("limit",)
    assert mixed.optional == ()


def test_a_dag_has_no_cycles() -> None:
    assert pipeline([]).has_cycles is False


def test_a_loop_through_a_gate_is_a_cycle() -> None:
    @node(output_name="draft")
    def write(draft: str) -> str:
        return draft + "!"

    @route(targets=["write", END])
    def again(draft: str) -> object:
        return END if len(draft) > 3 else "write"

    assert Graph([write, again]).has_cycles is True


def test_a_node_that_consumes_its_own_output_is_an_accumulator_not_a_cycle(run: RunFn) -> None:
    @node(output_name="history")
    def remember(message: str, history: list[str]) -> list[str]:
        return [*history, message]

    graph = Graph([remember])
    assert graph.has_cycles is False
    assert run(graph, {"message": "hi", "history": ["hello"]})["history"] == ["hello", "hi"]


def test_has_async_nodes_tells_whether_any_node_is_async() -> None:
    @node(output_name="a")
    async def fetch(url: str) -> str:
        return url

    @node(output_name="b")
    def parse(a: str) -> str:
        return a

    assert Graph([parse]).has_async_nodes is False
    assert Graph([fetch, parse]).has_async_nodes is True


def test_exclusive_branches_of_a_route_may_produce_the_same_output(run: RunFn) -> None:
    @route(targets=["short", "long"])
    def by_length(text: str) -> str:
        return "short" if len(text) < 5 else "long"

    @node(output_name="summary")
    def short(text: str) -> str:
        return text

    @node(output_name="summary")
    def long(text: str) -> str:
        return text[:3] + "..."

    graph = Graph([by_length, short, long])
    assert run(graph, {"text": "hi"})["summary"] == "hi"
    assert run(graph, {"text": "a long text"})["summary"] == "a l..."


def test_exclusive_branches_of_an_ifelse_may_produce_the_same_output(run: RunFn) -> None:
    @ifelse(when_true="shout", when_false="whisper")
    def loud(text: str) -> bool:
        return text.endswith("!")

    @node(output_name="said")
    def shout(text: str) -> str:
        return text.upper()

    @node(output_name="said")
    def whisper(text: str) -> str:
        return text.lower()

    graph = Graph([loud, shout, whisper])
    assert run(graph, {"text": "Hey!"})["said"] == "HEY!"
    assert run(graph, {"text": "Hey"})["said"] == "hey"


def test_the_same_default_in_two_nodes_is_allowed() -> None:
    @node(output_name="a")
    def first(limit: int = 5) -> int:
        return limit

    @node(output_name="b")
    def second(limit: int = 5) -> int:
        return limit

    assert Graph([first, second]).inputs.optional == ("limit",)


def test_strict_types_accepts_agreeing_annotations() -> None:
    @node(output_name="words")
    def split(text: str) -> list[str]:
        return text.split()

    @node(output_name="n")
    def count(words: list[str]) -> int:
        return len(words)

    @node(output_name="label")
    def describe(n: int | None) -> str:
        return str(n)

    graph = Graph([split, count, describe], strict_types=True)
    assert graph.outputs == ("words", "n", "label")


def test_without_strict_types_annotations_are_not_checked() -> None:
    @node(output_name="n")
    def produce(seed: int) -> int:
        return seed

    @node(output_name="out")
    def consume(n: str) -> str:
        return n

    assert Graph([produce, consume]).outputs == ("n", "out")


def test_entrypoint_argument_starts_the_graph_there(run: RunFn) -> None:
    calls: list[str] = []
    full = pipeline(calls)
    graph = Graph(list(full.nodes.values()), entrypoint="clean")
    assert graph.inputs.required == ("text",)
    result = run(graph, {"text": "a b"})
    assert calls == ["clean", "count"]
    assert result.values == {"cleaned": "A B", "n": 2}


# -- bind -------------------------------------------------------------------------------


def test_bind_returns_a_new_graph_with_the_input_pre_filled(run: RunFn) -> None:
    graph = pipeline([])
    bound = graph.bind(path="a.txt")
    assert bound is not graph
    assert bound.inputs.required == ()
    assert set(bound.inputs.optional) == {"path", "unit"}
    assert dict(bound.inputs.bound) == {"path": "a.txt"}
    assert run(bound)["cleaned"] == "CONTENTS OF A.TXT"


def test_bind_leaves_the_original_graph_unchanged() -> None:
    graph = pipeline([])
    graph.bind(path="a.txt")
    assert graph.inputs.required == ("path",)
    assert dict(graph.inputs.bound) == {}


def test_run_values_override_bound_values(run: RunFn) -> None:
    bound = pipeline([]).bind(path="a.txt", unit="chars")
    result = run(bound, {"path": "b"})
    assert result["text"] == "contents of b"
    assert result["n"] == len("CONTENTS OF B")


def test_binding_twice_keeps_both_values() -> None:
    bound = pipeline([]).bind(path="a.txt").bind(unit="chars")
    assert dict(bound.inputs.bound) == {"path": "a.txt", "unit": "chars"}


# -- select -----------------------------------------------------------------------------


def test_select_returns_only_the_selected_outputs(run: RunFn) -> None:
    graph = pipeline([])
    selected = graph.select("cleaned")
    assert selected is not graph
    assert selected.outputs == ("cleaned",)
    assert run(selected, {"path": "p"}).values == {"cleaned": "CONTENTS OF P"}


def test_select_runs_only_the_nodes_needed_for_the_selected_outputs(run: RunFn) -> None:
    calls: list[str] = []
    selected = pipeline(calls).select("cleaned")
    run(selected, {"path": "p"})
    assert calls == ["load", "clean"]


def test_select_drops_inputs_only_unneeded_nodes_read() -> None:
    selected = two_branches([]).select("l")
    assert selected.inputs.required == ("a",)
    assert selected.inputs.optional == ()


def test_select_leaves_the_original_graph_unchanged(run: RunFn) -> None:
    calls: list[str] = []
    graph = pipeline(calls)
    graph.select("text")
    assert graph.outputs == ("text", "cleaned", "n")
    run(graph, {"path": "p"})
    assert calls == ["load", "clean", "count"]


def test_values_the_full_graph_knows_but_a_selection_does_not_need_are_ignored(
    run: RunFn,
) -> None:
    calls: list[str] = []
    selected = two_branches(calls).select("l")
    result = run(selected, {"a": 1, "b": 2})
    assert result.values == {"l": 2}
    assert calls == ["left"]


def test_a_selection_without_the_async_node_runs_on_the_sync_runner() -> None:
    @node(output_name="slow")
    async def fetch(url: str) -> str:
        return url

    @node(output_name="fast")
    def compute(x: int) -> int:
        return x + 1

    selected = Graph([fetch, compute]).select("fast")
    assert selected.has_async_nodes is False
    assert SyncRunner().run(selected, {"x": 1}).values == {"fast": 2}


# -- with_entrypoint --------------------------------------------------------------------


def test_with_entrypoint_skips_the_nodes_upstream_of_it(run: RunFn) -> None:
    calls: list[str] = []
    graph = pipeline(calls)
    started = graph.with_entrypoint("clean")
    assert started is not graph
    assert started.inputs.required == ("text",)
    result = run(started, {"text": "x y z"})
    assert calls == ["clean", "count"]
    assert result.values == {"cleaned": "X Y Z", "n": 3}


def test_with_entrypoint_accepts_the_node_itself() -> None:
    graph = pipeline([])
    started = graph.with_entrypoint(graph.nodes["count"])
    assert started.inputs.required == ("cleaned",)
    assert started.outputs == ("n",)


def test_with_entrypoint_leaves_the_original_graph_unchanged(run: RunFn) -> None:
    calls: list[str] = []
    graph = pipeline(calls)
    graph.with_entrypoint("count")
    assert graph.inputs.required == ("path",)
    run(graph, {"path": "p"})
    assert calls == ["load", "clean", "count"]


# -- as_node ----------------------------------------------------------------------------


def test_as_node_makes_a_graph_node_with_the_graphs_inputs_and_outputs() -> None:
    graph = pipeline([])
    as_node = graph.as_node()
    assert isinstance(as_node, GraphNode)
    assert as_node.name == "pipeline"
    assert set(as_node.inputs) == {"path", "unit"}
    assert as_node.outputs == ("text", "cleaned", "n")


def test_as_node_takes_a_name_and_leaves_the_graph_unchanged() -> None:
    graph = pipeline([])
    as_node = graph.as_node(name="prep")
    assert as_node.name == "prep"
    assert graph.name == "pipeline"
    assert graph.as_node() is not as_node


def test_a_graph_node_is_usable_as_a_node_of_another_graph() -> None:
    inner = pipeline([]).select("n")

    @node(output_name="report")
    def report(n: int) -> str:
        return f"{n} words"

    outer = Graph([inner.as_node(name="prep"), report])
    assert list(outer.nodes) == ["prep", "report"]
    assert outer.inputs.required == ("path",)
    assert outer.outputs == ("n", "report")
