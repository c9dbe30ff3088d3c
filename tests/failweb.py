"""A loopback web of broken answers, for the failure-reason tests.

Each case is a raw socket server of its own (its own loopback address, port 0,
one thread per connection), because what is tested is what goes wrong on the
wire: a body shorter than its Content-Length, a reset mid-body, broken chunked
encoding, a gzip bomb, an endless header line.  ``http.server`` cannot send
most of these.
"""

from __future__ import annotations

import socket
import struct
import threading
import zlib
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager

from tests.harness.ports import free_port
from tests.harness.service import Service

Handler = Callable[[socket.socket], None]

PAGE = b"<html><body>ok</body></html>"


def _read_request(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def _path(request: bytes) -> str:
    parts = request.split(b" ", 2)
    return parts[1].decode("latin-1") if len(parts) > 1 else "/"


def _send_all(conn: socket.socket, data: bytes) -> None:
    try:
        conn.sendall(data)
    except OSError:  # the client gave up on us: that is the point of most cases
        pass


def _page(conn: socket.socket, status: str, body: bytes, ctype: str = "text/html") -> None:
    _send_all(conn, f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
                    "Connection: close\r\n\r\n".encode() + body)


def _robots_or(case: Callable[[socket.socket, str], None], robots: bytes = b"") -> Handler:
    """Answer robots.txt (empty unless given) and sitemaps (404), the rest with *case*."""

    def handle(conn: socket.socket) -> None:
        path = _path(_read_request(conn))
        if path == "/robots.txt":
            _page(conn, "200 OK", robots, "text/plain")
        elif path.startswith("/sitemap") or path == "/hosts.txt":
            _page(conn, "404 Not Found", b"")
        else:
            case(conn, path)

    return handle


def truncated(total: int = 5000, sent: int = 1000) -> Handler:
    def case(conn: socket.socket, path: str) -> None:
        _send_all(conn, f"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {total}\r\n"
                        "Connection: close\r\n\r\n".encode() + b"x" * sent)
        conn.shutdown(socket.SHUT_WR)  # a clean FIN: the body simply ends early

    return _robots_or(case)


def reset_mid_body() -> Handler:
    def case(conn: socket.socket, path: str) -> None:
        _send_all(conn, b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 100000\r\n"
                        b"Connection: close\r\n\r\n" + b"x" * 2000)
        # SO_LINGER 0: close() sends an RST instead of a FIN
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    return _robots_or(case)


def bad_chunked() -> Handler:
    def case(conn: socket.socket, path: str) -> None:
        _send_all(conn, b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\n"
                        b"Connection: close\r\n\r\n5\r\nhello\r\nzz-not-hex\r\nmore\r\n")
        conn.shutdown(socket.SHUT_WR)

    return _robots_or(case)


def _gzip_stream(size: int) -> Iterator[bytes]:
    """A gzip member of *size* zero bytes, made a MiB at a time (never held whole)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = bytes(1 << 20)
    left = size
    while left > 0:
        step = min(left, len(block))
        out = compressor.compress(block[:step])
        if out:
            yield out
        left -= step
    yield compressor.flush()


def gzip_bomb(size: int) -> Handler:
    """Content-Encoding: gzip of *size* zeros, streamed chunked (no Content-Length up front)."""

    def case(conn: socket.socket, path: str) -> None:
        _send_all(conn, b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Encoding: gzip\r\n"
                        b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
        try:
            for piece in _gzip_stream(size):
                conn.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
            conn.sendall(b"0\r\n\r\n")
        except OSError:
            pass  # cut by the crawler's DOWNLOAD_MAXSIZE

    return _robots_or(case)


def long_header(length: int = 70 * 1024) -> Handler:
    def case(conn: socket.socket, path: str) -> None:
        _send_all(conn, b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nX-Bomb: " + b"a" * length
                        + b"\r\nContent-Length: 2\r\n\r\nok")
        conn.shutdown(socket.SHUT_WR)

    return _robots_or(case)


def robots_disallow() -> Handler:
    def case(conn: socket.socket, path: str) -> None:
        _page(conn, "200 OK", PAGE)

    return _robots_or(case, robots=b"User-agent: *\nDisallow: /private\n")


class CaseServer(Service):
    """One case on its own loopback address: a listening socket, a thread per connection."""

    def __init__(self, host: str, handler: Handler) -> None:
        self.handler = handler
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, 0))
        self.sock.listen(16)
        self.host, self.port = self.sock.getsockname()[:2]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> CaseServer:
        self._thread.start()
        return self

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn: socket.socket) -> None:
        try:
            conn.settimeout(30)
            self.handler(conn)
        except OSError:
            pass
        finally:
            conn.close()

    def stop(self) -> None:
        self._stop.set()
        self.sock.close()


def refused_url(host: str) -> str:
    """A URL on *host* where nothing listens: a port bound, then closed."""
    return f"http://{host}:{free_port(host)}/"


@contextmanager
def serve(cases: dict[str, tuple[str, Handler]]) -> Iterator[dict[str, CaseServer]]:
    """Start every case (name -> (loopback address, handler)); yield name -> server."""
    with ExitStack() as stack:
        servers: dict[str, CaseServer] = {}
        for name, (host, handler) in cases.items():
            servers[name] = stack.enter_context(CaseServer(host, handler))
        yield servers
