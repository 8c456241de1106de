"""What crosses to an executor's workers and back: pickling graphs, values and results.

Three things make a graph travel with pickle where plain pickle would refuse it:

- `@node` and `@route` replace the function's module attribute with the node, so pickle
  cannot find the function by its name any more. A function whose module attribute is a
  node wrapping it is sent as "the `.func` of that attribute" (by reference, as pickle
  sends any other function).
- A graph is sent as what defines it (its nodes, name, entrypoint, selection and bound
  values) and compiled again where it arrives: its compiled plan holds code objects,
  which pickle cannot send. A read-only mapping view is sent as the dict it shows.
- On a Dask cluster the base pickler is cloudpickle's (it comes with `distributed`), so
  lambdas and functions defined in `__main__` or inside other functions travel by value.

What cannot travel is found before anything is submitted (`check_job`, `check_columns`) and
named in a `TransferError`. On the way back, a worker's exception that would not survive
the trip is rebuilt from its state, or replaced by a `RemoteError` stand-in that keeps
its type name and message; outputs that cannot travel fail their item. Decision 0026.
"""

from __future__ import annotations

import dataclasses
import gc
import importlib
import io
import os
import pickle
import sys
import traceback
import types
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from ..errors import HypergraphError
from ..events.types import BaseEvent, RunStatus
from ..events.wire import safe_text, to_json_value
from ..graph.graph import Graph
from ..nodes.base import HyperNode
from ..nodes.graph_node import GraphNode
from .result import RunResult

PROTOCOL = pickle.HIGHEST_PROTOCOL

Dumps = Callable[[object], bytes]


class TransferError(HypergraphError, TypeError):
    """A graph, value or output cannot be sent between the caller and an executor's workers.

    `node` names the node that cannot travel, `name` the input or output, `item` the map
    item (None: the value shared by every item).

    >>> err = TransferError("Input 'lock' cannot be sent.", name="lock", item=3)
    >>> err.name, err.item
    ('lock', 3)
    """

    def __init__(
        self,
        message: str,
        *,
        node: str | None = None,
        name: str | None = None,
        item: int | None = None,
    ) -> None:
        super().__init__(message)
        self.node = node
        self.name = name
        self.item = item


class RemoteError(HypergraphError):
    """Stands in for a worker's exception that could not be sent back as itself.

    It keeps the original's type name, message and notes (so the node it came from).

    >>> err = RemoteError("connection reset", type_name="SDKError")
    >>> str(err), err.type_name
    ('SDKError: connection reset', 'SDKError')
    """

    def __init__(self, message: str, type_name: str = "Exception") -> None:
        super().__init__(f"{type_name}: {message}")
        self.type_name = type_name
        self.message = message

    def __reduce__(self) -> tuple[Any, ...]:
        return (RemoteError, (self.message, self.type_name), self.__dict__)


# -- pickling ------------------------------------------------------------------------------


def dumps_for(base: type[pickle.Pickler], by_value_main: bool) -> Dumps:
    """A `dumps` on top of pickler class `base` (pickle's or cloudpickle's)."""
    pickler = _pickler_class(base, by_value_main)

    def dumps(obj: object) -> bytes:
        buffer = io.BytesIO()
        pickler(buffer, protocol=PROTOCOL).dump(obj)
        return buffer.getvalue()

    return dumps


_picklers: dict[tuple[Any, bool], type[pickle.Pickler]] = {}


def _pickler_class(base: Any, by_value_main: bool) -> type[pickle.Pickler]:
    made = _picklers.get((base, by_value_main))
    if made is not None:
        return made
    parent = getattr(base, "reducer_override", None)

    class NodePickler(base):  # type: ignore[misc]
        def reducer_override(self, obj: object) -> Any:
            if isinstance(obj, Graph):
                return (_rebuild_graph, _graph_recipe(obj))
            if type(obj) is types.MappingProxyType:
                return (_mapping, (dict(obj),))
            if type(obj) is types.FunctionType:
                where = _node_attribute(obj)
                if where is not None and not (by_value_main and where[0] == "__main__"):
                    return (node_function, where)
            return NotImplemented if parent is None else parent(self, obj)

    _picklers[base, by_value_main] = NodePickler
    return NodePickler


plain_dumps: Dumps = dumps_for(pickle.Pickler, by_value_main=False)
"""`dumps` with the standard library's pickler (process pools, and everything coming back)."""


def _graph_recipe(graph: Graph) -> tuple[Any, ...]:
    # What defines the graph, not its compiled plan (derived data, with code objects):
    # the worker compiles its own, as building the graph here did.
    return (
        graph._all,
        graph.name,
        graph.strict_types,
        graph.entrypoint,
        graph._selected,
        dict(graph._bound),
    )


def _rebuild_graph(
    nodes: Sequence[HyperNode],
    name: str | None,
    strict_types: bool,
    entrypoint: tuple[str, ...],
    selected: tuple[str, ...] | None,
    bound: dict[str, Any],
) -> Graph:
    graph = Graph(nodes, name=name, entrypoint=entrypoint or None, strict_types=strict_types)
    if selected is not None or bound:
        graph = graph._derive(_selected=selected, _bound=bound)
    return graph


