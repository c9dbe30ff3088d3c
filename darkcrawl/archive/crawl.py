"""The archive of one crawl: what each capture becomes in the WARC files.

One :class:`Archive` per crawler (:meth:`Archive.for_crawler`), shared by the
downloader middleware (every plain-stage exchange, :mod:`darkcrawl.archive.capture`),
the render handler (the browser's traffic, :mod:`darkcrawl.archive.browser`) and
the item pipeline (metadata, screenshots, rendered DOM, failures,
:mod:`darkcrawl.pipelines.archive`).  The middleware writes a capture's response
(or revisit) and request at once; the pipeline's metadata record, written when
the spider has read the page, names that response by ``WARC-Concurrent-To``
through :attr:`Archive.captured`.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from functools import partial
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import scrapy
from importlib.metadata import version as package_version
from scrapy import signals
from scrapy.exceptions import NotConfigured

import darkcrawl
from darkcrawl.archive import records
from darkcrawl.archive.wire import Exchange
from darkcrawl.archive.jobs import exchange_records, metadata_records
from darkcrawl.archive.writer import Dedup, Job, seal
from darkcrawl.archive.writer_process import WarcWriterProcess
from darkcrawl.config import get_option
from darkcrawl.processes import pid_alive
from darkcrawl.meta import BACKREF_KEY, LINK_KEY, RENDER_KEY, network_of
from darkcrawl.storage.paths import OPEN_SUFFIX, WARC_DIR, WARC_NAME, host_dirname

if TYPE_CHECKING:
    from concurrent.futures import Future

    from scrapy.crawler import Crawler
    from scrapy.settings import BaseSettings
    from typing_extensions import Self

logger = logging.getLogger(__name__)

_ATTRIBUTE = "_darkcrawl_archive"
#: responses waiting for their page's metadata record (the rest are forgotten, oldest first)
CAPTURED_MAX = 10_000


def _remember(table: OrderedDict[str, Any], key: str, value: Any) -> None:
    table[key] = value
    table.move_to_end(key)
    while len(table) > CAPTURED_MAX:
        table.popitem(last=False)


def archive_enabled(settings: BaseSettings) -> bool:
    """DARKCRAWL_WARC, and a crawl that saves things (`scrapy shell` saves nothing)."""
    return bool(get_option(settings, "DARKCRAWL_WARC")) and not settings.getbool("DARKCRAWL_SHELL")


@dataclass(frozen=True, slots=True)
class Captured:
    """A response record, as the page's metadata record names it."""

    record_id: str
    date: str
    network: str | None
    proxy: str | None


def _exchange_job(uri: str, date: str, rid: str, exchange: Exchange, body: bytes, status: int,
                  extra: list[tuple[str, str]], metadata: list[tuple[str, str]] | None) -> Job:
    """The job making one exchange's records in the writer: a function and its
    arguments, which pickle (the writer is a process of its own)."""
    payload = exchange.response_body if exchange.response_body is not None else body
    return partial(exchange_records, uri, date, rid, exchange.request, exchange.response_head, payload, status,
                   extra, metadata)


