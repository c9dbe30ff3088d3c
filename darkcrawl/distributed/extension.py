"""A worker of the fleet: takes seeds pushed into Redis, and knows when to stop.

- Seeds: ``scrapy pushseeds`` puts URLs in a Redis list.  A worker whose shared
  queue runs low (fewer than ``2 * CONCURRENT_REQUESTS`` slots with requests) takes
  up to ``DARKCRAWL_REDIS_SEED_BATCH`` of them every
  ``DARKCRAWL_REDIS_POLL_INTERVAL`` seconds, and when idle, and admits them like
  the seeds of its command line (seen set, host bootstrap).  A taken seed stays the
  worker's until its requests are queued: a worker killed meanwhile gives it back.
- Stopping: with ``DARC_REBOOT=1`` an idle worker stops once the whole fleet is
  done: no request queued or resting, no seed waiting, none leased to any worker
  (a dead worker's leases count until it is recovered), twice in a row a poll
  interval apart with nothing popped or flushed in between, and something was
  done since it joined (else it gives the others ``START_GRACE`` seconds to start).
  Otherwise it waits for work (and the spider for its URLs to fall due).
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from redis.exceptions import RedisError
from scrapy import Request, signals
from scrapy.exceptions import DontCloseSpider, NotConfigured
from scrapy.utils.defer import deferred_from_coro
from twisted.internet.task import LoopingCall

from darkcrawl.config import get_option
from darkcrawl.distributed.redis_frontier import RedisFrontier

if TYPE_CHECKING:
    from collections.abc import Callable

    from scrapy import Spider
    from scrapy.crawler import Crawler
    from typing_extensions import Self

logger = logging.getLogger(__name__)

#: a worker that joined an empty frontier waits this long for the fleet to start
#: (a worker started beside it with the seeds) before it concludes there is nothing to do
START_GRACE = 10.0


class DistributedCrawl:
    def __init__(self, crawler: Crawler, frontier: RedisFrontier, *, reboot: bool, poll_interval: float,
                 seed_batch: int, low_water: int) -> None:
        self.crawler = crawler
        self.frontier = frontier
        self.reboot = reboot
        self.poll_interval = poll_interval
        self.seed_batch = seed_batch
        self.low_water = low_water
        self._admit: Callable[[list[str]], list[Any]] | None = None
        self._poller: LoopingCall | None = None
        #: (activity, monotonic time) of the first of the checks that found the fleet done
        self._done_since: tuple[int, float] | None = None
        self._last_check = 0.0
        self._last_recovery = 0.0
        self._last_seeds = 0.0
        #: the fleet's activity when this worker joined, and when
        self._joined: tuple[int, float] | None = None
        crawler.signals.connect(self._spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(self._spider_idle, signal=signals.spider_idle)
        crawler.signals.connect(self._spider_closed, signal=signals.spider_closed)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        settings = crawler.settings
        if not settings.getbool("DARKCRAWL_DISTRIBUTED"):
            raise NotConfigured
        return cls(
            crawler,
            RedisFrontier.for_crawler(crawler),
            reboot=settings.getbool("DARC_REBOOT"),
            poll_interval=get_option(settings, "DARKCRAWL_REDIS_POLL_INTERVAL"),
            seed_batch=get_option(settings, "DARKCRAWL_REDIS_SEED_BATCH"),
            low_water=2 * max(1, settings.getint("CONCURRENT_REQUESTS")),
        )

    def _spider_opened(self, spider: Spider) -> None:
        self._admit = getattr(spider, "admit_seeds", None)
        if self._admit is None:
            logger.warning("spider %s cannot take seeds from Redis (no admit_seeds method)", spider.name)
        self.crawler.stats.set_value("darkcrawl/redis/worker", self.frontier.worker)
        try:
            self._joined = (self.frontier.status().activity, time.monotonic())
        except RedisError as exc:
            logger.error("cannot read the shared frontier: %s", exc)
        self._poller = LoopingCall(self._poll)
        self._poller.start(self.poll_interval, now=False)

    def _spider_closed(self) -> None:
        if self._poller is not None and self._poller.running:
            self._poller.stop()

    def _poll(self) -> None:
        # a busy worker pops many times a second, and each pop says whether seeds wait:
        # no round trip of its own to find none (an idle worker asks in _spider_idle)
        if self.frontier.pending_slots >= self.low_water or not self.frontier.seeds_waiting:
            return
        try:
            self._take_seeds()
        except RedisError as exc:
            logger.error("cannot take seeds from Redis: %s", exc)

    def _take_seeds(self) -> int:
        spider = self.crawler.spider
        engine = self.crawler.engine
        if self._admit is None or engine is None or getattr(spider, "config_error", None):
            return 0
        now = time.monotonic()
        if now - self._last_seeds < self.poll_interval / 2:
            return 0  # idle, the engine asks many times a second: Redis is asked twice a poll at most
        self._last_seeds = now
        urls = self.frontier.take_seeds(self.seed_batch)
        if not urls:
            return 0
        for output in self._admit(urls):
            if isinstance(output, Request):
                engine.crawl(output)
            else:  # a host's new_host record (ZeroNet, Freenet: no robots.txt to fetch first)
                deferred_from_coro(engine.scraper.start_itemproc_async(output, response=None))
        self.frontier.seeds_queued(urls)  # flushed after the requests they became
        self.crawler.stats.inc_value("darkcrawl/seeds/from_redis", len(urls))
        logger.info("took %d seeds from Redis", len(urls))
        return len(urls)

    def _spider_idle(self) -> None:
        try:
            if self._take_seeds():
                raise DontCloseSpider
            if not self.reboot or not self._fleet_done():
                raise DontCloseSpider
        except RedisError as exc:
            logger.error("cannot tell whether the fleet is done: %s", exc)
            raise DontCloseSpider from None
        logger.info("the shared frontier is empty and no worker is busy: stopping")

    def _fleet_done(self) -> bool:
        now = time.monotonic()
        if now - self._last_check < self.poll_interval / 2:
            return False
        self._last_check = now
        self.frontier.flush()
        if now - self._last_recovery >= 1.0:  # a worker gone meanwhile holds requests: give them back
            self._last_recovery = now
            self.frontier.recover_dead()
        status = self.frontier.status()
        if not status.empty:
            self._done_since = None
            return False
        if self._joined is not None and status.activity == self._joined[0] and now - self._joined[1] < START_GRACE:
            return False  # nothing happened since this worker joined: the others may still be starting
        if self._done_since is None or self._done_since[0] != status.activity:
            self._done_since = (status.activity, now)
            return False
        return now - self._done_since[1] >= self.poll_interval
