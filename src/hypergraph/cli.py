"""The `hypergraph` command: run a graph and watch it stream, draw it, serve it.

    hypergraph run app:graph -i name=value ...   chunks as they come, then outputs as JSON
    hypergraph mermaid app:graph                  the Mermaid flowchart of the graph
    hypergraph serve app:graph --port 8000        serve it over HTTP (extra "serve")

Targets are `module:attr` or `path/to/file.py:attr` (see `_loading`). Errors are one
paragraph on stderr, never a traceback. Exit codes: 0 done, 1 the run failed,
2 bad usage, target or inputs, 3 paused (an interrupt waits for its answer), 130
interrupted (Ctrl-C).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from . import (
    Graph,
    HypergraphError,
    NodeErrorEvent,
    RunResult,
    RunStatus,
    StreamingChunkEvent,
)
from ._loading import load_graph

OK, FAILED, USAGE, PAUSED, INTERRUPTED = 0, 1, 2, 3, 130

SERVE_EXTRA = 'hypergraph serve needs the serve extra: pip install "hypergraph[serve]"'


class UsageError(HypergraphError, ValueError):
    """A command line that cannot be carried out as written (a malformed -i, bad JSON)."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the `hypergraph` command with `argv` (default: `sys.argv[1:]`); the exit code.

    For example `main(["mermaid", "examples/chat_loop.py:graph"])` prints the chat
    loop's Mermaid text and returns 0.
    """
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return USAGE
    try:
        code: int = args.handler(args)
        return code
    except HypergraphError as exc:
        _error(args.command, str(exc))
        return USAGE
    except KeyboardInterrupt:
        _error(args.command, "interrupted.")
        return INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`hypergraph run ... | head`): stop quietly, as cat does,
        # and point stdout at /dev/null so the flush at exit cannot fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return FAILED


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hypergraph",
        description="Run, draw and serve hypergraph graphs. A target is module:attr "
        "(app:graph, looked up from the current directory) or path/to/file.py:attr.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = commands.add_parser(
        "run",
        help="run a graph: stream its chunks, then print its outputs as JSON",
        description="Run a graph. Chunks that nodes stream are printed as they arrive "
        "(text as is, other chunks as their repr, one line each); then the outputs are "
        "printed as JSON (values JSON cannot hold as their repr). Uses AsyncRunner when "
        "the graph has async nodes, else SyncRunner.",
    )
    run.add_argument("target", help="module:attr or path/to/file.py:attr")
    run.add_argument(
        "-i",
        "--input",
        dest="inputs",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help='an input value, read as JSON when it parses (5, true, [1, 2], "5"), else '
        "as text; repeat for more inputs",
    )
    run.add_argument(
        "--values-json",
        metavar="JSON",
        help="all input values as one JSON object; -i values override its entries",
    )
    run.set_defaults(handler=_run)

    mermaid = commands.add_parser(
        "mermaid",
        help="print the graph as a Mermaid flowchart",
        description="Print Graph.to_mermaid(): paste it into Markdown (GitHub renders it) "
        "or any Mermaid viewer.",
    )
    mermaid.add_argument("target", help="module:attr or path/to/file.py:attr")
    mermaid.add_argument(
        "--direction", default="TD", help="TD (top-down, the default), LR, BT or RL"
    )
    mermaid.set_defaults(handler=_mermaid)

    serve = commands.add_parser(
        "serve",
        help="serve the graph over HTTP (needs the serve extra)",
        description="Serve a graph over HTTP with hypergraph.serve "
        '(pip install "hypergraph[serve]").',
    )
    serve.add_argument("target", help="module:attr or path/to/file.py:attr")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serve.add_argument("--port", type=int, default=8000, help="port to listen on")
    serve.add_argument(
        "--resume-window",
        type=float,
        metavar="SECONDS",
        help="how long a finished run's events stay available to a client that reconnects",
    )
    serve.set_defaults(handler=_serve)
    return parser


# -- run ----------------------------------------------------------------------------------


def _run(args: argparse.Namespace) -> int:
    values = _values(args.values_json, args.inputs)
    graph = load_graph(args.target)
    watch = _Watch(sys.stdout)
    try:
        if graph.has_async_nodes:
            import asyncio

            result = asyncio.run(_run_async(graph, values, watch))
        else:
            result = _run_sync(graph, values, watch)
    except HypergraphError as exc:
        # Raised before any node ran: the values do not fit the graph.
        watch.end_line()
        raise UsageError(
            f"{exc}\nOn the command line, give inputs as -i name=value or --values-json '{{...}}'."
        ) from exc
    finally:
        watch.end_line()
    if result.status is RunStatus.FAILED:
        _error("run", watch.failure(result.error))
        return FAILED
    for pause in result.pauses:
        _error(
            "run",
            f"paused: '{pause.node_name}' asks {_to_json({'question': pause.value})}; "
            f"answer it by running again with the same inputs and -i "
            f"'{pause.response_key}=<answer>'",
        )
    print(_to_json(result.values), flush=True)
    return PAUSED if result.status is RunStatus.PAUSED else OK


def _run_sync(graph: Graph, values: dict[str, Any], watch: _Watch) -> RunResult:
    from . import SyncRunner

    with SyncRunner().iter(graph, values, error_handling="continue") as run:
        for event in run:
            watch.see(event)
        return run.result()


async def _run_async(graph: Graph, values: dict[str, Any], watch: _Watch) -> RunResult:
    from . import AsyncRunner

    async with AsyncRunner().iter(graph, values, error_handling="continue") as run:
        async for event in run:
            watch.see(event)
        return await run.result()


class _Watch:
    """Prints chunks as they arrive and remembers which node failed first."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.at_line_start = True
        self.last_span: str | None = None
        self.chunks: dict[str, int] = {}  # span id of a node execution -> chunks printed
        self.failed: tuple[str, str] | None = None  # path and span id of the failed node

    def see(self, event: object) -> None:
        if isinstance(event, StreamingChunkEvent):
            if event.span_id != self.last_span:
                self.end_line()  # each node execution's stream starts on its own line
                self.last_span = event.span_id
            self.chunks[event.span_id] = self.chunks.get(event.span_id, 0) + 1
            chunk = event.chunk
            text = chunk if isinstance(chunk, str) else f"{chunk!r}\n"
            if text:
                self.out.write(text)
                self.out.flush()
                self.at_line_start = text.endswith("\n")
        elif isinstance(event, NodeErrorEvent) and self.failed is None:
            # The innermost node fails first; the graph nodes around it follow.
            self.failed = (event.path, event.span_id)

    def end_line(self) -> None:
        if not self.at_line_start:
            self.out.write("\n")
            self.out.flush()
            self.at_line_start = True

    def failure(self, error: BaseException | None) -> str:
        what = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
        if self.failed is None:
            return f"the run failed: {what}"
        path, span = self.failed
        count = self.chunks.get(span, 0)
        kept = f" after streaming {count} chunk{'s' * (count != 1)} (shown above)" if count else ""
        return f"node '{path}' failed{kept}: {what}"


