"""Counts each download's body bytes into its request's meta, for failure reasons.

When a body is cut (a Content-Length lie, a reset, DOWNLOAD_MAXSIZE) the exception
Scrapy raises carries no byte counts, and Scrapy's HTTP/1.1 handler even cancels a
body over DOWNLOAD_MAXSIZE without a message.  This meter keeps the Content-Length
announced and the bytes received so far in ``request.meta``, where the errback
reads them (:class:`darkcrawl.failures.Transfer`): "body truncated: 1,000 of 5,000
bytes" instead of nothing.  Two integers per request, one addition per chunk.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from scrapy import signals

from darkcrawl.meta import BODY_EXPECTED_KEY, BODY_RECEIVED_KEY

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.crawler import Crawler
    from typing_extensions import Self


class TransferMeter:
    def __init__(self, crawler: Crawler) -> None:
        crawler.signals.connect(self._attempt, signal=signals.request_reached_downloader)
        crawler.signals.connect(self._headers_received, signal=signals.headers_received)
        crawler.signals.connect(self._bytes_received, signal=signals.bytes_received)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    @staticmethod
    def _attempt(request: Request, spider: Any = None) -> None:
        # every attempt starts here: a retry's copied meta must not carry the last try's count
        request.meta.pop(BODY_RECEIVED_KEY, None)
        request.meta.pop(BODY_EXPECTED_KEY, None)

    @staticmethod
    def _headers_received(headers: Any, body_length: Any, request: Request, spider: Any = None) -> None:
        meta = request.meta
        meta[BODY_RECEIVED_KEY] = 0
        # Twisted's UNKNOWN_LENGTH is not an int; httpx says -1
        meta[BODY_EXPECTED_KEY] = body_length if isinstance(body_length, int) and body_length >= 0 else None

    @staticmethod
    def _bytes_received(data: bytes, request: Request, spider: Any = None) -> None:
        meta = request.meta
        meta[BODY_RECEIVED_KEY] = meta.get(BODY_RECEIVED_KEY, 0) + len(data)
