"""The render stage's traffic into the WARC files: what Chromium fetched for a page.

Only when the archive is on: the render handler gives each render a
:class:`BrowserCapture`, the render's guard attaches it to the page before the
navigation (with its own bounds) and drains it before the page closes.  Each
request Chromium finished (documents, scripts, styles, images, fonts, XHR) is
read from Playwright's network events: its request headers as sent, the response
status and headers Chromium received (the raw ones, ``headers_array``), and the
body.  One event handler call per request, and two or three calls to the browser
per resource, all off the render's own path.

What is rebuilt, and why: Chromium hands over the body *decoded* (its
``Content-Encoding`` removed, no chunk framing) and HTTP/2 or HTTP/3 exchanges
have no status line.  So the record's status line is ``HTTP/1.1 <status> <text>``;
``Content-Encoding`` and ``Transfer-Encoding`` become ``X-Archive-Orig-*`` headers
and ``Content-Length`` is the body's (what browsertrix-crawler does): the payload is
the document the page used, and it replays as such.  The plain stage's records are
the byte-exact ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from http import HTTPStatus
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from darkcrawl.archive.wire import Exchange

if TYPE_CHECKING:
    from playwright.async_api import Page, Request as BrowserRequest

    from darkcrawl.archive.crawl import Archive

logger = logging.getLogger(__name__)

#: response headers that describe a transfer the decoded body no longer has
_TRANSFER_HEADERS = frozenset({"content-encoding", "transfer-encoding", "content-length"})


def request_block(method: str, url: str, headers: list[dict[str, str]], body: bytes | None) -> bytes:
    parts = urlsplit(url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    lines = [f"{method} {target} HTTP/1.1\r\n"]
    names = {h["name"].lower() for h in headers}
    if "host" not in names:  # HTTP/2 sends :authority instead
        lines.append(f"Host: {parts.netloc}\r\n")
    lines += [f"{h['name']}: {h['value']}\r\n" for h in headers if not h["name"].startswith(":")]
    lines.append("\r\n")
    return "".join(lines).encode("latin-1", "replace") + (body or b"")


def response_head(status: int, text: str, headers: list[dict[str, str]], body_length: int) -> bytes:
    if not text:
        with contextlib.suppress(ValueError):
            text = HTTPStatus(status).phrase
    lines = [f"HTTP/1.1 {status} {text}\r\n"]
    for header in headers:
        name = header["name"]
        if name.startswith(":"):
            continue
        for value in header["value"].split("\n"):  # Chromium joins repeated headers with a newline
            if name.lower() in _TRANSFER_HEADERS:
                if name.lower() == "content-length":
                    continue
                name = "X-Archive-Orig-" + name
            lines.append(f"{name}: {value}\r\n")
    lines.append(f"Content-Length: {body_length}\r\n\r\n")
    return "".join(lines).encode("latin-1", "replace")


class BrowserCapture:
    """The traffic of one render (one page, or its replacement after a crash)."""

    def __init__(self, archive: Archive, meta: dict[str, Any]) -> None:
        self.archive = archive
        self.meta = meta
        self.captured = 0
        self._tasks: set[asyncio.Task[None]] = set()

    def attach(self, page: Page) -> None:
        page.on("requestfinished", self._finished)

    def _finished(self, request: BrowserRequest) -> None:
        if request.url.startswith(("http://", "https://")):
            task = asyncio.ensure_future(self._capture(request))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _capture(self, request: BrowserRequest) -> None:
        try:
            response = await request.response()
            if response is None:
                return
            try:
                body = await response.body()
            except Exception:  # a redirect has no body; nor has a response the page dropped
                body = b""
            sent = await request.headers_array()
            received = await response.headers_array()
        except Exception as exc:  # the page closed under it
            logger.debug("browser traffic of %s not archived: %r", request.url, exc)
            return
        exchange = Exchange(request=request_block(request.method, request.url, sent, request.post_data_buffer),
                            response_head=response_head(response.status, response.status_text, received, len(body)),
                            response_body=body, exact=False)
        self.archive.exchange(response.url, exchange, body, response.status, self.meta, remember=False)
        self.captured += 1

    async def finish(self, timeout: float) -> None:
        """Wait (at most *timeout* seconds) for the bodies still being read, before the page closes."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout)
        for task in list(self._tasks):
            task.cancel()
        self.archive.note_render(self.meta, self.captured)
