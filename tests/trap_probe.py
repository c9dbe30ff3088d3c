"""A test extension: how long the crawl's event loop was ever blocked, and how much
the process grew.  A LoopingCall beats every 50 ms; the longest gap between two
beats is the longest time nothing else could run.  Loaded with
``-s EXTENSIONS={"tests.trap_probe.LoopProbe": 100}``; its figures go to the stats
(``probe/*``), written before the stats file is (lower order)."""

from __future__ import annotations

import time
from typing import Any

from scrapy import signals
from twisted.internet.task import LoopingCall


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


class LoopProbe:
    def __init__(self, crawler: Any) -> None:
        self.stats = crawler.stats
        self.last = 0.0
        self.max_gap = 0.0
        self.base_kb = 0
        self.loop = LoopingCall(self._beat)
        crawler.signals.connect(self._started, signal=signals.engine_started)
        crawler.signals.connect(self._closed, signal=signals.spider_closed)

    @classmethod
    def from_crawler(cls, crawler: Any) -> LoopProbe:
        return cls(crawler)

    def _started(self) -> None:
        self.base_kb = _status_kb("VmRSS")
        self.last = time.monotonic()
        self.loop.start(0.05, now=False)

    def _beat(self) -> None:
        now = time.monotonic()
        self.max_gap = max(self.max_gap, now - self.last)
        self.last = now

    def _closed(self) -> None:
        if self.loop.running:
            self.loop.stop()
        self.stats.set_value("probe/max_gap_s", round(self.max_gap, 3))
        self.stats.set_value("probe/rss_base_kb", self.base_kb)
        self.stats.set_value("probe/rss_peak_kb", _status_kb("VmHWM"))
