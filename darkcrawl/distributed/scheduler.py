"""The scheduler of a fleet: scrapy-redis's, on a frontier shared in Redis.

Requests go to Redis as JSON (:mod:`darkcrawl.distributed.queue`), leased to the
worker that pops them and acknowledged only when the engine is done with them, in
the same script call as the requests they produced (:mod:`~darkcrawl.distributed.
frontier`).  A request that cannot be stored (a live object in its meta) stays in
this worker's memory, counted in ``darkcrawl/frontier/memory_only``.

Writes are buffered and flushed when a request is done (with everything else done
in that turn of the reactor), when the engine asks for requests, every
``DARKCRAWL_REDIS_POLL_INTERVAL`` seconds and when the buffer grows.  A pop takes
up to ``DARKCRAWL_REDIS_POP_BATCH`` requests, one per download slot, none for the
slots this worker already runs ``CONCURRENT_REQUESTS_PER_DOMAIN`` requests for.
A worker that found nothing asks again when it has written requests, freed a slot,
a resting slot wakes, or the poll interval has passed.
"""

from __future__ import annotations

import heapq
import importlib
import itertools
import logging
import time
from collections import Counter, deque
from typing import TYPE_CHECKING, Any

from redis.exceptions import RedisError
from scrapy_redis.dupefilter import RFPDupeFilter
from scrapy_redis.scheduler import Scheduler
from scrapy.utils.asyncio import call_later
from twisted.internet.task import LoopingCall

from darkcrawl.config import get_option
from darkcrawl.distributed.polite import pace_grace
from darkcrawl.distributed.redis_frontier import RedisFrontier
from darkcrawl.distributed.queue import SlotQueue, slot_of
from darkcrawl.frontier.ack import call_when_done
from darkcrawl.distributed.seen import fingerprint
from darkcrawl.meta import ADMIT_KEY, LEASE_KEY

if TYPE_CHECKING:
    from scrapy import Request, Spider
    from scrapy.crawler import Crawler
    from scrapy.utils.asyncio import CallLaterResult
    from typing_extensions import Self

logger = logging.getLogger(__name__)

#: flush at once when this many writes are waiting
FLUSH_AT = 256
#: a finished request's ack is written this soon (seconds): with the next pop (a busy
#: worker pops every few tens of ms: the engine asks when a request finishes and a pop
#: takes up to a pop batch), else on its own, with the others finished meanwhile.  A
#: worker killed in between has those pages fetched again, as it has what it had in
#: flight (up to CONCURRENT_REQUESTS + a pop batch).  At 0.01 s, one page in 12 cost a
#: flush of its own (bench.distributed: 0.08 round trips per page, a third of them).
ACK_WITHIN = 0.05


