"""Per-host crawl state: when each host was bootstrapped, how many pages it was given.

The spider asks the ledger rather than keeping dicts of its own, so that the state
can persist with the frontier (``darkcrawl.frontier.store``) or be shared by a fleet
(a Redis ledger: one bootstrap per host however many workers see it).  The class is
chosen by ``DARKCRAWL_HOST_LEDGER_CLASS``.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from typing_extensions import Self


class HostLedger(Protocol):
    def claim_bootstrap(self, key: str, now: float, older_than: float | None) -> bool:
        """True if the caller should bootstrap *key* now: never bootstrapped, or (when
        *older_than* is given) bootstrapped at or before that time.  Records *now*."""

    def pages(self, key: str) -> int: ...

    def count_page(self, key: str) -> None: ...

    def __len__(self) -> int:
        """Hosts bootstrapped so far."""

    def close(self) -> None: ...


class MemoryHostLedger:
    """One process's ledger; persisted by the frontier store when there is one."""

    def __init__(self) -> None:
        self.bootstrapped: dict[str, float] = {}
        self.page_counts: Counter[str] = Counter()

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls()

    def claim_bootstrap(self, key: str, now: float, older_than: float | None) -> bool:
        last = self.bootstrapped.get(key)
        if last is not None and (older_than is None or last > older_than):
            return False
        self.bootstrapped[key] = now
        return True

    def pages(self, key: str) -> int:
        return self.page_counts[key]

    def count_page(self, key: str) -> None:
        self.page_counts[key] += 1

    def __len__(self) -> int:
        return len(self.bootstrapped)

    def close(self) -> None:
        pass
