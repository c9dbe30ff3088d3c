"""The render stage (darc's "selenium" stage) of the darkweb spider: Chromium through
scrapy-playwright, in the browser context the routing middleware picks per network."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import lxml.html
from scrapy import Request

from darkcrawl.items import LinkMetadata, RenderItem
from darkcrawl.links.extract import extract_links
from darkcrawl.spiders.common import BACKREF_KEY, LINK_KEY, RENDER_KEY, now_iso

if TYPE_CHECKING:
    from scrapy.http import Response
    from twisted.python.failure import Failure

logger = logging.getLogger(__name__)

#: darc's SE_EMPTY: what Chromium shows for a page that did not load
EMPTY_RENDER = "<html><head></head><body></body></html>"
_WHITESPACE = re.compile(r"\s+")
#: Playwright's words for a browser, context or page that died under a request
_BROWSER_GONE = re.compile(r"has been closed|Target closed|crashed|disconnected", re.IGNORECASE)


class RenderStage:
    """Mixed into DarkwebSpider (uses its settings, stats, hooks and admission)."""


    def _render_request(self, response: Response, url: str, link: tuple[str, str, str], depth: int) -> Request:
        meta: dict[str, Any] = {
            "playwright": True,
            "playwright_include_page": True,
            "dont_obey_robotstxt": True,  # checked by the plain stage already
            LINK_KEY: link,
            BACKREF_KEY: response.meta.get(BACKREF_KEY),
            RENDER_KEY: url,
            "depth": depth,
            "download_slot": f"render@{link[2]}",
        }
        hook = self.hooks.for_host(link[1])
        if hook is not None:
            try:
                actions = hook.page_actions(response.request)  # type: ignore[arg-type]
            except Exception:
                self._hook_failed(hook, response.url)
                actions = []
            if actions:
                meta["playwright_page_methods"] = actions
        return Request(response.url, callback=self.parse_rendered, errback=self.on_render_error,
                       dont_filter=True, priority=-depth, meta=meta)

    async def parse_rendered(self, response: Response) -> AsyncIterator[Any]:
        meta = response.meta
        page = meta["playwright_page"]
        kind, host, _service = meta[LINK_KEY]
        url = meta[RENDER_KEY]
        try:
            if self.se_wait:
                await page.wait_for_timeout(self.se_wait * 1000)
            html = await page.content()
            if _WHITESPACE.sub("", html) == EMPTY_RENDER:
                tries = meta.get("darkcrawl_render_try", 0)
                if tries < self.render_retries:  # darc retried an empty render too
                    self.stats.inc_value("darkcrawl/render/empty_retry")
                    retry_meta = {k: v for k, v in meta.items() if k != "playwright_page"}
                    retry_meta["darkcrawl_render_try"] = tries + 1
                    yield response.request.replace(meta=retry_meta)  # type: ignore[union-attr]
                    return
                self.stats.inc_value("darkcrawl/render/empty")
            screenshot, full_page = await self._screenshot(page)
        finally:
            await page.close()  # always: open pages are what freezes a long crawl
        self.stats.inc_value("darkcrawl/render/pages")
        yield RenderItem(
            link=LinkMetadata(url=url, network=kind, scheme=url.split(":", 1)[0].lower(), host=host,
                              backref=meta.get(BACKREF_KEY)),
            timestamp=now_iso(), final_url=response.url, html=html.encode("utf-8", "replace"),
            screenshot=screenshot, screenshot_full_page=full_page,
        )
        try:
            links = extract_links(lxml.html.document_fromstring(html or "<html></html>"), response.url,
                                  self.extra_patterns)
        except Exception as exc:  # lxml fails in many ways on hostile markup; it costs these links only
            logger.info("cannot parse the rendered %s: %r", response.url, exc)
            links = []
        for output in self._admit(links, source=url, depth=meta.get("depth", 0) + 1, specials=[]):
            yield output

    async def _screenshot(self, page: Any) -> tuple[bytes | None, bool]:
        """A full-page PNG, cut at the height cap; the viewport when that fails."""
        timeout = self.screenshot_timeout_ms
        try:
            height = await page.evaluate(
                "() => Math.max(document.documentElement.scrollHeight, document.body ? document.body.scrollHeight : 0)")
            if height <= self.screenshot_max_height:
                return await page.screenshot(full_page=True, type="png", timeout=timeout), True
            width = (page.viewport_size or {"width": 1024})["width"]
            self.stats.inc_value("darkcrawl/render/screenshot_capped")
            clip = {"x": 0, "y": 0, "width": width, "height": self.screenshot_max_height}
            return await page.screenshot(full_page=True, clip=clip, type="png", timeout=timeout), True
        except Exception as exc:
            logger.info("full-page screenshot failed for %s: %r; taking the viewport", page.url, exc)
            self.stats.inc_value("darkcrawl/render/screenshot_fallback")
        try:
            return await page.screenshot(type="png", timeout=timeout), False
        except Exception as exc:
            logger.warning("no screenshot of %s: %r", page.url, exc)
            self.stats.inc_value("darkcrawl/render/screenshot_failed")
            return None, False

    async def on_render_error(self, failure: Failure) -> list[Request]:
        request: Request = failure.request  # type: ignore[attr-defined]
        page = request.meta.get("playwright_page")
        if page is not None:
            try:
                await page.close()
            except Exception:  # the browser may be gone already
                pass
        self.stats.inc_value(f"darkcrawl/render/error/{failure.type.__name__}")
        logger.info("render failed %s: %s", request.url, failure.getErrorMessage())
        tries = request.meta.get("darkcrawl_render_try", 0)
        if _BROWSER_GONE.search(failure.getErrorMessage()) and tries < self.render_retries:
            # scrapy-playwright restarts a crashed browser; this page deserves another go
            self.stats.inc_value("darkcrawl/render/crash_retry")
            meta = {k: v for k, v in request.meta.items() if k != "playwright_page"}
            meta["darkcrawl_render_try"] = tries + 1
            return [request.replace(meta=meta)]
        return []
