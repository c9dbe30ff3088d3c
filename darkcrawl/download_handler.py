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

Every plain download (either transport) is bounded three ways (darkcrawl/transfer.py):
DOWNLOAD_TIMEOUT for the whole of it, a connect deadline per network
(DARKCRAWL_CONNECT_TIMEOUT, DARKCRAWL_CONNECT_TIMEOUT_DARKNET), and a minimum rate
(DARKCRAWL_MIN_RATE over DARKCRAWL_MIN_RATE_WINDOW).  The connect deadline is the
transports' own: the Twisted agent's ``connectTimeout`` (TCP, or the proxy's TCP),
and for httpx its ``connect`` and ``read`` timeouts: a SOCKS reply is read under the
read timeout, and Tor sends it only once the circuit to the onion is built, so the
circuit build falls under the connect deadline, and so does any later silence of
the connection that long.  The overall deadline and the minimum rate are watched
here, the same way for both: the bytes come from Scrapy's ``headers_received`` and
``bytes_received`` signals, a timer looks at them a few times per window, and a
download that is too slow or too long is cancelled and fails with the reason.
"""

from __future__ import annotations

import asyncio
import logging
import math
from contextlib import AbstractAsyncContextManager
from time import monotonic
from typing import TYPE_CHECKING, Any

from scrapy import signals
from scrapy.core.downloader.handlers._httpx import HttpxDownloadHandler, httpx
from scrapy.core.downloader.handlers.base import BaseDownloadHandler
from scrapy.core.downloader.handlers.http11 import HTTP11DownloadHandler, _ScrapyAgent
from scrapy.exceptions import DownloadTimeoutError, NotConfigured, ResponseDataLossError
from scrapy.utils._download_handlers import get_dataloss_msg, wrap_twisted_exceptions
from scrapy.utils.asyncio import is_asyncio_available
from scrapy.utils.defer import maybe_deferred_to_future
from scrapy.utils.httpobj import urlparse_cached
from scrapy.utils.misc import build_from_crawler

from darkcrawl.config import ConfigError, get_option
from darkcrawl.downloadermiddlewares.backoff import HostBackoffMiddleware
from darkcrawl.transfer import (
    BodyTimeoutError,
    ConnectTimeoutError,
    NoResponseError,
    RateRule,
    RateWatch,
    SlowDownloadError,
    TransferBounds,
)
from darkcrawl import headerlimits
from darkcrawl.archive import wire
from darkcrawl.archive.crawl import archive_enabled
from darkcrawl.meta import CONNECT_TIMEOUT_KEY, NETWORK_KEY, TIMING_KEY, WIRE_KEY
from darkcrawl.timing import CURRENT, AttemptClock, TimedConnectionPool, trace_hook

if TYPE_CHECKING:
    from twisted.web.client import Agent

    from scrapy.crawler import Crawler
    from scrapy.http import Request, Response

logger = logging.getLogger(__name__)

#: the overall deadline is also Twisted's own: let Twisted's fire first, with its message
_OVERALL_SLACK = 0.5
#: a DownloadTimeoutError this long before DOWNLOAD_TIMEOUT came from the connect deadline
_EARLY = 0.25


class _ConnectBoundAgent(_ScrapyAgent):
    """Scrapy's agent, with the request's connect deadline as the connection's timeout
    (upstream uses DOWNLOAD_TIMEOUT for both); it also picks up the raw bytes the
    archive's capturing parser kept (darkcrawl.archive.wire)."""

    wire: wire.Exchange | None = None

    def _cb_bodydone(self, result: Any, url: str) -> Response:
        self.wire = wire.from_twisted(result["txresponse"])
        return super()._cb_bodydone(result, url)

    def _get_agent(self, request: Request, timeout: float) -> Agent:
        connect = request.meta.get(CONNECT_TIMEOUT_KEY)
        if connect and math.isfinite(connect):
            timeout = min(timeout, connect) if timeout else connect
        return super()._get_agent(request, timeout)


class DirectDownloadHandler(HTTP11DownloadHandler):
    """Scrapy's HTTP/1.1 handler with a separate connect deadline, and its new
    connections timed (darkcrawl.timing).

    ``download_request`` is upstream's (Scrapy 2.19) with one change: the agent class.
    Scrapy builds its agent inline, so there is no smaller place to change it."""

    #: hand the raw bytes of each exchange to the archive (DARKCRAWL_WARC)
    capture = False

    def __init__(self, crawler: Crawler) -> None:
        super().__init__(crawler)
        self._pool.__class__ = TimedConnectionPool  # Scrapy builds its pool itself

    async def download_request(self, request: Request) -> Response:
        agent = _ConnectBoundAgent(
            contextFactory=self._contextFactory,
            bindAddress=self._bind_address,
            pool=self._pool,
            maxsize=getattr(self._crawler.spider, "download_maxsize", self._default_maxsize),
            warnsize=getattr(self._crawler.spider, "download_warnsize", self._default_warnsize),
            fail_on_dataloss=self._fail_on_dataloss,
            crawler=self._crawler,
            tls_verbose_logging=self._tls_verbose_logging,
        )
        try:
            with wrap_twisted_exceptions():
                response = await maybe_deferred_to_future(agent.download_request(request))
            if self.capture and agent.wire is not None:
                request.meta[WIRE_KEY] = agent.wire
            return response
        except ResponseDataLossError:
            if not self._fail_on_dataloss_warned:
                self._fail_on_dataloss_warned = True
                logger.warning(get_dataloss_msg(request.url))
            raise


class SocksDownloadHandler(HttpxDownloadHandler):
    """Scrapy's httpx handler with the request's connect deadline as httpx's connect and
    read timeouts (the SOCKS reply, i.e. the Tor circuit, is read under the latter)."""

    def _make_client(self, proxy_url: str | None = None) -> httpx.AsyncClient:
        client = super()._make_client(proxy_url)
        client.event_hooks["request"].append(trace_hook)  # the connect time (darkcrawl.timing)
        return client

    def _make_request(self, request: Request, timeout: float) -> AbstractAsyncContextManager[Any]:
        connect = request.meta.get(CONNECT_TIMEOUT_KEY) or timeout
        if timeout:
            connect = min(connect, timeout)
        bounds = httpx.Timeout(timeout or None, connect=connect or None, read=connect or None)
        return super()._make_request(request, bounds)  # type: ignore[arg-type]

    #: hand the (rebuilt) bytes of each exchange to the archive (DARKCRAWL_WARC)
    capture = False

    def _build_base_response_args(self, response: httpx.Response, request: Request, headers: Any) -> Any:
        if self.capture:
            request.meta[WIRE_KEY] = wire.from_httpx(response, request)
        return HttpxDownloadHandler._build_base_response_args(response, request, headers)


class NetworkDownloadHandler(BaseDownloadHandler):
    lazy = False

    def __init__(self, crawler: Crawler) -> None:
        super().__init__(crawler)
        settings = crawler.settings
        try:
            self.bounds = TransferBounds(
                connect_clearnet=get_option(settings, "DARKCRAWL_CONNECT_TIMEOUT"),
                connect_darknet=get_option(settings, "DARKCRAWL_CONNECT_TIMEOUT_DARKNET"),
                rule=RateRule(get_option(settings, "DARKCRAWL_MIN_RATE"),
                              get_option(settings, "DARKCRAWL_MIN_RATE_WINDOW")),
            )
        except ValueError as exc:
            raise ConfigError(f"DARKCRAWL_MIN_RATE*: {exc}") from None
        self._watches: dict[Request, RateWatch] = {}
        self._backoff: HostBackoffMiddleware | None = None
        self._backoff_found = False  # looked up once the engine exists
        crawler.signals.connect(self._headers_received, signal=signals.headers_received)
        crawler.signals.connect(self._bytes_received, signal=signals.bytes_received)
        headerlimits.install(get_option(settings, "DARKCRAWL_MAX_RESPONSE_HEADERS_SIZE"))  # header bombs
        self._direct = build_from_crawler(DirectDownloadHandler, crawler)
        self._capture = archive_enabled(settings)
        if self._capture:  # the archive keeps each exchange's bytes as sent and received
            wire.install()
            self._direct.capture = True
        self._socks: SocksDownloadHandler | None = None
        self._browser: BaseDownloadHandler | None = None
        # only for a spider with a render stage: `scrapy shell` and other spiders
        # never ask for the browser (and scrapy-playwright hangs the shell's start)
        if crawler.settings.getbool("DARKCRAWL_RENDER") and getattr(crawler.spidercls, "renders", False):
            from darkcrawl.render.handler import BoundedRenderHandler  # scrapy-playwright's, bounded

            self._browser = build_from_crawler(BoundedRenderHandler, crawler)

    def _socks_handler(self) -> SocksDownloadHandler:
        if self._socks is None:
            self._socks = build_from_crawler(SocksDownloadHandler, self.crawler)
            self._socks.capture = self._capture
        return self._socks

    async def download_request(self, request: Request) -> Response:
        if request.meta.get("playwright"):
            if self._browser is None:
                raise NotConfigured("the render stage is off (DARKCRAWL_RENDER=0)")
            return await self._browser.download_request(request)
        refusal = self._refusal(request)
        if refusal is not None:
            raise refusal
        proxy = request.meta.get("proxy")
        if proxy and proxy.startswith(("socks5://", "socks5h://", "socks4://", "socks4a://")):
            self.crawler.stats.inc_value("darkcrawl/transport/socks")
            handler = self._socks_handler()
        else:
            handler = self._direct
        network = request.meta.get(NETWORK_KEY)
        request.meta[CONNECT_TIMEOUT_KEY] = self.bounds.connect_timeout(network)
        if not is_asyncio_available():
            return await handler.download_request(request)
        return await self._bounded(request, handler)

    def _refusal(self, request: Request) -> Exception | None:
        """A request queued in its slot while its host was given up fails at its turn."""
        if not self._backoff_found:
            self._backoff_found = True
            downloader = getattr(getattr(self.crawler, "engine", None), "downloader", None)
            middlewares = getattr(getattr(downloader, "middleware", None), "middlewares", ())
            self._backoff = next((m for m in middlewares if isinstance(m, HostBackoffMiddleware)), None)
        return None if self._backoff is None else self._backoff.refusal(request)

    # -- the overall deadline and the minimum rate --------------------------------------

    async def _bounded(self, request: Request, handler: BaseDownloadHandler) -> Response:
        bounds = self.bounds
        connect = float(request.meta[CONNECT_TIMEOUT_KEY])
        overall = float(request.meta.get("download_timeout") or 0) or math.inf
        start = monotonic()
        watch = self._watches[request] = RateWatch(bounds.rule, start, min(connect, overall))
        clock = AttemptClock(start)
        token = CURRENT.set(clock)  # the task's copy of the context carries it to the transport
        task = asyncio.ensure_future(handler.download_request(request))
        CURRENT.reset(token)
        reason: str | None = None
        try:
            while not task.done():
                await asyncio.wait((task,), timeout=bounds.tick)
                if task.done():
                    break
                now = monotonic()
                if now - start >= overall + _OVERALL_SLACK:
                    reason = f"took longer than DOWNLOAD_TIMEOUT ({overall:g} s)"
                    break
                reason = watch.check(now)
                if reason is not None:
                    break
        except asyncio.CancelledError:  # the download was cancelled from outside (the crawl closes)
            task.cancel()
            raise
        finally:
            self._watches.pop(request, None)
            clock.first_byte = watch.headers_at
            request.meta[TIMING_KEY] = clock.as_record()
        if reason is not None:
            task.cancel()
            await asyncio.wait((task,))  # its connection is closed before the failure is told
            if task.cancelled() or task.exception() is not None:  # else it ended just in time
                raise self._cut(request, reason, watch)
        try:
            return task.result()
        except DownloadTimeoutError as exc:
            raise self._timeout(request, exc, watch, monotonic() - start, connect, overall) from exc

    def _cut(self, request: Request, reason: str, watch: RateWatch) -> Exception:
        stats = self.crawler.stats
        if reason.startswith("took longer"):
            stats.inc_value("darkcrawl/transfer/timeout")
            if watch.headers_at is not None:
                return BodyTimeoutError(f"Getting {request.url} {reason}: {watch.received} bytes of the body received")
            return DownloadTimeoutError(f"Getting {request.url} {reason}")
        if watch.headers_at is None:
            stats.inc_value("darkcrawl/transfer/no_response")
            return NoResponseError(f"{reason}: {request.url}")
        stats.inc_value("darkcrawl/transfer/too_slow")
        return SlowDownloadError(f"{reason}: {request.url}")

    def _timeout(self, request: Request, exc: DownloadTimeoutError, watch: RateWatch, elapsed: float,
                 connect: float, overall: float) -> DownloadTimeoutError:
        """The transports' timeouts, said the way they happened."""
        netloc = urlparse_cached(request).netloc
        stats = self.crawler.stats
        if elapsed >= overall - _EARLY:
            stats.inc_value("darkcrawl/transfer/timeout")
            message = f"Getting {request.url} took longer than DOWNLOAD_TIMEOUT ({overall:g} s)"
            if watch.headers_at is not None:
                return BodyTimeoutError(f"{message}: {watch.received} bytes of the body received")
            return DownloadTimeoutError(message)
        if watch.headers_at is None:
            stats.inc_value("darkcrawl/transfer/connect_timeout")
            proxy = request.meta.get("proxy")
            if proxy and isinstance(exc.__cause__, httpx.ReadTimeout):
                # the SOCKS reply is read under the read timeout: Tor sends it once the circuit is built
                return ConnectTimeoutError(
                    f"no answer from {netloc} through the {proxy.split('://', 1)[0]} proxy within {connect:g} s "
                    f"(a circuit that was not built, or a server that did not answer): {request.url}")
            through = f" through the {proxy.split('://', 1)[0]} proxy" if proxy else ""
            return ConnectTimeoutError(f"no connection to {netloc}{through} within {connect:g} s: {request.url}")
        stats.inc_value("darkcrawl/transfer/stalled")
        return BodyTimeoutError(f"nothing received for {connect:g} s in the middle of the body "
                                f"({watch.received} bytes received): {request.url}")

    def _headers_received(self, request: Request, **_: Any) -> None:
        watch = self._watches.get(request)
        if watch is not None:
            watch.headers(monotonic())

    def _bytes_received(self, data: bytes, request: Request, **_: Any) -> None:
        watch = self._watches.get(request)
        if watch is not None:
            watch.data(len(data))

    async def close(self) -> None:
        await self._direct.close()
        for handler in (self._socks, self._browser):
            if handler is not None:
                await handler.close()
