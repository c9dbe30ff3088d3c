"""The exact in-memory URL-seen set (the protocol is :mod:`darkcrawl.seen.base`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from darkcrawl.seen.base import LocalSeenSet, SeenSet

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from typing_extensions import Self


class MemorySeenSet(LocalSeenSet):
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


__all__ = ["MemorySeenSet", "SeenSet"]
