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
  errback, so it is neither recorded as fetched nor charged to its host.

The seam is the downloader: the engine's ``downloader.fetch`` (the whole download,
middlewares included) and ``downloader.handlers.download_request_async`` (the
transfer itself) are wrapped, as :mod:`darkcrawl.frontier.ack` wraps the engine.
A second signal is Scrapy's own: it stops the reactor; launches were aborted at
the first one, so no thread of ours keeps the process alive.
"""

from __future__ import annotations

import asyncio
import logging
import math
from typing import TYPE_CHECKING, Any

from scrapy import signals
from scrapy.exceptions import IgnoreRequest, NotConfigured
from scrapy.utils.asyncio import is_asyncio_available
from twisted.python.failure import Failure

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.crawler import Crawler
    from typing_extensions import Self

logger = logging.getLogger(__name__)

#: meta key of a request given back to the scheduler by a shutdown
REQUEUED_KEY = "darkcrawl_shutdown_requeued"


class ShutdownCancelled(IgnoreRequest):
    """The crawl is closing: the request was cancelled and is put back, not failed."""


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

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        timeout = crawler.settings.getfloat("DARKCRAWL_SHUTDOWN_TIMEOUT")
        if math.isinf(timeout):
            raise NotConfigured("DARKCRAWL_SHUTDOWN_TIMEOUT=inf: a close waits for every request")
        return cls(crawler, timeout)

    # -- wiring ----------------------------------------------------------------------

    def _engine_started(self) -> None:
        engine = self.crawler.engine
        assert engine is not None
        close_spider = engine.close_spider_async

        async def close_spider_async(*, reason: str = "cancelled") -> None:
            self._close_started(reason)
            await close_spider(reason=reason)

        engine.close_spider_async = close_spider_async  # type: ignore[method-assign]

        downloader = engine.downloader
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

    # -- the close -------------------------------------------------------------------

    def _close_started(self, reason: str) -> None:
        if self.closing:
            return
        self.closing = True
        self._abort_networks()
        engine = self.crawler.engine
        in_flight = len(engine.downloader.active) if engine is not None else 0
        if not in_flight:
            return
        from twisted.internet import reactor

        logger.info("closing (%s): %d requests in flight, cancelled in %g s at the latest",
                    reason, in_flight, self.timeout)
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
        if waiting or transfers:
            logger.warning("shutdown bound (%g s) reached: cancelled %d downloads in progress and %d waiting; "
                           "they are fetched again on the next start", self.timeout, len(transfers), waiting)
        self.crawler.stats.inc_value("darkcrawl/shutdown/cancelled", len(transfers) + waiting)

    def _requeue(self, failure: Failure, request: Request) -> Any:
        if not failure.check(ShutdownCancelled) or not self.closing:
            return failure
        self._cancelled.discard(request)
        self.crawler.stats.inc_value("darkcrawl/shutdown/requeued")
        # A copy: the scheduler stores it as a new pending row, and the original's
        # row is done once the engine lets go of it.  The engine schedules it (a
        # download that returns a Request) but starts nothing new while closing.
        return request.replace(dont_filter=True, meta={**request.meta, REQUEUED_KEY: True})

    def _spider_closed(self) -> None:
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None
