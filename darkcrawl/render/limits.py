"""The bounds of one render: a deadline, a request budget, a navigation limit.

A hostile page can hold a Chromium render for ever and make the browser hammer
its site: JavaScript that loops after ``load`` (no DOM read or screenshot ever
answers), a ``window.location`` or meta-refresh loop (each hop a new request, and
``page.close()`` itself hangs on a page that keeps navigating: seen here on 13 of
30 closes), a page that fires ``fetch()`` or images without end.  Scrapy's
``DOWNLOAD_TIMEOUT`` and ``DOWNLOAD_DELAY`` do not reach inside the browser.

One :class:`RenderGuard` per render (``request.meta[darkcrawl.meta.RENDER_GUARD_KEY]``) watches its page
from the moment the page exists (scrapy-playwright's page init callback, before
the navigation) to its close:

* **deadline** (``DARKCRAWL_RENDER_TIMEOUT``): one clock for navigation, load, page
  actions, ``SE_WAIT``, the DOM read and the screenshot;
* **navigation limit** (``DARKCRAWL_RENDER_MAX_NAVIGATIONS``): main-frame
  navigations after the first (meta refresh, ``window.location``, script
  redirects; HTTP redirects are the browser's own, capped at 20);
* **request budget** (``DARKCRAWL_RENDER_REQUEST_BUDGET``): the request past it
  halts the page at once (scripts off, its queued loads cancelled: no further
  request leaves), and the render is cut.

Counting costs one Python call per request (Playwright sends every request event
to Python anyway): the page keeps the fast path of darkcrawl's renders, no route
and Chromium's cache on.  An abort route at the budget was tried first: a page
that fires requests without end then queues them behind Python (each one paused
until Python answers), and the answers to every other call (DOM read, close)
queue behind those: the site still got hundreds of requests and the page could
not be closed.  Halting it through CDP costs Python nothing per request.

A render that is cut is *stopped* and then captured as it stands, within
``DARKCRAWL_RENDER_GRACE``: its scripts are switched off (a script that holds the
renderer's main thread is terminated through CDP ``Runtime.terminateExecution``:
the renderer lives on, and so do the other pages in it), every further request
and navigation is aborted, then the DOM and a screenshot are taken.  The page is
closed the same way, stopped first when it has navigated, and closed at the
browser (CDP ``Target.closeTarget``) when ``page.close()`` does not return.  CDP
``Page.crash`` is not used: against Debian's Chromium it took the whole context
down with the page.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import re
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from darkcrawl.config import ConfigError, get_option

if TYPE_CHECKING:
    from playwright.async_api import CDPSession, Page, Request as BrowserRequest, Route
    from scrapy.settings import BaseSettings
    from scrapy.statscollectors import StatsCollector

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: darc's SE_EMPTY: what Chromium shows for a page that did not load
EMPTY_RENDER = "<html><head></head><body></body></html>"
#: How long a DOM probe may go unanswered before the page's script is taken to
#: hold the renderer (and is terminated).
BUSY_PROBE_SECONDS = 0.5
#: Main-frame navigation URLs kept for the failure record.
RECORDED_NAVIGATIONS = 20

_WHITESPACE = re.compile(r"\s+")
#: Playwright's words for a DOM read that met a navigation (or the termination of
#: a flood's script, which can take the next script run with it): read again.
_NAVIGATED = re.compile(r"context was destroyed|navigat|frame was detached|terminated", re.IGNORECASE)

#: cut kind -> (FailureItem.error, stats key under darkcrawl/render/)
CUT_KINDS: dict[str, tuple[str, str]] = {
    "deadline": ("RenderDeadline", "deadline"),
    "navigations": ("RenderNavigationLoop", "navigation_loop"),
    "requests": ("RenderRequestBudget", "request_budget"),
    "unsettled": ("RenderUnsettled", "unsettled"),
}


class RenderCut(Exception):
    """A render cut by one of its bounds, with nothing that could be kept."""

    def __init__(self, reason: str, error: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.error = error


@dataclass(frozen=True, slots=True)
class RenderLimits:
    timeout: float  # seconds; inf: no deadline
    request_budget: int  # 0: no budget
    max_navigations: int  # after the first; 0: no limit
    grace: float  # seconds to capture a cut page, and again to close one

    @classmethod
    def from_settings(cls, settings: BaseSettings) -> RenderLimits:
        limits = cls(
            timeout=get_option(settings, "DARKCRAWL_RENDER_TIMEOUT"),
            request_budget=get_option(settings, "DARKCRAWL_RENDER_REQUEST_BUDGET"),
            max_navigations=get_option(settings, "DARKCRAWL_RENDER_MAX_NAVIGATIONS"),
            grace=get_option(settings, "DARKCRAWL_RENDER_GRACE"),
        )
        for name, value in (("DARKCRAWL_RENDER_REQUEST_BUDGET", limits.request_budget),
                            ("DARKCRAWL_RENDER_MAX_NAVIGATIONS", limits.max_navigations)):
            if value < 0:
                raise ConfigError(f"{name}: expected 0 (no limit) or a positive number, got {value}")
        if limits.timeout <= 0 or not math.isfinite(limits.grace) or limits.grace <= 0:
            raise ConfigError("DARKCRAWL_RENDER_TIMEOUT and DARKCRAWL_RENDER_GRACE: expected positive seconds")
        return limits


def seconds(value: float) -> str:
    """5 -> "5 s", 2.5 -> "2.5 s": the way a reason names a bound."""
    return f"{value:g} s"


def cut_reason(kind: str, limits: RenderLimits, *, captured: bool, navigations: int = 0,
               requests: int = 0, script_stopped: bool = False, error: str = "") -> str:
    """The human sentence of a cut render (FailureItem.reason, the log line)."""
    if kind == "deadline":
        what = f"render deadline of {seconds(limits.timeout)} reached"
    elif kind == "navigations":
        what = (f"navigation loop: {navigations} main-frame navigations "
                f"(limit {limits.max_navigations} after the first)")
    elif kind == "requests":
        what = f"request budget of {limits.request_budget} reached: the page and its loads were stopped"
    else:  # unsettled
        what = f"the page kept navigating ({navigations} main-frame navigations) and the render failed"
        if error:
            what += f" ({error})"
    if script_stopped and kind != "requests":  # a halted page's script is stopped anyway
        what += "; its script held the renderer and was stopped"
    return what + (": captured as it stood" if captured else ": nothing could be captured")


def is_empty_render(html: str | None, url: str) -> bool:
    """Whether a DOM read shows nothing of a page (no document arrived)."""
    return not html or url in ("", "about:blank") or _WHITESPACE.sub("", html) == EMPTY_RENDER


class RenderGuard:
    """The bounds of one render, from its page's creation to its close."""

    def __init__(self, limits: RenderLimits, stats: StatsCollector) -> None:
        self.limits = limits
        self.stats = stats
        self.page: Page | None = None
        self.cdp: CDPSession | None = None  # the page's own session: also used for its screenshot
        self.requests = 0
        self.navigations = 0
        self.navigated: list[str] = []
        self.blocking = False  # the abort route of a stopped page is in (or on its way)
        self.cut_kind: str | None = None
        self.cut_error = ""  # what failed, for an "unsettled" cut
        self.script_stopped = False
        self.stopped = False
        self._started: float | None = None
        self._grace_end = math.inf
        self._cut = asyncio.Event()
        self._timer: asyncio.TimerHandle | None = None
        self._finished = False
        self._closed: Page | None = None  # the page close() took care of
        self._tasks: set[asyncio.Task[Any]] = set()
        #: the archive's capture of the page's traffic (darkcrawl.archive.browser), when it is on
        self.capture: Any = None
        #: drop scrapy-playwright's listeners of every request and response (see attach)
        self.quiet = False

    # -- the clock and the counters ---------------------------------------------------

    async def attach(self, page: Page) -> None:
        """Watch *page* (again, after scrapy-playwright replaced a closed one); the
        clock starts at the first page."""
        loop = asyncio.get_running_loop()
        if self._started is None:
            self._started = loop.time()
            if math.isfinite(self.limits.timeout):
                self._timer = loop.call_at(self._started + self.limits.timeout, self.cut, "deadline")
        self.page = page
        if self.quiet:
            # scrapy-playwright listens to every request and response of a page: to
            # count them in its stats, and below LOG_LEVEL DEBUG too, to log them
            # (Scrapy leaves the loggers' levels unset), each line fetching the
            # resource's headers from the browser first.  Each event builds a
            # Request or Response object in Python; a response event is only sent
            # while someone listens.  Ours is the only listener that stays.
            _unsubscribe(page, "request", "response")
        page.on("request", self._on_request)
        if self.capture is not None:
            self.capture.attach(page)
        try:
            self.cdp = await page.context.new_cdp_session(page)
        except Exception as exc:  # the page went already: the close path copes without
            logger.debug("no CDP session for the render of %s: %r", page.url, exc)
            self.cdp = None

    def _on_request(self, request: BrowserRequest) -> None:
        self.requests += 1
        try:
            main_frame_navigation = (request.is_navigation_request() and request.redirected_from is None
                                     and request.frame.parent_frame is None)
        except Exception:  # a worker's request has no frame
            main_frame_navigation = False
        if main_frame_navigation:
            self.navigations += 1
            if len(self.navigated) < RECORDED_NAVIGATIONS:
                self.navigated.append(request.url)
            if self.limits.max_navigations and self.navigations > self.limits.max_navigations + 1:
                self.cut("navigations")
        if 0 < self.limits.request_budget < self.requests:
            if self.cut_kind is None:
                self.cut("requests")
            else:  # issued before the page was halted, or by a page already cut
                self.stats.inc_value("darkcrawl/render/requests_over_budget")

    def cut(self, kind: str, error: str = "") -> None:
        """End the render now: whoever runs it stops, captures and closes."""
        if self.cut_kind is not None or self._finished:
            return
        self.cut_kind = kind
        self.cut_error = error
        self._grace_end = asyncio.get_running_loop().time() + self.limits.grace
        self.stats.inc_value(f"darkcrawl/render/{CUT_KINDS[kind][1]}")
        self._cut.set()
        if kind == "requests":
            self._spawn(self._halt())
        elif self.navigations > 1 and not self.blocking:  # no further hop while it is stopped
            self.blocking = True
            self._spawn(self._abort_all(self.page))

    async def _halt(self) -> None:
        """Stop a request flood at once: scripts off and terminated, queued loads
        cancelled, all sent without waiting for an answer.  The answers (and every
        other call to the browser) queue behind the flood's request events on
        their way to Python: stopping the page the usual way took seconds, and
        the site got hundreds of requests meanwhile."""
        if self.page is not None:
            _unsubscribe(self.page, "request")
        if self.cdp is None:
            return
        self.script_stopped = True
        self.stats.inc_value("darkcrawl/render/killed")
        sent = [asyncio.ensure_future(self.cdp.send(method, params)) for method, params in (
            ("Emulation.setScriptExecutionDisabled", {"value": True}),
            ("Runtime.terminateExecution", {}),
            ("Page.stopLoading", {}),
        )]
        await asyncio.wait(sent, timeout=self.limits.grace)
        for task in sent:
            if task.done():
                _consume(task)
            else:
                task.cancel()

    @property
    def kind(self) -> str | None:
        """What cut the render.  A render that failed while its page navigated, and
        went on to navigate past the limit while it was stopped, was a navigation loop."""
        if (self.cut_kind == "unsettled" and self.limits.max_navigations
                and self.navigations > self.limits.max_navigations + 1):
            return "navigations"
        return self.cut_kind

    def reason(self, captured: bool) -> str:
        assert self.kind is not None
        return cut_reason(self.kind, self.limits, captured=captured, navigations=self.navigations,
                          requests=self.requests, script_stopped=self.script_stopped, error=self.cut_error)

    @property
    def error(self) -> str:
        return CUT_KINDS[self.kind][0] if self.kind else ""

    def grace_left(self) -> float:
        """Seconds left to capture a cut render (the whole grace when not cut)."""
        if not math.isfinite(self._grace_end):
            return self.limits.grace
        return max(0.0, self._grace_end - asyncio.get_running_loop().time())

    async def bounded(self, work: Awaitable[T]) -> T | None:
        """*work*'s result, or None when the render is cut first (*work* is then
        cancelled).  Its exceptions propagate; so does a cancellation from outside."""
        task = asyncio.ensure_future(work)
        if self.cut_kind is None:
            waiter = asyncio.ensure_future(self._cut.wait())
            try:
                await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
            except BaseException:
                task.cancel()
                raise
            finally:
                waiter.cancel()
        if task.done():
            return task.result()
        task.cancel()
        # a cancelled Playwright call returns at once; bounded all the same
        await asyncio.wait({task}, timeout=self.limits.grace)
        if task.done() and not task.cancelled():
            task.exception()  # retrieved: its failure is the cut's consequence
        return None

    # -- stopping, capturing, closing -------------------------------------------------

    async def stop(self, page: Page) -> None:
        """Freeze the page as it stands: no more scripts, requests or navigations."""
        if self.stopped or page.is_closed():
            return
        self.stopped = True
        began = asyncio.get_running_loop().time()
        if self.cdp is not None:
            await self._quiet(self.cdp.send("Emulation.setScriptExecutionDisabled", {"value": True}),
                              BUSY_PROBE_SECONDS)
            probe = asyncio.ensure_future(self.cdp.send("Runtime.evaluate", {"expression": "0"}))
            done, _ = await asyncio.wait({probe}, timeout=min(BUSY_PROBE_SECONDS, self._time_left()))
            if not done and not self.script_stopped:  # its script holds the main thread: stop it, keep the renderer
                self.script_stopped = True
                self.stats.inc_value("darkcrawl/render/killed")
                await self._quiet(self.cdp.send("Runtime.terminateExecution"), self._time_left())
                await asyncio.wait({probe}, timeout=min(2 * BUSY_PROBE_SECONDS, self._time_left()))
            if probe.done():
                _consume(probe)
            else:
                probe.cancel()
            if self.navigations <= 1:
                # window.stop(): the loads the page queued are cancelled (a request
                # flood queues hundreds in Chromium, which the abort route never
                # sees).  Not on a page that navigated again: it would stop a
                # navigation half-way, and leave a page with no DOM to read.
                await self._quiet(self.cdp.send("Page.stopLoading"), self._time_left())
        if not self.blocking:
            self.blocking = True
            if self.navigations > 1:  # the route is what stops its next hop
                await self._abort_all(page)
            else:
                # not awaited: on a page that saturates its renderer the route takes
                # seconds to be in, and its scripts and loads are stopped already
                self._spawn(self._abort_all(page))
        logger.debug("render of %s stopped in %.2f s (script stopped: %s, %d requests, %d navigations)", page.url,
                     asyncio.get_running_loop().time() - began, self.script_stopped, self.requests, self.navigations)

    async def read_dom(self, page: Page) -> str | None:
        """The DOM as it stands, or None when there is none to read in time."""
        for _ in range(3):
            try:
                # a second at least: stopping the page may have taken the grace
                html = await asyncio.wait_for(page.content(), max(1.0, self.grace_left()))
            except asyncio.TimeoutError:
                logger.debug("the DOM of %s could not be read in time", page.url)
                return None
            except Exception as exc:
                if not _NAVIGATED.search(str(exc)) or page.is_closed():
                    logger.debug("the DOM of %s could not be read: %r", page.url, exc)
                    return None
                await asyncio.sleep(0.05)  # between two documents: the next one is there soon
                continue
            if not html and self.navigations > 1:
                # a hop's document committed and not parsed yet (no root element):
                # it is there once parsed (its scripts are off, it goes nowhere)
                await self._quiet(page.wait_for_load_state("domcontentloaded"), min(1.0, self._time_left()))
                continue
            return None if is_empty_render(html, page.url) else html
        return None

    async def close(self, page: Page | None) -> None:
        """Close the render's page within the grace; the clock stops."""
        self.finish()
        if self.capture is not None:  # the bodies still being read, before the page goes
            capture, self.capture = self.capture, None
            await capture.finish(self.limits.grace)
        if page is None or page.is_closed() or page is self._closed:
            return
        self._closed = page
        if self.navigations > 1 or self.cut_kind is not None:
            await self.stop(page)  # a page that navigates may never close
        closing = asyncio.ensure_future(page.close())
        done, _ = await asyncio.wait({closing}, timeout=self.limits.grace)
        if not done:
            logger.debug("the page of a render did not close in %s: closing its target", seconds(self.limits.grace))
            self.stats.inc_value("darkcrawl/render/close_hung")
            await self.stop(page)
            await self._close_target(page)
            done, _ = await asyncio.wait({closing}, timeout=self.limits.grace)
        if done:
            _consume(closing)
        if not page.is_closed():
            self.stats.inc_value("darkcrawl/render/page_leaked")
            logger.warning("the page of a render would not close (%s): left open", page.url)

    def finish(self) -> None:
        self._finished = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    async def _close_target(self, page: Page) -> None:
        """Close the page's target at the browser (what closes a page whose
        ``page.close()`` hung, once it is stopped)."""
        browser = page.context.browser
        if self.cdp is None or browser is None:
            return
        try:
            target = (await asyncio.wait_for(self.cdp.send("Target.getTargetInfo"), 1.0))["targetInfo"]["targetId"]
            session = await browser.new_browser_cdp_session()
            try:
                await asyncio.wait_for(session.send("Target.closeTarget", {"targetId": target}), self.limits.grace)
            finally:
                with contextlib.suppress(Exception):
                    await session.detach()
        except Exception as exc:
            logger.debug("Target.closeTarget failed for %s: %r", page.url, exc)

    async def _abort_all(self, page: Page | None) -> None:
        if page is not None:
            await self._quiet(page.route("**", self._abort), self.limits.grace)

    async def _abort(self, route: Route) -> None:
        self.stats.inc_value("darkcrawl/render/requests_aborted")
        # "aborted": a navigation that is aborted leaves the page on its document
        # (any other error code shows Chromium's error page instead)
        with contextlib.suppress(Exception):
            await route.abort("aborted")

    def _time_left(self) -> float:
        return max(0.05, self.grace_left())

    def _spawn(self, work: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @staticmethod
    async def _quiet(work: Awaitable[Any], timeout: float) -> None:
        """Await a browser call that may fail or never answer (the page is hostile)."""
        with contextlib.suppress(Exception):
            await asyncio.wait_for(work, timeout)


def _unsubscribe(page: Page, *events: str) -> None:
    """Stop the page's *events* on their way to Python: once no listener is left,
    Playwright stops sending them (for a flooding page's requests: its DOM read and
    its close no longer wait behind thousands of them).  Through Playwright's
    implementation object: its public ``Page`` cannot list the listeners."""
    impl = getattr(page, "_impl_obj", None)
    if impl is None:
        return
    with contextlib.suppress(Exception):
        for event in events:
            for listener in list(impl.listeners(event)):
                impl.remove_listener(event, listener)


def _consume(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()  # retrieved, so asyncio does not log it at close
