"""A raw TCP server for tests that speak below HTTP (a greeting, a SOCKS proxy)."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Iterator

from tests.harness.ports import LOOPBACK


@contextlib.contextmanager
def tcp_server(handle: Callable[[socket.socket], None], host: str = LOOPBACK, *,
               threaded: bool = False) -> Iterator[int]:
    """Every connection to ``host:<free port>`` given to *handle* (in a thread of its
    own when *threaded*, else one at a time) for the ``with`` block; yields the port.
    Closing a connection is *handle*'s job (it may keep one open on purpose)."""
    listener = socket.create_server((host, 0), backlog=16)
    listener.settimeout(0.1)
    stop = threading.Event()

    def serve_one(conn: socket.socket) -> None:
        with contextlib.suppress(OSError):
            handle(conn)

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except (TimeoutError, OSError):
                continue
            conn.settimeout(None)
            if threaded:
                threading.Thread(target=serve_one, args=(conn,), daemon=True).start()
            else:
                serve_one(conn)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join(2)
        listener.close()
