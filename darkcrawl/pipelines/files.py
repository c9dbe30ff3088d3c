"""Saves what the plain stage fetched: raw documents, headers JSON, host files.

Every file is written atomically (temporary file + rename), so a crash never
leaves a torn record; file names carry the URL's SHA-256 and a UTC timestamp.
A page whose content another URL had first (``PageItem.duplicate_of``) gets its
headers JSON (with ``Duplicate-Of``) and a row in ``misc/duplicates.csv``, not
another copy of the document.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from darkcrawl.items import HostFileItem, PageItem, RenderItem
from darkcrawl.records import headers_record
from darkcrawl.storage import paths
from darkcrawl.storage.atomic import AppendLog, atomic_write

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from typing_extensions import Self

DUPLICATES_HEADER = b"link,duplicate_of,digest,timestamp\n"


def duplicate_row(url: str, first_url: str, digest: str, timestamp: str) -> bytes:
    """One ``misc/duplicates.csv`` row; URLs percent-quoted as in ``link.csv``."""
    return f"{quote(url, safe='/')},{quote(first_url, safe='/')},{digest},{timestamp}\n".encode()


class StoragePipeline:
    def __init__(self, root: Path, stats: Any) -> None:
        self.root = root
        self.stats = stats
        self._duplicates: AppendLog | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(Path(crawler.settings["PATH_DATA"]), crawler.stats)

    def close_spider(self) -> None:
        if self._duplicates is not None:
            self._duplicates.close()
            self._duplicates = None

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
        # named by the visit (the plain fetch) it belongs to: one visit, one stem
        when = datetime.fromisoformat(item.visit or item.timestamp)
        base = paths.host_base(link.network, link.scheme, link.host)
        stem = paths.visit_stem(link.url, when)
        document = base / f"{stem}.html"  # darc's names: rendered .html beside the _raw.html
        atomic_write(self.root / document, item.html)
        item.document_path = str(document)
        if item.screenshot is not None:
            screenshot = base / f"{stem}.png"
            atomic_write(self.root / screenshot, item.screenshot)
            item.screenshot_path = str(screenshot)
        self.stats.inc_value("darkcrawl/saved/renders")
        if item.visit is not None:
            self._name_render_in_headers(self.root / base / paths.headers_name(link.url, when), item)

    def _name_render_in_headers(self, headers: Path, item: RenderItem) -> None:
        """The visit's headers record names its rendered DOM and screenshot."""
        try:
            record = json.loads(headers.read_bytes())
        except FileNotFoundError:  # the plain stage saved no record (PATH_DATA emptied meanwhile)
            return
        except ValueError:
            self.stats.inc_value("darkcrawl/saved/headers_unreadable")
            return
        record["Rendered"] = {"Timestamp": item.timestamp, "URL": item.final_url,
                              "Document": item.document_path, "Screenshot": item.screenshot_path,
                              "Full-Page": item.screenshot_full_page}
        atomic_write(headers, json.dumps(record, ensure_ascii=False).encode())

    def _save_page(self, item: PageItem) -> None:
        link = item.link
        when = datetime.fromisoformat(item.timestamp)
        base = paths.host_base(link.network, link.scheme, link.host)
        name = paths.url_hash(link.url)
        if item.duplicate_of is None:
            document = base / paths.document_name(link.url, when, item.content_type)
            atomic_write(self.root / document, item.body)
            item.document_path = str(document)
            self.stats.inc_value("darkcrawl/saved/documents")
        else:
            self._record_duplicate(item, item.duplicate_of)
        headers = base / paths.headers_name(link.url, when)
        record = headers_record(item, str(base), name)
        atomic_write(self.root / headers, json.dumps(record, ensure_ascii=False).encode())
        item.headers_path = str(headers)

    def _record_duplicate(self, item: PageItem, first_url: str) -> None:
        if self._duplicates is None:
            self._duplicates = AppendLog(self.root / "misc" / "duplicates.csv", header=DUPLICATES_HEADER)
        self._duplicates.append(duplicate_row(item.link.url, first_url, item.content_digest or "", item.timestamp))
        self.stats.inc_value("darkcrawl/saved/duplicates")

    def _save_host_file(self, item: HostFileItem) -> None:
        path = paths.host_file_path(item.kind, item.url, item.network, item.scheme, item.host)
        atomic_write(self.root / path, item.body)
        item.path = str(path)
        self.stats.inc_value(f"darkcrawl/saved/{item.kind}")
