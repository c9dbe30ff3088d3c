"""The render stage's download handler: the first half of a render, under the render's bounds.

The first half of a render happens in the download handler: page, navigation
(``page.goto``, waiting for ``load``), the page actions, the DOM read
(:mod:`darkcrawl.render.navigate`, on scrapy-playwright's browser and contexts;
scrapy-playwright's own download when a setting needs its route).  Nothing bounds
that half as a whole: ``goto`` has its navigation timeout, but the DOM read after
it waits for a busy page for ever.  So the download runs here as a task raced
against the render's guard
(:class:`~darkcrawl.render.limits.RenderGuard`, made here, put in the request's
meta, and attached to the page by the page init callback before the navigation).

When the render is cut while the download is still at work, its task is
cancelled (scrapy-playwright's catches ``Exception`` only, so its retry on a closed
target does not start another page), the page is stopped and its DOM read as it stands: that
DOM is the response, flagged ``render_cut``, and the spider's callback takes the
screenshot and records the cut.  A page with nothing to read is closed and the
download fails with :class:`~darkcrawl.render.limits.RenderCut`.

``goto`` gets no timeout of its own when the render has a deadline: at the
deadline a page whose ``load`` never came is captured, where goto's timeout
would have lost it.
"""

from __future__ import annotations

import asyncio
import logging
import math
from typing import TYPE_CHECKING

from scrapy.core.downloader.handlers.base import BaseDownloadHandler
from scrapy.http import HtmlResponse
from scrapy.utils.misc import build_from_crawler

from darkcrawl.archive.browser import BrowserCapture
from darkcrawl.archive.crawl import Archive, archive_enabled
from darkcrawl.meta import GATE_PACER_KEY, RENDER_GUARD_KEY
from darkcrawl.render.limits import RenderCut, RenderGuard, RenderLimits
from darkcrawl.render.navigate import render_page

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.http import Request, Response

logger = logging.getLogger(__name__)

#: Response flag of a render whose DOM was read when it was cut.
CUT_FLAG = "render_cut"


class BoundedRenderHandler(BaseDownloadHandler):
    lazy = False

    def __init__(self, crawler: Crawler) -> None:
        super().__init__(crawler)
        from scrapy_playwright.handler import ScrapyPlaywrightDownloadHandler

        settings = crawler.settings
        self.limits = RenderLimits.from_settings(settings)
        self._playwright = build_from_crawler(ScrapyPlaywrightDownloadHandler, crawler)
        # the archive (DARKCRAWL_WARC): each render's browser traffic, drained before its page closes
        self._archive = Archive.for_crawler(crawler) if archive_enabled(settings) else None
        self._closing: set[asyncio.Task[None]] = set()
        # scrapy-playwright's per-request stats and debug lines cost Python a call per
        # request and response (and a browser round trip per line): kept at DEBUG only
        self._quiet = _level(settings.get("LOG_LEVEL")) > logging.DEBUG
        # the navigation without scrapy-playwright's route (darkcrawl.render.navigate),
        # unless a setting needs the route: then scrapy-playwright does the whole download
        self._routed = bool(settings.get("PLAYWRIGHT_ABORT_REQUEST")) or "PLAYWRIGHT_PROCESS_REQUEST_HEADERS" in settings
        timeout = settings.get("PLAYWRIGHT_DEFAULT_NAVIGATION_TIMEOUT")
        self._navigation_timeout = None if timeout is None else float(timeout)
        launch = settings.getdict("PLAYWRIGHT_LAUNCH_OPTIONS")
        logger.info("render stage: %s", launch.get("executable_path") or "Playwright's own Chromium")

    async def download_request(self, request: Request) -> Response:
        guard = RenderGuard(self.limits, self.crawler.stats)
        guard.quiet = self._quiet
        if self._archive is not None:
            guard.capture = BrowserCapture(self._archive, request.meta)
        request.meta[RENDER_GUARD_KEY] = guard
        if math.isfinite(self.limits.timeout):
            goto = dict(request.meta.get("playwright_page_goto_kwargs") or {})
            goto.setdefault("timeout", 0)  # the render's deadline bounds it
            request.meta["playwright_page_goto_kwargs"] = goto
        if self._routed:
            work = self._playwright.download_request(request)
        else:
            work = render_page(self._playwright, request, self.crawler.spider, self._navigation_timeout)
        try:
            response = await guard.bounded(work)
        except asyncio.CancelledError:  # the crawl is closing: the page must not stay open
            # and the request may be put back in the frontier: no live object in its meta
            request.meta.pop(RENDER_GUARD_KEY, None)
            request.meta.pop(GATE_PACER_KEY, None)
            self._close_later(guard)
            raise
        except Exception as exc:
            if guard.cut_kind is None:  # else it failed as it was cut: the cut says why
                if not self._unsettled(guard, exc):
                    raise
                guard.cut("unsettled", _first_line(exc))
            response = None
        if response is not None:
            return response  # done (or cut just as it was done: the callback captures)
        page = guard.page
        html = None
        if page is not None:
            await guard.stop(page)
            html = await guard.read_dom(page)
        if html is None:
            await guard.close(page)
            raise RenderCut(guard.reason(captured=False), guard.error)
        return HtmlResponse(url=page.url, body=html.encode("utf-8"), encoding="utf-8",  # type: ignore[union-attr]
                            request=request, flags=["playwright", CUT_FLAG])

    @staticmethod
    def _unsettled(guard: RenderGuard, exc: Exception) -> bool:
        """A failure of a page that kept navigating (a DOM read between two
        documents, a navigation interrupted by the next): capture it as it stands."""
        from playwright._impl._errors import TargetClosedError  # as scrapy-playwright imports it
        from playwright.async_api import Error as PlaywrightError

        return (isinstance(exc, PlaywrightError) and not isinstance(exc, TargetClosedError)
                and guard.navigations > 1 and guard.page is not None and not guard.page.is_closed())

    def _close_later(self, guard: RenderGuard) -> None:
        task = asyncio.ensure_future(guard.close(guard.page))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def close(self) -> None:
        if self._closing:
            await asyncio.wait(set(self._closing), timeout=2 * self.limits.grace)
        await self._playwright.close()


def _level(value: object) -> int:
    """A LOG_LEVEL setting ("INFO", 20) as a number (DEBUG when unknown)."""
    if isinstance(value, int):
        return value
    level = logging.getLevelName(str(value).upper())
    return level if isinstance(level, int) else logging.DEBUG


def _first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
