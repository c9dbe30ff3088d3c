"""Items of one kind as JSON lines in one file under ``PATH_DATA`` (failures, traps).

Appended with :class:`AppendLog` (one ``write(2)`` per line: never torn, safe with
several processes); the file is opened on the first item, so a crawl that has none
leaves none.  ``item_type`` is left out of each line: the file holds one kind.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from darkcrawl.storage.atomic import AppendLog

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from typing_extensions import Self


class JsonLinesPipeline:
    #: the items written, and where (relative to PATH_DATA)
    item_class: ClassVar[type]
    relative_path: ClassVar[str]
    #: fields left out of a line when they are None
    optional: ClassVar[tuple[str, ...]] = ()

    def __init__(self, root: Path, stats: Any) -> None:
        self.path = root / self.relative_path
        self.stats = stats
        self.log: AppendLog | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(Path(crawler.settings["PATH_DATA"]), crawler.stats)

    def process_item(self, item: Any) -> Any:
        if isinstance(item, self.item_class):
            if self.log is None:
                self.log = AppendLog(self.path)
            record = dataclasses.asdict(item)
            del record["item_type"]
            for name in self.optional:
                if record.get(name) is None:
                    record.pop(name, None)
            self.log.append((json.dumps(record, ensure_ascii=False) + "\n").encode())
            self.count(item)
        return item

    def count(self, item: Any) -> None:
        """The stats of one written item."""

    def close_spider(self) -> None:
        if self.log is not None:
            self.log.close()
            self.log = None
