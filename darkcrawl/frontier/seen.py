"""URL-seen: decided on the URL string, before any Request object exists.

Building and fingerprinting a Request for every extracted link (as CrawlSpider and
Scrapy's dupefilter do) costs most of a page's CPU; a string lookup costs little.
The class is chosen by ``DARKCRAWL_SEEN_CLASS`` so that a persistent or shared
implementation (Bloom filter, Redis) can replace this in-memory one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from typing_extensions import Self


class SeenSet(Protocol):
    def add(self, url: str) -> bool:
        """Record *url*; True when it was not seen before."""

    def __contains__(self, url: object) -> bool: ...

    def __len__(self) -> int: ...

    def close(self) -> None: ...


class MemorySeenSet:
    """Exact, in memory, for one process: fine up to a few million URLs."""

    def __init__(self) -> None:
        self._urls: set[str] = set()

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls()

    def add(self, url: str) -> bool:
        urls = self._urls
        if url in urls:
            return False
        urls.add(url)
        return True

    def __contains__(self, url: object) -> bool:
        return url in self._urls

    def __len__(self) -> int:
        return len(self._urls)

    def close(self) -> None:
        self._urls.clear()
