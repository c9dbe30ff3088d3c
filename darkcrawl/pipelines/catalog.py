"""The crawl catalogue, kept up to date while the crawl runs.

Items become rows here (:mod:`darkcrawl.catalog.rows`, cheap and in the
reactor's thread, so no item's body is held), and one writer thread writes them
in batches (``DARKCRAWL_CATALOG_BATCH`` rows, or every
``DARKCRAWL_CATALOG_INTERVAL`` seconds), one transaction each: the crawl never
waits for the database.  The catalogue is derived data: a batch the database
refused is counted (``darkcrawl/catalog/lost``) and ``scrapy catalog --rebuild``
makes it whole again; the crawl goes on.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import TYPE_CHECKING, Any

from scrapy.exceptions import NotConfigured

from darkcrawl.catalog.db import CatalogDB, CatalogError, catalog_location, redact
from darkcrawl.catalog.documents import document_facts
from darkcrawl.catalog.facets import Facet, build_facets
from darkcrawl.catalog.rebuild import RebuildSource
from darkcrawl.catalog.rows import FailureRow, Visit, failure_row, page_visit, render_visit
from darkcrawl.catalog.writer import CatalogWriter
from darkcrawl.config import get_option
from darkcrawl.items import FailureItem, PageItem, RenderItem

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from typing_extensions import Self

logger = logging.getLogger(__name__)

#: a batch the database refused is tried this many times, a second apart
WRITE_ATTEMPTS = 3
#: at close, how long (s) the writer may take to write what is queued
CLOSE_TIMEOUT = 120.0
_STOP = object()


class CatalogPipeline:
    def __init__(self, location: str, stats: Any, reading: RebuildSource, *, batch: int, interval: float,
                 facets: list[Facet] | None = None) -> None:
        self.location = location
        self.facets = facets
        self.stats = stats
        self.reading = reading  # how pages are read: as a rebuild reads them
        self.batch = max(1, batch)
        self.interval = interval
        self.queue: queue.Queue[Any] = queue.Queue()
        self.thread: threading.Thread | None = None
        self.failed = threading.Event()  # the catalogue could not be opened: rows are dropped

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
        self.thread = threading.Thread(target=self._run, name="darkcrawl-catalog", daemon=True)
        self.thread.start()

    def close_spider(self) -> None:
        if self.thread is None:
            return
        self.queue.put(_STOP)
        self.thread.join(CLOSE_TIMEOUT)
        if self.thread.is_alive():
            self.stats.inc_value("darkcrawl/catalog/unfinished")
            logger.warning("the catalogue %s is still writing after %.0f s; what is missing from it, "
                           "`scrapy catalog --rebuild` adds", redact(self.location), CLOSE_TIMEOUT)

    def process_item(self, item: Any) -> Any:
        if self.failed.is_set():
            return item
        if isinstance(item, PageItem):
            if item.links is None and item.is_html and item.duplicate_of is None and item.document_path:
                self._parse(item)  # a page the spider did not parse (a site hook's): read as a rebuild reads it
            self.queue.put(page_visit(item, self.reading.targets))
        elif isinstance(item, RenderItem):
            self.queue.put(render_visit(item, self.reading.targets))
        elif isinstance(item, FailureItem):
            self.queue.put(failure_row(item, self.reading.gateways))
        return item

    def _parse(self, item: PageItem) -> None:
        facts = document_facts(item.final_url, item.body, item.response_headers, item.content_type,
                               self.reading.extra, self.reading.max_text)
        if facts is not None:
            item.links, item.title, item.text = facts.links, facts.title, facts.text

    # -- the writer thread ------------------------------------------------------------------

    def _run(self) -> None:
        try:
            db = CatalogDB.open(self.location)
        except CatalogError as exc:
            self.failed.set()
            self.stats.inc_value("darkcrawl/catalog/unavailable")
            logger.warning("%s; the crawl goes on without it (`scrapy catalog --rebuild` makes it later)", exc)
            return
        writer = CatalogWriter(db, self.facets)
        try:
            stop = False
            while not stop:
                rows, stop = self._next_batch()
                if rows:
                    self._write(writer, rows)
            self._finish(writer)
        finally:
            db.close()

    def _finish(self, writer: CatalogWriter) -> None:
        try:
            writer.finish()
        except Exception as exc:  # derived data: the crawl's result stands, a rebuild redoes it
            self.stats.inc_value("darkcrawl/catalog/finish_failed")
            logger.warning("catalogue %s: its closing pass failed (%r): `scrapy catalog --rebuild` redoes it",
                           redact(self.location), exc)

    def _next_batch(self) -> tuple[list[Any], bool]:
        """Up to a batch of rows, waiting at most the interval once the first is in."""
        rows: list[Any] = []
        first = self.queue.get()
        if first is _STOP:
            return rows, True
        rows.append(first)
        deadline = time.monotonic() + self.interval
        while len(rows) < self.batch:
            try:
                row = self.queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if row is _STOP:
                return rows, True
            rows.append(row)
        return rows, False

    def _write(self, writer: CatalogWriter, rows: list[Any]) -> None:
        visits = [r for r in rows if isinstance(r, Visit)]
        failures = [r for r in rows if isinstance(r, FailureRow)]
        for attempt in range(1, WRITE_ATTEMPTS + 1):
            try:
                counts = writer.write(visits, failures)
            except Exception as exc:  # sqlite3 / psycopg errors: the catalogue is derived, the crawl goes on
                if attempt < WRITE_ATTEMPTS:
                    time.sleep(1.0)
                    continue
                self.stats.inc_value("darkcrawl/catalog/lost", len(rows))
                logger.warning("catalogue %s refused %d rows (%r): `scrapy catalog --rebuild` adds them",
                               redact(self.location), len(rows), exc)
                return
            break
        self.stats.inc_value("darkcrawl/catalog/batches")
        self.stats.inc_value("darkcrawl/catalog/snapshots", counts.snapshots)
        self.stats.inc_value("darkcrawl/catalog/renders", counts.renders)
        self.stats.inc_value("darkcrawl/catalog/failures", counts.failures)
