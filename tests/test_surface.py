"""The public surface is small and pinned: adding or removing a name is a decision."""

from __future__ import annotations

import ast
from pathlib import Path

import hypergraph

SRC = Path(hypergraph.__file__).parent

PUBLIC = {
    "node", "route", "ifelse", "END", "Graph", "InputSpec", "FunctionNode", "GraphNode",
    "RouteNode", "IfElseNode", "NodeContext", "SyncRunner", "AsyncRunner", "RunResult",
    "MapResult", "RunStatus", "HypergraphError", "GraphConfigError", "MissingInputError",
    "InfiniteLoopError", "IncompatibleRunnerError", "RenameError", "RunStartEvent",
    "RunEndEvent", "NodeStartEvent", "NodeEndEvent", "NodeErrorEvent", "RouteDecisionEvent",
    "StreamingChunkEvent", "StopRequestedEvent", "EventProcessor", "AsyncEventProcessor",
    "TypedEventProcessor", "RetryPolicy", "NodeTimeoutError", "NodeRetryEvent",
    "InMemoryCache", "DiskCache", "MemoryCheckpointer", "SqliteCheckpointer",
    "interrupt", "InterruptNode", "PauseInfo", "InterruptEvent",
}  # fmt: skip


def test_public_surface_is_exactly_the_spec_list() -> None:
    assert set(hypergraph.__all__) == PUBLIC
    for name in PUBLIC:
        assert getattr(hypergraph, name) is not None


def test_all_errors_share_one_root() -> None:
    for name in PUBLIC:
        obj = getattr(hypergraph, name)
        if isinstance(obj, type) and issubclass(obj, Exception):
            assert issubclass(obj, hypergraph.HypergraphError), name


# A layer may import only from layers below it (ARCHITECTURE.md).
LAYERS = {
    "errors": 0, "_names": 0, "_introspect": 1, "events": 1,
    "nodes": 2, "engine": 3, "durable": 3, "graph": 4, "streaming": 5, "run": 6, "runners": 7,
    "testing": 8, "integrations": 9, "serve": 9, "_loading": 5, "cli": 10, "__main__": 11,
}  # fmt: skip


# Optional integrations may import their extra's packages, and only inside their own
# subpackage (which `import hypergraph` never loads).
EXTRAS = {"serve": {"starlette", "uvicorn"}}


def _layer(module: str) -> str:
    return module.split(".")[0]


def test_modules_import_only_from_lower_layers() -> None:
    offenders = []
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC)
        if rel.name == "__init__.py" and len(rel.parts) == 1:
            continue  # the package root re-exports everything
        own = _layer(".".join(rel.with_suffix("").parts))
        depth = len(rel.parts) - 1
        tree = ast.parse(path.read_text())
        for stmt in ast.walk(tree):
            if isinstance(stmt, ast.ImportFrom) and stmt.level:
                if stmt.level > depth:
                    target = _layer(stmt.module or "")
                elif stmt.level == depth and depth:
                    target = own
                else:
                    continue
                upward = target in LAYERS and own in LAYERS and LAYERS[target] > LAYERS[own]
                if upward and not _only_for_typing(stmt, tree):
                    offenders.append(f"{rel}: imports {target}")
    assert offenders == []


def _only_for_typing(stmt: ast.ImportFrom, tree: ast.Module) -> bool:
    return any(
        isinstance(node, ast.If)
        and "TYPE_CHECKING" in ast.unparse(node.test)
        and any(child is stmt for child in ast.walk(node))
        for node in ast.walk(tree)
    )


def test_core_has_no_third_party_imports() -> None:
    import sys

    allowed = set(sys.stdlib_module_names) | {"hypergraph"}
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC)
        extra = EXTRAS.get(rel.parts[0], set()) if len(rel.parts) > 1 else set()
        for stmt in ast.walk(ast.parse(path.read_text())):
            if isinstance(stmt, ast.Import):
                roots = [a.name.split(".")[0] for a in stmt.names]
            elif isinstance(stmt, ast.ImportFrom) and not stmt.level:
                roots = [(stmt.module or "").split(".")[0]]
            else:
                continue
            assert set(roots) <= allowed | extra, f"{path.name} imports {roots}"


def test_importing_hypergraph_loads_neither_asyncio_nor_logging_until_needed() -> None:
    import subprocess
    import sys

    code = (
        "import sys, hypergraph\n"
        "print('asyncio' in sys.modules, 'logging' in sys.modules)\n"
        "from hypergraph import AsyncRunner\n"
        "print('asyncio' in sys.modules, AsyncRunner.__name__)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split("\n")[:2] == ["False False", "True AsyncRunner"]
