"""A site of cookie and header bombs, on its own loopback address.

Every request's headers are recorded (``site.requests[path]``), so a test can see
the ``Cookie:`` header the crawler sent after a cookie bomb.
"""

from __future__ import annotations

import threading

from tests.harness.http import HttpService, QuietHandler

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


class _Handler(QuietHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        self.server.service.record(path, self.headers.get_all("Cookie") or [])
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


class BombSite(HttpService):
    """``with BombSite() as site:`` ``site.url(path)``; ``site.requests[path]``: the
    ``Cookie:`` headers of each request of *path*."""

    handler_class = _Handler

    def __init__(self) -> None:
        super().__init__(HOST)
        self.lock = threading.Lock()
        self.requests: dict[str, list[list[str]]] = {}

    def record(self, path: str, cookies: list[str]) -> None:
        with self.lock:
            self.requests.setdefault(path, []).append(cookies)
