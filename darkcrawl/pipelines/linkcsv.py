"""``link.csv``: darc's link database, one row per fetched document or sitemap.

Columns are darc's (``proxy,scheme,host,hash,link``) plus the page the link was
found on and the fetch time.  URLs are percent-quoted as darc does, which also
keeps every row free of commas and newlines: one row is one atomic append.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from darkcrawl.items import HostFileItem, PageItem
from darkcrawl.storage import paths
from darkcrawl.storage.atomic import AppendLog

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from typing_extensions import Self

HEADER = b"proxy,scheme,host,hash,link,source,timestamp\n"


def csv_row(network: str, scheme: str, host: str, url: str, source: str | None, timestamp: str) -> bytes:
    fields = (
        network,
        scheme,
        paths.host_dirname(host),
        paths.url_hash(url),
        quote(url, safe="/"),
        quote(source, safe="/") if source else "",
        timestamp,
    )
    return (",".join(fields) + "\n").encode()


class LinkCsvPipeline:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.log: AppendLog | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(Path(crawler.settings["PATH_DATA"]) / "link.csv")

    def open_spider(self) -> None:
        self.log = AppendLog(self.path, header=HEADER)

    def close_spider(self) -> None:
        if self.log:
            self.log.close()

    def process_item(self, item: Any) -> Any:
        assert self.log is not None
        if isinstance(item, PageItem):
            link = item.link
            self.log.append(csv_row(link.network, link.scheme, link.host, link.url, link.backref, item.timestamp))
        elif isinstance(item, HostFileItem) and item.kind == "sitemap":
            self.log.append(csv_row(item.network, item.scheme, item.host, item.url, None, item.timestamp))
        return item
