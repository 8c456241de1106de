"""The threaded HTTP server under :class:`LLMServer`: one thread per connection, all joined.

It differs from :class:`http.server.ThreadingHTTPServer` in four ways: it tracks
its handler threads so that closing joins them, it skips the DNS lookup on bind,
it stays quiet when a client hangs up, and its listen backlog holds many clients
that connect at once.
"""

from __future__ import annotations

import socketserver
import sys
import threading
from http.server import ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from .handler import Handler

if TYPE_CHECKING:
    from .server import LLMServer


class HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver's default backlog of 5 resets connections when a test starts a
    # few dozen clients at once: one thread accepts, and each accept starts a thread.
    # The kernel caps this at net.core.somaxconn and allocates nothing up front.
    request_queue_size = 1024

    def __init__(self, address: tuple[str, int], owner: LLMServer) -> None:
        self.owner = owner
        self._handler_threads: list[threading.Thread] = []
        self._handler_threads_lock = threading.Lock()
        super().__init__(address, Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        # ThreadingMixIn does not track daemon threads, so server_close() would not
        # join them; track them here so close() leaves no thread behind.
        thread = threading.Thread(
            target=self.process_request_thread,
            args=(request, client_address),
            name=f"llm-server-{self.server_port}-conn",
            daemon=True,
        )
        with self._handler_threads_lock:
            self._handler_threads = [t for t in self._handler_threads if t.is_alive()]
            self._handler_threads.append(thread)
        thread.start()

    def server_close(self) -> None:
        super().server_close()
        with self._handler_threads_lock:
            threads, self._handler_threads = self._handler_threads, []
        for thread in threads:
            thread.join()

    def server_bind(self) -> None:
        # HTTPServer.server_bind calls socket.getfqdn(), a DNS lookup we do not need.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], OSError):
            return  # a client hanging up is routine here
        super().handle_error(request, client_address)
