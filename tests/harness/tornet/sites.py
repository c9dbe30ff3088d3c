"""Tiny HTTP sites on 127.0.0.1 for the onion services of the private Tor network.

The pages link to each other by *onion* URL, which is only known once tor
has created the service keys, so a site starts without pages (503) and gets
them from :func:`onion_pages` after the network is up.
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Mapping
from urllib.parse import urlsplit

from tests.harness.http import HttpService, QuietHandler

__all__ = ["MAIN_TITLE", "OTHER_TITLE", "TinySite", "onion_pages"]

HOST = "127.0.0.1"
MAIN_TITLE = "tornet main site"
OTHER_TITLE = "tornet other site"


class _Handler(QuietHandler):
    protocol_version = "HTTP/1.0"

    def do_GET(self) -> None:  # noqa: N802 (stdlib naming)
        self._reply(head_only=False)

    def do_HEAD(self) -> None:  # noqa: N802
        self._reply(head_only=True)

    def _reply(self, *, head_only: bool) -> None:
        path = urlsplit(self.path).path or "/"
        status, body = self.server.service.lookup(path)
        head = (
            f"HTTP/1.0 {status} {self.responses.get(status, ('',))[0]}\r\n"
            "Content-Type: text/html; charset=utf-8\r\n"
            f"Content-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n"
        ).encode("ascii")
        # One write for head and body: two small writes hit Nagle + delayed
        # ACK on loopback and add ~40 ms to every fetch through Tor.
        self.wfile.write(head if head_only else head + body)


class TinySite(HttpService):
    """One threaded HTTP server with replaceable pages and per-path hit counts."""

    handler_class = _Handler

    def __init__(self, name: str) -> None:
        super().__init__(HOST)
        self.name = name
        self._lock = threading.Lock()
        self._pages: dict[str, bytes] = {}
        self._hits: collections.Counter[str] = collections.Counter()

    def set_pages(self, pages: Mapping[str, str]) -> None:
        with self._lock:
            self._pages = {path: html.encode() for path, html in pages.items()}

    def hits(self, path: str) -> int:
        with self._lock:
            return self._hits[path]

    def lookup(self, path: str) -> tuple[int, bytes]:
        with self._lock:
            self._hits[path] += 1
            if not self._pages:
                return 503, b"<html><body>site not configured yet</body></html>"
            body = self._pages.get(path)
        if body is None:
            return 404, b"<html><body>not found</body></html>"
        return 200, body


def _page(title: str, body: str) -> str:
    return f"<!doctype html><html><head><title>{title}</title></head><body><h1>{title}</h1>{body}</body></html>"


def onion_pages(main: str, other: str) -> tuple[dict[str, str], dict[str, str]]:
    """Pages of the main and the other site, given their onion host names.

    main: ``/`` -> ``/a.html``, ``/b.html``; ``/a.html`` -> ``/``, ``/b.html``;
    ``/b.html`` -> the other onion's ``/``. other: ``/`` -> main's ``/``.
    All links are absolute onion URLs, as on real onion sites.
    """
    m, o = f"http://{main}", f"http://{other}"
    main_pages = {
        "/": _page(MAIN_TITLE, f'<a href="{m}/a.html">page a</a> <a href="{m}/b.html">page b</a>'),
        "/a.html": _page(f"{MAIN_TITLE}: a", f'<a href="{m}/">home</a> <a href="{m}/b.html">page b</a>'),
        "/b.html": _page(f"{MAIN_TITLE}: b", f'<a href="{m}/">home</a> <a href="{o}/">other onion</a>'),
    }
    other_pages = {
        "/": _page(OTHER_TITLE, f'<a href="{m}/">back to main</a>'),
    }
    return main_pages, other_pages
