"""The host ledger shared by the fleet: each host bootstrapped once, one page budget.

A bootstrap claim is one round trip the first time this worker meets a host
(cached afterwards), atomic in Redis, so N workers meeting a new host at once
bootstrap it once.  Page counts travel with the requests they count (the
frontier's flush) and come back as the fleet's totals; the budget
(``DARKCRAWL_HOST_PAGE_LIMIT``) is therefore exact per worker and may be
overshot by what the other workers admitted since this one last counted a page
of that host.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from darkcrawl.distributed.redis_frontier import RedisFrontier

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from typing_extensions import Self


class RedisHostLedger:
    def __init__(self, frontier: RedisFrontier) -> None:
        self.frontier = frontier
        #: host key -> time of its last bootstrap, as this worker knows it
        self._claimed: dict[str, float] = {}
        #: host key -> pages the fleet admitted, as last seen
        self._pages: dict[str, int] = {}
        frontier.on_epoch(self._claimed.clear)  # a recovered worker's claims were dropped
        frontier.on_counts(self._pages.update)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(RedisFrontier.for_crawler(crawler))

    def claim_bootstrap(self, key: str, now: float, older_than: float | None) -> bool:
        last = self._claimed.get(key)
        if last is not None and (older_than is None or last > older_than):
            return False
        claimed, when, pages = self.frontier.claim_host(key, now, older_than)
        self._claimed[key] = when
        if pages > self._pages.get(key, 0):
            self._pages[key] = pages
        return claimed

    def pages(self, key: str) -> int:
        return self._pages.get(key, 0) + self.frontier.pending_count(key)

    def count_page(self, key: str) -> None:
        self.frontier.count_page(key)

    def __len__(self) -> int:
        return int(self.frontier.client.hlen(self.frontier.key("hosts")))

    def close(self) -> None:
        self._claimed.clear()
