"""Per-host politeness across the fleet: ``DOWNLOAD_DELAY`` between any two workers' requests.

Scrapy spaces the requests of a download slot within one process only; N workers
would hit a host N times as often.  Here every request starts at a time its slot
reserved for it in Redis, on Redis's clock (so the machines' clocks need not agree),
a delay after the time reserved for the one before.

- A request from the shared queue comes with its time: the pop that handed it out
  reserved it (``max(now, next, last + delay)``, then ``next`` = that + delay +
  *grace*, and the slot rests until then, for every worker).  It waits for that
  time and starts if it is there within *grace* (:func:`pace_grace`: a tenth of
  the delay, 50 ms at most): no Redis call of its own, and no two starts closer
  than the delay.  The scheduler pops no more than the downloader can start at
  once, so a popped request is seldom late.
- Any other request (robots.txt fetched by the robots middleware outside the
  queue, one held back by the backoff or the gates, one too late for its time)
  reserves the slot's next start time itself (one Lua call: ``max(now, next)``,
  then ``next += delay``) and waits until then; it then starts only if the
  slot's last start was at least a delay ago (else it waits the difference and
  asks again), so a request that woke late cannot bring the next one closer than
  the delay.  A request that need not wait costs one call.

The slot is ``meta["download_slot"]`` (``<network>@<service>``), else the host;
its delay is ``DOWNLOAD_SLOTS[slot]["delay"]``, else ``DOWNLOAD_DELAY``.  The
middleware runs last (950), after the backoff middleware's hold, so a request
reserves its time when it is about to leave.  Set ``DOWNLOAD_DELAY_JITTER``
to 0 (the distributed profile does): Scrapy's own per-process delay then never
moves a request past the time reserved for it.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from redis.exceptions import RedisError
from scrapy.exceptions import NotConfigured
from scrapy.utils.asyncio import sleep

from darkcrawl.distributed.redis_frontier import RedisFrontier
from darkcrawl.distributed.queue import slot_of
from darkcrawl.meta import LEASE_KEY

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.crawler import Crawler
    from typing_extensions import Self

logger = logging.getLogger(__name__)

#: how late (a share of the delay, and at most) a request may start in the time its pop reserved
GRACE_SHARE = 0.1
GRACE_MAX = 0.05


def pace_grace(delay: float) -> float:
    """Seconds a request may start after the time its pop reserved for it; the slot
    rests that much longer, so starts stay a delay apart."""
    return min(GRACE_SHARE * delay, GRACE_MAX)


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
        paced = self.frontier.paced.pop(request.meta.get(LEASE_KEY, 0), None)
        # the pop reserved the slot with DOWNLOAD_DELAY: good for a slot with that delay
        if paced is not None and paced[0] == slot and delay == self.delay:
            if await self._start_at(paced[1], pace_grace(delay)):
                stats.inc_value("darkcrawl/polite/requests")
                stats.inc_value("darkcrawl/polite/reserved_by_pop")
                return
            stats.inc_value("darkcrawl/polite/late")
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
        self._waited(waited)

    async def _start_at(self, start: float, grace: float) -> bool:
        """Wait for *start* (``time.monotonic()``); False if it is more than *grace* past."""
        wait = start - time.monotonic()
        if wait > 0:
            await sleep(wait)
            self._waited(wait)
        return time.monotonic() <= start + grace

    def _waited(self, seconds: float) -> None:
        if seconds:
            stats = self.crawler.stats
            stats.inc_value("darkcrawl/polite/waited")
            stats.inc_value("darkcrawl/polite/wait_seconds", round(seconds, 3))  # type: ignore[arg-type]
