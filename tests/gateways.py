"""Local stand-ins for the gateways darkcrawl talks to: a ZeroNet/Freenet web
gateway (sites under /<key>/) and an HTTP proxy answering like I2P's (absolute-URI
requests; i2pd's error page for unknown hosts).  Real servers on 127.0.0.1."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

from tests.harness.http import HttpService, QuietHandler


class _Handler(QuietHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        gateway: FakeGateway = self.server.service
        key = self.path  # absolute URI when we are a proxy, a path when a gateway
        with gateway.lock:
            gateway.hits[key] += 1
        default = I2PD_HOST_NOT_FOUND if key.startswith("http") else (404, "text/html", b"not found")
        status, ctype, body, *headers = gateway.pages.get(key, default)
        # a page may add headers: a redirect's Location
        self.send_body(status, body, ctype, (headers[0] if headers else {}).items())


#: i2pd's answer for a host missing from its address book (status, type, body).
I2PD_HOST_NOT_FOUND = (
    500,
    "text/html",
    b"<html><head><title>I2Pd HTTP proxy</title></head><body><h1>Proxy error: Host not found</h1>"
    b"<p>Remote host not found in router's addressbook</p></body></html>",
)


class FakeGateway(HttpService):
    """A gateway or proxy serving *pages* (key: path, or absolute URL for a proxy; value:
    status, content type, body and optionally a dict of more headers)."""

    handler_class = _Handler

    def __init__(self, pages: dict[str, tuple[Any, ...]]) -> None:
        super().__init__()
        self.pages = pages
        self.hits: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.bind()


def html(*links: str, text: str = "") -> tuple[int, str, bytes]:
    body = "".join(f'<a href="{link}">{link}</a>' for link in links)
    return 200, "text/html; charset=utf-8", f"<html><body>{text}{body}</body></html>".encode()
