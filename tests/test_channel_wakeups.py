"""AsyncChannel wakes a waiting side only when it waits, and never misses one.

The hot path of the channel makes no call when nobody waits: a waiting side parks a
Future in `_readers` or `_writers`, and the other side resolves those once. So each
test here blocks one side for real and proves the other side's ordinary call wakes it
(a missed wake-up deadlocks, and the timeout fails the test).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from hypergraph.events.types import BaseEvent, chunk_factory
from hypergraph.streaming.async_channel import AsyncChannel
from hypergraph.streaming.channel import ConsumerGone

COMMON = {
    "run_id": "r",
    "span_id": "s",
    "parent_span_id": None,
    "node_name": "n",
    "graph_path": (),
    "attempt": 1,
}
make = chunk_factory(COMMON)


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, timeout=5))


async def send(channel: AsyncChannel, event: BaseEvent) -> None:
    """What a generator node does with each chunk."""
    if not channel.try_put(event):
        await channel.put(event)


def test_a_consumer_waiting_in_get_receives_the_next_chunk_put() -> None:
    async def main() -> list[Any]:
        channel = AsyncChannel()
        reader = asyncio.create_task(channel.get())
        await asyncio.sleep(0)  # one loop turn: the reader now waits on the empty channel
        assert not reader.done()
        await send(channel, make("a", 0))
        first = await reader
        await send(channel, make("b", 1))
        channel.finish()
        return [first, await channel.get(), await channel.get()]

    first, second, end = run(main())
    assert (first.chunk, second.chunk, end) == ("a", "b", None)


def test_a_consumer_waiting_in_get_is_woken_by_finish() -> None:
    async def main() -> Any:
        channel = AsyncChannel()
        reader = asyncio.create_task(channel.get())
        await asyncio.sleep(0)
        channel.finish()
        return await reader

    assert run(main()) is None


def test_a_producer_waiting_for_room_resumes_when_the_consumer_takes_an_event() -> None:
    async def main() -> list[Any]:
        channel = AsyncChannel(size=1)
        await send(channel, make(0, 0))
        writer = asyncio.create_task(send(channel, make(1, 1)))
        await asyncio.sleep(0)  # the writer now waits: the buffer is full
        assert not writer.done() and channel.pending == 1
        taken = channel.take()  # the non-waiting read `async for` uses first
        await writer
        return [taken, channel.take(), channel.take()]

    first, second, nothing = run(main())
    assert (first.chunk, second.chunk, nothing) == (0, 1, None)


def test_every_chunk_arrives_in_order_through_a_small_buffer_with_both_sides_waiting() -> None:
    async def main() -> list[Any]:
        channel = AsyncChannel(size=3)

        async def produce() -> None:
            for k in range(200):
                await send(channel, make(k, k))
            channel.finish()

        producer = asyncio.create_task(produce())
        got = []
        while (event := channel.take() or await channel.get()) is not None:
            got.append(event.chunk)  # type: ignore[attr-defined]
        await producer
        return got

    assert run(main()) == list(range(200))


def test_after_discard_puts_are_accepted_and_forgotten() -> None:
    async def main() -> tuple[bool, int]:
        channel = AsyncChannel(size=1)
        await send(channel, make(0, 0))
        channel.discard()
        return channel.try_put(make(1, 1)), channel.pending

    assert run(main()) == (True, 0)


def test_after_close_a_put_tells_the_producer_the_consumer_is_gone() -> None:
    async def main() -> None:
        channel = AsyncChannel()
        channel.close()
        channel.try_put(make(0, 0))

    with pytest.raises(ConsumerGone):
        run(main())


def test_drop_oldest_through_try_put_keeps_the_newest_and_counts_the_rest() -> None:
    async def main() -> tuple[list[Any], int]:
        channel = AsyncChannel(size=2, overflow="drop_oldest")
        for k in range(5):
            await send(channel, make(k, k))
        channel.finish()
        got = []
        while (event := await channel.get()) is not None:
            got.append(event.chunk)  # type: ignore[attr-defined]
        return got, channel.dropped

    assert run(main()) == ([3, 4], 3)


def test_a_cancelled_reader_does_not_take_the_wake_up_of_the_next_one() -> None:
    async def main() -> Any:
        channel = AsyncChannel()
        gone = asyncio.create_task(channel.get())
        await asyncio.sleep(0)
        gone.cancel()
        await asyncio.gather(gone, return_exceptions=True)
        reader = asyncio.create_task(channel.get())
        await asyncio.sleep(0)
        await send(channel, make("a", 0))
        return await reader

    assert run(main()).chunk == "a"


def test_every_producer_waiting_for_room_resumes_as_the_consumer_takes() -> None:
    async def main() -> list[Any]:
        channel = AsyncChannel(size=1)
        await send(channel, make("first", 0))
        writers = [asyncio.create_task(send(channel, make(k, k))) for k in ("a", "b")]
        await asyncio.sleep(0)  # both wait: the buffer is full
        assert not any(w.done() for w in writers)
        got = []
        while len(got) < 3:
            event = channel.take() or await channel.get()
            assert event is not None
            got.append(event.chunk)  # type: ignore[attr-defined]
        await asyncio.gather(*writers)
        return got

    assert run(main()) == ["first", "a", "b"]


def test_events_hands_out_the_buffer_waits_for_more_and_ends_with_the_producer() -> None:
    async def main() -> tuple[list[Any], list[str]]:
        channel = AsyncChannel()
        calls: list[str] = []

        async def ended() -> None:
            calls.append("ended")

        for k in range(3):
            await send(channel, make(k, k))

        async def later() -> None:
            await send(channel, make(3, 3))
            channel.finish()

        got = []
        async for event in channel.events(ended):
            got.append(event.chunk)  # type: ignore[attr-defined]
            if len(got) == 3:  # the buffer is empty now: the next step waits
                asyncio.get_running_loop().call_soon(asyncio.ensure_future, later())
        return got, calls

    assert run(main()) == ([0, 1, 2, 3], ["ended"])


class Ended(BaseException):
    pass


def test_what_ended_raises_reaches_the_reader_of_events() -> None:
    async def main() -> None:
        channel = AsyncChannel()
        channel.finish()

        async def ended() -> None:
            raise Ended()

        async for _event in channel.events(ended):
            pass

    with pytest.raises(Ended):
        run(main())
