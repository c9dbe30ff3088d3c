"""The crawl catalogue, kept up to date while the crawl runs.

Items become rows here (:mod:`darkcrawl.catalog.rows`, cheap and in the
reactor's thread, so no item's body is held), and a writer process
(:mod:`darkcrawl.catalog.writer_process`) writes them in batches
(``DARKCRAWL_CATALOG_BATCH`` rows, or every ``DARKCRAWL_CATALOG_INTERVAL``
seconds), one transaction each: the crawl never waits for the database, and the
database's work does not compete with the crawl for Python's GIL.  The catalogue
is derived data: a batch the database refused is counted
(``darkcrawl/catalog/lost``) and ``scrapy catalog --rebuild`` makes it whole
again; the crawl goes on.
"""

from __future__ import annotations

import logging
import multiprocessing
import queue
import time
from typing import TYPE_CHECKING, Any

from scrapy.exceptions import NotConfigured
from twisted.internet.task import LoopingCall

from darkcrawl.catalog.db import catalog_location, redact
from darkcrawl.catalog.documents import document_facts
from darkcrawl.catalog.facets import Facet, build_facets
from darkcrawl.catalog.rebuild import RebuildSource
from darkcrawl.catalog.rows import failure_row, page_visit, render_visit
from darkcrawl.catalog.writer_process import STOP, Totals, writer_main
from darkcrawl.config import get_option
from darkcrawl.items import FailureItem, PageItem, RenderItem

if TYPE_CHECKING:
    from multiprocessing.process import BaseProcess

    from scrapy.crawler import Crawler
    from typing_extensions import Self

logger = logging.getLogger(__name__)

#: at close, how long (s) the writer may take to write what is queued
CLOSE_TIMEOUT = 120.0
#: rows handed to the writer at once (a pickle and a pipe write each)
SEND_ROWS = 64


class CatalogPipeline:
    def __init__(self, location: str, stats: Any, reading: RebuildSource, *, batch: int, interval: float,
                 facets: list[Facet] | None = None) -> None:
        self.location = location
        self.facets = facets if facets is not None else build_facets()
        self.stats = stats
        self.reading = reading  # how pages are read: as a rebuild reads them
        self.batch = max(1, batch)
        self.interval = interval
        self.process: BaseProcess | None = None
        self.rows: Any = None  # multiprocessing queues, between open and close
        self.results: Any = None
        self.pending: list[Any] = []
        self.failed = False  # the catalogue could not be opened: rows are dropped
        self._flusher: LoopingCall | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        settings = crawler.settings
        if not get_option(settings, "DARKCRAWL_CATALOG"):
            raise NotConfigured("DARKCRAWL_CATALOG is off")
        location = catalog_location(settings["PATH_DATA"], get_option(settings, "DARKCRAWL_CATALOG_URL"))
        return cls(location, crawler.stats, RebuildSource.from_settings(settings),
                   batch=get_option(settings, "DARKCRAWL_CATALOG_BATCH"),
                   interval=get_option(settings, "DARKCRAWL_CATALOG_INTERVAL"), facets=build_facets(settings))

    def open_spider(self) -> None:
        # spawn, not fork: the crawl has threads (a forked copy of a held lock never opens)
        context = multiprocessing.get_context("spawn")
        self.rows, self.results = context.Queue(), context.Queue()
        self.process = context.Process(
            target=writer_main, name="darkcrawl-catalog", daemon=True,
            args=(self.location, self.facets, self.batch, self.interval, self.rows, self.results))
        self.process.start()
        self._flusher = LoopingCall(self._send)
        self._flusher.start(max(0.1, self.interval / 2), now=False)

    def close_spider(self) -> None:
        if self.process is None:
            return
        if self._flusher is not None and self._flusher.running:
            self._flusher.stop()
        self._send()
        self.rows.put(STOP)
        totals = self._totals(CLOSE_TIMEOUT)
        if totals is None:
            self.stats.inc_value("darkcrawl/catalog/unfinished")
            logger.warning("the catalogue %s is still writing after %.0f s; what is missing from it, "
                           "`scrapy catalog --rebuild` adds", redact(self.location), CLOSE_TIMEOUT)
            self.process.terminate()
        else:
            self._count(totals)
        self.process.join(10)
        self.rows.close()
        self.results.close()

    def process_item(self, item: Any) -> Any:
        if self.failed:
            return item
        if isinstance(item, PageItem):
            if item.links is None and item.is_html and item.duplicate_of is None and item.document_path:
                self._parse(item)  # a page the spider did not parse (a site hook's): read as a rebuild reads it
            self.pending.append(page_visit(item, self.reading.targets))
        elif isinstance(item, RenderItem):
            self.pending.append(render_visit(item, self.reading.targets))
        elif isinstance(item, FailureItem):
            self.pending.append(failure_row(item, self.reading.gateways))
        if len(self.pending) >= SEND_ROWS:
            self._send()
        return item

    def _parse(self, item: PageItem) -> None:
        facts = document_facts(item.final_url, item.body, item.response_headers, item.content_type,
                               self.reading.extra, self.reading.max_text)
        if facts is not None:
            item.links, item.title, item.text = facts.links, facts.title, facts.text

    # -- talking to the writer --------------------------------------------------------------

    def _send(self) -> None:
        if self.failed or self.rows is None:
            self.pending = []
            return
        if self.pending:
            self.rows.put(self.pending)  # the queue's feeder thread pickles and sends it
            self.pending = []
        self._early_news()

    def _early_news(self) -> None:
        """The writer says so at once when the catalogue cannot be opened: stop sending."""
        try:
            totals = self.results.get_nowait()
        except queue.Empty:
            return
        self._count(totals)
        if totals.unavailable:
            self.failed = True

    def _totals(self, timeout: float) -> Totals | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                totals: Totals = self.results.get(timeout=1.0)
            except queue.Empty:
                if self.process is not None and not self.process.is_alive():
                    return Totals(errors=[f"the writer process ended with code {self.process.exitcode}"])
                continue
            if totals.unavailable:  # said at the start already (or now): nothing more comes
                self._count(totals)
                return Totals()
            return totals
        return None

    def _count(self, totals: Totals) -> None:
        stats = self.stats
        if totals.unavailable:
            stats.inc_value("darkcrawl/catalog/unavailable")
            logger.warning("%s; the crawl goes on without it (`scrapy catalog --rebuild` makes it later)",
                           totals.unavailable)
            return
        for name in ("batches", "snapshots", "renders", "failures"):
            stats.inc_value(f"darkcrawl/catalog/{name}", getattr(totals, name))
        if totals.lost:
            stats.inc_value("darkcrawl/catalog/lost", totals.lost)
        stats.set_value("darkcrawl/catalog/writer_cpu_seconds", round(totals.cpu_seconds, 3))
        if totals.finish_failed:
            stats.inc_value("darkcrawl/catalog/finish_failed")
        for error in totals.errors:
            logger.warning("catalogue %s: %s: `scrapy catalog --rebuild` makes it whole", redact(self.location), error)
