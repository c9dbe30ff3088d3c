"""The render stage's download handler: scrapy-playwright's, under the render's bounds.

scrapy-playwright does the first half of a render inside its download handler:
page, navigation (``page.goto``, waiting for ``load``), the page actions, the DOM
read.  Nothing bounds that half as a whole: ``goto`` has its navigation timeout,
but the DOM read after it waits for a busy page for ever.  So the handler's
download runs here as a task raced against the render's guard
(:class:`~darkcrawl.render.limits.RenderGuard`, made here, put in the request's
meta, and attached to the page by the page init callback before the navigation).

When the render is cut while scrapy-playwright is still at work, its task is
cancelled (it catches ``Exception`` only, so its retry on a closed target does
not start another page), the page is stopped and its DOM read as it stands: that
DOM is the response, flagged ``render_cut``, and the spider's callback takes the
screenshot and records the cut.  A page with nothing to read is closed and the
download fails with :class:`~darkcrawl.render.limits.RenderCut`.

``goto`` gets no timeout of its own when the render has a deadline: at the
deadline a page whose ``load`` never came is captured, where goto's timeout
would have lost it.
"""

from __future__ import annotations

import asyncio
import math
from typing import TYPE_CHECKING

from scrapy.core.downloader.handlers.base import BaseDownloadHandler
from scrapy.http import HtmlResponse
from scrapy.utils.misc import build_from_crawler

from darkcrawl.archive.browser import BrowserCapture
from darkcrawl.archive.crawl import Archive, archive_enabled
from darkcrawl.meta import GATE_PACER_KEY, RENDER_GUARD_KEY
from darkcrawl.render.limits import RenderCut, RenderGuard, RenderLimits

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.http import Request, Response

#: Response flag of a render whose DOM was read when it was cut.
CUT_FLAG = "render_cut"


class BoundedRenderHandler(BaseDownloadHandler):
    lazy = False

    def __init__(self, crawler: Crawler) -> None:
        super().__init__(crawler)
        from scrapy_playwright.handler import ScrapyPlaywrightDownloadHandler

        self.limits = RenderLimits.from_settings(crawler.settings)
        self._playwright = build_from_crawler(ScrapyPlaywrightDownloadHandler, crawler)
        # the archive (DARKCRAWL_WARC): each render's browser traffic, drained before its page closes
        self._archive = Archive.for_crawler(crawler) if archive_enabled(crawler.settings) else None
        self._closing: set[asyncio.Task[None]] = set()

    async def download_request(self, request: Request) -> Response:
        guard = RenderGuard(self.limits, self.crawler.stats)
        if self._archive is not None:
            guard.capture = BrowserCapture(self._archive, request.meta)
        request.meta[RENDER_GUARD_KEY] = guard
        if math.isfinite(self.limits.timeout):
            goto = dict(request.meta.get("playwright_page_goto_kwargs") or {})
            goto.setdefault("timeout", 0)  # the render's deadline bounds it
            request.meta["playwright_page_goto_kwargs"] = goto
        try:
            response = await guard.bounded(self._playwright.download_request(request))
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


def _first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
