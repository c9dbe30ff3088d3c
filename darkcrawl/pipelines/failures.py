"""Every failed (or cut) visit as one JSON line in ``PATH_DATA/misc/failures.jsonl``.

The record a later catalogue reads: URL, time, network, stage, the human reason,
the error name, the redirect chain so far and whether something was still saved.
Counted as ``darkcrawl/failures/<stage>`` and ``darkcrawl/failures/reason/<error>``.
"""

from __future__ import annotations

from darkcrawl.items import FailureItem
from darkcrawl.pipelines.jsonlines import JsonLinesPipeline
from darkcrawl.storage.paths import FAILURES_FILE

__all__ = ["FAILURES_FILE", "FailurePipeline"]


class FailurePipeline(JsonLinesPipeline):
    item_class = FailureItem
    relative_path = FAILURES_FILE
    optional = ("timing",)  # only an attempt that reached a transport has times

    def count(self, item: FailureItem) -> None:
        self.stats.inc_value(f"darkcrawl/failures/{item.stage}")
        self.stats.inc_value(f"darkcrawl/failures/reason/{item.error or 'unknown'}")
