"""The http/https download handler: one entry point, the right transport per request.

Scrapy's default HTTP/1.1 handler (Twisted) has no SOCKS support: given a
``socks5h://`` proxy it fails with "Unsupported scheme", and a SOCKS port set as an
HTTP proxy receives plain HTTP.  Scrapy's httpx handler speaks SOCKS5 and sends the
host *name* to the proxy (ATYP=DOMAINNAME), so Tor resolves ``.onion`` names and
the local resolver never sees them.  It is marked experimental and is slower on the
clear web, so it is used only for requests routed through a SOCKS proxy; everything
else stays on the default handler.  (The browser stage adds its own dispatch.)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from scrapy.core.downloader.handlers.base import BaseDownloadHandler
from scrapy.core.downloader.handlers.http11 import HTTP11DownloadHandler
from scrapy.utils.misc import build_from_crawler

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.http import Request, Response


class NetworkDownloadHandler(BaseDownloadHandler):
    lazy = False

    def __init__(self, crawler: Crawler) -> None:
        super().__init__(crawler)
        self._direct = build_from_crawler(HTTP11DownloadHandler, crawler)
        self._socks: BaseDownloadHandler | None = None

    def _socks_handler(self) -> BaseDownloadHandler:
        if self._socks is None:
            from scrapy.core.downloader.handlers._httpx import HttpxDownloadHandler

            self._socks = build_from_crawler(HttpxDownloadHandler, self.crawler)
        return self._socks

    async def download_request(self, request: Request) -> Response:
        proxy = request.meta.get("proxy")
        if proxy and proxy.startswith(("socks5://", "socks5h://", "socks4://", "socks4a://")):
            self.crawler.stats.inc_value("darkcrawl/transport/socks")
            return await self._socks_handler().download_request(request)
        return await self._direct.download_request(request)

    async def close(self) -> None:
        await self._direct.close()
        if self._socks is not None:
            await self._socks.close()
