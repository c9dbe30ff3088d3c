"""Structured rows from site hooks into SQLite: ``TableRow`` items are upserted into
their table, keyed by their key columns, so a re-run adds only what is new.

The database is ``DARKCRAWL_TABLES_DB`` (default ``PATH_DATA/tables.sqlite``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from darkcrawl.items import TableRow
from darkcrawl.storage.tables import TableWriter

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from typing_extensions import Self


class TablePipeline:
    def __init__(self, path: Path, stats: Any) -> None:
        self.path = path
        self.stats = stats
        self.writer: TableWriter | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        path = crawler.settings.get("DARKCRAWL_TABLES_DB") or Path(crawler.settings["PATH_DATA"]) / "tables.sqlite"
        return cls(Path(path), crawler.stats)

    def process_item(self, item: Any) -> Any:
        if isinstance(item, TableRow):
            if self.writer is None:  # opened on first use: most crawls have no tables
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self.writer = TableWriter(self.path)
            new = self.writer.upsert(item.table, item.key, [item.row])
            self.stats.inc_value(f"darkcrawl/tables/{item.table}/{'new' if new else 'known'}")
        return item

    def close_spider(self) -> None:
        if self.writer is not None:
            self.writer.close()
