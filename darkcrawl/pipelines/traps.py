"""Trap records: one JSON line per trap hit in ``PATH_DATA/misc/traps.jsonl``.

A :class:`~darkcrawl.items.TrapItem` says which defence fired where, and how many
links or URLs it kept out of the crawl: what an operator reads to decide whether a
bound was too tight, and what tells a trap site from a big one.
"""

from __future__ import annotations

from darkcrawl.items import TrapItem
from darkcrawl.pipelines.jsonlines import JsonLinesPipeline


class TrapPipeline(JsonLinesPipeline):
    item_class = TrapItem
    relative_path = "misc/traps.jsonl"

    def count(self, item: TrapItem) -> None:
        self.stats.inc_value("darkcrawl/saved/traps")