def _mapping(values: dict[str, Any]) -> types.MappingProxyType[str, Any]:
    return types.MappingProxyType(values)


def _node_attribute(func: types.FunctionType) -> tuple[str, str] | None:
    """(module, qualname) if that module attribute is a node wrapping `func`."""
    qualname = func.__qualname__
    if "<" in qualname:  # a lambda or a local function: it has no module attribute
        return None
    obj: Any = sys.modules.get(func.__module__)
    for part in qualname.split("."):
        obj = getattr(obj, part, None)
    if isinstance(obj, HyperNode) and getattr(obj, "func", None) is func:
        return func.__module__, qualname
    return None


def node_function(module: str, qualname: str) -> Any:
    """The function of the node at `module.qualname` (how a node's function is unpickled)."""
    obj: Any = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return getattr(obj, "func", obj) if isinstance(obj, HyperNode) else obj


# -- before submitting: name what cannot travel ---------------------------------------------

_ELSEWHERE = (
    "or use a ThreadPoolExecutor (nothing is pickled), or a Dask client (cloudpickle "
    "sends lambdas and local functions by value)"
)


def check_job(dumps: Dumps, job: object, graph: Graph, shared: Mapping[str, Any]) -> bytes:
    """`job` pickled; if it cannot be, a TransferError naming the node or value."""
    try:
        return dumps(job)
    except Exception as exc:
        raise (
            _node_problem(dumps, graph, ())
            or _value_problem(dumps, shared, None)
            or (
                TransferError(
                    f"The map cannot be sent to the executor's workers: {_reason(exc)}.\n"
                    "How to fix: make the graph's functions and values picklable, "
                    + _ELSEWHERE
                    + "."
                )
            )
        ) from exc


def check_columns(dumps: Dumps, columns: Mapping[str, list[Any]], start: int, stop: int) -> bytes:
    """Items `start` to `stop` of the mapped values, pickled; if they cannot be, a
    TransferError naming the value and its item."""
    chunk = {name: values[start:stop] for name, values in columns.items()}
    try:
        return dumps(chunk)
    except Exception as exc:
        for k in range(start, stop):
            problem = _value_problem(dumps, {n: v[k] for n, v in columns.items()}, k)
            if problem is not None:
                raise problem from exc
        raise TransferError(f"The map's items cannot be pickled: {_reason(exc)}.") from exc


def _node_problem(dumps: Dumps, graph: Graph, path: tuple[str, ...]) -> TransferError | None:
    for node in graph.nodes.values():
        if isinstance(node, GraphNode):
            inner = _node_problem(dumps, node.graph, (*path, node.name))
            if inner is not None:
                return inner
            continue
        try:
            dumps(node)
        except Exception as exc:
            return _unpicklable_node(node, "/".join((*path, node.name)), exc)
    return _value_problem(dumps, graph.inputs.bound, None, bound=True)


def _unpicklable_node(node: HyperNode, where: str, exc: Exception) -> TransferError:
    func = getattr(node, "func", None)
    qualname = getattr(func, "__qualname__", "")
    if "<lambda>" in qualname:
        why = "its function is a lambda, which pickle cannot send"
    elif "<locals>" in qualname:
        outer = qualname.split(".<locals>")[0]
        why = f"its function is defined inside {outer}(), which pickle cannot send"
    else:
        why = f"pickling it failed ({_reason(exc)})"
    return TransferError(
        f"Node '{where}' cannot be sent to the executor's workers: {why}.\n"
        "How to fix: define the function with def at the top level of a module that the "
        f"workers can import, {_ELSEWHERE}.",
        node=where,
    )


def _value_problem(
    dumps: Dumps, values: Mapping[str, Any], item: int | None, bound: bool = False
) -> TransferError | None:
    for name, value in values.items():
        try:
            dumps(value)
        except Exception as exc:
            whose = (
                "bound in the graph"
                if bound
                else "shared by every item"
                if item is None
                else f"of item {item}"
            )
            return TransferError(
                f"Input '{name}' ({whose}) cannot be sent to the executor's workers: "
                f"{_reason(exc)}.\n"
                "How to fix: pass data that pickles (a path, a URL, settings) and make the "
                "object inside a node, or use a ThreadPoolExecutor (nothing is pickled).",
                name=name,
                item=item,
            )
    return None


