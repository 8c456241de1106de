"""`to_mermaid()` text renders in the real mermaid.js, in headless Chromium, with 0 errors.

One browser session renders every diagram: 200 seeded random graphs (gates, END,
cycles, nested graphs 3 deep, hostile names) and the hand-written typical graphs of
`test_mermaid.py`. The page loads mermaid.js from `tests/js/node_modules` through a
loopback HTTP server (nothing from the network), renders each diagram, and posts back
what it drew: every node's text, every subgraph title, every edge label and the
number of edges. The test waits for that post, not for a time.

Under CI=true this always runs; elsewhere it is skipped only when Chromium or the
npm packages are missing (`npm ci --prefix tests/js` installs them).
"""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import random
import re
import shutil
import signal
import subprocess
import tempfile
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from apps.random_graphs import nesting_depth, random_graph
from hypergraph import END, Graph, GraphNode
from hypergraph.nodes.gate import GateNode
from test_mermaid import typical_graphs

pytestmark = pytest.mark.timeout(90)

MERMAID_JS = Path(__file__).resolve().parent / "js/node_modules/mermaid/dist/mermaid.min.js"
RANDOM_GRAPHS = 200
RESULT_TIMEOUT = 75.0

PAGE = """<!doctype html>
<meta charset="utf-8">
<body><div id="stage"></div>
<script src="/mermaid.min.js"></script>
<script>
const pageErrors = [];
console.error = (...args) => { pageErrors.push(args.map(String).join(" ")); };
window.addEventListener("error", (e) => pageErrors.push("error: " + e.message));
window.addEventListener("unhandledrejection", (e) => pageErrors.push("rejection: " + e.reason));
const texts = (root, selector) => [...root.querySelectorAll(selector)].map((e) => e.textContent);
(async () => {
  const part = location.hash.slice(1);
  const diagrams = await (await fetch("/diagrams/" + part + ".json")).json();
  mermaid.initialize({startOnLoad: false, securityLevel: "strict"});
  const stage = document.getElementById("stage");
  const results = [];
  for (let i = 0; i < diagrams.length; i++) {
    try {
      const {svg} = await mermaid.render("diagram" + i, diagrams[i]);
      stage.innerHTML = svg;
      results.push({
        ok: !svg.includes("Syntax error"),
        nodes: texts(stage, "g.node"),
        clusters: texts(stage, "g.cluster"),
        edgeLabels: texts(stage, "g.edgeLabel").filter((t) => t !== ""),
        edges: stage.querySelectorAll("path.flowchart-link").length,
      });
    } catch (e) {
      results.push({ok: false, error: String((e && e.message) || e)});
    }
  }
  const post = (report) => fetch("/result/" + part, {method: "POST", body: JSON.stringify(report)});
  await post({results, pageErrors});
})().catch((e) => fetch("/result/" + location.hash.slice(1),
  {method: "POST", body: JSON.stringify({fatal: String(e)})}));
</script>
"""

EDGE_LINE = re.compile(r"^\s*[a-z]\d+ (-->|-\.->)")


def _browser() -> str:
    """Path of Chromium, or skip (fail under CI) saying what is missing."""
    path = next(
        (p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p),
        None,
    )
    missing = []
    if path is None:
        missing.append("Chromium is not installed (apt-get install chromium)")
    if not MERMAID_JS.exists():
        missing.append(f"{MERMAID_JS} is missing (npm ci --prefix tests/js)")
    if missing:
        reason = "; ".join(missing)
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must render Mermaid, but {reason}")
        pytest.skip(f"needs a browser and mermaid.js to render diagrams: {reason}")
    assert path is not None
    return path


