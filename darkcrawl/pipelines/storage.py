"""Saves what the plain stage fetched: raw documents, headers JSON, host files.

Every file is written atomically (temporary file + rename), so a crash never
leaves a torn record; file names carry the URL's SHA-256 and a UTC timestamp.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from darkcrawl.items import HostFileItem, PageItem, RenderItem
from darkcrawl.records import headers_record
from darkcrawl.storage import paths
from darkcrawl.storage.atomic import atomic_write

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from typing_extensions import Self


class StoragePipeline:
    def __init__(self, root: Path, stats: Any) -> None:
        self.root = root
        self.stats = stats

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(Path(crawler.settings["PATH_DATA"]), crawler.stats)

    def process_item(self, item: Any) -> Any:
        if isinstance(item, PageItem):
            self._save_page(item)
        elif isinstance(item, RenderItem):
            self._save_render(item)
        elif isinstance(item, HostFileItem):
            self._save_host_file(item)
        return item

    def _save_render(self, item: RenderItem) -> None:
        link = item.link
        when = datetime.fromisoformat(item.timestamp)
        base = paths.host_base(link.network, link.scheme, link.host)
        stem = f"{paths.url_hash(link.url)}_{paths.timestamp_token(when)}"
        document = base / f"{stem}.html"  # darc's names: rendered .html beside the _raw.html
        atomic_write(self.root / document, item.html)
        item.document_path = str(document)
        if item.screenshot is not None:
            screenshot = base / f"{stem}.png"
            atomic_write(self.root / screenshot, item.screenshot)
            item.screenshot_path = str(screenshot)
        self.stats.inc_value("darkcrawl/saved/renders")

    def _save_page(self, item: PageItem) -> None:
        link = item.link
        when = datetime.fromisoformat(item.timestamp)
        base = paths.host_base(link.network, link.scheme, link.host)
        name = paths.url_hash(link.url)
        document = base / paths.document_name(link.url, when, item.content_type)
        atomic_write(self.root / document, item.body)
        item.document_path = str(document)
        headers = base / paths.headers_name(link.url, when)
        record = headers_record(item, str(base), name)
        atomic_write(self.root / headers, json.dumps(record, ensure_ascii=False).encode())
        item.headers_path = str(headers)
        self.stats.inc_value("darkcrawl/saved/documents")

    def _save_host_file(self, item: HostFileItem) -> None:
        path = paths.host_file_path(item.kind, item.url, item.network, item.scheme, item.host)
        atomic_write(self.root / path, item.body)
        item.path = str(path)
        self.stats.inc_value(f"darkcrawl/saved/{item.kind}")
