"""Trap records: one JSON line per trap hit in ``PATH_DATA/misc/traps.jsonl``.

A :class:`~darkcrawl.items.TrapItem` says which defence fired where, and how many
links or URLs it kept out of the crawl: what an operator reads to decide whether a
bound was too tight, and what tells a trap site from a big one.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from darkcrawl.items import TrapItem
from darkcrawl.storage.atomic import AppendLog

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from typing_extensions import Self


class TrapPipeline:
    def __init__(self, path: Path, stats: Any) -> None:
        self.path = path
        self.stats = stats
        self.log: AppendLog | None = None  # opened on the first trap: most crawls have none

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(Path(crawler.settings["PATH_DATA"]) / "misc" / "traps.jsonl", crawler.stats)

    def close_spider(self) -> None:
        if self.log is not None:
            self.log.close()
            self.log = None

    def process_item(self, item: Any) -> Any:
        if isinstance(item, TrapItem):
            if self.log is None:
                self.log = AppendLog(self.path)
            record = asdict(item)
            del record["item_type"]  # the file holds traps only
            self.log.append((json.dumps(record, ensure_ascii=False) + "\n").encode())
            self.stats.inc_value("darkcrawl/saved/traps")
        return item
