"""pipefunc: ``PipeFunc`` objects in a ``Pipeline``, wired by parameter and output names.

The chain renames one function's parameter per node,
``PipeFunc(inc, output_name="x8", renames={"x": "x7"})``, and runs with
``pipeline.run("x100", kwargs={"x0": 0})``, its sequential single-result API.

- W5: pipefunc's own batch idiom, a ``mapspec`` on each function (``"x[i] -> a[i]"``) and
  ``pipeline.map({"x": [...]}, parallel=False, storage="dict")``: in-process, in memory.
- W2/W3/W4: n/a. pipefunc never awaits a coroutine: an ``async def`` function's result is
  an unawaited coroutine (``map_async`` only runs sync functions in executors), and a node
  cannot stream.
- W6: n/a, a pipeline is a DAG.
"""

from __future__ import annotations

from typing import Any

from pipefunc import PipeFunc, Pipeline

from workloads.harness import (
    Params,
    Result,
    allow_deep_graph,
    chain_result,
    expect,
    import_time,
    memory_after_runs,
    seconds_per_call,
    timed,
    timed_median,
)

IMPORT = "import pipefunc"

_NO_ASYNC = "no async nodes (coroutines are never awaited)"
NOT_APPLICABLE = {
    "W2": _NO_ASYNC,
    "W3": _NO_ASYNC,
    "W4": "no async nodes, no streaming",
    "W6": "DAG only: no loops",
}


def inc(x: int) -> int:
    return x + 1


def _chain(nodes: int) -> Pipeline:
    return Pipeline(
        [PipeFunc(inc, output_name=f"x{i + 1}", renames={"x": f"x{i}"}) for i in range(nodes)]
    )


def w1(p: Params) -> Result:
    n = p["nodes"]
    notes = allow_deep_graph(n)
    built, pipeline = timed(lambda: _chain(n))

    def run() -> Any:
        return pipeline.run(f"x{n}", kwargs={"x0": 0})

    expect(run(), n, "chain result")
    return chain_result(seconds_per_call(run), n, built, notes)


def fa(x: int) -> int:
    return x + 1


def fb(a: int) -> int:
    return a + 1


def fc(b: int) -> int:
    return b + 1


def w5(p: Params) -> Result:
    pipeline = Pipeline(
        [
            PipeFunc(fa, output_name="a", mapspec="x[i] -> a[i]"),
            PipeFunc(fb, output_name="b", mapspec="a[i] -> b[i]"),
            PipeFunc(fc, output_name="c", mapspec="b[i] -> c[i]"),
        ]
    )
    xs = list(range(p["items"]))

    def run(items: list[int]) -> Any:
        return pipeline.map({"x": items}, parallel=False, storage="dict")["c"].output

    run(xs[:100])  # warm-up
    seconds, out = timed_median(lambda: run(xs))
    expect([int(v) for v in out], [x + 3 for x in xs], "mapped results")  # type: ignore[attr-defined]
    return Result(p["items"] / seconds, {"api": "mapspec + map(parallel=False)"})


def w7_import(p: Params) -> Result:
    return import_time(IMPORT, p["repeats"])


def w7_memory(p: Params) -> Result:
    n = p["nodes"]
    pipeline = _chain(n)
    expect(pipeline.run(f"x{n}", kwargs={"x0": 0}), n, "chain result")
    return memory_after_runs(lambda: pipeline.run(f"x{n}", kwargs={"x0": 0}), p["runs"])


WORKLOADS = {
    "W1": w1,
    "W1b-10": w1,
    "W1b-1000": w1,
    "W5": w5,
    "W7-import": w7_import,
    "W7-memory": w7_memory,
}
