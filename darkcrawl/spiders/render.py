"""The render stage (darc's "selenium" stage) of the darkweb spider: Chromium through
scrapy-playwright, in the browser context the routing middleware picks per network.

Every render runs under its bounds (:mod:`darkcrawl.render.limits`): one deadline,
a request budget, a navigation limit.  The download handler
(:mod:`darkcrawl.render.handler`) bounds scrapy-playwright's half of the render;
the callback here bounds the rest (``SE_WAIT``, DOM read, screenshot) with the same
guard.  A cut render yields what it captured and a ``FailureItem`` that says why.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import re
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from scrapy import Request
from scrapy.http import TextResponse

from darkcrawl.failures import failure_item, failure_reason
from darkcrawl.items import FailureItem, LinkMetadata, RenderItem
from darkcrawl.links.extract import PageFacts, page_facts, rendered_tree, truncated_depth
from darkcrawl.render.handler import CUT_FLAG
from darkcrawl.render.limits import EMPTY_RENDER, RenderCut, RenderGuard
from darkcrawl.render.screenshot import Screenshots
from darkcrawl.meta import (
    BACKREF_KEY,
    BROWSER_COOKIES_KEY,
    GATE_PACER_KEY,
    LINK_KEY,
    RENDER_GUARD_KEY,
    RENDER_KEY,
    RENDER_TRY_KEY,
    SLOT_KEY,
    VISIT_KEY,
    render_slot,
)
from darkcrawl.spiders.common import now_iso

if TYPE_CHECKING:
    from playwright.async_api import Page, Route
    from scrapy.http import Response
    from twisted.python.failure import Failure

logger = logging.getLogger(__name__)

_WHITESPACE = re.compile(r"\s+")
#: Playwright's words for a browser, context or page that died under a request
_BROWSER_GONE = re.compile(r"has been closed|Target closed|crashed|disconnected", re.IGNORECASE)
#: meta keys of one attempt only: a render request built again leaves them out
#: (a page and a guard are live objects; the frontier stores requests as JSON)
_ATTEMPT_KEYS = frozenset({"playwright_page", RENDER_GUARD_KEY, GATE_PACER_KEY})


class RenderStage:
    """Mixed into DarkwebSpider (uses its settings, stats, hooks and admission)."""

    @functools.cached_property
    def _screenshots(self) -> Screenshots:
        return Screenshots.from_settings(self.settings, self.stats)  # type: ignore[attr-defined]

    @functools.cached_property
    def _page_init(self) -> str:
        settings = self.settings  # type: ignore[attr-defined]
        if settings.get("PLAYWRIGHT_ABORT_REQUEST") or "PLAYWRIGHT_PROCESS_REQUEST_HEADERS" in settings:
            # scrapy-playwright's route stays on every request (the handler lets it do
            # the download): a pacing route would replace it
            return "darkcrawl.spiders.render.watch_page"
        return "darkcrawl.spiders.render.paced_page"

    def _render_request(self, response: Response, url: str, link: tuple[str, str, str], depth: int,
                        visit: str) -> Request:
        meta: dict[str, Any] = {
            "playwright": True,
            "playwright_include_page": True,
            "dont_obey_robotstxt": True,  # checked by the plain stage already
            LINK_KEY: link,
            BACKREF_KEY: response.meta.get(BACKREF_KEY),
            RENDER_KEY: url,
            VISIT_KEY: visit,
            "depth": depth,
            SLOT_KEY: render_slot(link[2]),
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
        meta["playwright_page_init_callback"] = self._page_init
        return Request(response.url, callback=self.parse_rendered, errback=self.on_render_error,
                       dont_filter=True, priority=-depth, meta=meta)

    async def parse_rendered(self, response: Response) -> AsyncIterator[Any]:
        meta = response.meta
        page = meta["playwright_page"]
        guard: RenderGuard | None = meta.get(RENDER_GUARD_KEY)
        kind, host, _service = meta[LINK_KEY]
        url = meta[RENDER_KEY]
        read: tuple[str | None, bytes | None, bool] | None
        try:
            if guard is None:  # not through the render handler (a test, another handler)
                read = await self._read_render(page, response, None)
            elif guard.cut_kind is None:
                read = await guard.bounded(self._read_render(page, response, guard))
            else:
                read = None
            if read is None:  # cut: the page as it stands
                read = await self._read_cut(page, response, guard)  # type: ignore[arg-type]
        finally:
            # always: open pages are what freezes a long crawl
            await (guard.close(page) if guard is not None else page.close())
        html, screenshot, full_page = read
        if guard is not None and guard.cut_kind is not None:
            captured = html is not None
            self.stats.inc_value("darkcrawl/render/cut_captured" if captured else "darkcrawl/render/cut_lost")
            yield self._render_failure(meta, guard.reason(captured), guard.error, guard, partial=captured)
            if not captured:
                return
        elif html is None:  # empty: tried again
            self.stats.inc_value("darkcrawl/render/empty_retry")
            yield response.request.replace(  # type: ignore[union-attr]
                meta=self._retry_meta(meta, meta.get(RENDER_TRY_KEY, 0) + 1))
            return
        html = html or ""
        self.stats.inc_value("darkcrawl/render/pages")
        facts = self._rendered_facts(html, response.url)
        yield RenderItem(
            link=LinkMetadata(url=url, network=kind, scheme=url.split(":", 1)[0].lower(), host=host,
                              backref=meta.get(BACKREF_KEY)),
            timestamp=now_iso(), final_url=response.url, html=html.encode("utf-8", "replace"),
            screenshot=screenshot, screenshot_full_page=full_page, visit=meta.get(VISIT_KEY),
            links=facts.links if facts else None, title=facts.title if facts else None,
            text=facts.text if facts else None,
        )
        links = facts.links if facts else []
        for output in self._admit(links, source=url, depth=meta.get("depth", 0) + 1, specials=[]):
            yield output

    def _rendered_facts(self, html: str, url: str) -> PageFacts | None:
        """Links, title and text of the rendered DOM; None when it cannot be parsed."""
        try:
            root = rendered_tree(html)
            cut = truncated_depth(root)  # a tree still cut short has its links scanned from the markup
            facts = page_facts(root, url, self.options.extra_patterns, markup=html if cut else None,
                               max_text=self.options.catalog_text)
            if cut:
                self.stats.inc_value("darkcrawl/render/truncated_tree")
            return facts
        except Exception as exc:  # lxml fails in many ways on hostile markup; it costs these links only
            logger.info("cannot parse the rendered %s: %r", url, exc)
            return None

    async def _read_render(self, page: Any, response: Response,
                           guard: RenderGuard | None) -> tuple[str | None, bytes | None, bool]:
        """The rendered DOM and its screenshot; (None, None, False) for an empty
        render that deserves another try."""
        if self.options.se_wait:
            await page.wait_for_timeout(self.options.se_wait * 1000)
            html = await page.content()
        elif isinstance(response, TextResponse):  # scrapy-playwright read the DOM after load and page actions
            html = response.text
        else:  # the navigation ended in a download: what the page shows now
            html = await page.content()
        if _WHITESPACE.sub("", html) == EMPTY_RENDER:
            if response.meta.get(RENDER_TRY_KEY, 0) < self.options.render_retries:  # darc retried an empty render too
                return None, None, False
            self.stats.inc_value("darkcrawl/render/empty")
        screenshot, full_page = await self._screenshots.take(page, guard.cdp if guard is not None else None)
        return html, screenshot, full_page

    async def _read_cut(self, page: Any, response: Response,
                        guard: RenderGuard) -> tuple[str | None, bytes | None, bool]:
        """A cut render as it stands, within the grace: its DOM (read by the handler
        when it was cut there) and a screenshot."""
        await guard.stop(page)
        if CUT_FLAG in response.flags:
            html: str | None = response.text  # type: ignore[attr-defined]
        else:
            html = await guard.read_dom(page)
            if html is None and isinstance(response, TextResponse):
                html = response.text  # the DOM after load, read before the cut
        if html is None:
            return None, None, False
        try:
            # at least a second: the DOM read may have taken the grace, a capture is quick once the page is stopped
            screenshot, full_page = await asyncio.wait_for(self._screenshots.take(page, guard.cdp),
                                                           max(1.0, guard.grace_left()))
        except asyncio.TimeoutError:
            self.stats.inc_value("darkcrawl/render/screenshot_failed")
            screenshot, full_page = None, False
        return html, screenshot, full_page

    def _render_failure(self, meta: dict[str, Any], reason: str, error: str, guard: RenderGuard | None,
                        partial: bool) -> FailureItem:
        url = meta.get(RENDER_KEY, "")
        logger.info("render of %s bounded: %s", url, reason)
        return FailureItem(url=url, timestamp=now_iso(), network=meta[LINK_KEY][0], stage="render", reason=reason,
                           error=error, redirects=list(guard.navigated[1:]) if guard is not None else [],
                           partial=partial)

    @staticmethod
    def _retry_meta(meta: dict[str, Any], tries: int) -> dict[str, Any]:
        retry = {k: v for k, v in meta.items() if k not in _ATTEMPT_KEYS}
        retry[RENDER_TRY_KEY] = tries
        return retry

    async def on_render_error(self, failure: Failure) -> list[Any]:
        request: Request = failure.request  # type: ignore[attr-defined]
        guard: RenderGuard | None = request.meta.get(RENDER_GUARD_KEY)
        page = request.meta.get("playwright_page") or (guard.page if guard is not None else None)
        if page is not None:
            try:
                await (guard.close(page) if guard is not None else page.close())
            except Exception:  # the browser may be gone already
                pass
        if failure.check(RenderCut):  # a bound cut it, and nothing could be kept
            self.stats.inc_value("darkcrawl/render/cut_lost")
            return [self._render_failure(request.meta, failure.value.reason, failure.value.error, guard,
                                         partial=False)]
        self.stats.inc_value(f"darkcrawl/render/error/{failure.type.__name__}")
        reason, error = failure_reason(failure)
        logger.info("fetch failed %s: %s (render)", request.url, reason)
        tries = request.meta.get(RENDER_TRY_KEY, 0)
        if _BROWSER_GONE.search(failure.getErrorMessage()) and tries < self.options.render_retries:
            # scrapy-playwright restarts a crashed browser; this page deserves another go
            self.stats.inc_value("darkcrawl/render/crash_retry")
            return [request.replace(meta=self._retry_meta(request.meta, tries + 1))]
        return [failure_item(request, "render", reason, error)]


async def watch_page(page: Page, request: Request) -> None:
    """The render requests' ``playwright_page_init_callback`` when scrapy-playwright's
    route stays (see :attr:`RenderStage._page_init`): the render's bounds watch the page
    from before its navigation, and the browser context has the host's cookies (see
    :func:`host_cookies`)."""
    guard = request.meta.get(RENDER_GUARD_KEY)
    if guard is not None:
        await guard.attach(page)
    await host_cookies(page, request)


async def host_cookies(page: Page, request: Request) -> None:
    """The cookies of the page's host in Scrapy's jar, in the page's browser context.

    Chromium does not share Scrapy's cookie jar, and a Cookie header set on the
    navigation is ignored: without this a page behind a DDoS queue would be rendered
    without the queue's cookie (the browser would stand in the queue again, and on
    EndGame come back too early and be banned), and a session imported for a host
    would open its pages to the plain stage only."""
    cookies = request.meta.get(BROWSER_COOKIES_KEY)
    if cookies:
        try:
            await page.context.add_cookies(cookies)
        except Exception as exc:  # a cookie the browser refuses costs its render the cookie only
            logger.info("the browser refused the cookies of %s: %r", request.url, exc)


async def pace_page(page: Page, request: Request) -> bool:
    """For a gated host (the gate middleware gave a pacer): every request the page makes
    to the host waits its turn, at the pace of the host's plain-stage requests.  True
    when the page keeps this route (and so, Playwright's price for a route, no cache)."""
    pacer = request.meta.get(GATE_PACER_KEY)
    if pacer is None:
        return False
    host = urlsplit(request.url).hostname

    async def paced(route: Route) -> None:
        if urlsplit(route.request.url).hostname == host:
            await pacer()
        with contextlib.suppress(Exception):  # the page may be gone meanwhile
            await route.continue_()

    await page.route("**", paced)
    return True


async def paced_page(page: Page, request: Request) -> None:
    """The render requests' ``playwright_page_init_callback`` when the render navigates
    by itself (darkcrawl.render.navigate: no route, Chromium's cache on): as
    :func:`watch_page`, and a gated host's requests paced (:func:`pace_page`)."""
    await watch_page(page, request)
    await pace_page(page, request)
