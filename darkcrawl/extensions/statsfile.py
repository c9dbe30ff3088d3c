"""Writes the final crawl stats as JSON (``DARKCRAWL_STATS_FILE``), for benchmarks
and for monitoring that reads files rather than logs."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scrapy import signals
from scrapy.exceptions import NotConfigured

from darkcrawl.storage.atomic import atomic_write

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from typing_extensions import Self


class StatsFile:
    def __init__(self, crawler: Crawler, path: Path) -> None:
        self.crawler = crawler
        self.path = path
        crawler.signals.connect(self._spider_closed, signal=signals.spider_closed)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        path = crawler.settings.get("DARKCRAWL_STATS_FILE")
        if not path:
            raise NotConfigured
        return cls(crawler, Path(path))

    def _spider_closed(self, reason: str) -> None:
        stats: dict[str, Any] = dict(self.crawler.stats.get_stats())
        stats["finish_reason"] = reason
        data = json.dumps(stats, default=_jsonable, sort_keys=True, indent=1)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(self.path, data.encode())


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)
