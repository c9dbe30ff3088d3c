"""A site of cookie and header bombs, on its own loopback address.

Every request's headers are recorded (``site.requests[path]``), so a test can see
the ``Cookie:`` header the crawler sent after a cookie bomb.
"""

from __future__ import annotations

import socketserver
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

HOST = "127.0.7.1"
#: path -> [(header, value), ...] of the bombs; "/" links to each
BOMBS: dict[str, list[tuple[str, str]]] = {
    "/cookies": [("Set-Cookie", f"c{i}=v") for i in range(10_000)],  # 210 KB of headers
    "/headers": [(f"X-Bomb-{i}", "b") for i in range(10_000)],
    # 240 KB of headers (within 256 KiB), twice that as the record's UTF-8 JSON
    "/wide": [(f"X-Wide-{i}", "\u00e9" * 8_000) for i in range(30)],
    "/bigcookie": [("Set-Cookie", "big=" + "x" * 15_000 + "; Path=/")],  # under Twisted's 16 KiB a line
    "/hugeline": [("X-Huge", "h" * 1_000_000)],  # one 1 MB header line
    "/endless": [(f"X-More-{i}", "m" * 1000) for i in range(2_000)],  # 2 MB of headers
}
PAGES = ("/after",)


def _html(*links: str) -> bytes:
    body = "".join(f'<a href="{link}">{link}</a>' for link in links)
    return f"<html><body><p>167 bytes of page</p>{body}</body></html>".encode()


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        self.server.record(path, self.headers.get_all("Cookie") or [])
        if path == "/":
            self._send(200, [], _html(*BOMBS, "/redirect"))
        elif path in BOMBS:
            self._send(200, BOMBS[path], _html("/after"))
        elif path == "/redirect":  # a cookie bomb on a redirect hop
            self._send(302, [("Location", "/landing"), *BOMBS["/cookies"][:5000]], b"")
        elif path in ("/after", "/landing"):
            self._send(200, [], _html())
        else:
            self._send(404, [], b"not found")

    def _send(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        lines = [f"HTTP/1.1 {status} X\r\n", "Content-Type: text/html\r\n", f"Content-Length: {len(body)}\r\n"]
        lines += [f"{name}: {value}\r\n" for name, value in headers]
        try:
            self.wfile.write("".join(lines).encode("latin-1") + b"\r\n" + body)
        except OSError:
            pass  # the crawler hung up on a bomb: that is the point


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, site: BombSite) -> None:
        self.site = site
        super().__init__((HOST, 0), _Handler)

    def server_bind(self) -> None:
        socketserver.TCPServer.server_bind(self)  # no getfqdn(): a reverse lookup
        self.server_name, self.server_port = HOST, self.server_address[1]

    def record(self, path: str, cookies: list[str]) -> None:
        with self.site.lock:
            self.site.requests.setdefault(path, []).append(cookies)


class BombSite:
    """``with BombSite() as site:`` ``site.url(path)``; ``site.requests[path]``: the
    ``Cookie:`` headers of each request of *path*."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests: dict[str, list[list[str]]] = {}

    def __enter__(self) -> BombSite:
        self._server = _Server(self)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def url(self, path: str = "/") -> str:
        return f"http://{HOST}:{self._server.server_port}{path}"
