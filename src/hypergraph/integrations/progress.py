"""ProgressProcessor: what a run or a map is doing, shown as it happens (extra `progress`).

Behind `progress=True` on the runners. In a terminal it is a `rich` live display: items
done and failed with their rate and the time left (a map), the nodes of each nested
graph, and the chunk rate of each streaming node. When the output is not a terminal
(a log file, CI) it writes a plain line at most once per `interval` seconds, and a
summary line at the end.

Counting is cheap and separate from drawing: events and finished items only bump
counters under a lock; the terminal display reads them a few times a second in its
own thread, and the plain lines are written from whichever thread is due.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Callable
from typing import Any, TextIO

from ..events.types import (
    BaseEvent,
    NodeEndEvent,
    NodeErrorEvent,
    NodeStartEvent,
    RunStartEvent,
    RunStatus,
    StreamingChunkEvent,
)
from .extras import require

_FEATURE = "The progress display (progress=True)"
_COMPLETED, _FAILED, _PAUSED = RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.PAUSED
_SHOWN_STREAMS = 3  # streaming nodes listed at once; the rest are summed up
_ITEM = re.compile(r"\[\d+\]$")  # `name[3]`: item 3 of the map_over graph node `name`


class _Graph:
    """The runs of one nested graph (by its path) and their nodes."""

    __slots__ = ("failed", "nodes", "runs")

    def __init__(self) -> None:
        self.runs = 0
        self.nodes = 0
        self.failed = 0


class _Stream:
    """One streaming node execution: its chunks and when the first and last came."""

    __slots__ = ("chunks", "first", "last", "path")

    def __init__(self, path: str, at: float) -> None:
        self.path = path
        self.chunks = 0
        self.first = at
        self.last = at

    @property
    def rate(self) -> float:
        """Chunks per second between the first chunk and the last."""
        span = self.last - self.first
        return (self.chunks - 1) / span if span > 0 else 0.0


class ProgressProcessor:
    """Shows the progress of a run, or of a map of `total` items.

    The runners make one for `progress=True`; made by hand, it goes in
    `event_processors=[...]` of a run. `console` is a `rich.console.Console` (by
    default one on stderr); `file` writes to that stream instead.

    >>> import io
    >>> from hypergraph import Graph, SyncRunner, node
    >>> @node(output_name="doubled")
    ... def double(x: int) -> int:
    ...     return 2 * x
    >>> out = io.StringIO()  # not a terminal: plain lines
    >>> _ = SyncRunner().run(Graph([double]), x=1, event_processors=[ProgressProcessor(file=out)])
    >>> out.getvalue().startswith("hypergraph: done: 1 node")
    True
    """

    def __init__(
        self,
        total: int | None = None,
        *,
        console: Any = None,
        file: TextIO | None = None,
        interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        rich_console = require("rich.console", "rich", "progress", _FEATURE)
        if console is None:
            console = rich_console.Console(file=file) if file else rich_console.Console(stderr=True)
        self.console = console
        self._interactive: bool = console.is_interactive  # a terminal that can redraw
        self.total = total
        self.interval = interval
        self._clock = clock
        self._lock = threading.Lock()
        self._live: Any = None
        self._rich: tuple[Any, Any] | None = None  # rich.table, rich.progress_bar
        self._begun = False
        self._closed = False
        self._started = 0.0
        self._next_line = 0.0  # the clock time of the next plain line (the first: begin)
        self.done = 0  # items (a map) that completed
        self.failed = 0
        self.stopped = 0
        self.paused = 0  # items waiting for an interrupt's answer
        self.nodes = 0  # node executions that finished, nested ones included
        self.nodes_failed = 0
        self.chunks = 0
        self._graphs: dict[str, _Graph] = {}
        self._running: dict[str, str] = {}  # node span id -> its path
        self._streams: dict[str, _Stream] = {}  # node span id -> its stream

    # -- counting -----------------------------------------------------------------------

    def on_event(self, event: BaseEvent) -> None:
        kind = type(event)
        with self._lock:
            if kind is StreamingChunkEvent:
                self._chunk(event)  # type: ignore[arg-type]
            elif kind is NodeStartEvent:
                self._running[event.span_id] = event.path  # type: ignore[attr-defined]
            elif kind is NodeEndEvent or kind is NodeErrorEvent:
                self._node_done(event, kind is NodeErrorEvent)  # type: ignore[arg-type]
            elif kind is RunStartEvent and event.graph_path:  # type: ignore[attr-defined]
                self._graph(event.graph_path).runs += 1  # type: ignore[attr-defined]
        if self._clock() >= self._next_line:
            self._tick()

    def item_done(self, status: RunStatus) -> None:
        """A map item ended with `status` (the runner calls this for each item).

        Only the map's own loop calls it, from one thread, so it takes no lock: on a
        fast map it runs as often as nodes do."""
        if status is _COMPLETED:
            self.done += 1
        elif status is _FAILED:
            self.failed += 1
        elif status is _PAUSED:
            self.paused += 1
        else:
            self.stopped += 1
        if self._clock() >= self._next_line:
            self._tick()

    def _chunk(self, event: StreamingChunkEvent) -> None:
        now = self._clock()
        stream = self._streams.get(event.span_id)
        if stream is None:
            stream = self._streams[event.span_id] = _Stream(event.path, now)
        stream.chunks += 1
        stream.last = now
        self.chunks += 1

    def _node_done(self, event: NodeEndEvent | NodeErrorEvent, failed: bool) -> None:
        self._running.pop(event.span_id, None)
        self._streams.pop(event.span_id, None)
        self.nodes += 1
        self.nodes_failed += failed
        if event.graph_path:
            graph = self._graph(event.graph_path)
            graph.nodes += 1
            graph.failed += failed

    def _graph(self, path: tuple[str, ...]) -> _Graph:
        """A nested graph's counters; the items of a `map_over` node share one."""
        key = "/".join(_ITEM.sub("", part) for part in path)
        graph = self._graphs.get(key)
        if graph is None:
            graph = self._graphs[key] = _Graph()
        return graph

    # -- showing ------------------------------------------------------------------------

    def _tick(self) -> None:
        """Something happened and the clock passed `_next_line`: the first thing (start
        the display), or a plain line is due."""
        begin = due = False
        with self._lock:
            now = self._clock()
            if not self._begun:
                self._begun = begin = True
                self._started = now
                self._next_line = math.inf if self._interactive else now + self.interval
            elif now >= self._next_line and not self._closed:
                self._next_line = now + self.interval
                due = True
        if begin and self._interactive:
            self._start_live()
        elif due:
            self._write_line(final=False)

    def _start_live(self) -> None:
        """Start the terminal display (outside the lock: rich draws it once right away)."""
        live = require("rich.live", "rich", "progress", _FEATURE)
        self._rich = (
            require("rich.table", "rich", "progress", _FEATURE),
            require("rich.progress_bar", "rich", "progress", _FEATURE),
        )
        display = live.Live(
            console=self.console,
            get_renderable=self._renderable,
            refresh_per_second=4,
            transient=False,
        )
        display.start()
        with self._lock:
            if not self._closed:
                self._live = display
                return
        display.stop()  # closed while it was starting

    def close(self) -> None:
        """The run or map is over: the final display, or the summary line. Idempotent."""
        with self._lock:
            if self._closed or not self._begun:
                self._closed = True
                return
            self._closed = True
            live, self._live = self._live, None
        if live is not None:
            live.stop()  # draws the display one last time, and leaves it on the screen
        elif not self._interactive:
            self._write_line(final=True)

    def shutdown(self) -> None:
        """The dispatcher's end-of-run call."""
        self.close()

    def _write_line(self, final: bool) -> None:
        with self._lock:
            text = self._summary(final)
        out = self.console.file
        out.write(f"hypergraph: {text}\n")
        out.flush()

    def _summary(self, final: bool) -> str:
        """One line: items (a map) or nodes (a run), then nested graphs and streams."""
        elapsed = max(self._clock() - self._started, 1e-9)
        parts = []
        if self.total is not None:
            parts.append(self._items(elapsed, final))
        else:
            parts.append(self._nodes(final))
        if final:
            parts.append(f"in {_duration(elapsed)}")
        parts.extend(
            f"{path}: {graph.runs} run{_s(graph.runs)}, {graph.nodes} node{_s(graph.nodes)}"
            + (f" ({graph.failed} failed)" if graph.failed else "")
            for path, graph in self._graphs.items()
        )
        if self.chunks:
            parts.append(f"{self.chunks:,} chunks ({self.chunks / elapsed:,.1f}/s)")
        if not final:
            parts.extend(self._stream_texts())
        return ("done: " if final else "") + " | ".join(parts)

    def _items(self, elapsed: float, final: bool) -> str:
        finished = self.done + self.failed + self.stopped + self.paused
        text = f"{finished}/{self.total} items"
        if self.failed:
            text += f" ({self.failed} failed)"
        if self.stopped:
            text += f" ({self.stopped} stopped)"
        if self.paused:
            text += f" ({self.paused} paused)"
        rate = finished / elapsed
        text += f", {rate:,.1f} items/s"
        left = (self.total or 0) - finished
        if not final and rate > 0 and left > 0:
            text += f", {_duration(left / rate)} left"
        return text

    def _nodes(self, final: bool) -> str:
        text = f"{self.nodes} node{_s(self.nodes)}"
        if self.nodes_failed:
            text += f" ({self.nodes_failed} failed)"
        if not final and self._running:
            text += ", running: " + ", ".join(list(self._running.values())[:_SHOWN_STREAMS])
        return text

    def _stream_texts(self) -> list[str]:
        streams = list(self._streams.values())
        texts = [
            f"{s.path} streaming {s.chunks:,} chunks ({s.rate:,.1f}/s)"
            for s in streams[:_SHOWN_STREAMS]
        ]
        if len(streams) > _SHOWN_STREAMS:
            texts.append(f"{len(streams) - _SHOWN_STREAMS} more streaming")
        return texts

    def _renderable(self) -> Any:
        """The live display, drawn from the counters (called by rich's refresh thread)."""
        if self._rich is None:
            return ""
        table_mod, bar_mod = self._rich
        grid = table_mod.Table.grid(padding=(0, 1))
        with self._lock:
            elapsed = max(self._clock() - self._started, 1e-9)
            if self.total is not None:
                finished = self.done + self.failed + self.stopped + self.paused
                bar = bar_mod.ProgressBar(total=max(self.total, 1), completed=finished, width=30)
                grid.add_row("items", bar, self._items(elapsed, final=self._closed))
            else:
                grid.add_row("nodes", self._nodes(final=False))
            for path, graph in self._graphs.items():
                failed = f" ({graph.failed} failed)" if graph.failed else ""
                grid.add_row(
                    "  " + path, f"{graph.runs} run{_s(graph.runs)}, {graph.nodes} nodes{failed}"
                )
            for text in self._stream_texts():
                grid.add_row("  ▸", text)
            if self.chunks:
                grid.add_row("chunks", f"{self.chunks:,} ({self.chunks / elapsed:,.1f}/s)")
        return grid


def _s(count: int) -> str:
    return "" if count == 1 else "s"


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
