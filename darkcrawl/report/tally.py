"""Counts of what a crawl produced, by network: the facts behind the progress line
and the summary.  Fed with every item the crawl scraped; knows nothing of Scrapy."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from darkcrawl.items import FailureItem, PageItem, RenderItem, TrapItem

#: Distinct failure kinds whose example reason is kept (the rest are only counted).
MAX_REASON_EXAMPLES = 50


@dataclass
class NetworkTally:
    pages: int = 0
    renders: int = 0
    failed: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    hosts_up: set[str] = field(default_factory=set)
    hosts_failed: set[str] = field(default_factory=set)

    @property
    def hosts_down(self) -> int:
        """Hosts that failed and never answered."""
        return len(self.hosts_failed - self.hosts_up)


@dataclass
class CrawlTally:
    networks: dict[str, NetworkTally] = field(default_factory=dict)
    #: failures by kind (the exception or the bound that cut the visit), by stage
    failures: Counter[tuple[str, str]] = field(default_factory=Counter)
    #: one reason a person can read per failure kind
    examples: dict[str, str] = field(default_factory=dict)
    traps: Counter[str] = field(default_factory=Counter)

    def network(self, name: str) -> NetworkTally:
        tally = self.networks.get(name)
        if tally is None:
            tally = self.networks[name] = NetworkTally()
        return tally

    def add(self, item: Any) -> None:
        if isinstance(item, PageItem):
            tally = self.network(item.link.network)
            tally.pages += 1
            tally.statuses[item.status] += 1
            tally.hosts_up.add(item.link.host)
        elif isinstance(item, RenderItem):
            self.network(item.link.network).renders += 1
        elif isinstance(item, FailureItem):
            tally = self.network(item.network or "unknown")
            kind = item.error or "error"
            if item.stage != "render" and not item.partial:
                tally.failed += 1
                tally.hosts_failed.add(_host(item.url))
            self.failures[(item.stage, kind)] += 1
            if kind not in self.examples and len(self.examples) < MAX_REASON_EXAMPLES:
                self.examples[kind] = item.reason
        elif isinstance(item, TrapItem):
            self.traps[item.trap] += 1

    @property
    def pages(self) -> int:
        return sum(t.pages for t in self.networks.values())


def _host(url: str) -> str:
    try:
        return urlsplit(url).netloc.rsplit("@", 1)[-1].lower()
    except ValueError:
        return url
