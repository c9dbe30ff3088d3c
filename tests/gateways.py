"""Local stand-ins for the gateways darkcrawl talks to: a ZeroNet/Freenet web
gateway (sites under /<key>/) and an HTTP proxy answering like I2P's (absolute-URI
requests; i2pd's error page for unknown hosts).  Real servers on 127.0.0.1."""

from __future__ import annotations

import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, handler: type[BaseHTTPRequestHandler], pages: dict[str, tuple[Any, ...]]) -> None:
        super().__init__(("127.0.0.1", 0), handler)
        self.pages = pages
        self.hits: Counter[str] = Counter()
        self.lock = threading.Lock()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    def do_GET(self) -> None:
        key = self.path  # absolute URI when we are a proxy, a path when a gateway
        with self.server.lock:
            self.server.hits[key] += 1
        status, ctype, body, *headers = self.server.pages.get(
            key, I2PD_HOST_NOT_FOUND if key.startswith("http") else (404, "text/html", b"not found"))
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        for name, value in (headers[0] if headers else {}).items():  # a page may add headers: a redirect's Location
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


#: i2pd's answer for a host missing from its address book (status, type, body).
I2PD_HOST_NOT_FOUND = (
    500,
    "text/html",
    b"<html><head><title>I2Pd HTTP proxy</title></head><body><h1>Proxy error: Host not found</h1>"
    b"<p>Remote host not found in router's addressbook</p></body></html>",
)


class FakeGateway:
    """A gateway or proxy serving *pages* (key: path, or absolute URL for a proxy; value:
    status, content type, body and optionally a dict of more headers)."""

    def __init__(self, pages: dict[str, tuple[Any, ...]]) -> None:
        self.server = _Server(_Handler, pages)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def hits(self) -> Counter[str]:
        return self.server.hits

    def __enter__(self) -> FakeGateway:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def html(*links: str, text: str = "") -> tuple[int, str, bytes]:
    body = "".join(f'<a href="{link}">{link}</a>' for link in links)
    return 200, "text/html; charset=utf-8", f"<html><body>{text}{body}</body></html>".encode()
