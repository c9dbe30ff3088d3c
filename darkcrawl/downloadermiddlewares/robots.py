"""robots.txt enforcement, darc style, on top of Scrapy's middleware (Protego).

Differences from Scrapy's ``RobotsTxtMiddleware``:
- the root path of a host is always allowed (darc does the same: a host is at
  least looked at once);
- a robots.txt answered with an error status counts as "no rules" instead of
  having its error page parsed as rules;
- gateway networks whose "host" is a path on a local gateway (ZeroNet, Freenet)
  have no robots.txt of their own.

Saving robots.txt and following its sitemaps is the spider's host bootstrap, not
this middleware's job: with ``DARC_FORCE=1`` this middleware is off but robots.txt
is still fetched and saved.  The rules are read from that same fetch (Scrapy's
middleware fetched robots.txt a second time: one more request per host, and one
more timeout per dead host); a fetch of its own is only for a host without a
bootstrap in flight.  A robots.txt that cannot be fetched means "no rules", said in
one line rather than Scrapy's ERROR with a traceback.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from scrapy.downloadermiddlewares.robotstxt import RobotsTxtMiddleware
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Request
from scrapy.http.request import NO_CALLBACK
from scrapy.utils.defer import maybe_deferred_to_future
from scrapy.utils.httpobj import urlparse_cached
from twisted.internet.defer import Deferred

from darkcrawl.config import get_option
from darkcrawl.failures import Transfer, failure_reason
from darkcrawl.links.classify import NO_ROBOTS_NETWORKS
from darkcrawl.meta import GATE_KEY, ROBOTS_FOR_KEY, SLOT_KEY, STEP_KEY, network_of

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.http import Response
    from scrapy.robotstxt import RobotParser

logger = logging.getLogger(__name__)

#: The bootstrap step whose response holds a host's robots.txt (spiders/bootstrap.py).
ROBOTS_STEP = "robots"


class DarcRobotsTxtMiddleware(RobotsTxtMiddleware):
    def __init__(self, crawler: Crawler) -> None:
        super().__init__(crawler)
        #: netlocs whose rules a bootstrap robots.txt request owes (see _adopt)
        self._adopted: set[str] = set()

    async def process_request(self, request: Request, spider: object = None) -> None:
        if request.meta.get(STEP_KEY) == ROBOTS_STEP:
            self._adopt(request)
            return
        # the network of the URL fetched now (routing's), not the admitted link's: a
        # redirect may have left that network
        if network_of(request.meta) in NO_ROBOTS_NETWORKS:
            return
        await super().process_request(request)

    def process_request_2(self, rp: RobotParser | None, request: Request) -> None:
        parsed = urlparse_cached(request)
        if parsed.path in ("", "/") and not parsed.query:
            return
        super().process_request_2(rp, request)

    async def _parse_robots(self, response: Response, netloc: str, request: Request) -> None:
        if response.status >= 400 or request.meta.get(GATE_KEY):  # an error or a gate page: no rules
            response = response.replace(body=b"")
        await super()._parse_robots(response, netloc, request)

    # -- the rules from the bootstrap's own robots.txt fetch ---------------------------

    def _adopt(self, request: Request) -> None:
        # a redirect or retry keeps the netloc it was adopted for (so does a request
        # restored from the frontier after a restart: adopted again if nobody owns it)
        netloc = request.meta.get(ROBOTS_FOR_KEY) or urlparse_cached(request).netloc
        if netloc not in self._parsers:  # pages of this host now wait for this response
            request.meta[ROBOTS_FOR_KEY] = netloc
            self._adopted.add(netloc)
            self._parsers[netloc] = Deferred()
            self._stats.inc_value("robotstxt/request_count")
            # That request goes back through the scheduler for its retries and
            # redirects (and may wait out a backoff): the host's pages must not wait
            # on it for ever.
            from twisted.internet import reactor

            reactor.callLater(self._adopt_deadline(), self._expire, netloc)

    def _adopt_deadline(self) -> float:
        settings = self.crawler.settings
        attempts = 1 + settings.getint("RETRY_TIMES") + settings.getint("REDIRECT_MAX_TIMES")
        return attempts * settings.getfloat("DOWNLOAD_TIMEOUT") + get_option(settings, "DARKCRAWL_BACKOFF_MAX")

    def _expire(self, netloc: str) -> None:
        if isinstance(self._parsers.get(netloc), Deferred):
            self._stats.inc_value("robotstxt/expired")
            self._no_rules(netloc, TimeoutError("its robots.txt fetch did not finish in time"),
                           Request(f"http://{netloc}/robots.txt"))

    def _waiting(self, request: Request) -> str | None:
        """The netloc whose rules *request* (a bootstrap robots.txt fetch) still owes."""
        netloc = request.meta.get(ROBOTS_FOR_KEY)
        if netloc in self._adopted and isinstance(self._parsers.get(netloc), Deferred):
            return netloc
        return None

    async def process_response(self, request: Request, response: Response, spider: object = None) -> Response:
        netloc = self._waiting(request)
        # a redirect comes back as a new request; a gate page (a DDoS queue) too, once the
        # host lets the crawl in (the spider asks for it again): the host's pages wait for it
        if netloc is not None and not 300 <= response.status < 400 and not self._gate_again(request):
            await self._parse_robots(response, netloc, request)
        return response

    @staticmethod
    def _gate_again(request: Request) -> bool:
        gate = request.meta.get(GATE_KEY)
        return bool(gate) and gate.get("action") == "wait"

    def process_exception(self, request: Request, exception: Exception, spider: object = None) -> None:
        netloc = self._waiting(request)
        if netloc is not None:
            self._no_rules(netloc, exception, request)

    def _no_rules(self, netloc: str, exception: Exception, request: Request) -> None:
        if not isinstance(exception, IgnoreRequest):
            reason, _error = failure_reason(exception, Transfer.of(request, self.crawler.settings.getint("DOWNLOAD_MAXSIZE")))
            logger.info("robots.txt not fetched for %s: %s (no rules apply to %s)", request, reason, netloc)
        if isinstance(self._parsers.get(netloc), Deferred):  # not settled meanwhile (an expiry)
            self._robots_error(exception, netloc)

    async def robot_parser(self, request: Request) -> RobotParser | None:
        # Scrapy's, but a robots.txt that cannot be fetched is one INFO line, not an
        # ERROR with a traceback: most dead hosts have no robots.txt to give.
        url = urlparse_cached(request)
        netloc = url.netloc
        if netloc not in self._parsers:
            self._parsers[netloc] = Deferred()
            meta: dict[str, object] = {"dont_obey_robotstxt": True}
            if request.meta.get(SLOT_KEY):
                meta[SLOT_KEY] = request.meta[SLOT_KEY]  # the host's politeness
            robots = Request(f"{url.scheme}://{netloc}/robots.txt", priority=self.DOWNLOAD_PRIORITY,
                             meta=meta, callback=NO_CALLBACK)
            try:
                response = await self.crawler.engine.download_async(robots)
                if isinstance(self._parsers.get(netloc), Deferred):
                    await self._parse_robots(response, netloc, request)
            except Exception as exc:
                self._no_rules(netloc, exc, request)
            self._stats.inc_value("robotstxt/request_count")
        parser = self._parsers[netloc]
        if isinstance(parser, Deferred):
            return await maybe_deferred_to_future(parser)
        return parser
