"""Find the graph a command names: `module:attr` or `path/to/file.py:attr`.

Used by the `hypergraph` command (and by servers that take the same targets). Each
failure is a `GraphLoadError` that says which part of the target is wrong and how to
write it: the module cannot be found, importing it failed, the attribute is missing
(with a "did you mean" and the graphs the module does have), or it is not a Graph.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import traceback
from pathlib import Path
from types import ModuleType

from ._names import quoted, suggest
from .errors import HypergraphError
from .graph.graph import Graph


class GraphLoadError(HypergraphError, LookupError):
    """A `module:attr` target does not lead to a Graph."""

    def __init__(self, message: str, target: str) -> None:
        super().__init__(message)
        self.target = target


def load_graph(target: str) -> Graph:
    """The Graph that `target` names.

    `target` is `module:attr` (the module is imported as `python -m` would, from the
    current directory first) or `path/to/file.py:attr`; `attr` may be dotted
    (`app:pipelines.rag`).

    For example `load_graph("examples/chat_loop.py:graph")` gives the chat loop's graph.
    """
    where, sep, attr = target.rpartition(":")
    if not sep or not where or not attr:
        raise GraphLoadError(
            f"'{target}' does not say where the graph is: a target is module:attribute.\n"
            "How to fix: write app:graph (the name `graph` in app.py or the module app) "
            "or path/to/app.py:graph.",
            target,
        )
    module = _import(where, target)
    obj: object = module
    for depth, part in enumerate(attr.split(".")):
        if not hasattr(obj, part):
            raise _missing(module, where, attr.split(".")[: depth + 1], obj, target)
        obj = getattr(obj, part)
    if not isinstance(obj, Graph):
        raise _not_a_graph(module, where, attr, obj, target)
    return obj


def _import(where: str, target: str) -> ModuleType:
    is_path = where.endswith(".py") or os.sep in where or "/" in where
    try:
        return _import_file(Path(where), target) if is_path else _import_module(where, target)
    except GraphLoadError:
        raise
    except Exception as exc:
        if isinstance(exc, ModuleNotFoundError) and exc.name:
            how = (
                f"install the package that provides '{exc.name}' in the environment that "
                "runs hypergraph"
            )
        else:
            rerun = f"python {where}" if is_path else f'python -c "import {where}"'
            how = f"fix the error in your code; `{rerun}` shows the full traceback"
        raise GraphLoadError(
            f"Importing '{where}' raised {type(exc).__name__}: {exc}{_origin(exc)}.\n"
            f"How to fix: {how}.",
            target,
        ) from exc


def _import_module(name: str, target: str) -> ModuleType:
    # Console scripts do not put the current directory on sys.path; `python -m` does.
    # Do what `python -m` does, so `hypergraph run app:graph` finds ./app.py.
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.insert(0, cwd)
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name is None or not (name == exc.name or name.startswith(exc.name + ".")):
            raise  # the module exists but imports something missing: say so as it is
        raise GraphLoadError(
            f"No module named '{exc.name}' (looked in the current directory {cwd!r} and "
            f"on sys.path), so '{target}' cannot be loaded.\n"
            f"How to fix: run the command from the directory that holds {exc.name}.py, or "
            f"give the file's path: path/to/{name.rpartition('.')[2]}.py:"
            f"{target.rpartition(':')[2]}.",
            target,
        ) from None


def _import_file(path: Path, target: str) -> ModuleType:
    if not path.is_file():
        raise GraphLoadError(
            f"There is no file {str(path)!r} (looked from {os.getcwd()!r}), so '{target}' "
            "cannot be loaded.\nHow to fix: check the path, or give a module name: app:graph.",
            target,
        )
    name = path.stem if path.stem.isidentifier() else "_hypergraph_app"
    if name in sys.modules:
        name = f"_hypergraph_app_{name}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None  # a .py file always has both
    module = importlib.util.module_from_spec(spec)
    # Like `python path/to/app.py`: its own directory comes first, so it can import the
    # modules next to it; and it is registered before running, as dataclasses need.
    sys.path.insert(0, str(path.resolve().parent))
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def _origin(exc: BaseException) -> str:
    """` (file.py, line 12)`: where in the user's code an import failed."""
    if isinstance(exc, SyntaxError) and exc.filename:
        return f" ({exc.filename}, line {exc.lineno})"
    frames = traceback.extract_tb(exc.__traceback__)
    own = [f for f in frames if "importlib" not in f.filename and f.filename != __file__]
    return f" ({own[-1].filename}, line {own[-1].lineno})" if own else ""


def _graphs_in(module: ModuleType) -> list[str]:
    return [k for k, v in vars(module).items() if isinstance(v, Graph) and not k.startswith("_")]


def _missing(
    module: ModuleType, where: str, parts: list[str], obj: object, target: str
) -> GraphLoadError:
    name = ".".join(parts)
    owner = f"module '{where}'" if obj is module else f"'{where}:{'.'.join(parts[:-1])}'"
    graphs = _graphs_in(module) if obj is module else []
    # Graphs first; then anything but modules and classes (`Graph` itself is no answer).
    others = [
        k
        for k in dir(obj)
        if not k.startswith("__") and not isinstance(getattr(obj, k, None), type | ModuleType)
    ]
    hint = suggest(parts[-1], graphs) or suggest(parts[-1], others)
    graphs = _graphs_in(module)
    found = f"\nGraphs in '{where}': {quoted(graphs)}." if graphs else ""
    return GraphLoadError(
        f"{owner[0].upper()}{owner[1:]} has no attribute '{parts[-1]}', so '{target}' "
        f"cannot be loaded.{hint}{found}\n"
        f"How to fix: name a Graph defined in '{where}', e.g. "
        f"{where}:{graphs[0] if graphs else name}.",
        target,
    )


def _not_a_graph(
    module: ModuleType, where: str, attr: str, obj: object, target: str
) -> GraphLoadError:
    kind = type(obj).__name__
    if callable(obj) and not isinstance(obj, type):
        how = f"make the graph at import time (graph = {attr}(...)) and name that"
    else:
        how = "name a Graph object: graph = Graph([...]) in the module"
    graphs = _graphs_in(module)
    found = f" Graphs in '{where}': {quoted(graphs)}." if graphs else ""
    return GraphLoadError(
        f"'{target}' is a {kind} ({obj!r:.60}), not a Graph.{found}\nHow to fix: {how}.",
        target,
    )
