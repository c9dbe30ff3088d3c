"""The crawl's report to the person who runs it.

- every ``DARKCRAWL_PROGRESS_INTERVAL`` seconds, one line per active network:
  fetched, failed, queued, rendering, hosts up and down (it replaces Scrapy's
  "Crawled N pages", which counts renders as pages);
- at the end, a summary a person can read (logged) and the same as JSON in
  ``DARKCRAWL_SUMMARY_FILE`` (default ``PATH_DATA/crawl-summary.json``);
- the exit code (:mod:`darkcrawl.report.outcome`), kept in the stats as
  ``darkcrawl/exit_code`` for the ``crawl`` command and ``darkcrawl`` to return.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scrapy import signals
from twisted.internet.task import LoopingCall

from darkcrawl.meta import LINK_KEY
from darkcrawl.config import get_option
from darkcrawl.report.outcome import exit_code
from darkcrawl.report.summary import build_summary, summary_lines
from darkcrawl.report.tally import CrawlTally
from darkcrawl.storage.atomic import atomic_write

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.crawler import Crawler
    from typing_extensions import Self

logger = logging.getLogger("darkcrawl.report")

EXIT_CODE_KEY = "darkcrawl/exit_code"


def _network(request: Request) -> str:
    link = request.meta.get(LINK_KEY)
    return link[0] if link else "unknown"


class CrawlReport:
    def __init__(self, crawler: Crawler, interval: float, summary_path: Path | None) -> None:
        self.crawler = crawler
        self.interval = interval
        self.summary_path = summary_path
        self.tally = CrawlTally()
        self.scheduled: Counter[str] = Counter()
        self.started: Counter[str] = Counter()
        self.in_flight: Counter[str] = Counter()
        self.rendering = 0
        self._loop: LoopingCall | None = None
        signal = crawler.signals.connect
        signal(self._item_scraped, signal=signals.item_scraped)
        signal(self._scheduled, signal=signals.request_scheduled)
        signal(self._reached, signal=signals.request_reached_downloader)
        signal(self._left, signal=signals.request_left_downloader)
        signal(self._opened, signal=signals.spider_opened)
        signal(self._closed, signal=signals.spider_closed)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        settings = crawler.settings
        path = settings.get("DARKCRAWL_SUMMARY_FILE")
        if path is None or path == "":
            summary = Path(settings["PATH_DATA"]) / "crawl-summary.json"
        else:
            summary = Path(path) if str(path) not in ("0", "none") else None
        return cls(crawler, get_option(settings, "DARKCRAWL_PROGRESS_INTERVAL"), summary)

    # -- counting ---------------------------------------------------------------------

    def _item_scraped(self, item: Any) -> None:
        self.tally.add(item)

    def _scheduled(self, request: Request) -> None:
        self.scheduled[_network(request)] += 1

    def _reached(self, request: Request) -> None:
        network = _network(request)
        self.started[network] += 1
        self.in_flight[network] += 1
        if request.meta.get("playwright"):
            self.rendering += 1

    def _left(self, request: Request) -> None:
        self.in_flight[_network(request)] -= 1
        if request.meta.get("playwright"):
            self.rendering -= 1

    # -- the periodic line -----------------------------------------------------------

    def _opened(self) -> None:
        if self.interval > 0:
            self._loop = LoopingCall(self.log_progress)
            self._loop.start(self.interval, now=False)

    def progress_lines(self) -> list[str]:
        lines = []
        for network in sorted(set(self.scheduled) | set(self.tally.networks)):
            tally = self.tally.network(network) if network in self.tally.networks else None
            queued = max(0, self.scheduled[network] - self.started[network])
            fetched = tally.pages if tally else 0
            failed = tally.failed if tally else 0
            up = len(tally.hosts_up) if tally else 0
            down = tally.hosts_down if tally else 0
            lines.append(f"progress {network}: {fetched} fetched, {failed} failed, {queued} queued, "
                         f"{max(0, self.in_flight[network])} in flight; hosts {up} up, {down} down")
        lines.append(f"progress: {self.tally.pages} pages, "
                     f"{sum(t.renders for t in self.tally.networks.values())} renders, "
                     f"{max(0, self.rendering)} rendering")
        return lines

    def log_progress(self) -> None:
        for line in self.progress_lines():
            logger.info(line)

    # -- the end ---------------------------------------------------------------------

    def _closed(self, reason: str) -> None:
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        stats = self.crawler.stats
        code = exit_code(stats.get_stats(), reason)
        stats.set_value(EXIT_CODE_KEY, int(code))
        if reason == "config_error":
            return  # the one-line reason was said already; a summary of nothing is noise
        summary = build_summary(stats.get_stats(), self.tally, reason, code,
                                str(Path(self.crawler.settings["PATH_DATA"]).resolve()))
        for line in summary_lines(summary):
            logger.info(line)
        if self.summary_path is not None:
            try:
                self.summary_path.parent.mkdir(parents=True, exist_ok=True)
                atomic_write(self.summary_path, json.dumps(summary, indent=1, sort_keys=True).encode())
            except OSError as exc:
                logger.warning("cannot write the crawl summary to %s: %s", self.summary_path, exc)
