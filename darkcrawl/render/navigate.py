"""The first half of a render, without scrapy-playwright's route: page, navigation,
page actions, DOM read.

scrapy-playwright does this half in its download handler, and it routes every page
(``page.route("**")``) to put Scrapy's headers on the requests.  A route costs
twice, even one taken away again before the navigation (as darkcrawl did):

* Playwright turns the page's cache off while a route is in (``Network.setCacheDisabled``),
  and turning it off empties the renderer's memory cache (Playwright's own
  ``clearCache`` relies on this).  The pages of a site share a renderer, so every
  new page made the renderer load, parse and decode the site's stylesheets, web
  fonts and images again, for itself and for the pages open beside it;
* round trips: the route, the unroute, and scrapy-playwright's listener of every
  response during the navigation, which asks the browser for the response's
  headers; then the document's headers, security details and server address.

Measured on ``bench.render`` (the floor's page load and capture, plus
scrapy-playwright's sequence around it): ~10% more CPU per page in all, Chromium's
processes most of it.  What scrapy-playwright gave here and darkcrawl does not use
is left out: Scrapy's headers on the document (taken away with the route before the
navigation anyway: the browser sends the crawl's user agent itself), the redirect
chain in meta (the render guard records the navigations), the document's headers
(the render's response is its DOM), a downloaded file's bytes (a navigation that
ends in a download is read as the page shows it, as before).  The route stays, and
scrapy-playwright does the whole download, when ``PLAYWRIGHT_ABORT_REQUEST`` or
``PLAYWRIGHT_PROCESS_REQUEST_HEADERS`` is set: they need it.

scrapy-playwright still owns the browser: its launch and relaunch, the contexts
(one per network and proxy) and their page slots, through its ``_create_page``
(no public method gives a page alone; the version is pinned in requirements.txt,
and every render test goes through it).
"""

from __future__ import annotations

import functools
import inspect
import logging
import re
from typing import TYPE_CHECKING, Any

from scrapy.http import HtmlResponse
from scrapy.utils.misc import load_object

if TYPE_CHECKING:
    from playwright.async_api import Page
    from scrapy.http import Request
    from scrapy_playwright.handler import ScrapyPlaywrightDownloadHandler

logger = logging.getLogger(__name__)

#: Playwright's words for a navigation that gave no document: a download, or one
#: the page (or Chromium) aborted.  The page is read as it stands.
_NO_DOCUMENT = re.compile(r"Download is starting|net::ERR_ABORTED")
#: Playwright's words for a DOM read that met a navigation
_NAVIGATING = "page is navigating and changing the content"
#: scrapy-playwright's default: tries of a page whose browser or context went away meanwhile
_PAGE_TRIES = 4


async def render_page(playwright: ScrapyPlaywrightDownloadHandler, request: Request, spider: Any,
                      navigation_timeout_ms: float | None) -> HtmlResponse:
    """Open a page for *request* in its context, navigate, run its page actions, read
    its DOM.  The page is left open in ``request.meta["playwright_page"]``: the
    spider's callback takes the screenshot and closes it (its errback on a failure)."""
    page = await _new_page(playwright, request, spider)
    request.meta["playwright_page"] = page
    await _init_page(page, request)
    try:
        navigated = await page.goto(request.url, **(request.meta.get("playwright_page_goto_kwargs") or {}))
    except Exception as exc:
        if not _NO_DOCUMENT.search(str(exc)):
            raise
        navigated = None
    await _page_actions(page, request, navigation_timeout_ms)
    html = await _read_dom(page)
    return HtmlResponse(url=page.url, status=navigated.status if navigated is not None else 200,
                        body=html.encode("utf-8", "replace"), encoding="utf-8", request=request,
                        flags=["playwright"])


async def _new_page(playwright: ScrapyPlaywrightDownloadHandler, request: Request, spider: Any) -> Page:
    from playwright._impl._errors import TargetClosedError  # as scrapy-playwright imports it

    for attempt in range(_PAGE_TRIES):
        try:
            return await playwright._create_page(request=request, spider=spider)  # noqa: SLF001 (see above)
        except TargetClosedError:
            if attempt == _PAGE_TRIES - 1:  # the browser is relaunched on the next try
                raise
    raise AssertionError("unreachable")


async def _init_page(page: Page, request: Request) -> None:
    """The request's ``playwright_page_init_callback`` (the render's guard), as
    scrapy-playwright runs it: before the navigation, a failure logged."""
    callback = request.meta.get("playwright_page_init_callback")
    if not callback:
        return
    try:
        await load_object(callback)(page, request)
    except Exception:
        logger.warning("page init callback failed for %s", request.url, exc_info=True)


async def _page_actions(page: Page, request: Request, timeout_ms: float | None) -> None:
    """A site hook's ``playwright_page_methods``, as scrapy-playwright runs them: in
    order, each result kept on its PageMethod, the load state awaited after each."""
    actions = request.meta.get("playwright_page_methods") or ()
    for action in actions.values() if isinstance(actions, dict) else actions:
        try:
            method = (functools.partial(action.method, page) if callable(action.method)
                      else getattr(page, action.method))
        except AttributeError:
            logger.warning("ignoring %r: the page has no such method", action)
            continue
        result = method(*action.args, **action.kwargs)
        action.result = await result if inspect.isawaitable(result) else result
        await page.wait_for_load_state(timeout=timeout_ms)


async def _read_dom(page: Page) -> str:
    try:
        return await page.content()
    except Exception as exc:
        if _NAVIGATING not in str(exc):
            raise
        await page.wait_for_load_state()  # as scrapy-playwright does: read it once the next document is there
        return await page.content()
