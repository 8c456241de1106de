"""`runner.map(..., executor=...)`: a map's items run on an executor, in chunks.

The caller cuts the items into chunks (one `submit` each, so per-task overhead does not
dominate cheap graphs) and, unless the executor is a thread pool, pickles the graph, the
values shared by every item and every chunk's values *before* submitting anything, so
that what cannot travel fails first, named (`portable.py`). A worker runs its chunk with
a local `SyncRunner.map` (an `AsyncRunner.map` under `asyncio.run` for graphs with async
nodes), records the items' events if the caller listens, and sends back the results and
the events; the caller replays the events to its processors when the chunk returns
(per chunk, not live) and hands out the results. At most a window of chunks is in
flight, so `map_iter` holds bounded memory. Decision 0026 records the choices.

`ChunkedMap` holds what the sync and async drivers share; they differ only in how they
wait for a chunk.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import contextvars
import os
import pickle
import sys
import threading
from collections import deque
from collections.abc import AsyncGenerator, Generator, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

from ..errors import IncompatibleRunnerError, InputValueError
from ..events.dispatch import dispatcher_for
from ..events.types import BaseEvent, RunStatus
from ..graph.graph import Graph
from .batch import prepare_items
from .execution import new_id
from .options import RunOptions
from .portable import (
    Dumps,
    TransferError,
    check_columns,
    check_job,
    decode_outcome,
    dumps_for,
    encode_outcome,
    plain_dumps,
)
from .result import MapResult, RunResult

CHUNKS_PER_WORKER = 4
"""The automatic chunk size gives each worker about this many chunks: few enough that
per-submit costs vanish, enough that a slow chunk does not leave the others idle."""
WINDOW_PER_WORKER = 2
"""Chunks in flight per worker: one running, one queued behind it."""
_LOADED_JOBS = 8
"""Jobs a worker process keeps unpickled (one per map in progress, reused by its chunks)."""

Transport = Literal["objects", "pickle", "cloudpickle"]


@dataclass(frozen=True, slots=True)
class ScaleOut:
    """Where a map's items run: runner.map's `executor=` and `chunksize=`, checked once.

    >>> from concurrent.futures import ThreadPoolExecutor
    >>> with ThreadPoolExecutor(2) as pool:
    ...     ScaleOut.build(pool, None).transport
    'objects'
    """

    executor: cf.Executor
    """Where chunks are submitted (a Dask client's own executor for a client)."""
    chunksize: int | None
    """Items per chunk; None: about `CHUNKS_PER_WORKER` chunks per worker."""
    workers: int
    """How many chunks the executor runs at once (sizes chunks and the window)."""
    transport: Transport
    """How chunks travel: as objects (threads), with pickle, or with cloudpickle (Dask)."""

    @classmethod
    def build(cls, executor: object, chunksize: int | None) -> ScaleOut:
        if chunksize is not None and (type(chunksize) is not int or chunksize < 1):
            raise InputValueError(
                f"chunksize must be a positive int or None, got {chunksize!r}.",
                names=["chunksize"],
            )
        if executor is None:
            raise InputValueError(
                f"chunksize={chunksize!r} was given without an executor: chunks are what "
                "travels to an executor's workers.\nHow to fix: pass executor=... too "
                "(a ProcessPoolExecutor, a Dask Client), or leave chunksize out.",
                names=["chunksize"],
            )
        dask = _on_dask(executor)
        if dask is not None:
            client, pool = dask
            workers = sum(client.nthreads().values())
            return cls(pool, chunksize, max(workers, 1), "cloudpickle")
        if not isinstance(executor, cf.Executor):
            raise InputValueError(
                "executor= takes a concurrent.futures.Executor (ProcessPoolExecutor, "
                f"ThreadPoolExecutor, client.get_executor()) or a Dask Client, got "
                f"{type(executor).__name__}.\nHow to fix: executor=ProcessPoolExecutor(), or "
                'for Dask: pip install "hypergraph[dask]" and executor=Client(address).',
                names=["executor"],
            )
        workers = getattr(executor, "_max_workers", None)
        if not isinstance(workers, int) or workers < 1:
            workers = os.cpu_count() or 1
        objects = isinstance(executor, cf.ThreadPoolExecutor)
        return cls(executor, chunksize, workers, "objects" if objects else "pickle")

    def dumps(self) -> Dumps:
        if self.transport == "cloudpickle":
            cloudpickle = sys.modules.get("cloudpickle")  # loaded by distributed itself
            if cloudpickle is not None:
                return dumps_for(cloudpickle.Pickler, by_value_main=True)
        return plain_dumps


def _on_dask(executor: object) -> tuple[Any, cf.Executor] | None:
    """(the Dask client, the executor to submit to) for a Client or its executor, or None.

    Looked for only once `distributed` is loaded: nobody has a Client before that.
    """
    distributed = sys.modules.get("distributed")
    if distributed is None:
        return None
    if isinstance(executor, distributed.Client):
        # pure=False: two chunks with equal values are two tasks, not one cached result.
        return executor, executor.get_executor(pure=False)
    cfexecutor = sys.modules.get("distributed.cfexecutor")
    if cfexecutor is not None and isinstance(executor, cfexecutor.ClientExecutor):
        return executor._client, executor
    return None


# -- the worker's side --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Job:
    """What every chunk of one map shares."""

    graph: Graph
    shared: dict[str, Any]
    """The values every item has (not mapped over)."""
    runner: type
    """SyncRunner, or AsyncRunner for a graph with async nodes."""
    max_iterations: int
    max_concurrency: int | None
    record_events: bool


@dataclass(frozen=True, slots=True)
class ChunkTask:
    """One submit: a chunk's values of the mapped names and the job they belong to."""

    key: str
    """The map's id: a worker unpickles its job once, and Dask tasks get distinct keys."""
    number: int
    job: Job | bytes
    columns: dict[str, list[Any]] | bytes
    """For each name mapped over, its values for the chunk's items, in item order."""


_jobs: dict[str, Job] = {}
_jobs_lock = threading.Lock()  # a Dask worker may run several chunks at once, in threads


def run_chunk(task: ChunkTask) -> Any:
    """Run one chunk's items (in a worker); their results and recorded events.

    Pickled in, pickled out: the results come back as bytes the caller unpickles.
    """
    pickled = isinstance(task.columns, bytes)
    job = _job(task)
    columns = pickle.loads(task.columns) if isinstance(task.columns, bytes) else task.columns
    recorder = _Recorder() if job.record_events else None
    values = {**job.shared, **columns}
    options: dict[str, Any] = {
        "map_over": list(columns),
        "error_handling": "continue",
        "max_iterations": job.max_iterations,
        "event_processors": [recorder] if recorder else None,
    }
    if job.graph.has_async_nodes:
        import asyncio

        options["max_concurrency"] = job.max_concurrency
        outcome = asyncio.run(job.runner().map(job.graph, values, **options))
    else:
        outcome = job.runner().map(job.graph, values, **options)
    results, events = list(outcome), recorder.events if recorder else []
    return encode_outcome(results, events) if pickled else (results, events)


def _job(task: ChunkTask) -> Job:
    if not isinstance(task.job, bytes):
        return task.job
    with _jobs_lock:
        job = _jobs.get(task.key)
    if job is None:
        try:
            job = pickle.loads(task.job)
        except Exception as exc:
            raise TransferError(
                f"A worker could not load the graph: {type(exc).__name__}: {exc}.\n"
                "How to fix: the modules that define the nodes must be importable where the "
                "workers run (install them there; on Dask, client.upload_file(...)), and "
                "the same versions of hypergraph and Python must be installed there."
            ) from None
        with _jobs_lock:
            while len(_jobs) >= _LOADED_JOBS:
                del _jobs[next(iter(_jobs))]
            _jobs[task.key] = job
    return job


class _Recorder:
    """The worker's event processor: keeps the chunk's events for the caller."""

    def __init__(self) -> None:
        self.events: list[BaseEvent] = []

    def on_event(self, event: BaseEvent) -> None:
        self.events.append(event)


# -- the caller's side --------------------------------------------------------------------

Pairs = list[tuple[int, RunResult]]


class ChunkedMap:
    """One map on an executor: its chunks, what is in flight, and what came back."""

    def __init__(
        self,
        graph: Graph,
        values: dict[str, Any],
        map_over: str | Iterable[str],
        map_mode: str,
        options: RunOptions,
        scale: ScaleOut,
        runners: tuple[type, type],
        *,
        is_async: bool,
    ) -> None:
        """Everything is cut, checked and (but for threads) pickled here, before any submit.

        `runners` are the SyncRunner and AsyncRunner classes that run a chunk's items.
        """
        over = tuple(dict.fromkeys([map_over] if isinstance(map_over, str) else map_over))
        items = prepare_items(graph, values, over, map_mode)
        self.dispatcher = dispatcher_for(options.event_processors)
        if not is_async and self.dispatcher.async_:
            raise IncompatibleRunnerError(
                "SyncRunner cannot await async event processors "
                f"({', '.join(type(p).__name__ for p in self.dispatcher.async_)}).\n"
                "How to fix: use AsyncRunner, or give the processor a plain def on_event."
            )
        shared = {k: v for k, v in items[0].items() if k not in over} if items else {}
        columns = {name: [item[name] for item in items] for name in over}
        n = len(items)
        size = scale.chunksize or max(1, -(-n // (CHUNKS_PER_WORKER * scale.workers)))
        self.bounds = [(s, min(s + size, n)) for s in range(0, n, size)]
        job = Job(
            graph,
            shared,
            runners[1] if graph.has_async_nodes else runners[0],
            options.max_iterations,
            options.max_concurrency,
            record_events=bool(self.dispatcher),
        )
        key = new_id()
        if scale.transport == "objects":
            tasks = [
                ChunkTask(key, c, job, {k: v[s:e] for k, v in columns.items()})
                for c, (s, e) in enumerate(self.bounds)
            ]
        else:
            dumps = scale.dumps()
            sent = check_job(dumps, job, graph, shared)
            tasks = [
                ChunkTask(key, c, sent, check_columns(dumps, columns, s, e))
                for c, (s, e) in enumerate(self.bounds)
            ]
        self.todo = deque(tasks)
        self.executor = scale.executor
        self.in_threads = scale.transport == "objects"
        self.window = WINDOW_PER_WORKER * scale.workers
        self.raise_errors = options.raise_errors
        self.results: list[RunResult | None] = [None] * n
        self.collected = [False] * len(self.bounds)
        self.first_failure: int | None = None

    def submit(self, in_flight: int) -> list[tuple[int, cf.Future[Any]]]:
        """Submit chunks until the window is full; none once a failure is to be raised."""
        started: list[tuple[int, cf.Future[Any]]] = []
        while self.todo and in_flight + len(started) < self.window:
            if self.raise_errors and self.first_failure is not None:
                break
            task = self.todo.popleft()
            if self.in_threads:  # the caller's context variables reach the nodes, as locally
                future = self.executor.submit(contextvars.copy_context().run, run_chunk, task)
            else:
                future = self.executor.submit(run_chunk, task)
            started.append((task.number, future))
        return started

    def collect(self, number: int, future: cf.Future[Any]) -> Pairs:
        """A finished chunk: its events go to the processors; its (index, result) pairs."""
        start, stop = self.bounds[number]
        results, events = _outcome(future, stop - start)
        for event in events:
            self.dispatcher.emit(event)
        pairs = list(zip(range(start, stop), results, strict=True))
        for k, result in pairs:
            self.results[k] = result
            if result.error is not None and (self.first_failure is None or k < self.first_failure):
                self.first_failure = k
        self.collected[number] = True
        return pairs

    def failure_to_raise(self) -> BaseException | None:
        """With error_handling="raise": the error of the first failing item by index, once
        every item before it has come back (so the choice does not depend on timing)."""
        k = self.first_failure
        if not self.raise_errors or k is None:
            return None
        chunk = next(c for c, (s, e) in enumerate(self.bounds) if s <= k < e)
        if not all(self.collected[:chunk]):
            return None
        return self.results[k].error  # type: ignore[union-attr]

    def map_result(self) -> MapResult:
        return MapResult(self.results)  # type: ignore[arg-type]


def _outcome(future: cf.Future[Any], count: int) -> tuple[list[RunResult], list[BaseEvent]]:
    """What a chunk's future holds; if the chunk itself failed, each item failed with that."""
    try:
        out = future.result()
        if isinstance(out, bytes):
            try:
                out = decode_outcome(out)
            except Exception as exc:
                raise TransferError(
                    f"The results of a chunk could not be unpickled here: "
                    f"{type(exc).__name__}: {exc}.\nHow to fix: make the classes of the "
                    "graph's outputs and errors importable in the caller's process too."
                ) from exc
    except Exception as exc:
        failed = [RunResult({}, RunStatus.FAILED, new_id(), exc) for _ in range(count)]
        return failed, []
    results, events = out
    return results, events


# -- the drivers --------------------------------------------------------------------------


def _chunks(cm: ChunkedMap) -> Generator[Pairs, None, None]:
    running: dict[cf.Future[Any], int] = {}
    try:
        while True:
            running.update((f, n) for n, f in cm.submit(len(running)))
            if not running:
                return
            done, _ = cf.wait(running, return_when=cf.FIRST_COMPLETED)
            for future in sorted(done, key=running.__getitem__):
                yield cm.collect(running.pop(future), future)
    finally:
        for future in running:  # chunks not started are dropped; running ones finish there
            future.cancel()
        cm.dispatcher.shutdown()


def map_sync(cm: ChunkedMap) -> MapResult:
    """SyncRunner.map: the results in item order."""
    with contextlib.closing(_chunks(cm)) as chunks:
        for _ in chunks:
            error = cm.failure_to_raise()
            if error is not None:
                raise error
    return cm.map_result()


def iter_sync(cm: ChunkedMap) -> Iterator[tuple[int, RunResult]]:
    """SyncRunner.map_iter: `(index, result)` as chunks finish, items of a chunk in order."""
    with contextlib.closing(_chunks(cm)) as chunks:
        for pairs in chunks:
            yield from _checked(cm, pairs)


def _checked(cm: ChunkedMap, pairs: Pairs) -> Iterator[tuple[int, RunResult]]:
    for k, result in pairs:
        if cm.raise_errors and result.error is not None:
            raise result.error
        yield k, result


async def _achunks(cm: ChunkedMap) -> AsyncGenerator[Pairs, None]:
    import asyncio

    running: dict[asyncio.Future[Any], tuple[int, cf.Future[Any]]] = {}
    try:
        while True:
            for n, f in cm.submit(len(running)):
                running[asyncio.wrap_future(f)] = (n, f)
            if not running:
                return
            done, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
            for waited in sorted(done, key=lambda w: running[w][0]):
                n, future = running.pop(waited)
                yield cm.collect(n, future)
    finally:
        for waited, (_, future) in running.items():
            future.cancel()
            waited.cancel()
        await cm.dispatcher.ashutdown(drain=not running)


async def map_async(cm: ChunkedMap) -> MapResult:
    """AsyncRunner.map: the results in item order."""
    async with contextlib.aclosing(_achunks(cm)) as chunks:
        async for _ in chunks:
            error = cm.failure_to_raise()
            if error is not None:
                raise error
    return cm.map_result()


async def iter_async(cm: ChunkedMap) -> AsyncGenerator[tuple[int, RunResult], None]:
    """AsyncRunner.map_iter: `(index, result)` as chunks finish, items of a chunk in order."""
    async with contextlib.aclosing(_achunks(cm)) as chunks:
        async for pairs in chunks:
            for pair in _checked(cm, pairs):
                yield pair
