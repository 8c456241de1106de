"""Graphs that travel to other processes: every node a module-level function.

A process pool or a Dask worker imports this module to find the nodes (pickle sends a
function by its module and name), so nothing here may be built inside a function: the
factories only assemble module-level nodes. `pid` outputs prove where an item ran.
"""

from __future__ import annotations

import asyncio
import contextvars
import os
import threading
from collections.abc import Iterator

from hypergraph import END, Graph, node, route


class ItemBoom(RuntimeError):
    """What a failing item raises on purpose (importable, so it travels back as itself)."""


class CodedError(Exception):
    """An exception whose __init__ does not take its own args back: plain pickling of it
    fails on the way in, like some SDK errors (and hypergraph's InfiniteLoopError)."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"code {code}: {reason}")
        self.code = code


class LockedError(Exception):
    """An exception that carries an object that cannot be pickled at all."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.lock = threading.Lock()


# -- a DAG --------------------------------------------------------------------------------


@node(output_name=("doubled", "pid"))
def double(x: int) -> tuple[int, int]:
    return 2 * x, os.getpid()


@node(output_name="y")
def add_offset(doubled: int, offset: int = 1) -> int:
    return doubled + offset


def dag() -> Graph:
    """x (, offset=1) -> doubled, pid -> y = 2x + offset."""
    return Graph([double, add_offset], name="dag")


# -- a cycle with a route to END ---------------------------------------------------------


@node(output_name="count")
def tick(count: int) -> int:
    return count + 1


@route(targets=["tick", END])
def again(count: int, limit: int) -> object:
    return END if count >= limit else "tick"


def loop() -> Graph:
    """count, limit -> tick until count reaches limit."""
    return Graph([tick, again], name="loop")


# -- nested graphs ------------------------------------------------------------------------


@node(output_name="x")
def prepare(a: int) -> int:
    return a + 1


@node(output_name="report")
def report(y: int, counts: list[int]) -> str:
    return f"y={y} counts={counts}"


def nested() -> Graph:
    """a -> x -> [dag] -> y; the loop mapped over `limit` as a nested graph node -> report."""
    counted = loop().as_node(name="counted").map_over("limit").with_outputs(count="counts")
    return Graph([prepare, dag().as_node(), counted, report], name="nested")


# -- failures ----------------------------------------------------------------------------


@node(output_name="checked")
def check(x: int) -> int:
    if x % 4 == 3:
        raise ItemBoom(f"item x={x} is bad")
    return 10 * x


def fragile() -> Graph:
    """x -> checked; x = 3, 7, 11 ... raise ItemBoom."""
    return Graph([check], name="fragile")


@node(output_name="checked")
def check_coded(x: int) -> int:
    if x == 1:
        raise CodedError(503, "overloaded")
    if x == 2:
        raise LockedError("holds a lock")
    return x


def awkward_errors() -> Graph:
    """x=1 raises CodedError (rebuilt from its state), x=2 LockedError (a stand-in)."""
    return Graph([check_coded], name="awkward")


@node(output_name="handle")
def open_handle(x: int) -> object:
    return threading.Lock() if x == 1 else x


def unpicklable_output() -> Graph:
    """x -> handle: a lock for x=1, which cannot travel back."""
    return Graph([open_handle], name="handles")


# -- context ------------------------------------------------------------------------------

REQUEST: contextvars.ContextVar[str] = contextvars.ContextVar("REQUEST", default="none")


@node(output_name="tag")
def tag(x: int) -> str:
    return f"{REQUEST.get()}:{x}"


def tagged() -> Graph:
    """x -> tag: the caller's REQUEST context variable and x."""
    return Graph([tag], name="tagged")


# -- async and streaming -------------------------------------------------------------------


@node(output_name=("doubled", "pid"))
async def adouble(x: int) -> tuple[int, int]:
    await asyncio.sleep(0)
    return 2 * x, os.getpid()


def async_dag() -> Graph:
    """x -> doubled (async def), pid -> y."""
    return Graph([adouble, add_offset], name="async_dag")


@node(output_name="tokens")
def spell(word: str) -> Iterator[str]:
    yield from word


def speller() -> Graph:
    """word -> tokens, one chunk per letter."""
    return Graph([spell], name="speller")
