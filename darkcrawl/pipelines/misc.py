"""Links that are recorded, never fetched: ``misc/<kind>.txt`` as JSON lines.

Each line is darc's ``{"src", "url"}`` plus the time and, for invalid links, the
reason.  ``data:`` URIs are decoded to ``misc/data/<sha256>_<ts><ext>`` and listed
in ``misc/data/data.txt``.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scrapy.utils.datatypes import LocalCache

from darkcrawl.items import PageItem
from darkcrawl.storage import paths
from darkcrawl.storage.atomic import AppendLog, atomic_write
from darkcrawl.storage.datauri import decode_data_uri

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from typing_extensions import Self


class MiscLinksPipeline:
    def __init__(self, root: Path, stats: Any) -> None:
        self.root = root
        self.stats = stats
        self.logs: dict[str, AppendLog] = {}
        #: data: URIs already decoded (pages repeat their inline images)
        self._decoded: LocalCache[str, str] = LocalCache(limit=10000)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(Path(crawler.settings["PATH_DATA"]), crawler.stats)

    def close_spider(self) -> None:
        for log in self.logs.values():
            log.close()
        self.logs.clear()

    def _log(self, kind: str) -> AppendLog:
        log = self.logs.get(kind)
        if log is None:
            path = self.root / "misc" / ("data/data.txt" if kind == "data" else f"{kind}.txt")
            log = self.logs[kind] = AppendLog(path)
        return log

    def process_item(self, item: Any) -> Any:
        if isinstance(item, PageItem) and item.special_links:
            for kind, value, reason in item.special_links:
                record: dict[str, Any] = {"src": item.link.url, "url": value, "timestamp": item.timestamp}
                if kind == "data":
                    saved = self._save_data_uri(value, item.timestamp)
                    if saved is None:
                        kind, record["reason"] = "invalid", "undecodable data: URI"
                        record["url"] = value[:256]
                    else:
                        record["url"] = saved
                if reason:
                    record["reason"] = reason
                line = json.dumps(record, ensure_ascii=False) + "\n"
                self._log(kind).append(line.encode())
                self.stats.inc_value(f"darkcrawl/special/{kind}")
        return item

    def _save_data_uri(self, uri: str, timestamp: str) -> str | None:
        if uri in self._decoded:
            return self._decoded[uri]
        decoded = decode_data_uri(uri)
        if decoded is None:
            return None
        media_type, data = decoded
        name = paths.data_uri_name(uri, datetime.fromisoformat(timestamp), media_type)
        relative = f"misc/data/{name}"
        atomic_write(self.root / relative, data)
        self._decoded[uri] = relative
        return relative
