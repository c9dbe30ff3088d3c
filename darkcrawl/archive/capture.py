"""The archive's downloader middleware: every plain-stage exchange into the WARC files.

It sits next to the download handler (order 950 in ``DOWNLOADER_MIDDLEWARES``), so
it sees each response before any other middleware: before HttpCompressionMiddleware
decodes the body (590), before a redirect is followed (600) or a 5xx retried (550).
Every exchange is archived -- pages, redirect hops, retried errors, robots.txt,
sitemaps, address books -- with the bytes the handler kept
(:mod:`darkcrawl.archive.wire`).  A redirect hop gets its metadata record here (no
item comes for it); a page's comes from the pipeline once the spider has read it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from darkcrawl.archive.crawl import ArchiveComponent, capture_fields
from darkcrawl.meta import WIRE_KEY

if TYPE_CHECKING:
    from scrapy.http import Request, Response

#: response flags of a body that is not all there
_CUT_FLAGS = frozenset({"download_stopped", "dataloss"})


class ArchiveCaptureMiddleware(ArchiveComponent):
    def process_response(self, request: Request, response: Response, spider: object = None) -> Response:
        exchange = request.meta.pop(WIRE_KEY, None)
        if exchange is None:  # the render stage's (archived by the browser capture), a cached one
            return response
        extra: list[tuple[str, str]] = []
        if _CUT_FLAGS.intersection(response.flags):
            extra.append(("WARC-Truncated", "length"))
        if response.ip_address is not None and not request.meta.get("proxy"):
            extra.append(("WARC-IP-Address", str(response.ip_address)))
        hop = None
        if 300 <= response.status < 400 and b"Location" in response.headers:
            hop = capture_fields(request.meta, stage="plain")
            hop.append(("redirect-to", response.headers[b"Location"].decode("latin-1")))
        self.archive.exchange(response.url, exchange, response.body, response.status, request.meta, extra, hop)
        self.stats.inc_value("darkcrawl/archive/exchanges" if exchange.exact else "darkcrawl/archive/exchanges_rebuilt")
        return response
