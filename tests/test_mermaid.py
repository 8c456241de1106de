"""`graph.to_mermaid()`: the text shows inputs, nodes, values on edges, declared gate
targets and END, cycles, nested and mapped graphs, results, and survives any name.

The text is read back with a small parser of the subset `to_mermaid` writes, so each
test states the picture (which box, which arrow, which label) rather than a layout.
`test_mermaid_render.py` renders these same graphs in mermaid.js.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field

import pytest

from hypergraph import END, Graph, GraphConfigError, ifelse, interrupt, node, route

# -- typical graphs --------------------------------------------------------------------------


@node(output_name="embedding")
def embed(query: str) -> list[float]:
    return [float(len(query))]


@node(output_name="docs")
def retrieve(embedding: list[float], top_k: int = 5) -> list[str]:
    return ["doc"] * top_k


@node(output_name="answer")
async def generate(query: str, docs: list[str]) -> AsyncIterator[str]:
    yield f"{query}: {len(docs)} docs"


def rag() -> Graph:
    return Graph([embed, retrieve, generate], name="rag")


@node(output_name="response")
def stream_turn(messages: list[str]) -> Iterator[str]:
    yield "hi"


@node(output_name="messages")
def update_history(messages: list[str], response: list[str]) -> list[str]:
    return [*messages, "".join(response)]


@route(targets=["stream_turn", END])
def should_continue(messages: list[str]) -> object:
    return END if len(messages) >= 6 else "stream_turn"


def chat_loop() -> Graph:
    return Graph([stream_turn, update_history, should_continue])


@node(output_name="score")
def grade(answer: str) -> float:
    return 0.5


@ifelse(when_true="publish", when_false=END)
def good_enough(score: float) -> bool:
    return score > 0.8


@node(output_name="published")
def publish(answer: str) -> str:
    return answer


def review() -> Graph:
    return Graph([grade, good_enough, publish])


@node(output_name="x")
def start(seed: int) -> int:
    return seed


@node(output_name="y")
def deepest(x: int) -> int:
    return x


@node(output_name="z")
def finish(y: int) -> int:
    return y


def three_deep() -> Graph:
    c = Graph([deepest], name="c").as_node()
    b = Graph([c], name="b").as_node()
    a = Graph([b], name="a").as_node()
    return Graph([start, a, finish])


def mapped_rag() -> Graph:
    @node(output_name="report")
    def summarize(answer: list[list[str]]) -> str:
        return str(len(answer))

    return Graph([rag().select("answer").as_node().map_over("query"), summarize])


def approval() -> Graph:
    @interrupt(output_name="approved")
    def ask_human(draft: str) -> str:
        return draft

    @node(output_name="sent")
    def send(draft: str, approved: bool) -> bool:
        return approved

    return Graph([ask_human, send])


def typical_graphs() -> dict[str, Graph]:
    """The graphs these tests describe; the render test draws them in mermaid.js too."""
    return {
        "rag": rag(),
        "chat_loop": chat_loop(),
        "review": review(),
        "three_deep": three_deep(),
        "mapped_rag": mapped_rag(),
        "approval": approval(),
    }


# -- reading the text back ------------------------------------------------------------------

SHAPES = {
    "[/": "input", "[\\": "result", "[[": "stream", "((": "end", "{{": "ask", "{": "gate",
    "[": "node",
}  # fmt: skip
NODE = re.compile(r'^(?P<id>[a-z]\d+)(?P<open>\[/|\[\\|\[\[|\(\(|\{\{|\{|\[)"(?P<text>[^"]*)"')
SUBGRAPH = re.compile(r'^subgraph (?P<id>s\d+) \["(?P<text>[^"]*)"\]$')
EDGE = re.compile(r'^(?P<src>\w+) (?P<arrow>-->|-\.->)(?:\|"(?P<text>[^"]*)"\|)? (?P<dst>\w+)$')


def _decode(text: str) -> str:
    return re.sub(r"#(\d+);", lambda m: chr(int(m.group(1))), text)


@dataclass
class Picture:
    """What a diagram declares, by label: boxes, subgraphs, and arrows between labels."""

    boxes: dict[str, tuple[str, str]] = field(default_factory=dict)  # id -> (shape, text)
    parent: dict[str, str | None] = field(default_factory=dict)  # id -> enclosing subgraph
    arrows: list[tuple[str, str, str, str]] = field(default_factory=list)

    def of(self, shape: str) -> list[str]:
        return [text for s, text in self.boxes.values() if s == shape]

    def arrow(self, src: str, label: str, dst: str, *, dotted: bool = False) -> bool:
        return (src, "-.->" if dotted else "-->", label, dst) in self.arrows

    def inside(self, text: str) -> list[str]:
        """Titles of the subgraphs around the box `text`, innermost first."""
        box = next(i for i, (_, t) in self.boxes.items() if t == text)
        chain, up = [], self.parent[box]
        while up is not None:
            chain.append(self.boxes[up][1])
            up = self.parent[up]
        return chain


def parse(text: str) -> Picture:
    lines = text.splitlines()
    assert lines[0] == "flowchart TD"
    pic, stack, edges = Picture(), [None], []
    for line in (raw.strip() for raw in lines[1:]):
        if m := SUBGRAPH.match(line):
            pic.boxes[m["id"]] = ("subgraph", _decode(m["text"]))
            pic.parent[m["id"]] = stack[-1]
            stack.append(m["id"])
        elif line == "end":
            stack.pop()
        elif m := EDGE.match(line):
            edges.append((m["src"], m["arrow"], _decode(m["text"] or ""), m["dst"]))
        elif m := NODE.match(line):
            pic.boxes[m["id"]] = (SHAPES[m["open"]], _decode(m["text"]))
            pic.parent[m["id"]] = stack[-1]
        else:
            assert line.startswith("classDef "), f"unexpected line {line!r}"
    assert stack == [None], "every subgraph is closed"
    pic.arrows = [(pic.boxes[s][1], a, t, pic.boxes[d][1]) for s, a, t, d in edges]
    return pic


# -- tests ----------------------------------------------------------------------------------


def test_rag_chain_shows_inputs_value_labelled_edges_streaming_node_and_result() -> None:
    pic = parse(rag().to_mermaid())
    assert sorted(pic.of("input")) == ["query", "top_k (optional)"]
    assert pic.of("node") == ["embed", "retrieve"]
    assert pic.of("stream") == ["generate"]
    assert pic.of("result") == ["answer"]
    assert pic.arrow("query", "", "embed") and pic.arrow("query", "", "generate")
    assert pic.arrow("top_k (optional)", "", "retrieve")
    assert pic.arrow("embed", "embedding", "retrieve")
    assert pic.arrow("retrieve", "docs", "generate")
    assert pic.arrow("generate", "", "answer")
    assert len(pic.arrows) == 6


def test_chat_loop_draws_the_cycle_and_a_labelled_route_to_each_target_and_end() -> None:
    pic = parse(chat_loop().to_mermaid())
    assert pic.of("gate") == ["should_continue"]
    assert pic.of("end") == ["END"]
    assert pic.arrow("should_continue", "stream_turn", "stream_turn", dotted=True)
    assert pic.arrow("should_continue", "END", "END", dotted=True)
    # the loop: the history goes back to the streaming turn and round again
    assert pic.arrow("stream_turn", "response", "update_history")
    assert pic.arrow("update_history", "messages", "stream_turn")
    assert pic.arrow("update_history", "messages", "update_history")
    assert pic.arrow("update_history", "messages", "should_continue")
    # `messages` is also the value that starts the loop; every value is read, no results
    assert pic.of("input") == ["messages"]
    assert pic.of("result") == []


def test_an_interrupt_is_a_hexagon_and_its_answer_labels_the_edge_it_feeds() -> None:
    pic = parse(approval().to_mermaid())
    assert pic.of("ask") == ["ask_human"]
    assert pic.arrow("ask_human", "approved", "send")
    assert pic.arrow("draft", "", "ask_human")


def test_ifelse_edges_say_true_and_false_and_only_declared_targets_are_drawn() -> None:
    pic = parse(review().to_mermaid())
    gate_arrows = [a for a in pic.arrows if a[0] == "good_enough"]
    assert gate_arrows == [
        ("good_enough", "-.->", "True", "publish"),
        ("good_enough", "-.->", "False", "END"),
    ]


def test_route_edges_mark_the_fallback_and_reach_every_target_of_a_multi_target_route() -> None:
    @route(targets=["a", "b"], fallback="c", multi_target=True)
    def fan(x: int) -> list[str]:
        return ["a", "b"]

    a, b, c = (node(lambda x: x, output_name=f"{n}_out").with_name(n) for n in "abc")
    pic = parse(Graph([fan, a, b, c]).to_mermaid())
    assert [(t, d) for s, _, t, d in pic.arrows if s == "fan"] == [
        ("a", "a"),
        ("b", "b"),
        ("c (fallback)", "c"),
    ]
    assert pic.of("end") == []


def test_graph_nested_three_deep_is_drawn_as_subgraphs_inside_subgraphs() -> None:
    pic = parse(three_deep().to_mermaid())
    assert [t for s, t in pic.boxes.values() if s == "subgraph"] == ["a", "b", "c"]
    assert pic.inside("deepest") == ["c", "b", "a"]
    assert pic.inside("start") == []
    # outer edges end at the border of the nested graph; inner ones stay inside
    assert pic.arrow("start", "x", "a")
    assert pic.arrow("a", "y", "finish")
    assert pic.arrow("x", "", "deepest")
    assert pic.of("input").count("x") == 3  # a, b and c each show what they read


def test_mapped_graph_title_names_what_it_maps_over() -> None:
    pic = parse(mapped_rag().to_mermaid())
    assert [t for s, t in pic.boxes.values() if s == "subgraph"] == ["rag (map over query, zip)"]
    assert pic.inside("generate") == ["rag (map over query, zip)"]
    assert pic.arrow("rag (map over query, zip)", "answer", "summarize")
    assert pic.of("result") == ["report"]


def test_bound_input_is_marked_bound_and_not_required() -> None:
    pic = parse(rag().bind(top_k=3).to_mermaid())
    assert sorted(pic.of("input")) == ["query", "top_k (bound)"]


def test_select_draws_only_the_nodes_that_run_and_the_selected_outputs() -> None:
    pic = parse(rag().select("docs").to_mermaid())
    assert pic.of("node") == ["embed", "retrieve"]
    assert pic.of("stream") == []
    assert pic.of("result") == ["docs"]


def test_a_node_reading_its_own_output_has_a_self_loop() -> None:
    @node(output_name="total")
    def add(total: int, x: int) -> int:
        return total + x

    pic = parse(Graph([add]).to_mermaid())
    assert pic.arrow("add", "total", "add")


HOSTILE = ["end", 'say "end"', "a[b]{c}", "<b>bold<b>", "%% note", "#35;", "a|b", "x --> y"]


@pytest.mark.parametrize("name", [*HOSTILE, "line\nbreak", "日本 🚀", "`md`", "A&B;"])
def test_any_name_is_only_ever_a_quoted_label_that_decodes_back_to_itself(name: str) -> None:
    @node(output_name="out")
    def work(value: int) -> int:
        return value

    g = Graph([work.with_name(name).with_inputs(value=name).with_outputs(out=name + "!")])
    text = g.to_mermaid()
    pic = parse(text)
    assert pic.of("node") == [name]
    assert pic.of("input") == [name]
    assert pic.of("result") == [name + "!"]
    # apart from numeric entities, no character Mermaid could read as syntax is left
    for label in re.findall(r'"([^"]*)"', text):
        assert not set(re.sub(r"#\d+;", "", label)) & set('<>&`|[]{}%;#"\n'), label


def test_ids_are_generated_so_a_node_named_end_never_becomes_an_id() -> None:
    text = Graph([node(lambda x: x, output_name="end").with_name("end")]).to_mermaid()
    ids = re.findall(r"^\s*([A-Za-z]\w*)[\[({]", text, flags=re.MULTILINE)
    assert ids and all(re.fullmatch(r"[insre]\d+", i) for i in ids)
    assert len(ids) == len(set(ids))


def test_text_is_the_same_every_time_for_the_same_graph() -> None:
    assert three_deep().to_mermaid() == three_deep().to_mermaid()


def test_direction_is_configurable_and_an_unknown_one_is_refused() -> None:
    assert rag().to_mermaid(direction="LR").startswith("flowchart LR\n")
    with pytest.raises(GraphConfigError, match="How to fix: use one of 'TD'"):
        rag().to_mermaid(direction="sideways")