def render(diagrams: list[str], browsers: int = 2) -> dict[str, Any]:
    """Render `diagrams` with mermaid.js in headless Chromium; what the pages reported.

    The diagrams are dealt out to `browsers` Chromium processes that render at the same
    time (layout is CPU-bound and single-threaded per page); results come back in order.
    """
    path = _browser()
    parts = [diagrams[k::browsers] for k in range(browsers)]
    reports: dict[int, dict[str, Any]] = {}
    all_posted = threading.Event()
    files = {
        "/": (PAGE.encode(), "text/html; charset=utf-8"),
        "/mermaid.min.js": (MERMAID_JS.read_bytes(), "text/javascript"),
        **{
            f"/diagrams/{k}.json": (json.dumps(part).encode(), "application/json")
            for k, part in enumerate(parts)
        },
    }

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            if self.path not in files:
                self.send_error(404)
                return
            body, kind = files[self.path]
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            length = int(self.headers["Content-Length"])
            reports[int(self.path.rsplit("/", 1)[1])] = json.loads(self.rfile.read(length))
            self.send_response(204)
            self.end_headers()
            if len(reports) == browsers:
                all_posted.set()

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    launched: list[subprocess.Popen[bytes]] = []
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(server.server_close)
        cleanup.callback(server.shutdown)
        for k in range(browsers):
            profile = cleanup.enter_context(tempfile.TemporaryDirectory(ignore_cleanup_errors=True))
            flags = [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", f"--user-data-dir={profile}",
            ]  # fmt: skip
            chromium = subprocess.Popen(
                [path, *flags, f"{base}#{k}"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,  # its own process group: we end all its helpers
            )
            launched.append(chromium)
            cleanup.callback(_end, chromium)
        finished = all_posted.wait(RESULT_TIMEOUT)
    assert finished, f"the pages posted {len(reports)} of {browsers} results in {RESULT_TIMEOUT} s"
    fatal = [r["fatal"] for r in reports.values() if "fatal" in r]
    assert fatal == []
    results: list[Any] = [None] * len(diagrams)
    for k in range(browsers):
        results[k::browsers] = reports[k]["results"]
    return {
        "results": results,
        "pageErrors": [e for r in reports.values() for e in r["pageErrors"]],
    }


def _end(chromium: subprocess.Popen[bytes]) -> None:
    os.killpg(chromium.pid, signal.SIGTERM)
    chromium.wait(10)


# -- what each picture must show, derived from the graph's public API ----------------------


def _norm(text: str) -> str:
    """Text as a browser lays it out: runs of whitespace are one space."""
    return " ".join(text.split())


def _levels(graph: Graph) -> Iterator[Graph]:
    yield graph
    for n in graph.nodes.values():
        if isinstance(n, GraphNode):
            yield from _levels(n.graph)


def expected_boxes(graph: Graph) -> Counter[str]:
    """The text of every box: inputs, nodes, END per level; results of the top graph."""
    boxes: Counter[str] = Counter()
    for level in _levels(graph):
        spec = level.inputs
        for name in spec.all:
            suffix = " (bound)" if name in spec.bound else " (optional)"
            boxes[_norm(name if name in spec.required else name + suffix)] += 1
        nodes = level.nodes.values()
        boxes.update(_norm(n.name) for n in nodes if not isinstance(n, GraphNode))
        if any(isinstance(n, GateNode) and END in n.targets for n in nodes):
            boxes["END"] += 1
    read = {name for n in graph.nodes.values() for name in n.inputs}
    boxes.update(_norm(o) for o in graph.outputs if o not in read)
    return boxes


def expected_clusters(graph: Graph) -> Counter[str]:
    titles: Counter[str] = Counter()
    for level in _levels(graph):
        for n in level.nodes.values():
            if isinstance(n, GraphNode):
                over = f" (map over {', '.join(n.map_params)}, {n.map_mode})"
                titles[_norm(n.name + (over if n.map_params else ""))] += 1
    return titles


def carried_values(graph: Graph) -> set[str]:
    """Every value that goes from one node to another inside some level."""
    values = set()
    for level in _levels(graph):
        produced = {o for n in level.nodes.values() for o in n.outputs}
        values |= {i for n in level.nodes.values() for i in n.inputs if i in produced}
    return {_norm(v) for v in values}


def check_picture(graph: Graph, text: str, drawn: dict[str, Any]) -> None:
    assert drawn["ok"], drawn.get("error")
    assert Counter(map(_norm, drawn["nodes"])) == expected_boxes(graph)
    assert Counter(map(_norm, drawn["clusters"])) == expected_clusters(graph)
    assert drawn["edges"] == sum(bool(EDGE_LINE.match(line)) for line in text.splitlines())
    labels = " | ".join(map(_norm, drawn["edgeLabels"]))
    assert [v for v in carried_values(graph) if v not in labels] == []


# -- the tests -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sample() -> list[Graph]:
    rng = random.Random(13)
    return [random_graph(rng, depth=3) for _ in range(RANDOM_GRAPHS)]


@pytest.fixture(scope="module")
def rendered(sample: list[Graph]) -> tuple[list[Graph], list[str], dict[str, Any]]:
    graphs = list(typical_graphs().values()) + sample
    texts = [g.to_mermaid() for g in graphs]
    return graphs, texts, render(texts)


def test_random_sample_has_gates_end_cycles_maps_and_three_levels_of_nesting(
    sample: list[Graph],
) -> None:
    texts = [g.to_mermaid() for g in sample]
    assert sum(g.has_cycles for g in sample) >= 50
    assert sum('(("END"))' in t for t in texts) >= 50
    assert sum("map over" in t for t in texts) >= 20
    assert sum(nesting_depth(g) == 3 for g in sample) >= 20


def test_every_diagram_renders_in_mermaid_js_without_errors(
    rendered: tuple[list[Graph], list[str], dict[str, Any]],
) -> None:
    _, _, report = rendered
    failed = {i: r["error"] for i, r in enumerate(report["results"]) if not r["ok"]}
    assert failed == {}
    assert report["pageErrors"] == []


def test_every_rendered_picture_shows_each_name_exactly_as_given(
    rendered: tuple[list[Graph], list[str], dict[str, Any]],
) -> None:
    graphs, texts, report = rendered
    assert len(report["results"]) == len(graphs)
    for graph, text, drawn in zip(graphs, texts, report["results"], strict=True):
        check_picture(graph, text, drawn)
