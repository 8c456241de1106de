"""Issue 9 (runner hardening) and issue 8 (seams): each test names the behaviour it proves.

Nothing here sleeps to wait for something: tests wait on events, under a timeout, so a
regression fails instead of hanging. (A node that *blocks* with time.sleep is the subject
of the loop-watchdog tests, not a wait.)
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import gc
import logging
import threading
import time
import warnings
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from conftest import run_async
from hypergraph import (
    AsyncRunner,
    Graph,
    HypergraphError,
    MapResult,
    NodeContext,
    NodeEndEvent,
    NodeErrorEvent,
    RunStartEvent,
    RunStatus,
    StopRequestedEvent,
    StreamingChunkEvent,
    SyncRunner,
    node,
)
from hypergraph.errors import InputValueError, LoopBlockedWarning

pytestmark = pytest.mark.timeout(30)


class Fatal(BaseException):
    """A BaseException that is neither KeyboardInterrupt nor SystemExit."""


def _raising(kind: str, exc: BaseException) -> Any:
    if kind == "def":

        def f(x: int) -> int:
            raise exc

    elif kind == "async def":

        async def f(x: int) -> int:  # type: ignore[misc]
            raise exc

    elif kind == "generator":

        def f(x: int) -> Iterator[int]:  # type: ignore[misc]
            yield 1
            raise exc

    else:

        async def f(x: int) -> AsyncIterator[int]:  # type: ignore[misc]
            yield 1
            raise exc

    return node(f, output_name="y")


KINDS = ["def", "async def", "generator", "async generator"]


# -- 1. BaseException in a node ----------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_a_base_exception_in_a_node_aborts_the_async_run_and_reaches_the_caller(kind: str) -> None:
    graph = Graph([_raising(kind, Fatal())])
    with pytest.raises(Fatal):
        run_async(AsyncRunner().run(graph, x=1), timeout=5)
    with pytest.raises(Fatal):
        run_async(AsyncRunner().run(graph, x=1, error_handling="continue"), timeout=5)


@pytest.mark.parametrize("kind", KINDS)
def test_a_base_exception_in_a_node_reaches_the_async_iter_consumer(kind: str) -> None:
    async def consume() -> None:
        async with AsyncRunner().iter(Graph([_raising(kind, Fatal())]), x=1) as run:
            async for _ in run:
                pass

    with pytest.raises(Fatal):
        run_async(consume(), timeout=5)


def test_a_node_raising_cancelled_error_itself_ends_the_run_instead_of_hanging() -> None:
    async def main() -> tuple[bool, bool, int]:
        task = asyncio.ensure_future(
            AsyncRunner().run(Graph([_raising("async def", asyncio.CancelledError())]), x=1)
        )
        await asyncio.wait([task], timeout=5)
        left = len(asyncio.all_tasks()) - 1
        return task.done(), task.done() and task.cancelled(), left

    done, cancelled, left = run_async(main())
    assert done and cancelled  # the node's CancelledError reached the caller
    assert left == 0


# -- 2 and 21. Defaults that cannot be deep-copied ---------------------------------------


class Client:
    """Like an SDK client: holds a lock, so copy.deepcopy fails."""

    def __init__(self) -> None:
        self.lock = threading.Lock()


CLIENT = Client()


@node(output_name="answer")
def ask(prompt: str, client: Client = CLIENT) -> int:
    return id(client)


def test_a_default_that_cannot_be_copied_is_passed_as_is_under_both_runners(run: Any) -> None:
    assert run(Graph([ask]), {"prompt": "hi"})["answer"] == id(CLIENT)
    assert run(Graph([ask]), {"prompt": "again"})["answer"] == id(CLIENT)


def test_a_list_default_is_still_fresh_for_each_run(run: Any) -> None:
    @node(output_name="seen")
    def remember(x: int, into: list[int] = []) -> list[int]:  # noqa: B006 - the point
        into.append(x)
        return into

    assert run(Graph([remember]), {"x": 1})["seen"] == [1]
    assert run(Graph([remember]), {"x": 2})["seen"] == [2]


def test_a_list_default_holding_an_uncopyable_object_is_copied_around_it(run: Any) -> None:
    @node(output_name="tools")
    def use(x: int, tools: list[Any] = [CLIENT]) -> list[Any]:  # noqa: B006 - the point
        tools.append(x)
        return tools

    first = run(Graph([use]), {"x": 1})["tools"]
    second = run(Graph([use]), {"x": 2})["tools"]
    assert first == [CLIENT, 1] and second == [CLIENT, 2]
    assert first[0] is CLIENT


def test_a_nested_graph_with_a_bound_uncopyable_client_runs_under_both_runners(run: Any) -> None:
    client = Client()

    @node(output_name="answer")
    def call(prompt: str, client: Client) -> int:
        return id(client)

    inner = Graph([call], name="inner").bind(client=client)
    outer = Graph([inner.as_node()])
    assert run(outer, {"prompt": "hi"})["answer"] == id(client)


# -- 3. Waiting producers do not starve the program's thread pool ------------------------


def test_waiting_def_producers_do_not_starve_the_default_executor() -> None:
    @node(output_name="items")
    def gen(x: int) -> Iterator[int]:
        yield from range(2000)

    async def consumer() -> int:
        count = 0
        async with AsyncRunner().iter(Graph([gen]), x=1, buffer_size=16) as run:
            async for event in run:
                await asyncio.to_thread(lambda: None)
                count += isinstance(event, StreamingChunkEvent)
        return count

    async def main() -> list[int]:
        return await asyncio.gather(*(consumer() for _ in range(8)))

    assert run_async(main(), timeout=60) == [2000] * 8


# -- 4. ctx.stream from a helper thread, and stop() from another thread, are live ---------


def test_ctx_stream_from_a_helper_thread_of_an_async_node_reaches_the_consumer_live() -> None:
    seen = [threading.Event() for _ in range(3)]

    def produce(stream: Any) -> str:
        for k in range(3):
            stream(k)
            # The consumer sets seen[k] when it receives chunk k: if the chunk were not
            # delivered until something else woke the loop, this would time out.
            if not seen[k].wait(5):
                raise TimeoutError(f"chunk {k} was not delivered live")
        return "done"

    @node(output_name="text")
    async def write(prompt: str, ctx: NodeContext) -> str:
        return await asyncio.to_thread(produce, ctx.stream)

    async def main() -> Any:
        async with AsyncRunner().iter(Graph([write]), prompt="p") as run:
            async for event in run:
                if isinstance(event, StreamingChunkEvent):
                    seen[event.chunk].set()
            return await run.result()

    async def bounded() -> Any:
        async with asyncio.timeout(10):
            return await main()

    result = asyncio.run(bounded(), debug=True)  # debug mode once made this hang
    assert result["text"] == "done"


def test_stop_from_another_thread_wakes_the_loop_at_once() -> None:
    @node(output_name="text")
    async def wait_for_stop(prompt: str, ctx: NodeContext) -> str:
        ctx.stream("started")
        # Nothing here wakes the loop: only the stop handed over from the other thread can
        # make the StopRequestedEvent reach the consumer, which then leaves (cancelling us).
        await asyncio.Event().wait()
        return "never"

    async def main() -> list[str]:
        kinds: list[str] = []
        async with AsyncRunner().iter(Graph([wait_for_stop]), prompt="p") as run:
            async for event in run:
                kinds.append(event.kind)
                if isinstance(event, StreamingChunkEvent):
                    # The other thread stops the run once we are waiting for the next
                    # event: the gate opens on the loop's next turn, after we suspended.
                    gate = threading.Event()
                    threading.Thread(target=lambda g=gate: (g.wait(5), run.stop())).start()
                    asyncio.get_running_loop().call_soon(gate.set)
                if isinstance(event, StopRequestedEvent):
                    break
        return kinds

    assert run_async(main(), timeout=10)[-1] == "stop_requested"


# -- 5. The loop watchdog -------------------------------------------------------------


def test_an_async_node_that_blocks_the_loop_gets_one_warning_naming_it() -> None:
    @node(output_name="text")
    async def blocking_sdk_call(prompt: str) -> str:
        time.sleep(0.6)  # the subject of the test: a sync call that holds the loop
        return prompt

    graph = Graph([blocking_sdk_call])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run_async(AsyncRunner().run(graph, prompt="p"))
        run_async(AsyncRunner().run(graph, prompt="p"))
    blocked = [w for w in caught if issubclass(w.category, LoopBlockedWarning)]
    assert len(blocked) == 1
    message = str(blocked[0].message)
    assert "'blocking_sdk_call'" in message and "How to fix" in message and " ms" in message


def test_an_async_node_that_awaits_gets_no_loop_warning() -> None:
    @node(output_name="text")
    async def awaiting(prompt: str) -> str:
        await asyncio.sleep(0.6)
        return prompt

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run_async(AsyncRunner().run(Graph([awaiting]), prompt="p"))
    assert not [w for w in caught if issubclass(w.category, LoopBlockedWarning)]


# -- 6. SyncRunner.iter re-raises a node's KeyboardInterrupt ------------------------------


def test_sync_iter_reraises_a_keyboard_interrupt_from_a_node_in_the_consumer() -> None:
    graph = Graph([_raising("def", KeyboardInterrupt())])
    with pytest.raises(KeyboardInterrupt), SyncRunner().iter(graph, x=1) as run:
        for _ in run:
            pass
    with pytest.raises(KeyboardInterrupt), SyncRunner().iter(graph, x=1) as run:
        run.result()


# -- 7. A slow async processor does not hold up cancellation ------------------------------


class Stuck:
    """An async processor that never finishes handling an event."""

    def __init__(self) -> None:
        self.got_one = asyncio.Event()

    async def on_event(self, event: Any) -> None:
        self.got_one.set()
        await asyncio.Event().wait()


@node(output_name="y")
async def slow_node(x: int) -> int:
    await asyncio.Event().wait()  # runs until cancelled
    return x


def test_cancelling_a_run_with_a_stuck_async_processor_returns_promptly() -> None:
    async def main() -> bool:
        stuck = Stuck()
        task = asyncio.ensure_future(
            AsyncRunner().run(Graph([slow_node]), x=1, event_processors=[stuck])
        )
        await stuck.got_one.wait()
        task.cancel()
        done, _ = await asyncio.wait([task], timeout=5)
        return task in done

    assert run_async(main())


def test_leaving_iter_early_with_a_stuck_async_processor_returns_promptly() -> None:
    async def main() -> None:
        stuck = Stuck()
        async with AsyncRunner().iter(Graph([slow_node]), x=1, event_processors=[stuck]) as run:
            async for _ in run:
                await stuck.got_one.wait()
                break

    run_async(main(), timeout=5)


# -- 8. Handles used the wrong way -------------------------------------------------------


@node(output_name="y")
def plain(x: int) -> int:
    return x + 1


def test_iterating_a_sync_iter_without_with_raises_showing_the_right_form() -> None:
    with pytest.raises(HypergraphError, match=r"with runner.iter\(graph, values\) as run"):
        for _ in SyncRunner().iter(Graph([plain]), x=1):
            pass


def test_result_of_a_sync_iter_without_with_raises_showing_the_right_form() -> None:
    with pytest.raises(HypergraphError, match=r"with runner\.iter"):
        SyncRunner().iter(Graph([plain]), x=1).result()


def test_async_iteration_without_async_with_raises_showing_the_right_form() -> None:
    async def main() -> None:
        async for _ in AsyncRunner().iter(Graph([plain]), x=1):
            pass

    with pytest.raises(HypergraphError, match=r"async with runner.iter"):
        run_async(main())


def test_async_result_before_the_run_started_raises_showing_the_right_form() -> None:
    with pytest.raises(HypergraphError, match=r"async with runner.iter"):
        run_async(AsyncRunner().iter(Graph([plain]), x=1).result())


def test_entering_a_handle_twice_raises() -> None:
    handle = SyncRunner().iter(Graph([plain]), x=1)
    with handle:
        list(handle)
    with pytest.raises(HypergraphError, match="entered once"), handle:
        pass


def test_sync_iter_checks_its_values_at_the_call_like_async_iter() -> None:
    from hypergraph import MissingInputError

    with pytest.raises(MissingInputError):
        SyncRunner().iter(Graph([plain]))
    with pytest.raises(MissingInputError):
        AsyncRunner().iter(Graph([plain]))


def test_the_run_start_event_goes_out_when_the_run_starts_not_when_iter_is_called() -> None:
    seen: list[Any] = []

    class Keep:
        def on_event(self, event: Any) -> None:
            seen.append(event)

    handle = SyncRunner().iter(Graph([plain]), x=1, event_processors=[Keep()])
    assert seen == []
    with handle as run:
        list(run)
    assert isinstance(seen[0], RunStartEvent)


# -- 9. A generator that swallows a cancellation is still closed --------------------------


def test_cancelling_a_run_closes_a_generator_that_swallowed_the_cancellation() -> None:
    steps: list[int] = []
    closed = threading.Event()
    entered = asyncio.Event()

    @node(output_name="tokens")
    async def stubborn(x: int) -> AsyncIterator[int]:
        try:
            for k in range(300):
                steps.append(k)
                entered.set()
                # an SDK with a bare except: it swallows the cancellation
                with contextlib.suppress(BaseException):
                    await asyncio.sleep(0.01)
                yield k
        finally:
            closed.set()

    async def main() -> None:
        task = asyncio.ensure_future(AsyncRunner().run(Graph([stubborn]), x=1))
        await entered.wait()
        task.cancel()
        await asyncio.wait([task], timeout=5)

    run_async(main())
    assert closed.is_set()
    assert len(steps) < 10


# -- 10. stop() after the end keeps the status ------------------------------------------


def test_stop_after_the_run_completed_keeps_status_completed() -> None:
    with SyncRunner().iter(Graph([plain]), x=1) as run:
        list(run)
        run.stop()
        assert run.result().status is RunStatus.COMPLETED

    async def main() -> RunStatus:
        async with AsyncRunner().iter(Graph([plain]), x=1) as run:
            async for _ in run:
                pass
            run.stop()
            return (await run.result()).status

    assert run_async(main()) is RunStatus.COMPLETED


# -- 11. The partial of a cancelled sibling holds every chunk the consumer saw -------------


def test_the_partial_of_a_cancelled_sibling_holds_every_chunk_the_consumer_saw() -> None:
    async def main() -> tuple[list[int], dict[str, list[Any]]]:
        fail_now = asyncio.Event()

        @node(output_name="tokens")
        async def talker(x: int) -> AsyncIterator[int]:
            for k in range(1000):
                yield k
                await asyncio.sleep(0)

        @node(output_name="other")
        async def breaker(x: int) -> int:
            await fail_now.wait()
            raise ValueError("sibling failed")

        shown: list[int] = []
        graph = Graph([talker, breaker])
        async with AsyncRunner().iter(graph, x=1) as run:
            async for event in run:
                if isinstance(event, StreamingChunkEvent):
                    shown.append(event.chunk)
                    if len(shown) == 5:
                        fail_now.set()
            with pytest.raises(ValueError, match="sibling failed"):
                await run.result()
        return shown, run.partial

    shown, partial = run_async(main())
    assert len(shown) >= 5
    assert partial["talker"][: len(shown)] == shown


# -- 12. Stopped maps tell the truth -----------------------------------------------------


def test_a_stopped_map_reports_stopped_and_lists_no_stopped_item_as_a_failure() -> None:
    runner = SyncRunner()
    current: list[str] = []

    class Track:
        def on_event(self, event: Any) -> None:
            if isinstance(event, RunStartEvent):
                current.append(event.run_id)

    @node(output_name="y")
    def item(x: int) -> int:
        if x == 1:
            runner.stop(current[-1])
        return x

    result = runner.map(
        Graph([item]), {"x": [0, 1, 2, 3]}, map_over="x", event_processors=[Track()]
    )
    assert isinstance(result, MapResult)
    assert result.status is RunStatus.STOPPED
    assert result.failures == []
    assert len(result) == 4
    assert [r.status for r in result][2:] == [RunStatus.STOPPED, RunStatus.STOPPED]


def test_a_stopped_map_over_node_does_not_write_a_list_of_nones() -> None:
    @node(output_name="y")
    def inner(x: int, ctx: NodeContext) -> int:
        ctx.stream(x)
        return x

    outer: list[str] = []

    class StopOnFirstChunk:
        def on_event(self, event: Any) -> None:
            if isinstance(event, RunStartEvent) and not event.graph_path:
                outer.append(event.run_id)
            if isinstance(event, StreamingChunkEvent):
                runner.stop(outer[0])

    mapped = Graph([inner], name="per_item").as_node().map_over("x")

    @node(output_name="z")
    def after(y: list[int]) -> int:
        return len(y)

    runner = SyncRunner()
    result = runner.run(Graph([mapped, after]), x=[1, 2, 3], event_processors=[StopOnFirstChunk()])
    assert result.status is RunStatus.STOPPED
    assert "y" not in result.values and "z" not in result.values


# -- 13. One outcome per execution, even if closing fails ----------------------------------


def test_stopping_an_async_generator_whose_finally_raises_gives_one_outcome() -> None:
    @node(output_name="tokens")
    async def messy(x: int) -> AsyncIterator[int]:
        try:
            for k in range(100):
                yield k
                await asyncio.sleep(0)
        finally:
            raise RuntimeError("cleanup failed")

    async def main() -> list[Any]:
        ends: list[Any] = []
        async with AsyncRunner().iter(Graph([messy]), x=1, error_handling="continue") as run:
            async for event in run:
                if isinstance(event, StreamingChunkEvent):
                    run.stop()
                if isinstance(event, (NodeEndEvent, NodeErrorEvent)):
                    ends.append(event)
        return ends

    ends = run_async(main())
    assert len(ends) == 1


# -- 14. Notes, broken reprs, Ctrl-C ---------------------------------------------------


def test_an_exception_raised_again_and_again_carries_one_note(run: Any) -> None:
    error = ValueError("same")

    @node(output_name="y")
    def fail(x: int) -> int:
        raise error

    for _ in range(50):
        run(Graph([fail]), {"x": 1}, error_handling="continue")
    assert len(error.__notes__) == 1


def test_a_missing_value_of_a_run_whose_error_has_a_broken_repr_is_a_key_error(run: Any) -> None:
    class Broken(Exception):
        def __repr__(self) -> str:
            raise RuntimeError("no repr")

    @node(output_name="y")
    def fail(x: int) -> int:
        raise Broken()

    result = run(Graph([fail]), {"x": 1}, error_handling="continue")
    with pytest.raises(KeyError, match="'y'"):
        result["y"]


def test_ctrl_c_in_an_async_node_logs_no_unretrieved_task_exception(
    caplog: pytest.LogCaptureFixture,
) -> None:
    graph = Graph([_raising("async def", KeyboardInterrupt())])
    with caplog.at_level(logging.ERROR, logger="asyncio"), pytest.raises(KeyboardInterrupt):
        asyncio.run(AsyncRunner().run(graph, x=1))
    gc.collect()
    assert "never retrieved" not in caplog.text


# -- 15. A map of something that is not a graph -------------------------------------------


def test_map_of_none_says_a_runner_runs_a_graph() -> None:
    with pytest.raises(InputValueError, match="runs a Graph"):
        SyncRunner().map(None, {"x": [1]}, map_over="x")  # type: ignore[arg-type]
    with pytest.raises(InputValueError, match="runs a Graph"):
        run_async(AsyncRunner().map(None, {"x": [1]}, map_over="x"))  # type: ignore[arg-type]


# -- 20. StopIteration from a def node --------------------------------------------------


def test_a_def_node_raising_stop_iteration_fails_the_node_instead_of_hanging(run: Any) -> None:
    @node(output_name="y")
    def first(x: int) -> int:
        return next(iter([]))

    result = run(Graph([first]), {"x": 1}, error_handling="continue")
    assert result.status is RunStatus.FAILED
    assert isinstance(result.error, StopIteration)


# -- 22. A second cancellation does not abandon a running def node's thread ----------------


def test_a_second_cancellation_still_waits_for_a_running_def_node() -> None:
    started = threading.Event()
    release = threading.Event()
    finished = threading.Event()

    @node(output_name="y")
    def blocking(x: int) -> int:
        started.set()
        release.wait(10)
        finished.set()
        return x

    async def main() -> tuple[bool, bool]:
        task = asyncio.ensure_future(AsyncRunner().run(Graph([blocking]), x=1))
        await asyncio.to_thread(started.wait, 5)
        task.cancel()
        for _ in range(5):
            await asyncio.sleep(0)
        task.cancel()
        for _ in range(5):
            await asyncio.sleep(0)
        done_while_running = task.done()
        release.set()
        await asyncio.wait([task], timeout=5)
        return done_while_running, finished.is_set()

    done_while_running, finished_first = run_async(main())
    assert not done_while_running
    assert finished_first


# -- Issue 8: context variables, run ids ---------------------------------------------------

REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="unset")


def _context_nodes() -> list[Any]:
    @node(output_name="a")
    def in_def(x: int) -> str:
        return REQUEST_ID.get()

    @node(output_name="b")
    def in_generator(x: int) -> Iterator[str]:
        yield REQUEST_ID.get()

    @node(output_name="c")
    def in_ctx_node(x: int, ctx: NodeContext) -> str:
        ctx.stream("chunk")
        return REQUEST_ID.get()

    return [in_def, in_generator, in_ctx_node]


def _async_context_nodes() -> list[Any]:
    @node(output_name="d")
    async def in_async_def(x: int) -> str:
        return REQUEST_ID.get()

    @node(output_name="e")
    async def in_async_generator(x: int) -> AsyncIterator[str]:
        yield REQUEST_ID.get()

    return [in_async_def, in_async_generator]


def _expected(values: dict[str, Any]) -> dict[str, Any]:
    return {k: (["req-7"] if k in ("b", "e") else "req-7") for k in values}


def test_context_variables_reach_every_kind_of_node_under_sync_run_and_iter() -> None:
    graph = Graph(_context_nodes())
    token = REQUEST_ID.set("req-7")
    try:
        values = SyncRunner().run(graph, x=1).values
        with SyncRunner().iter(graph, x=1) as run:
            list(run)
            iterated = run.result().values
    finally:
        REQUEST_ID.reset(token)
    assert values == _expected(values) and len(values) == 3
    assert iterated == values


def test_context_variables_reach_every_kind_of_node_under_async_run_and_iter() -> None:
    graph = Graph(_context_nodes() + _async_context_nodes())

    async def main() -> tuple[dict[str, Any], dict[str, Any]]:
        REQUEST_ID.set("req-7")
        values = (await AsyncRunner().run(graph, x=1)).values
        async with AsyncRunner().iter(graph, x=1) as run:
            async for _ in run:
                pass
            iterated = (await run.result()).values
        return values, iterated

    values, iterated = run_async(main())
    assert values == _expected(values) and len(values) == 5
    assert iterated == values


def test_a_caller_chosen_run_id_names_the_run_its_events_and_its_stop(run: Any) -> None:
    seen: set[str] = set()

    class Keep:
        def on_event(self, event: Any) -> None:
            seen.add(event.run_id)

    result = run(Graph([plain]), {"x": 1}, run_id="order-42", event_processors=[Keep()])
    assert result.run_id == "order-42" and seen == {"order-42"}


def test_a_run_id_that_is_not_a_non_empty_string_is_refused(run: Any) -> None:
    with pytest.raises(InputValueError, match="run_id"):
        run(Graph([plain]), {"x": 1}, run_id="")


# -- How runs end, as their events report it ------------------------------------------------


def test_a_keyboard_interrupt_in_a_sync_node_ends_the_run_failed_not_completed() -> None:
    keep: list[Any] = []

    class Keep:
        def on_event(self, event: Any) -> None:
            keep.append(event)

    graph = Graph([_raising("def", KeyboardInterrupt())])
    with pytest.raises(KeyboardInterrupt):
        SyncRunner().run(graph, x=1, event_processors=[Keep()])
    end = keep[-1]
    assert end.kind == "run_end" and end.status is RunStatus.FAILED
    assert isinstance(end.error, KeyboardInterrupt)


def test_a_nested_run_cancelled_by_its_parents_failure_ends_stopped() -> None:
    ends: list[Any] = []

    class Keep:
        def on_event(self, event: Any) -> None:
            if event.kind == "run_end":
                ends.append(event)

    @node(output_name="y")
    async def waits(x: int) -> int:
        await asyncio.Event().wait()
        return x

    @node(output_name="z")
    async def fails(x: int) -> int:
        await asyncio.sleep(0)
        raise ValueError("parent fails")

    graph = Graph([Graph([waits], name="inner").as_node(), fails])
    with pytest.raises(ValueError):
        run_async(AsyncRunner().run(graph, x=1, event_processors=[Keep()]))
    inner = next(e for e in ends if e.graph_path == ("inner",))
    assert inner.status is RunStatus.STOPPED


def test_a_traced_plain_def_node_runs_on_a_pool_thread_not_a_thread_of_its_own() -> None:
    names: list[str] = []

    class Scoped:
        def on_event(self, event: Any) -> None:
            pass

        def node_scope(self, event: Any) -> Any:
            return contextlib.nullcontext()

    @node(output_name="y")
    def where(x: int) -> int:
        names.append(threading.current_thread().name)
        return x

    run_async(AsyncRunner().run(Graph([where]), x=1, event_processors=[Scoped()]))
    assert names[0].startswith("hypergraph-node")
