"""The public stand-in server: :class:`LLMServer`'s lifecycle, scripting, counters and waits.

It owns the shared :class:`~.state.State` and the lock that guards it; the handler
threads of its :class:`~.httpd.HTTPServer` record requests, take scripts and
count outcomes through the methods at the end of the class.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any

from .httpd import HTTPServer
from .request import RecordedRequest
from .script import Script, ScriptError
from .state import CounterName, State


class LLMServer:
    """A stand-in Anthropic/OpenAI endpoint on 127.0.0.1, served from a background thread.

    ``with LLMServer() as server:`` starts it on a free port and closes it
    (joining every thread it started) on exit. Point the real SDK clients at
    :attr:`anthropic_base_url` / :attr:`openai_base_url` (any API key will do).

    Each request gets the first queued :class:`Script` whose ``match`` accepts it,
    else the oldest queued script without ``match``, else :attr:`default_script`
    (a labelled echo unless configured). Everything the server saw is in
    :attr:`requests`.

    Example:

    >>> import openai
    >>> from hypergraph.testing import LLMServer, Script, ToolCall
    >>> with LLMServer() as server, openai.OpenAI(
    ...     base_url=server.openai_base_url, api_key="test"
    ... ) as client:
    ...     server.enqueue(
    ...         Script(tool_calls=[ToolCall("get_weather", {"city": "Paris"})], match="Paris"),
    ...         Script(text="Sunny, 21 °C.", match="Paris"),
    ...     )
    ...     ask = [{"role": "user", "content": "Weather in Paris?"}]
    ...     call = client.chat.completions.create(model="any", messages=ask)
    ...     call.choices[0].message.tool_calls[0].function.arguments
    ...     answer = client.chat.completions.create(model="any", messages=ask)
    ...     answer.choices[0].message.content
    '{"city": "Paris"}'
    'Sunny, 21 °C.'
    """

    def __init__(self, default: Script | None = None, *, host: str = "127.0.0.1") -> None:
        self.default_script: Script = _default(default if default is not None else Script())
        """Used when the queue is empty; replace it or use :meth:`configure`."""
        self.client_disconnected = threading.Event()
        """Set when a client goes away before its reply was finished."""
        self.at_gate = threading.Event()
        """Set when a request has to wait at its script's gate."""
        self._host = host
        # Reentrant, so a wait_until() predicate may read the public properties.
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._state = State()
        self._connections: set[socket.socket] = set()
        self._closing = threading.Event()
        self._httpd: HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ----------------------------------------------------------

    def start(self) -> LLMServer:
        """Bind a free port and serve in a daemon thread. Idempotent."""
        if self._httpd is not None:
            return self
        if self._closing.is_set():
            raise RuntimeError("a closed LLMServer cannot be restarted")
        self._httpd = HTTPServer((self._host, 0), self)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.01},
            name=f"llm-server-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving, cut open connections and join every server thread. Idempotent."""
        with self._lock:
            self._closing.set()
            connections = list(self._connections)
        httpd, thread = self._httpd, self._thread
        if httpd is None or thread is None:
            return
        httpd.shutdown()
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        httpd.server_close()  # also joins the handler threads
        thread.join()
        self._httpd = self._thread = None

    def __enter__(self) -> LLMServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- addresses ----------------------------------------------------------

    @property
    def port(self) -> int:
        """The bound port."""
        if self._httpd is None:
            raise RuntimeError("the server is not running; call start() first")
        return self._httpd.server_port

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://{self._host}:{self.port}"

    @property
    def anthropic_base_url(self) -> str:
        """``base_url`` for ``anthropic.Anthropic`` (the SDK appends ``/v1/messages``)."""
        return self.url

    @property
    def openai_base_url(self) -> str:
        """``base_url`` for ``openai.OpenAI`` (``url + "/v1"``)."""
        return f"{self.url}/v1"

    # -- scripting ----------------------------------------------------------

    def configure(self, script: Script | None = None, /, **fields: Any) -> Script:
        """Set the default script: pass a :class:`Script`, or its fields as keywords.

        With neither, the default goes back to the stand-in echo.
        """
        if script is not None and fields:
            raise TypeError("pass a Script or keyword fields, not both")
        self.default_script = _default(script if script is not None else Script(**fields))
        return self.default_script

    def enqueue(self, *scripts: Script) -> None:
        """Queue scripts, each to answer one request, before the default applies again.

        Scripts without ``match`` answer requests in arrival order. A script with
        ``match`` waits for a request it matches, so one lost request cannot shift
        the replies meant for the others: ``enqueue(Script(text="A", match="first
        question"), Script(text="B", match="second question"))`` answers each
        question with its own reply, whatever order they arrive in.
        """
        for script in scripts:
            if not isinstance(script, Script):
                raise ScriptError(
                    f"enqueue() got {script!r}, which is not a Script. "
                    'How to fix: server.enqueue(Script(text="..."), ...).'
                )
        with self._lock:
            self._state.queue.extend(scripts)

    @property
    def pending_scripts(self) -> list[Script]:
        """Queued scripts that have not answered a request yet, oldest first (a copy).

        ``assert server.pending_scripts == []`` at the end of a test checks that every
        scripted reply was used.
        """
        with self._lock:
            return list(self._state.queue)

    def reset(self) -> None:
        """Forget requests, queued scripts, counters and signals; restore the default script."""
        with self._lock:
            self._state = State(serial=self._state.serial)
            self.default_script = Script()
            self.client_disconnected.clear()
            self.at_gate.clear()

    # -- observation --------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far, oldest first (a copy)."""
        with self._lock:
            return list(self._state.requests)

    @property
    def streams_started(self) -> int:
        """Streaming replies whose headers were sent."""
        return self._counter("started")

    @property
    def streams_completed(self) -> int:
        """Streams that sent their final event and ended the body."""
        return self._counter("completed")

    @property
    def streams_aborted(self) -> int:
        """Streams the client closed (or broke) before they were finished."""
        return self._counter("aborted")

    @property
    def streams_failed(self) -> int:
        """Streams ended by a scripted in-stream error (``fail_after``)."""
        return self._counter("failed")

    @property
    def streams_dropped(self) -> int:
        """Streams cut by a scripted connection drop (``drop_after``)."""
        return self._counter("dropped")

    @property
    def tokens_sent(self) -> int:
        """Token events written to streaming clients, over all streams.

        Counted just before each write, so once a consumer has received k tokens
        this is at least k.
        """
        return self._counter("tokens")

    @property
    def gate_waits(self) -> int:
        """How many times a request had to wait at its gate (once per held token)."""
        return self._counter("gate_waits")

    def wait_until(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Wait until ``predicate()`` is true, re-checking whenever the server's state changes.

        The predicate may read this server's properties, e.g.
        ``server.wait_until(lambda: server.tokens_sent >= 2, 5)``. False on timeout.
        """
        with self._changed:
            return self._changed.wait_for(predicate, timeout)

    def wait_for_requests(self, count: int, timeout: float) -> bool:
        """Wait until at least ``count`` requests have arrived; False on timeout."""
        return self.wait_until(lambda: len(self._state.requests) >= count, timeout)

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no request is being handled (counters are then final); False on timeout."""
        return self.wait_until(lambda: self._state.in_flight == 0, timeout)

    # -- used by the handler threads ------------------------------------------

    def _counter(self, name: CounterName) -> int:
        with self._lock:
            value: int = getattr(self._state.counters, name)
            return value

    def _count(self, name: CounterName, step: int = 1) -> None:
        with self._changed:
            counters = self._state.counters
            setattr(counters, name, getattr(counters, name) + step)
            self._changed.notify_all()

    def _signal(self, event: threading.Event) -> None:
        with self._changed:
            event.set()
            self._changed.notify_all()

    def _record(self, request: RecordedRequest) -> None:
        with self._changed:
            self._state.requests.append(request)
            self._changed.notify_all()

    def _take_script(self, request: RecordedRequest) -> Script:
        with self._lock:
            queue = self._state.queue
            # A script that names its request wins over the in-order ones, so a
            # lost or reordered request never shifts the replies meant for others.
            keyed = (i for i, s in enumerate(queue) if s.match is not None and s.answers(request))
            in_order = (i for i, s in enumerate(queue) if s.match is None)
            index = next(keyed, None)
            if index is None:
                index = next(in_order, None)
            if index is None:
                return self.default_script
            script = queue[index]
            del queue[index]
            return script

    def _serial(self) -> int:
        with self._lock:
            self._state.serial += 1
            return self._state.serial

    def _begin(self) -> None:
        with self._changed:
            self._state.in_flight += 1

    def _end(self) -> None:
        with self._changed:
            self._state.in_flight -= 1
            self._changed.notify_all()

    def _register(self, connection: socket.socket) -> None:
        with self._lock:
            self._connections.add(connection)
            closing = self._closing.is_set()
        if closing:
            # close() has already cut the connections it knew of; cut this late one too.
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def _unregister(self, connection: socket.socket) -> None:
        with self._lock:
            self._connections.discard(connection)


def _default(script: Script) -> Script:
    if script.match is not None:
        raise ScriptError(
            "The default script got match=, but it answers every request no queued "
            "script answers. How to fix: pass the script to server.enqueue(...) instead."
        )
    return script
