"""Per-host politeness across the fleet: ``DOWNLOAD_DELAY`` between any two workers' requests.

Scrapy spaces the requests of a download slot within one process only; N workers
would hit a host N times as often.  Here every request reserves the next start
time of its slot in Redis (one Lua call: ``max(now, next)``, then ``next += delay``,
on Redis's clock, so the machines' clocks need not agree) and waits until then;
it then starts only if the slot's last start was at least a delay ago (else it
waits the difference and asks again), so a request that woke late cannot bring
the next one closer than the delay.  A request that need not wait costs one call.
The shared queue already rests a slot ``DOWNLOAD_DELAY`` after handing out one of
its requests (:mod:`darkcrawl.distributed.queue`), so this wait is short: it
absorbs what the hand-out cannot see (a request held in a worker's downloader,
retries, robots.txt fetched by the robots middleware outside the queue).

The slot is ``meta["download_slot"]`` (``<network>@<service>``), else the host;
its delay is ``DOWNLOAD_SLOTS[slot]["delay"]``, else ``DOWNLOAD_DELAY``.  The
middleware runs last (950), after the backoff middleware's hold, so a request
reserves its time when it is about to leave.  Set ``DOWNLOAD_DELAY_JITTER``
to 0 (the distributed profile does): Scrapy's own per-process delay then never
moves a request past the time reserved for it.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from redis.exceptions import RedisError
from scrapy.exceptions import NotConfigured
from scrapy.utils.asyncio import sleep

from darkcrawl.distributed.redis_frontier import RedisFrontier
from darkcrawl.distributed.queue import slot_of

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.crawler import Crawler
    from typing_extensions import Self

logger = logging.getLogger(__name__)


class SharedPolitenessMiddleware:
    def __init__(self, crawler: Crawler, frontier: RedisFrontier, delay: float,
                 slot_delays: dict[str, float]) -> None:
        self.crawler = crawler
        self.frontier = frontier
        self.delay = delay
        self.slot_delays = slot_delays

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        settings = crawler.settings
        delay = settings.getfloat("DOWNLOAD_DELAY")
        slots = {name: float(conf["delay"]) for name, conf in settings.getdict("DOWNLOAD_SLOTS").items()
                 if isinstance(conf, dict) and "delay" in conf}
        if delay <= 0 and not any(value > 0 for value in slots.values()):
            raise NotConfigured  # no DOWNLOAD_DELAY: nothing to space out
        return cls(crawler, RedisFrontier.for_crawler(crawler), delay, slots)

    async def process_request(self, request: Request, spider: object = None) -> None:
        slot = slot_of(request)
        delay = self.slot_delays.get(slot, self.delay)
        if delay <= 0:
            return
        stats = self.crawler.stats
        waited = 0.0
        try:
            wait, started = self.frontier.reserve(slot, delay)
            while not started:
                await sleep(wait)
                waited += wait
                wait = self.frontier.start(slot, delay)
                started = wait <= 0
        except RedisError as exc:  # Redis gone longer than the retry budget: keep this process's own delay
            logger.error("cannot reserve a time for %s: %s", slot, exc)
            return
        stats.inc_value("darkcrawl/polite/requests")
        if waited:
            stats.inc_value("darkcrawl/polite/waited")
            stats.inc_value("darkcrawl/polite/wait_seconds", round(waited, 3))  # type: ignore[arg-type]
