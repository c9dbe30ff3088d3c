"""The http/https download handler: one entry point, the right transport per request.

Scrapy's default HTTP/1.1 handler (Twisted) has no SOCKS support: given a
``socks5h://`` proxy it fails with "Unsupported scheme", and a SOCKS port set as an
HTTP proxy receives plain HTTP.  Scrapy's httpx handler speaks SOCKS5 and sends the
host *name* to the proxy (ATYP=DOMAINNAME), so Tor resolves ``.onion`` names and
the local resolver never sees them.  It is marked experimental and is slower on the
clear web, so it is used only for requests routed through a SOCKS proxy; everything
else stays on the default handler.  Render-stage requests (``meta["playwright"]``)
go to scrapy-playwright's handler, built up front when the render stage is on: it
launches the browser when the engine starts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from scrapy.core.downloader.handlers.base import BaseDownloadHandler
from scrapy.core.downloader.handlers.http11 import HTTP11DownloadHandler
from scrapy.exceptions import NotConfigured
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
        self._browser: BaseDownloadHandler | None = None
        # only for a spider with a render stage: `scrapy shell` and other spiders
        # never ask for the browser (and scrapy-playwright hangs the shell's start)
        if crawler.settings.getbool("DARKCRAWL_RENDER") and getattr(crawler.spidercls, "renders", False):
            from darkcrawl.render.handler import BoundedRenderHandler  # scrapy-playwright's, bounded

            self._browser = build_from_crawler(BoundedRenderHandler, crawler)

    def _socks_handler(self) -> BaseDownloadHandler:
        if self._socks is None:
            from scrapy.core.downloader.handlers._httpx import HttpxDownloadHandler

            self._socks = build_from_crawler(HttpxDownloadHandler, self.crawler)
        return self._socks

    async def download_request(self, request: Request) -> Response:
        if request.meta.get("playwright"):
            if self._browser is None:
                raise NotConfigured("the render stage is off (DARKCRAWL_RENDER=0)")
            return await self._browser.download_request(request)
        proxy = request.meta.get("proxy")
        if proxy and proxy.startswith(("socks5://", "socks5h://", "socks4://", "socks4a://")):
            self.crawler.stats.inc_value("darkcrawl/transport/socks")
            return await self._socks_handler().download_request(request)
        return await self._direct.download_request(request)

    async def close(self) -> None:
        await self._direct.close()
        for handler in (self._socks, self._browser):
            if handler is not None:
                await handler.close()