def _values(values_json: str | None, pairs: list[str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if values_json is not None:
        try:
            given = json.loads(values_json)
        except json.JSONDecodeError as exc:
            raise UsageError(
                f"--values-json is not valid JSON ({exc}).\n"
                "How to fix: give one JSON object, e.g. --values-json '{\"x\": 5}'."
            ) from None
        if not isinstance(given, dict):
            raise UsageError(
                f"--values-json must be a JSON object of input names to values, got "
                f"{type(given).__name__}.\nHow to fix: --values-json '{{\"x\": 5}}'."
            )
        values.update(given)
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        if not sep or not name:
            raise UsageError(
                f"-i {pair!r} is not name=value.\n"
                "How to fix: -i x=5 (a JSON value) or -i text=hello (anything else is text)."
            )
        try:
            values[name] = json.loads(raw)
        except ValueError:
            values[name] = raw
    return values


def _to_json(values: dict[str, Any]) -> str:
    """The outputs as a JSON object; a value JSON cannot hold appears as its repr."""
    shown: dict[str, Any] = {}
    for name, value in values.items():
        try:
            json.dumps(value, allow_nan=False)
            shown[name] = value
        except (TypeError, ValueError):
            shown[name] = repr(value)
    return json.dumps(shown, indent=2, ensure_ascii=False)


# -- mermaid, serve -----------------------------------------------------------------------


def _mermaid(args: argparse.Namespace) -> int:
    graph = load_graph(args.target)
    sys.stdout.write(graph.to_mermaid(direction=args.direction))
    sys.stdout.flush()
    return OK


def _serve(args: argparse.Namespace) -> int:
    graph = load_graph(args.target)
    try:
        # Imported by name: the module belongs to the "serve" extra and may be absent.
        serve = importlib.import_module("hypergraph.serve").serve
    except ImportError as exc:
        print(f"{SERVE_EXTRA}\n({exc})", file=sys.stderr)
        return USAGE
    options: dict[str, Any] = {"host": args.host, "port": args.port}
    if args.resume_window is not None:
        options["resume_window"] = args.resume_window
    serve(graph, **options)
    return OK


def _error(command: str, message: str) -> None:
    print(f"hypergraph {command}: {message}", file=sys.stderr, flush=True)