class DistributedScheduler(Scheduler):
    def __init__(self, crawler: Crawler, frontier: RedisFrontier, *, serializer: Any, dupefilter: RFPDupeFilter,
                 pop_batch: int = 8, delay: float = 0.0, poll_interval: float = 0.2) -> None:
        super().__init__(server=frontier.client, persist=True, queue_key=frontier.key("q"),
                         queue_cls="darkcrawl.distributed.queue.SlotQueue", dupefilter=dupefilter,
                         serializer=serializer)
        self.crawler = crawler
        self.stats = crawler.stats
        self.frontier = frontier
        self.pop_batch = max(1, pop_batch)
        self.delay = delay
        self.poll_interval = poll_interval
        self.slot_concurrency = max(1, crawler.settings.getint("CONCURRENT_REQUESTS_PER_DOMAIN"))
        self.queue: SlotQueue
        #: popped (so leased to this worker) and not handed to the engine yet, with
        #: the start time its slot reserved for it
        self._popped: deque[tuple[bytes, Request, float | None]] = deque()
        self._popped_slots: Counter[str] = Counter()
        #: requests that cannot be stored, by (-priority, order)
        self._memory: list[tuple[int, int, Request]] = []
        self._order = itertools.count()
        #: lease number (meta[LEASE_KEY]) -> the request's member in Redis
        self._leases: dict[int, bytes] = {}
        self._lease_numbers = itertools.count(1)
        self._quiet_until = 0.0  # after an empty pop: don't ask Redis again before this
        self._pushes_at_quiet = 0
        self._busy_at_quiet: frozenset[str] = frozenset()
        self._ticker: LoopingCall | None = None
        self._wakeup: CallLaterResult | None = None
        self._wake_time = 0.0
        self._flush_call: CallLaterResult | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        settings = crawler.settings
        frontier = RedisFrontier.for_crawler(crawler)
        serializer = importlib.import_module(settings.get("SCHEDULER_SERIALIZER") or "darkcrawl.frontier.serialize")
        # only for requests without dont_filter (a hook's): the spider's own are decided by URL
        dupefilter = RFPDupeFilter(frontier.client, key=frontier.key("dupefilter"),
                                   debug=settings.getbool("DUPEFILTER_DEBUG"))
        return cls(crawler, frontier, serializer=serializer, dupefilter=dupefilter,
                   pop_batch=get_option(settings, "DARKCRAWL_REDIS_POP_BATCH"),
                   delay=settings.getfloat("DOWNLOAD_DELAY"),
                   poll_interval=get_option(settings, "DARKCRAWL_REDIS_POLL_INTERVAL"))

    def __len__(self) -> int:
        return len(self._popped) + len(self._memory) + self.frontier.pending_slots

    def open(self, spider: Spider) -> None:
        self.spider = spider
        self.queue = SlotQueue(self.server, spider, self.queue_key, self.serializer, frontier=self.frontier)
        self.frontier.register()
        status = self.frontier.status()
        if not status.empty:
            logger.info("shared frontier %s: %d slots with requests, %d seeds, %d requests leased, %d workers",
                        self.frontier.prefix, status.ready + status.waiting, status.seeds, status.leased,
                        status.workers)
        assert self.crawler.engine is not None
        call_when_done(self.crawler.engine, self._done)
        self._ticker = LoopingCall(self._tick)
        self._ticker.start(self.poll_interval, now=False)

    def close(self, reason: str) -> None:
        if self._ticker is not None and self._ticker.running:
            self._ticker.stop()
        for call in (self._wakeup, self._flush_call):
            if call is not None:
                call.cancel()
        if self._memory:
            logger.warning("%d requests kept in memory only are dropped", len(self._memory))
        self._flush()

    # -- in ---------------------------------------------------------------------------

    def enqueue_request(self, request: Request) -> bool:
        if not request.dont_filter and self.df.request_seen(request):
            self.df.log(request, self.spider)
            return False
        try:
            self.queue.push(request)
        except TypeError as exc:
            logger.debug("kept in memory only: %s (%s)", request, exc)
            if not self._admit_in_memory(request):
                return False
            if LEASE_KEY in request.meta:  # a retry or redirect of a request this worker holds
                request = request.replace(meta={k: v for k, v in request.meta.items() if k != LEASE_KEY})
            heapq.heappush(self._memory, (-request.priority, next(self._order), request))
            self.stats.inc_value("darkcrawl/frontier/memory_only")
        else:
            self.stats.inc_value("scheduler/enqueued/redis")
            if self.frontier.buffered >= FLUSH_AT:
                self._flush()
        self.stats.inc_value("scheduler/enqueued")
        return True

    def _admit_in_memory(self, request: Request) -> bool:
        """A request to admit (``meta[ADMIT_KEY]``) that cannot be written: admitted
        now, in a round trip of its own (False: seen already, dropped)."""
        url = request.meta.pop(ADMIT_KEY, None)
        if url is None:
            return True
        if self.frontier.seen_add([fingerprint(url, self.frontier.seen_bits)])[0]:
            return True
        self.stats.inc_value("darkcrawl/links/duplicate")
        return False

    # -- out --------------------------------------------------------------------------

    def next_request(self) -> Request | None:
        if self._memory:
            request = heapq.heappop(self._memory)[2]
            self.stats.inc_value("scheduler/dequeued")
            return request
        if not self._popped:
            self._refill()
        if not self._popped:
            return None
        member, request, start = self._popped.popleft()
        slot = slot_of(request)
        if self._popped_slots[slot] > 1:
            self._popped_slots[slot] -= 1
        else:
            del self._popped_slots[slot]
        number = next(self._lease_numbers)
        self._leases[number] = member
        request.meta[LEASE_KEY] = number
        if start is not None:
            self.frontier.paced[number] = (slot, start)
        self.stats.inc_value("scheduler/dequeued/redis")
        self.stats.inc_value("scheduler/dequeued")
        return request

    def _refill(self) -> None:
        now = time.monotonic()
        busy = self._busy_slots()
        if (now < self._quiet_until and not self.frontier.unflushed_requests
                and self.frontier.pushes_flushed == self._pushes_at_quiet and busy >= self._busy_at_quiet):
            # Redis had nothing for us a moment ago (or only for slots we are busy
            # with), and since then we have neither given it requests nor freed a slot
            return
        n = self.pop_batch
        if self.delay > 0:  # their start times are reserved: take no more than can start now
            n = min(n, self._free())
        try:
            members = self.queue.pop_many(n, self.delay, sorted(busy), pace_grace(self.delay))
        except RedisError as exc:
            logger.error("cannot take requests from Redis: %s", exc)
            self._quiet_until = now + self.poll_interval
            return
        for member, start in members:
            try:
                request = self.queue.decode(member)
            except Exception as exc:  # a request another version wrote: skip it, don't choke on it
                logger.error("dropped a request that cannot be read (%s): %.200r", exc, member)
                self.stats.inc_value("darkcrawl/redis/unreadable")
                self.frontier.ack(member)
                continue
            self._popped.append((member, request, start))
            self._popped_slots[slot_of(request)] += 1
        if members:
            self._quiet_until = 0.0
        else:
            wake = self.frontier.next_wake
            # (a little early for the ticker and the wake-up call: timers and clocks differ by a hair)
            self._quiet_until = min(now + 0.9 * self.poll_interval, 1e18 if wake is None else wake - 0.002)
            self._pushes_at_quiet = self.frontier.pushes_flushed
            self._busy_at_quiet = busy
            if wake is not None:
                self._wake_at(wake)

    def _free(self) -> int:
        """Requests the downloader can take now (the engine asks only when it can take one)."""
        engine = self.crawler.engine
        if engine is None:
            return 1
        downloader = engine.downloader
        total = getattr(downloader, "total_concurrency", 0) or self.crawler.settings.getint("CONCURRENT_REQUESTS")
        return max(1, total - len(downloader.active))

    def _busy_slots(self) -> frozenset[str]:
        """Slots with as many requests in this worker (downloading, or popped and
        waiting for the engine) as the downloader runs at once for them."""
        engine = self.crawler.engine
        if engine is None:
            return frozenset()
        downloader = engine.downloader
        load = Counter(slot_of(request) for request in downloader.active)
        load.update(self._popped_slots)
        slots = downloader.slots
        return frozenset(
            slot for slot, count in load.items()
            if count >= (slots[slot].concurrency if slot in slots else self.slot_concurrency)
        )

    def _done(self, request: Request) -> None:
        number = request.meta.get(LEASE_KEY, 0)
        self.frontier.paced.pop(number, None)
        member = self._leases.pop(number, None)
        if member is not None:
            self.frontier.ack(member)
            # soon: a worker killed now would make the fleet fetch again what it had
            # not acknowledged
            if self._flush_call is None:
                self._flush_call = call_later(ACK_WITHIN, self._flush_now)  # type: ignore[arg-type]

    def _flush_now(self) -> None:
        self._flush_call = None
        self._flush()

    def has_pending_requests(self) -> bool:
        return bool(self._popped or self._memory or self.frontier.pending_slots
                    or self.frontier.unflushed_requests)

    # -- timing -----------------------------------------------------------------------

    def _tick(self) -> None:
        self._flush()
        self._wake()

    def _flush(self) -> None:
        try:
            self.frontier.flush()
        except RedisError as exc:  # kept: flushed on a later try
            logger.error("cannot write to Redis: %s", exc)

    def _wake(self) -> None:
        # The engine asks for requests when one finishes, and every 5 s otherwise:
        # a worker waiting for other workers' requests (or a resting slot) asks sooner.
        engine = self.crawler.engine
        slot = getattr(engine, "_slot", None)
        if slot is not None:
            slot.nextcall.schedule()

    def _wake_at(self, when: float) -> None:
        delay = max(0.0, when - time.monotonic())
        if delay >= self.poll_interval:
            return  # the ticker comes first
        if self._wakeup is not None:
            if self._wake_time <= when:
                return
            self._wakeup.cancel()
        self._wake_time = when
        self._wakeup = call_later(delay, self._woken)  # type: ignore[arg-type]

    def _woken(self) -> None:
        self._wakeup = None
        self._wake()
