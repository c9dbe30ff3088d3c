"""A threaded HTTP server on a loopback port, for the small fake servers.

A fake server is an :class:`HttpService` subclass naming its handler class (a
:class:`QuietHandler`, usually); the handler reaches the service as
``self.server.service``::

    class _Handler(QuietHandler):
        def do_GET(self) -> None:
            self.send_body(200, self.server.service.pages[self.path])

    class Site(HttpService):
        handler_class = _Handler

    with Site() as site:
        urlopen(site.url("/"))

The port is the kernel's pick (or the one given) and is known from :meth:`~HttpService.bind`
(which :meth:`~HttpService.start` calls) on, and stays readable after :meth:`~HttpService.stop`.
"""

from __future__ import annotations

import contextlib
import socket
import socketserver
import threading
from collections.abc import Iterable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.harness.ports import LOOPBACK
from tests.harness.service import Service

__all__ = ["HttpService", "LoopbackHTTPServer", "QuietHandler", "TrackingHTTPServer", "serving"]


class LoopbackHTTPServer(ThreadingHTTPServer):
    """Daemon threads, a listen backlog a crawler does not overflow, no reverse DNS lookup at bind."""

    daemon_threads = True
    # The stdlib backlog of 5 makes concurrent crawls stall for 1 s (SYN retransmit).
    request_queue_size = 128
    service: Any = None

    def server_bind(self) -> None:
        socketserver.TCPServer.server_bind(self)  # no getfqdn(): a reverse lookup
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)


class QuietHandler(BaseHTTPRequestHandler):
    """Nothing logged to stderr (tests look at what was served); :meth:`send_body`."""

    server: LoopbackHTTPServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    def send_body(self, status: int, body: bytes, content_type: str = "text/html",
                  headers: Iterable[tuple[str, str]] = ()) -> None:
        """One whole answer: status, Content-Type, Content-Length, *headers*, then *body*."""
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)


class HttpService(Service):
    """*handler_class* served on ``host:port`` from a daemon thread."""

    handler_class: type[BaseHTTPRequestHandler] = QuietHandler
    server_class: type[LoopbackHTTPServer] = LoopbackHTTPServer
    #: seconds stop() waits for the serving thread
    join_timeout = 5.0
    #: seconds between serve_forever()'s looks at a shutdown request
    poll_interval = 0.5

    def __init__(self, host: str = LOOPBACK, port: int = 0) -> None:
        self.host = host
        #: the port asked for (0: the kernel's pick, again on each start)
        self.requested_port = port
        self.port = port
        self.server: LoopbackHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def bind(self) -> LoopbackHTTPServer:
        """Listen (once); from here on :attr:`port` is the real one."""
        if self.server is None:
            self.server = self.server_class((self.host, self.requested_port), self.handler_class)
            self.server.service = self
            self.port = self.server.server_port
        return self.server

    def start(self) -> HttpService:
        server = self.bind()
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": self.poll_interval},
                                        name=f"{type(self).__name__}-{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        server, thread, self.server, self._thread = self.server, self._thread, None, None
        if server is not None:
            if thread is not None:  # shutdown() waits for a serve_forever() that never ran
                server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(self.join_timeout)

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def url(self, path: str = "/") -> str:
        return self.base_url + path


class TrackingHTTPServer(LoopbackHTTPServer):
    """A :class:`LoopbackHTTPServer` that knows its open connections and their threads.

    :meth:`drop_connections` ends the open (keep-alive) ones, so that a stop does
    not wait for clients that keep them open, and can join their threads.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._conn_lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        self._workers: set[threading.Thread] = set()
        super().__init__(*args, **kwargs)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._conn_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        # daemon_threads means socketserver does not track workers; we do, so
        # drop_connections() can join them and report a clean shutdown.
        me = threading.current_thread()
        with self._conn_lock:
            self._workers.add(me)
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self._conn_lock:
                self._workers.discard(me)

    def close_request(self, request: Any) -> None:
        with self._conn_lock:
            self._connections.discard(request)
        super().close_request(request)

    def drop_connections(self, timeout: float | None = None) -> None:
        """Shut down open connections; with a *timeout*, also join their threads."""
        with self._conn_lock:
            connections = list(self._connections)
            workers = list(self._workers)
        for conn in connections:
            # shutdown(), not close(): it wakes a worker blocked in recv()
            # without yanking the fd from under it.
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        if timeout is not None:
            for worker in workers:
                worker.join(timeout)


@contextlib.contextmanager
def serving(handler: type[BaseHTTPRequestHandler], host: str = LOOPBACK,
            **state: Any) -> Iterator[LoopbackHTTPServer]:
    """*handler* served on ``host:<free port>`` for the ``with`` block; yields the server.

    *state* becomes attributes of the server (set before the first request), for
    the handler to share with the test as ``self.server.<name>``.
    """
    service = HttpService(host)
    service.handler_class = handler
    service.poll_interval = 0.05
    server = service.bind()
    for name, value in state.items():
        setattr(server, name, value)
    with service:
        yield server
