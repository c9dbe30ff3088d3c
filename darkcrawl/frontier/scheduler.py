"""The embedded, crash-proof scheduler: the frontier in ``JOBDIR/frontier.sqlite``.

Scrapy's own JOBDIR survives Ctrl-C but not kill -9: its disk queues record their
sizes, and the scheduler its active priorities, only when they close.  This
scheduler keeps every request in :class:`~darkcrawl.frontier.store.FrontierStore`
and marks it done only when the engine is finished with it (see
:mod:`darkcrawl.frontier.ack`), so a killed crawl restarts where it stopped, with
the requests that were in flight fetched again.

Order: like Scrapy's ``DownloaderAwarePriorityQueue``, each request goes to the
download slot with the fewest active downloads (a host's pages spread over the
crawl instead of queueing behind one slow onion), and within a slot by priority,
then first in, first out.

A request that cannot be stored (a live object in its meta) is kept in memory and
counted in ``darkcrawl/frontier/memory_only``.
"""

from __future__ import annotations

import heapq
import logging
from collections import deque
from itertools import count
from typing import TYPE_CHECKING

from scrapy.core.scheduler import BaseScheduler
from scrapy.exceptions import NotConfigured

from darkcrawl.frontier import serialize
from darkcrawl.frontier.ack import call_when_done
from darkcrawl.frontier.store import FrontierStore
from darkcrawl.meta import FRONTIER_ROW_KEY as ROW_KEY, SHUTDOWN_ABANDONED_KEY, SLOT_KEY

if TYPE_CHECKING:
    from scrapy import Request, Spider
    from scrapy.crawler import Crawler
    from typing_extensions import Self

logger = logging.getLogger(__name__)


class FrontierScheduler(BaseScheduler):
    def __init__(self, crawler: Crawler, store: FrontierStore) -> None:
        self.crawler = crawler
        self.stats = crawler.stats
        self.store = store
        #: slot -> pending rows in the store; the order of the dict is the round robin
        self._pending: dict[str, int] = {}
        self._slots: deque[str] = deque()
        #: slot -> heap of (-priority, n, request) of requests kept in memory only
        self._memory: dict[str, list[tuple[int, int, Request]]] = {}
        self._memory_count = 0
        self._tie = count()
        self.spider: Spider | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        store = FrontierStore.for_crawler(crawler)
        if store is None:
            raise NotConfigured("FrontierScheduler needs JOBDIR")
        return cls(crawler, store)

    def open(self, spider: Spider) -> None:
        self.spider = spider
        requeued = self.store.requeue_leased()
        self._pending = self.store.pending_by_slot()
        self._slots = deque(self._pending)
        total = sum(self._pending.values())
        if total or requeued:
            logger.info("frontier resumed from %s: %d requests pending (%d were in flight)",
                        self.store.path, total, requeued)
        self.stats.set_value("darkcrawl/frontier/resumed", total)
        assert self.crawler.engine is not None
        call_when_done(self.crawler.engine, self._done)

    def close(self, reason: str) -> None:
        self.store.commit()
        if self._memory_count:
            logger.warning("%d requests that could not be stored are lost with this crawl", self._memory_count)

    def has_pending_requests(self) -> bool:
        return bool(self._slots) or self._memory_count > 0

    def __len__(self) -> int:
        return sum(self._pending.values()) + self._memory_count

    # -- in ------------------------------------------------------------------------------

    def enqueue_request(self, request: Request) -> bool:
        request.meta.pop(ROW_KEY, None)  # a retry or redirect is a new row
        slot = self._slot_of(request)
        if not self._pending.get(slot) and slot not in self._memory:
            self._slots.append(slot)
        try:
            data = serialize.request_to_bytes(request, self.spider)  # type: ignore[arg-type]
        except (TypeError, ValueError) as exc:
            logger.debug("keeping %s in memory: %s", request, exc)
            heapq.heappush(self._memory.setdefault(slot, []), (-request.priority, next(self._tie), request))
            self._memory_count += 1
            self.stats.inc_value("darkcrawl/frontier/memory_only")
        else:
            self.store.push(slot, request.priority, request.url, data)
            self._pending[slot] = self._pending.get(slot, 0) + 1
        self.stats.inc_value("scheduler/enqueued")
        return True

    def _slot_of(self, request: Request) -> str:
        engine = self.crawler.engine
        if engine is not None:
            return engine.downloader.get_slot_key(request)
        return request.meta.get(SLOT_KEY) or ""

    # -- out -----------------------------------------------------------------------------

    def next_request(self) -> Request | None:
        slot = self._pick_slot()
        if slot is None:
            return None
        memory = self._memory.get(slot)
        if memory:
            request = heapq.heappop(memory)[2]
            self._memory_count -= 1
            if not memory:
                del self._memory[slot]
                if not self._pending.get(slot):
                    self._forget(slot)
        else:
            popped = self.store.pop(slot)
            left = self._pending.get(slot, 1) - 1
            if popped is None or left <= 0:
                self._pending.pop(slot, None)
                if slot not in self._memory:
                    self._forget(slot)
            else:
                self._pending[slot] = left
            if popped is None:
                return None
            row_id, data = popped
            try:
                request = serialize.request_from_bytes(data, self.spider)  # type: ignore[arg-type]
            except Exception as exc:  # a row from an incompatible version: skip it, say so
                logger.error("cannot load a queued request (row %d): %s", row_id, exc)
                self.stats.inc_value("darkcrawl/frontier/unloadable")
                self.store.done(row_id)
                return None
            request.meta[ROW_KEY] = row_id
        self.stats.inc_value("scheduler/dequeued")
        return request

    def _pick_slot(self) -> str | None:
        slots = self._slots
        if not slots:
            return None
        downloader_slots = self.crawler.engine.downloader.slots if self.crawler.engine else {}
        best: str | None = None
        best_active = -1
        # Round robin from where the last call stopped; the first idle slot wins.
        for _ in range(len(slots)):
            slot = slots[0]
            slots.rotate(-1)
            current = downloader_slots.get(slot)
            active = len(current.active) if current is not None else 0
            if active == 0:
                return slot
            if best is None or active < best_active:
                best, best_active = slot, active
        return best

    def _forget(self, slot: str) -> None:
        try:
            self._slots.remove(slot)
        except ValueError:
            pass

    def _done(self, request: Request) -> None:
        row_id = request.meta.get(ROW_KEY)
        if request.meta.get(SHUTDOWN_ABANDONED_KEY):
            # cut by a shutdown before its callback finished: left handed out, so the
            # next start puts it back (requeue_leased) and does it again
            self.stats.inc_value("darkcrawl/frontier/left_for_next_start")
            return
        if row_id is not None and not self.store.closed:
            self.store.done(row_id)

