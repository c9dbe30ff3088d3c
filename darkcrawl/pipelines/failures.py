"""Every failed (or cut) visit as one JSON line in ``PATH_DATA/misc/failures.jsonl``.

The record a later catalogue reads: URL, time, network, stage, the human reason,
the error name, the redirect chain so far and whether something was still saved.
Appended with :class:`AppendLog` (one ``write(2)`` per line: never torn, safe with
several processes).  Counted as ``darkcrawl/failures/<stage>`` and
``darkcrawl/failures/reason/<error>``.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from darkcrawl.items import FailureItem
from darkcrawl.storage.atomic import AppendLog

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from typing_extensions import Self

FAILURES_FILE = "misc/failures.jsonl"


class FailurePipeline:
    def __init__(self, root: Path, stats: Any) -> None:
        self.path = root / FAILURES_FILE
        self.stats = stats
        self.log: AppendLog | None = None  # opened on the first failure

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(Path(crawler.settings["PATH_DATA"]), crawler.stats)

    def process_item(self, item: Any) -> Any:
        if isinstance(item, FailureItem):
            if self.log is None:
                self.log = AppendLog(self.path)
            record = dataclasses.asdict(item)
            del record["item_type"]  # the file holds failures only
            self.log.append((json.dumps(record, ensure_ascii=False) + "\n").encode())
            self.stats.inc_value(f"darkcrawl/failures/{item.stage}")
            self.stats.inc_value(f"darkcrawl/failures/reason/{item.error or 'unknown'}")
        return item

    def close_spider(self) -> None:
        if self.log is not None:
            self.log.close()
            self.log = None
