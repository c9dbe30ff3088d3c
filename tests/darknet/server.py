"""Real HTTP/1.1 servers on 127.0.0.1 serving the sites of :mod:`.sites`.

Each site is its own ``ThreadingHTTPServer`` on its own free port, so a
crawler sees separate hosts (separate robots.txt, per-host throttling,
cookies scoped per host) without DNS or a proxy.

Usage::

    with Darknet() as net:
        seed = net.url("main")            # "http://127.0.0.1:<port>/"
        ...crawl...
        assert net.sites["main"].hits["/page1.html"] == 1
"""

from __future__ import annotations

import collections
import logging
import mimetypes
import pathlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import unquote, urlsplit

from tests.harness.http import TrackingHTTPServer
from tests.harness.service import Service
from .sites import SITE_NAMES, SLOW_DELAY, HTML, Reply, SiteContent, Streamed, build_sites

__all__ = ["Darknet", "RecordedRequest", "Site"]

_log = logging.getLogger(__name__)

HOST = "127.0.0.1"
# Socket write size for streamed bodies: large enough for throughput,
# small enough that the 12 MB page is never materialised.
_CHUNK = 64 * 1024
# How long stop() waits for a handler thread; they are woken (socket
# shutdown, stop event) so this only bounds a misbehaving one.
_JOIN_TIMEOUT = 5.0


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server saw it (for asserting headers, cookies, UA)."""

    method: str
    target: str  # path with query, exactly as sent (absolute-form reduced)
    headers: tuple[tuple[str, str], ...]

    def header(self, name: str) -> str | None:
        name = name.lower()
        return next((v for k, v in self.headers if k.lower() == name), None)


def _request_key(target: str) -> str:
    # Clients talking to a proxy send absolute-form targets; count those
    # under the same key as origin-form so hits stay comparable.
    if target.startswith(("http://", "https://")):
        parts = urlsplit(target)
        return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return target


class Site:
    """One host of the darknet: one server, one port, its own hit counters."""

    def __init__(self, name: str, root: pathlib.Path | None = None) -> None:
        self.name = name
        self._root = root / name if root is not None else None
        self._lock = threading.Lock()
        self._hits: collections.Counter[str] = collections.Counter()
        self._head_hits: collections.Counter[str] = collections.Counter()
        self._requests: list[RecordedRequest] = []
        self._content: SiteContent | None = None
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        # Binding here (not in start) is what gives us the port before any
        # content exists; content needs every site's URL.
        self._server = _Server(self)
        self.port: int = self._server.server_address[1]
        self.url: str = f"http://{HOST}:{self.port}"

    def __repr__(self) -> str:
        return f"Site({self.name!r}, {self.url!r})"

    # -- counters ---------------------------------------------------------

    @property
    def hits(self) -> collections.Counter[str]:
        """Snapshot: request target (path + query) -> GET requests received.

        Counted when the request arrives, before any delay, so a timed-out
        request to the slow site still shows up.  A copy, so callers can
        iterate while handler threads keep counting.
        """
        with self._lock:
            return collections.Counter(self._hits)

    @property
    def head_hits(self) -> collections.Counter[str]:
        """Snapshot of HEAD requests, kept apart so ``hits`` means "downloaded"."""
        with self._lock:
            return collections.Counter(self._head_hits)

    @property
    def requests(self) -> list[RecordedRequest]:
        """Snapshot of every GET/HEAD request in arrival order."""
        with self._lock:
            return list(self._requests)

    def reset_hits(self) -> None:
        with self._lock:
            self._hits.clear()
            self._head_hits.clear()
            self._requests.clear()

    def url_for(self, path: str = "/") -> str:
        return self.url + (path if path.startswith("/") else "/" + path)

    # -- serving ----------------------------------------------------------

    def _record(self, method: str, key: str, headers: Any) -> None:
        request = RecordedRequest(method, key, tuple(headers.items()))
        with self._lock:
            (self._hits if method == "GET" else self._head_hits)[key] += 1
            self._requests.append(request)

    def _resolve(self, key: str) -> Reply:
        parts = urlsplit(key)
        path = unquote(parts.path) or "/"
        if self._root is not None:
            reply = _static_file(self._root, path)
            if reply is not None:
                return reply
        if self._content is None:  # pragma: no cover - only before start()
            return Reply(status=503, body=b"not started")
        return self._content.resolve(path, parts.query)

    def _start(self, content: SiteContent) -> None:
        self._content = content
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},  # fast shutdown()
            name=f"darknet-{self.name}",
            daemon=True,
        )
        self._thread.start()

    def _stop(self) -> None:
        # Wake delayed handlers first so nothing sleeps through shutdown.
        self._stopping.set()
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(_JOIN_TIMEOUT)
            self._thread = None
        self._server.server_close()
        self._server.drop_connections(_JOIN_TIMEOUT)


def _static_file(root: pathlib.Path, path: str) -> Reply | None:
    """Serve ``root/<path>`` if it exists: a way to add ad-hoc pages."""
    base = root.resolve()
    candidate = (base / path.lstrip("/")).resolve()
    if candidate != base and base not in candidate.parents:
        return None  # path traversal
    if candidate.is_dir():
        candidate = candidate / "index.html"
    if not candidate.is_file():
        return None
    ctype, _ = mimetypes.guess_type(candidate.name)
    if ctype is None:
        ctype = "application/octet-stream"
    elif ctype == "text/html":
        ctype = HTML
    return Reply(content_type=ctype, body=candidate.read_bytes())


class _Server(TrackingHTTPServer):
    # A backlog of 128 lets a burst of crawler connections through at once.
    allow_reuse_address = True

    def __init__(self, site: Site) -> None:
        self.site = site
        super().__init__((HOST, 0), _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients hanging up mid-response (size limits, timeouts) are normal
        # in crawler tests; don't spray tracebacks over pytest output.
        _log.debug("darknet %s: error serving %s", self.site.name, client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive; every reply has Content-Length
    server_version = "darknet/1.0"
    server: _Server

    def do_GET(self) -> None:
        self._serve(head=False)

    def do_HEAD(self) -> None:
        self._serve(head=True)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        _log.debug("darknet %s: " + format, self.server.site.name, *args)

    def _serve(self, *, head: bool) -> None:
        site = self.server.site
        key = _request_key(self.path)
        site._record(self.command, key, self.headers)
        reply = site._resolve(key)
        if reply.delay and site._stopping.wait(reply.delay):
            # Shutting down: drop the request rather than answer late.
            self.close_connection = True
            return
        try:
            self.send_response(reply.status)
            if reply.content_type is not None:
                self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(reply.length))
            for name, value in reply.headers:
                self.send_header(name, value)
            self.end_headers()
            if not head:
                for chunk in _body_chunks(reply.body):
                    self.wfile.write(chunk)
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            # The client gave up (e.g. DOWNLOAD_MAXSIZE hit on huge.html).
            self.close_connection = True


def _body_chunks(body: bytes | Streamed) -> Iterator[bytes]:
    if isinstance(body, Streamed):
        yield from body.chunks()
        return
    view = memoryview(body)
    for start in range(0, len(view), _CHUNK):
        yield view[start : start + _CHUNK].tobytes()


class Darknet(Service):
    """Starts every site on its own free port; a context manager.

    ``root``: optional directory of extra static files, ``root/<site>/<path>``,
    served before (and so overriding) the generated routes.
    ``slow_delay``: seconds the slow site's "/" stalls (default 30).
    """

    def __init__(self, root: pathlib.Path | None = None, *, slow_delay: float = SLOW_DELAY) -> None:
        self.root = root
        self.slow_delay = slow_delay
        self.sites: dict[str, Site] = {}
        self._running = False

    def start(self) -> None:
        if self._running:
            raise RuntimeError("darknet already started")
        # Fresh sites (new ports, zero hits) on every start; a stopped
        # darknet keeps its old ones so tests can read hits after exit.
        self.sites = {}
        self._running = True
        try:
            for name in SITE_NAMES:
                self.sites[name] = Site(name, self.root)
            contents = build_sites(self.urls, slow_delay=self.slow_delay)
            for name, site in self.sites.items():
                site._start(contents[name])
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        # Signal everyone before joining anyone, so slow handlers on
        # different sites wind down in parallel.
        for site in self.sites.values():
            site._stopping.set()
        for site in self.sites.values():
            site._stop()
        self._running = False

    @property
    def urls(self) -> dict[str, str]:
        """Site name -> base URL without trailing slash."""
        return {name: site.url for name, site in self.sites.items()}

    def url(self, site: str, path: str = "/") -> str:
        return self.sites[site].url_for(path)

    def __getitem__(self, name: str) -> Site:
        return self.sites[name]

    def reset_hits(self) -> None:
        for site in self.sites.values():
            site.reset_hits()
