"""A crawl's close finishes within a bound, and loses nothing.

Scrapy's close (``ExecutionEngine.close_spider_async``) first waits for every
request in progress to be done: a stalled download, a pending render or a Tor
launch holds it, and after ``Closing spider (shutdown)`` nothing happens.  This
extension starts a clock when the close begins (any reason: a signal, CloseSpider,
the end of a round):

* network launches are aborted at once (:meth:`NetworkManager.abort`): the launch
  thread ends, requests waiting for it are put back;
* downloads still running after ``DARKCRAWL_SHUTDOWN_TIMEOUT`` seconds are
  cancelled, and those still waiting in a downloader slot (download delay) too;
* a cancelled request goes back to the scheduler (a copy: in the frontier it is a
  new pending row, fetched on the next start) instead of reaching the spider's
  errback, so it is neither recorded as fetched nor charged to its host;
* a render whose download is over but whose callback still works on the page
  (waits, page actions, the capture) has its page closed at the bound; the error
  that makes in the callback is expected and logged as one INFO line, and the
  request is left unacknowledged in the frontier, so the render is redone.

Ctrl-C in a terminal sends SIGINT to the whole process group: the Playwright
driver (and through it Chromium) died before the crawler could close them, which
logged "Future exception was never retrieved ... Connection closed while reading
from the driver" and failed every render in progress.  With the render stage on,
the driver is started in a session of its own (:func:`driver_in_own_session`), so
the signal reaches the crawler only, and the browser is closed in order.

The seam is the downloader: the engine's ``downloader.fetch`` (the whole download,
middlewares included) and ``downloader.handlers.download_request_async`` (the
transfer itself) are wrapped, as :mod:`darkcrawl.frontier.ack` wraps the engine.
A second signal is Scrapy's own: it stops the reactor; launches were aborted at
the first one, so no thread of ours keeps the process alive.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import os
import re
import shlex
import shutil
import stat
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scrapy import signals
from scrapy.exceptions import NotConfigured
from scrapy.utils.asyncio import is_asyncio_available
from twisted.python.failure import Failure

from darkcrawl.closing import ShutdownCancelled
from darkcrawl.meta import (
    GATE_PACER_KEY,
    SHUTDOWN_REQUEUED_KEY as REQUEUED_KEY,
    SHUTDOWN_DIRECT_KEY as DIRECT_KEY,
    SHUTDOWN_ABANDONED_KEY as ABANDONED_KEY,
)

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.core.downloader import Downloader
    from scrapy.core.engine import ExecutionEngine
    from scrapy.core.scraper import Scraper
    from scrapy.crawler import Crawler
    from typing_extensions import Self

logger = logging.getLogger(__name__)


#: meta keys a put-back request must not carry (a live page cannot be stored)
_NOT_REQUEUED = frozenset({"playwright_page", DIRECT_KEY, ABANDONED_KEY, GATE_PACER_KEY})

#: Playwright's words for a browser, context or page closed under a request
_BROWSER_GONE = re.compile(r"has been closed|Target closed|crashed|disconnected|Connection closed", re.IGNORECASE)


def _browser_gone(failure: Failure) -> bool:
    return bool(_BROWSER_GONE.search(failure.getErrorMessage() or ""))


_WRAPPER = "darkcrawl-playwright-node"


def driver_in_own_session(workdir: Path) -> bool:
    """Have Playwright start its driver through ``setsid`` (a new session, out of the
    terminal's process group).  Playwright takes the driver's Node.js only from the
    environment (``PLAYWRIGHT_NODEJS_PATH``), so a small wrapper goes there; one
    already set by the operator is kept.  Returns whether the wrapper is in place."""
    setsid = shutil.which("setsid")
    current = os.environ.get("PLAYWRIGHT_NODEJS_PATH")
    # keep the operator's own; a wrapper named in the environment by another crawl
    # (this process's earlier one, or a parent's inherited) is never trusted to outlive
    # that crawl, so this crawl writes its own
    if setsid is None or (current and Path(current).name != _WRAPPER):
        return False
    try:
        from playwright._impl._driver import compute_driver_executable

        node = compute_driver_executable()[0]
    except Exception:  # noqa: BLE001 (no Playwright, or no bundled Node.js: nothing to wrap)
        return False
    # one per Node.js (crawls from two installs share the directory, never a wrapper)
    home = workdir / hashlib.sha256(node.encode()).hexdigest()[:16]
    home.mkdir(mode=0o700, exist_ok=True)
    wrapper = home / _WRAPPER
    # written aside and renamed: a driver starting from the same path meanwhile sees
    # the old file or the new one, never half of one
    partial = home / f".{_WRAPPER}.{os.getpid()}"
    partial.write_text(f'#!/bin/sh\nexec {shlex.quote(setsid)} {shlex.quote(node)} "$@"\n')
    partial.chmod(0o700)
    os.replace(partial, wrapper)
    os.environ["PLAYWRIGHT_NODEJS_PATH"] = str(wrapper)
    return True


def driver_wrapper_dir() -> Path:
    """A directory of this user's that outlives every crawl: the environment naming
    the wrapper is inherited by child processes and later crawls of this process,
    so the file must never be removed under them (it is a few bytes, rewritten in
    place by each crawl).  A shared one not safely ours gets a private one instead."""
    shared = Path(tempfile.gettempdir()) / f"darkcrawl-driver-{os.getuid()}"
    try:
        shared.mkdir(mode=0o700, exist_ok=True)
        info = shared.lstat()
        if stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid() and not info.st_mode & 0o022:
            return shared
    except OSError:
        pass
    return Path(tempfile.mkdtemp(prefix="darkcrawl-driver-"))


class ShutdownGuard:
    def __init__(self, crawler: Crawler, timeout: float) -> None:
        self.crawler = crawler
        self.timeout = timeout
        self.closing = False
        self._transfers: dict[Request, asyncio.Future[Any]] = {}
        self._cancelled: set[Request] = set()
        self._past_bound = False
        self._timer: Any = None
        crawler.signals.connect(self._engine_started, signal=signals.engine_started)
        crawler.signals.connect(self._spider_closed, signal=signals.spider_closed)
        if crawler.settings.getbool("DARKCRAWL_RENDER") and getattr(crawler.spidercls, "renders", False):
            driver_in_own_session(driver_wrapper_dir())

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        timeout = crawler.settings.getfloat("DARKCRAWL_SHUTDOWN_TIMEOUT")
        if math.isinf(timeout):  # the operator's choice: a close waits for every request (no warning)
            raise NotConfigured
        return cls(crawler, timeout)

    # -- wiring ----------------------------------------------------------------------

    def _engine_started(self) -> None:
        engine = self.crawler.engine
        assert engine is not None
        self._guard_engine(engine)
        self._guard_downloader(engine.downloader)
        self._guard_scraper(engine.scraper)

    def _guard_engine(self, engine: ExecutionEngine) -> None:
        """The close starts the shutdown; the spider's own downloads are marked direct."""
        close_spider = engine.close_spider_async

        async def close_spider_async(*, reason: str = "cancelled") -> None:
            self._close_started(reason)
            await close_spider(reason=reason)

        engine.close_spider_async = close_spider_async  # type: ignore[method-assign]

        download_async = engine.download_async

        async def direct_download_async(request: Request) -> Any:
            request.meta[DIRECT_KEY] = True
            return await download_async(request)

        engine.download_async = direct_download_async  # type: ignore[method-assign]

    def _guard_downloader(self, downloader: Downloader) -> None:
        """A download cut by the shutdown goes back to the frontier; none starts past the bound."""
        fetch = downloader.fetch

        def guarded_fetch(request: Request, *args: Any, **kwargs: Any) -> Any:
            return fetch(request, *args, **kwargs).addErrback(self._requeue, request)

        downloader.fetch = guarded_fetch  # type: ignore[method-assign]

        handlers = downloader.handlers
        download = handlers.download_request_async

        async def guarded_download(request: Request) -> Any:
            if self._past_bound:  # nothing new starts after the bound
                raise ShutdownCancelled("the crawl is closing: never started")
            if not is_asyncio_available():
                return await download(request)
            task = asyncio.ensure_future(download(request))
            self._transfers[request] = task
            try:
                return await task
            except asyncio.CancelledError:
                if request in self._cancelled:
                    raise ShutdownCancelled("the crawl is closing: download cancelled") from None
                raise
            finally:
                self._transfers.pop(request, None)

        handlers.download_request_async = guarded_download  # type: ignore[method-assign]

    def _guard_scraper(self, scraper: Scraper) -> None:
        """A render cut by the shutdown is counted, not reported as a spider error."""
        handle_spider_error = scraper.handle_spider_error

        def guarded_spider_error(failure: Failure, request: Request, response: Any) -> None:
            if self.closing and request.meta.get("playwright") and _browser_gone(failure):
                # the browser died under the render while closing (a Ctrl-C that reached
                # it: an operator's own PLAYWRIGHT_NODEJS_PATH, no setsid): a cut too
                request.meta[ABANDONED_KEY] = True
            if request.meta.get(ABANDONED_KEY):
                self.crawler.stats.inc_value("darkcrawl/shutdown/render_cut")
                logger.info("render of %s cut by the shutdown (%s); redone on the next start",
                            request.url, failure.getErrorMessage().splitlines()[0] if failure.getErrorMessage() else
                            failure.type.__name__)
                return
            handle_spider_error(failure, request, response)

        scraper.handle_spider_error = guarded_spider_error  # type: ignore[method-assign]

    # -- the close -------------------------------------------------------------------

    def _close_started(self, reason: str) -> None:
        if self.closing:
            return
        self.closing = True
        self._abort_networks()
        engine = self.crawler.engine
        if engine is None:
            return
        # requests from the scheduler until their callback is done, and those the
        # spider's start or callbacks download directly
        in_progress = max(len(getattr(getattr(engine, "_slot", None), "inprogress", ())),
                          len(engine.downloader.active))
        if not in_progress:
            return
        from twisted.internet import reactor

        logger.info("closing (%s): %d requests in progress, cut in %g s at the latest",
                    reason, in_progress, self.timeout)
        self._timer = reactor.callLater(self.timeout, self._cancel_in_flight)  # type: ignore[attr-defined]

    def _abort_networks(self) -> None:
        from darkcrawl.downloadermiddlewares.routing import NetworkRoutingMiddleware

        routing = self.crawler.get_downloader_middleware(NetworkRoutingMiddleware)
        if routing is None:
            return
        for manager in set(routing.networks.values()):
            manager.abort()

    def _cancel_in_flight(self) -> None:
        self._timer = None
        self._past_bound = True
        engine = self.crawler.engine
        if engine is None:
            return
        waiting = 0
        # first the queued ones: a cancelled transfer frees its slot for the next in the queue
        for slot in engine.downloader.slots.values():
            while slot.queue:
                request, deferred = slot.queue.popleft()
                self._cancelled.add(request)
                deferred.errback(Failure(ShutdownCancelled("the crawl is closing: never started")))
                waiting += 1
        transfers = list(self._transfers.items())
        for request, task in transfers:
            self._cancelled.add(request)
            task.cancel()
        renders = self._cut_renders(engine)
        if waiting or transfers or renders:
            logger.warning("shutdown bound (%g s) reached: cancelled %d downloads in progress, %d waiting and "
                           "%d renders; they are fetched again on the next start",
                           self.timeout, len(transfers), waiting, renders)
        self.crawler.stats.inc_value("darkcrawl/shutdown/cancelled", len(transfers) + waiting + renders)

    def _cut_renders(self, engine: Any) -> int:
        """Close the pages of renders past their download (their callback holds the close)."""
        slot = getattr(engine, "_slot", None)
        cut = 0
        for request in list(getattr(slot, "inprogress", ())):
            page = request.meta.get("playwright_page")
            if page is None or request in self._transfers or page.is_closed():
                continue
            request.meta[ABANDONED_KEY] = True
            task = asyncio.ensure_future(page.close())
            task.add_done_callback(lambda t: t.cancelled() or t.exception())  # a gone browser: nothing to close
            cut += 1
        return cut

    def _requeue(self, failure: Failure, request: Request) -> Any:
        # (a direct download would loop: engine.download_async downloads a returned Request)
        if not self.closing or request.meta.get(DIRECT_KEY):
            return failure
        if not failure.check(ShutdownCancelled) and not (request.meta.get("playwright") and _browser_gone(failure)):
            return failure
        self._cancelled.discard(request)
        self.crawler.stats.inc_value("darkcrawl/shutdown/requeued")
        # A copy: the scheduler stores it as a new pending row, and the original's
        # row is done once the engine lets go of it.  The engine schedules it (a
        # download that returns a Request) but starts nothing new while closing.
        meta = {k: v for k, v in request.meta.items() if k not in _NOT_REQUEUED}
        return request.replace(dont_filter=True, meta={**meta, REQUEUED_KEY: True})

    def _spider_closed(self) -> None:
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None
