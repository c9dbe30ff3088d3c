"""Requests that wait for their host without holding the crawl up: the host backoff's and
the gates' (a DDoS queue waited out).

Where such a request waits: in the scheduler, as long as other hosts have work.
Scrapy's ``DownloaderAwarePriorityQueue`` and darkcrawl's ``FrontierScheduler`` hand
out first the requests of the download slot with the fewest active downloads, so
until the host's time comes its slot holds stand-ins (:meth:`Parking.mark`) that
make it look busier than any live slot can be.  A request handed out all the same
(nothing else was queued, or it was already on its way) waits in its middleware's
``process_request`` (:meth:`Parking.wait`), counted as an active download of its
slot; as soon as another host's request is queued while the downloader is full, it
is told to give its place back (the middleware returns it to the scheduler).  A
request downloaded without the scheduler (``engine.download_async``: Scrapy's
robots.txt requests) cannot give its place back (:meth:`Parking.scheduled` is False).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from scrapy import signals
from scrapy.utils.asyncio import call_later
from scrapy.utils.defer import maybe_deferred_to_future
from twisted.internet.defer import Deferred

from darkcrawl.meta import BACKOFF_SCHEDULED_KEY as SCHEDULED_KEY

if TYPE_CHECKING:
    from collections.abc import Callable

    from scrapy.core.downloader import Slot
    from scrapy.crawler import Crawler
    from scrapy.http import Request
    from scrapy.utils.asyncio import CallLaterResult

__all__ = ["Parking"]

#: Stand-ins in a parked host's slot when CONCURRENT_REQUESTS is 0 (no limit).
_UNBOUNDED_WEIGHT = 1000


def _fire(waiter: Deferred[bool], give_back: bool = False) -> None:
    if not waiter.called:
        waiter.callback(give_back)


class _Busy:
    """A stand-in for a download in a parked host's downloader slot (see :meth:`Parking.mark`)."""

    __slots__ = ()


@dataclass(slots=True)
class _Mark:
    slot: Slot
    stand_ins: list[_Busy]
    timer: CallLaterResult | None = None


class Parking:
    """The waiting requests of one middleware, by host key (*key_of* tells a request's)."""

    def __init__(self, crawler: Crawler, key_of: Callable[[Request], str | None],
                 clock: Callable[[], float]) -> None:
        self.crawler = crawler
        self._key_of = key_of
        self._clock = clock
        # more stand-ins than any live slot can have downloads (the crawl's total bounds them)
        self.busy_weight = (crawler.settings.getint("CONCURRENT_REQUESTS") or _UNBOUNDED_WEIGHT) + 1
        self._waiters: dict[str, set[Deferred[bool]]] = {}
        #: requests waiting here now
        self.sleeping: set[Request] = set()
        self._marks: dict[str, _Mark] = {}
        crawler.signals.connect(self._request_scheduled, signal=signals.request_scheduled)

    @staticmethod
    def scheduled(request: Request) -> bool:
        """Whether *request* came from the scheduler (and can go back to it)."""
        return bool(request.meta.get(SCHEDULED_KEY))

    def has_waiters(self, key: str) -> bool:
        return key in self._waiters

    async def wait(self, request: Request, key: str, seconds: float) -> bool:
        """Sleep until *seconds* pass or the host is woken; True: give the place back."""
        waiter: Deferred[bool] = Deferred()
        timer = call_later(max(0.0, seconds), _fire, waiter)
        waiters = self._waiters.setdefault(key, set())
        waiters.add(waiter)
        slot = self.slot(request)
        slot.active.add(request)
        self.sleeping.add(request)
        try:
            return await maybe_deferred_to_future(waiter)
        finally:
            timer.cancel()
            waiters.discard(waiter)
            if not waiters and self._waiters.get(key) is waiters:
                del self._waiters[key]
            slot.active.discard(request)
            self.sleeping.discard(request)

    def wake(self, key: str) -> None:
        for waiter in list(self._waiters.get(key, ())):
            _fire(waiter)

    def give_back(self, waited: bool, told: bool) -> bool:
        """Whether a request that waited should go back to the scheduler now: it was told
        to, or other hosts' requests want the place."""
        return waited and (told or self.crowded())

    def crowded(self) -> bool:
        engine = self.crawler.engine
        if not engine.downloader.needs_backout():
            return False
        scheduler = getattr(getattr(engine, "_slot", None), "scheduler", None)
        return scheduler is None or bool(scheduler.has_pending_requests())

    def closing(self) -> bool:
        engine = self.crawler.engine
        if not engine.running:
            return True
        slot = getattr(engine, "_slot", None)  # its ``closing`` is set when the spider closes for any reason
        return slot is None or slot.closing is not None

    # -- stand-ins ------------------------------------------------------------------------

    def mark(self, key: str, request: Request, until: float) -> None:
        """Make the host's downloader slot look busy until *until* (on the clock): slot-aware
        schedulers then keep its requests behind every live host's."""
        mark = self._marks.get(key)
        if mark is None:
            slot = self.slot(request)
            mark = self._marks[key] = _Mark(slot, [_Busy() for _ in range(self.busy_weight)])
            slot.active.update(mark.stand_ins)  # type: ignore[arg-type]
        if mark.timer is not None:
            mark.timer.cancel()
        mark.timer = call_later(max(0.0, until - self._clock()), self.due, key)

    def marked(self, key: str) -> bool:
        return key in self._marks

    def unmark(self, key: str) -> None:
        mark = self._marks.pop(key, None)
        if mark is None:
            return
        if mark.timer is not None:
            mark.timer.cancel()
        mark.slot.active.difference_update(mark.stand_ins)  # type: ignore[arg-type]

    def due(self, key: str) -> None:
        """The host's wait is over: its next request should go now."""
        self.unmark(key)
        if key in self._waiters:
            return  # one of its own requests is here, and wakes now
        self._make_room(for_key=key)
        # the engine asks its scheduler for requests when a download ends, or every 5 s
        nextcall = getattr(getattr(self.crawler.engine, "_slot", None), "nextcall", None)
        if nextcall is not None:
            nextcall.schedule()

    # -- making room ----------------------------------------------------------------------

    def _request_scheduled(self, request: Request) -> None:
        """A request was queued.  If it is a live host's and the downloader is full, a
        waiting request gives its place back, so that waiting never holds the crawl up."""
        request.meta[SCHEDULED_KEY] = True
        if not self._waiters:
            return
        key = self._key_of(request)
        if key not in self._marks:
            self._make_room(for_key=key)

    def _make_room(self, for_key: str | None) -> None:
        if not self._waiters or not self.crawler.engine.downloader.needs_backout():
            return
        for key, waiters in self._waiters.items():
            if key == for_key:
                continue
            for waiter in waiters:
                if not waiter.called:
                    _fire(waiter, give_back=True)
                    return

    def slot(self, request: Request) -> Slot:
        """The downloader slot the request will use (Scrapy has no public API to create one)."""
        return self.crawler.engine.downloader._get_slot(request)[1]  # noqa: SLF001