def _reason(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {safe_text(str, exc)}"


# -- on the way back ----------------------------------------------------------------------


def encode_outcome(results: list[RunResult], events: list[BaseEvent]) -> bytes:
    """A chunk's results and events, pickled for the trip back to the caller.

    Every error is made to survive the trip first (see `portable_error`); if the chunk
    still does not pickle, the values that do not are dealt with one by one. Results
    travel as plain tuples: half the bytes and a third of the time of RunResult objects,
    which counts for cheap items.
    """
    memo: dict[int, Any] = {}
    results = [_with_portable_error(r, memo) for r in results]
    events = [_event_with_portable_error(e, memo) for e in events]
    try:
        return plain_dumps(([_pack(r) for r in results], events))
    except Exception:
        packed = [_pack(_portable_result(r)) for r in results]
        return plain_dumps((packed, _portable_events(events)))


def decode_outcome(data: bytes) -> tuple[list[RunResult], list[BaseEvent]]:
    """What `encode_outcome` sent: the chunk's results and events."""
    # Many small objects at once: the cyclic collector would run over and over for none
    # of them to be garbage (measured: decoding 100,000 results took 2.7× longer).
    enabled = gc.isenabled()
    gc.disable()
    try:
        packed, events = pickle.loads(data)
        status = _STATUS
        return [RunResult(v, status[s], i, e, p or {}) for v, s, i, e, p in packed], events
    finally:
        if enabled:
            gc.enable()


_STATUS = {s.value: s for s in RunStatus}


def _pack(r: RunResult) -> tuple[Any, ...]:
    return (r.values, r.status.value, r.run_id, r.error, r.partial or None)


def portable_error(exc: BaseException) -> Any:
    """`exc` if it survives pickling; else an object that unpickles as a copy of it rebuilt
    from its state (for classes whose `__init__` does not take their `args` back); else a
    `RemoteError` with its type name, message and notes."""
    _note_worker(exc)
    for candidate in (exc, _ByState(exc)):
        try:
            pickle.loads(plain_dumps(candidate))
        except Exception:
            continue
        return candidate
    stand_in = RemoteError(safe_text(str, exc), type(exc).__name__)
    for note in getattr(exc, "__notes__", ()):
        stand_in.add_note(safe_text(str, note))
    return stand_in


def _note_worker(exc: BaseException) -> None:
    import socket

    lines = "".join(traceback.format_tb(exc.__traceback__)) if exc.__traceback__ else ""
    note = f"(in a worker: process {os.getpid()} on {socket.gethostname()})"
    if lines:
        note += "\nTraceback in the worker (most recent call last):\n" + lines.rstrip()
    if note not in getattr(exc, "__notes__", ()):
        exc.add_note(note)


class _ByState:
    """Pickles an exception as its class, args and attributes, without calling `__init__`."""

    __slots__ = ("exc",)

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc

    def __reduce__(self) -> tuple[Any, ...]:
        exc = self.exc
        return (_rebuild_error, (type(exc), exc.args, dict(vars(exc))))


def _rebuild_error(
    cls: type[BaseException], args: tuple[Any, ...], state: dict[str, Any]
) -> BaseException:
    exc = cls.__new__(cls, *args)
    exc.args = args
    exc.__dict__.update(state)
    return exc


def _portable_once(exc: BaseException, memo: dict[int, Any]) -> Any:
    # One exception object may sit on a result and on two events: convert it once, so that
    # it arrives as one object too.
    if id(exc) not in memo:
        memo[id(exc)] = portable_error(exc)
    return memo[id(exc)]


def _with_portable_error(result: RunResult, memo: dict[int, Any]) -> RunResult:
    if result.error is None:
        return result
    return dataclasses.replace(result, error=_portable_once(result.error, memo))


def _event_with_portable_error(event: BaseEvent, memo: dict[int, Any]) -> BaseEvent:
    error = getattr(event, "error", None)
    if not isinstance(error, BaseException):
        return event
    return dataclasses.replace(event, error=_portable_once(error, memo))  # type: ignore[call-arg]


def _travels(value: object) -> bool:
    try:
        plain_dumps(value)
    except Exception:
        return False
    return True


def _portable_result(result: RunResult) -> RunResult:
    if _travels(result):
        return result
    values: dict[str, Any] = {}
    stuck: list[tuple[str, Exception]] = []
    for name, value in result.values.items():
        try:
            plain_dumps(value)
        except Exception as exc:
            stuck.append((name, exc))
        else:
            values[name] = value
    error = result.error
    if stuck and error is None:
        name, why = stuck[0]
        error = TransferError(
            f"Output '{name}' cannot be sent back from the worker: {_reason(why)}.\n"
            "How to fix: return data that pickles, or select() only the outputs you need "
            "(graph.select(...)), or use a ThreadPoolExecutor (nothing is pickled).",
            name=name,
        )
    partial = {
        path: [_portable_value(c) for c in chunks] for path, chunks in result.partial.items()
    }
    status = RunStatus.FAILED if error is not None else result.status
    return RunResult(values, status, result.run_id, error, partial)


def _portable_events(events: Iterable[BaseEvent]) -> list[BaseEvent]:
    out = []
    for event in events:
        if not _travels(event):
            changes = {
                f.name: _portable_value(getattr(event, f.name))
                for f in dataclasses.fields(event)
                if not _travels(getattr(event, f.name))
            }
            event = dataclasses.replace(event, **changes)
        out.append(event)
    return out


def _portable_value(value: Any) -> Any:
    """`value` if it pickles; a dict's entries one by one; else its wire form (a marked repr)."""
    if _travels(value):
        return value
    if isinstance(value, Mapping):
        return {k: _portable_value(v) for k, v in value.items()}
    return to_json_value(value)