class Archive:
    def __init__(self, root: Path, writer: WarcWriterProcess, round_id: str, settings: BaseSettings, stats: Any) -> None:
        self.root = root
        self.stats = stats
        self.writer = writer
        self.round_id = round_id
        self.prefix = get_option(settings, "DARKCRAWL_WARC_PREFIX")
        self.package_at_end = (get_option(settings, "DARKCRAWL_WACZ")
                               and not get_option(settings, "DARKCRAWL_DISTRIBUTED"))
        self.captured: OrderedDict[str, Captured] = OrderedDict()
        #: a render's page URL -> its browser context's proxy (for the render's metadata)
        self.render_proxies: OrderedDict[str, str | None] = OrderedDict()
        self.closed_files: list[Path] = []
        self.wacz: Path | None = None

    @classmethod
    def for_crawler(cls, crawler: Crawler) -> Archive:
        archive = getattr(crawler, _ATTRIBUTE, None)
        if archive is None:
            archive = cls.create(crawler)
            setattr(crawler, _ATTRIBUTE, archive)
            crawler.signals.connect(archive.spider_closed, signal=signals.spider_closed)
        return archive

    @classmethod
    def create(cls, crawler: Crawler) -> Archive:
        settings = crawler.settings
        root = Path(settings["PATH_DATA"])
        host = socket.gethostname()
        started = datetime.now(timezone.utc)
        round_id = started.strftime("%Y%m%d%H%M%S")
        folder = root / WARC_DIR
        seal_orphans(folder, host)
        prefix = get_option(settings, "DARKCRAWL_WARC_PREFIX")
        info = warcinfo_fields(settings, prefix, round_id, host)
        writer = WarcWriterProcess(folder, prefix, get_option(settings, "DARKCRAWL_WARC_MAX_SIZE"), info,
                            Dedup(get_option(settings, "DARKCRAWL_WARC_DEDUP")), host)
        return cls(root, writer, round_id, settings, crawler.stats)

    # -- plain stage ----------------------------------------------------------------

    def exchange(self, uri: str, exchange: Exchange, body: bytes, status: int, meta: dict[str, Any],
                 extra: Iterable[tuple[str, str]] = (), hop: list[tuple[str, str]] | None = None,
                 remember: bool = True) -> Captured:
        """Queue the records of one exchange; *hop*: the metadata of a redirect hop (no
        item will come for it); *remember*: an item's metadata record will name it."""
        date = records.warc_date()
        rid = records.record_id()
        captured = Captured(rid, date, network_of(meta), meta.get("proxy"))
        self.writer.submit(_exchange_job(uri, date, rid, exchange, body, status, list(extra), hop))
        if remember:
            _remember(self.captured, uri, captured)
        return captured

    def note_render(self, meta: dict[str, Any], resources: int) -> None:
        """A render's browser traffic is archived: its proxy, for the render's metadata."""
        server = ((meta.get("playwright_context_kwargs") or {}).get("proxy") or {}).get("server")
        _remember(self.render_proxies, meta.get(RENDER_KEY) or "", server)
        self.stats.inc_value("darkcrawl/archive/browser_exchanges", resources)

    def metadata(self, uri: str, date: str, fields: list[tuple[str, str]], concurrent_to: str | None = None,
                 wait: bool = False) -> Future[None] | None:
        """Queue a metadata record; with *wait*, a future done once it is on disk."""
        return self.writer.submit(partial(metadata_records, uri, date, fields, concurrent_to), wait=wait)

    # -- the end ------------------------------------------------------------------------

    async def spider_closed(self, reason: str) -> None:
        self.closed_files = await asyncio.to_thread(self.writer.close)
        if not self.closed_files:
            return
        logger.info("archive: %d WARC records in %d files (%s), %s bytes", self.writer.records,
                    len(self.closed_files), self.root / WARC_DIR, f"{self.writer.bytes:,}")
        if reason != "finished" or not self.package_at_end:
            logger.info("archive: `scrapy wacz` packages the WARCs as a WACZ")
            return
        from darkcrawl.archive.wacz import package_round

        try:
            self.wacz = await asyncio.to_thread(package_round, self.root, self.prefix, self.round_id, self.closed_files)
        except Exception as exc:  # the WARCs are there: `scrapy wacz` can try again
            logger.error("archive: the round's WACZ could not be written: %r", exc)


class ArchiveComponent:
    """The crawl's :class:`Archive`, for its middleware and its pipeline; not built
    (``NotConfigured``) unless the crawl archives."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.archive = Archive.for_crawler(crawler)
        self.stats = crawler.stats

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        if not archive_enabled(crawler.settings):
            raise NotConfigured
        return cls(crawler)


def network_fields(stage: str, network: str | None, proxy: str | None, host: str | None,
                   via: str | None) -> list[tuple[str, str]]:
    """What only darkcrawl knows of a capture: the stage, the network, the proxy or
    SocksPort it went through, the onion (or I2P) address, the page that linked to it."""
    fields = [("stage", stage)]
    if network:
        fields.append(("network", network))
    fields.append(("proxy", proxy or "none (direct)"))
    if host and host.endswith(".onion"):
        fields.append(("onion-address", host))
    elif host and host.endswith(".i2p"):
        fields.append(("i2p-address", host))
    if via:
        fields.append(("via", via))
    return fields


def capture_fields(meta: dict[str, Any], stage: str) -> list[tuple[str, str]]:
    """:func:`network_fields` of a request, from its meta."""
    link = meta.get(LINK_KEY)
    return network_fields(stage, network_of(meta), meta.get("proxy"), link[1] if link else None,
                          meta.get(BACKREF_KEY))


def warcinfo_fields(settings: BaseSettings, prefix: str, round_id: str, host: str) -> list[tuple[str, str]]:
    """The warcinfo record of every file: the software, the crawl, the round, the host."""
    return [
        ("software", f"darkcrawl/{darkcrawl.__version__} (Scrapy/{scrapy.__version__}; "
                     f"warcio/{package_version('warcio')})"),
        ("format", "WARC File Format 1.1"),
        ("conformsTo", "https://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.1/"),
        ("isPartOf", prefix),
        ("darkcrawl-round", round_id),
        ("hostname", host),
        ("robots", "obey" if settings.getbool("ROBOTSTXT_OBEY") else "ignore"),
        ("http-header-user-agent", settings.get("USER_AGENT") or ""),
        ("description", "darkcrawl: plain-stage exchanges byte for byte, the render stage's browser traffic, "
                        "screenshots and rendered DOM as resources, metadata per capture and per failure"),
    ]


def seal_orphans(folder: Path, host: str) -> list[Path]:
    """Close the ``.open`` WARC files that crawls on this host left when they were
    killed (their process is gone): torn last record cut, suffix dropped."""
    sealed: list[Path] = []
    if not folder.is_dir():
        return sealed
    for path in sorted(folder.glob(f"*.warc.gz{OPEN_SUFFIX}")):
        owner = WARC_NAME.search(path.name)
        if owner is None or owner["host"] != host_dirname(host) or pid_alive(int(owner["pid"])):
            continue
        sealed.append(seal(path))
        logger.info("archive: sealed %s, left open by a crawl that was stopped", sealed[-1].name)
    return sealed
