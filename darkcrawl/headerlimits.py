"""A bound on the response headers of the direct (Twisted) HTTP/1.1 transport.

``DOWNLOAD_MAXSIZE`` counts the body only.  Twisted's response parser limits one
header line to 16 KiB (``LineReceiver.MAX_LENGTH``) but neither the number of
header lines nor continuation lines, so a server streaming headers for ever grows
the crawler's memory until ``DOWNLOAD_TIMEOUT``; and a line over 16 KiB fails the
fetch with "Connection was closed cleanly", saying nothing of why.  Browsers stop
at 256 KiB of headers (Chromium: ``ERR_RESPONSE_HEADERS_TOO_BIG``); so does this
parser, at ``DARKCRAWL_MAX_RESPONSE_HEADERS_SIZE`` bytes, failing the fetch with
:class:`ResponseHeadersTooLarge`, which names the bound.  (The SOCKS transport,
httpx over h11, already refuses a header block over 16 KiB.)

Scrapy's HTTP/1.1 protocol turns each parser Twisted makes into its
``_LenientHTTPClientParser`` (by ``__class__``, named at call time in
``scrapy.core.downloader.handlers.http11``; Scrapy is pinned); :func:`install`
points that name at :class:`BoundedHTTPClientParser`, a subclass with no state but
two counters, once per process: the bound without a copy of Twisted's client.
"""

from __future__ import annotations

from scrapy.core.downloader.handlers import http11
from twisted.python.failure import Failure
from twisted.web import _newclient

#: Chromium's limit on a response's headers (net/http/http_stream_parser.cc)
DEFAULT_MAX_HEADERS_SIZE = 256 * 1024


class ResponseHeadersTooLarge(Exception):
    """The response's headers broke a bound; the message says which."""


class BoundedHTTPClientParser(http11._LenientHTTPClientParser):
    #: most bytes of status line + header lines (0: no bound); set by install()
    max_headers_size = DEFAULT_MAX_HEADERS_SIZE
    # set on the instance once counting starts (the class is swapped in after
    # connectionMade, so there is no __init__ of ours to run)
    _header_bytes = 0
    _too_large: str | None = None

    def lineReceived(self, line: bytes) -> None:
        if self._too_large:
            return  # the connection is going: the rest is not read
        if self.state in (_newclient.STATUS, _newclient.HEADER):
            self._header_bytes += len(line) + 1
            if self.max_headers_size and self._header_bytes > self.max_headers_size:
                self._give_up(f"response headers over {self.max_headers_size:,} bytes "
                              "(DARKCRAWL_MAX_RESPONSE_HEADERS_SIZE)")
                return
        super().lineReceived(line)

    def lineLengthExceeded(self, line: bytes) -> None:
        self._give_up(f"a response header line over {self.MAX_LENGTH:,} bytes")

    def _give_up(self, why: str) -> None:
        self._too_large = why
        self.transport.loseConnection()

    def connectionLost(self, reason: Failure | None = None) -> None:
        if self._too_large:
            reason = Failure(ResponseHeadersTooLarge(self._too_large))
        super().connectionLost(reason)


def install(max_headers_size: int) -> None:
    """Make the direct transport's HTTP/1.1 client use the bounded parser (idempotent)."""
    BoundedHTTPClientParser.max_headers_size = max_headers_size
    http11._LenientHTTPClientParser = BoundedHTTPClientParser  # type: ignore[misc]
