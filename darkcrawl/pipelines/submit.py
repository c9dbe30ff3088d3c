"""Submits darc's ``requests`` and ``new_host`` events to the user's API.

Runs after the storage pipeline (it needs ``item.document_path`` and the saved
host files).  For each item it builds darc's payload, writes it to the spool
(:mod:`darkcrawl.submission.spool`) and, when the event has an API URL, starts an
asynchronous POST with httpx2 on the reactor's asyncio loop.  ``process_item``
never waits for the network: at most ``DARKCRAWL_API_MAX_INFLIGHT`` POSTs run at
once; beyond that, or while the endpoint is failing, payloads just stay spooled
and a background sweep delivers them, oldest first, as slots free up.

* Each POST is retried ``API_RETRY`` times with exponential backoff; a payload
  that still fails stays in the spool and marks its endpoint down for a cool-down
  (5 s doubling to 60 s), so a dead API costs a few attempts, not one per page.
* On open, what earlier runs left in the spool is re-delivered in the background.
* On close, the pipeline waits (``DARKCRAWL_API_CLOSE_TIMEOUT``, 30 s) for the
  POSTs in flight and the backlog; an endpoint in its cool-down gets one last
  round, and once it fails that the pipeline stops waiting for it.  What is left
  stays spooled for the next run or ``scrapy resubmit``.
* An event without an API URL keeps its payloads in the spool (darc's behaviour).

POSTs go directly to the API URLs, not through Tor: the API is the user's own
service, often on localhost or a private network that Tor cannot reach, and
nothing of the crawl's anonymity is at stake in talking to it.

Stats: ``darkcrawl/api/<event>/spooled|delivered|failed|retried|kept|deferred``
(``rejected`` too for 4xx answers; ``darkcrawl/api/pending`` at close).
Render stages submit ``selenium`` payloads through :meth:`SubmitPipeline.submit`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scrapy.exceptions import NotConfigured
from scrapy.utils.asyncio import is_asyncio_available

from darkcrawl.config import get_option
from darkcrawl.items import NewHostItem, PageItem, RenderItem
from darkcrawl.storage import paths
from darkcrawl.submission import API_SETTINGS
from darkcrawl.submission.payloads import link_base, new_host_payload, requests_payload, selenium_payload
from darkcrawl.submission.spool import Outcome, Spool, make_client, send

if TYPE_CHECKING:
    import httpx2
    from scrapy.crawler import Crawler
    from typing_extensions import Self

    from darkcrawl.items import LinkMetadata

logger = logging.getLogger(__name__)

#: seconds an endpoint is left alone after a payload failed every attempt
COOLDOWN_START = 5.0
COOLDOWN_MAX = 60.0
#: delivered payloads remembered per run (a resumed crawl remakes its last few)
DELIVERED_REMEMBERED = 10_000


#: The API event each item type makes.
EVENT_OF: dict[type, str] = {PageItem: "requests", NewHostItem: "new_host", RenderItem: "selenium"}


class SubmitPipeline:
    def __init__(
        self,
        crawler: Crawler,
        root: Path,
        urls: dict[str, str],
        *,
        retries: int,
        max_inflight: int = 16,
        close_timeout: float = 30.0,
        timeout: float = 30.0,
        backoff: float = 0.5,
        backoff_cap: float = 8.0,
        spool_without_api: bool = True,
    ) -> None:
        self.stats = crawler.stats
        self.root = root
        self.spool = Spool(root)
        self.urls = {event: url for event, url in urls.items() if url}
        #: darc kept every payload of an event with no API URL on disk: a second full
        #: copy of the crawl (base64 documents and screenshots), on by default for
        #: darc's users, who collect it later.
        self.spool_without_api = spool_without_api
        self.retries = retries
        self.max_inflight = max(1, max_inflight)
        self.close_timeout = close_timeout
        self.timeout = timeout
        self.backoff = backoff
        self.backoff_cap = backoff_cap
        # Delivery state; the asyncio parts exist only between open and close.
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: httpx2.AsyncClient | None = None
        self._tasks: dict[Path, asyncio.Task[None]] = {}
        self._wake: asyncio.Event | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._sweeping = False
        #: events with a spooled payload that is neither delivered nor in flight
        self._backlog: set[str] = set()
        self._down_until: dict[str, float] = {}
        self._cooldown: dict[str, float] = {}
        #: payloads the receiver refused this run: not offered again until the next one
        self._rejected: set[Path] = set()
        #: the latest payloads delivered this run, so one made again is not sent again
        self._delivered: OrderedDict[Path, None] = OrderedDict()

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        settings = crawler.settings
        if not get_option(settings, "DARKCRAWL_SUBMIT_ENABLED"):
            raise NotConfigured("DARKCRAWL_SUBMIT_ENABLED is off")
        return cls(
            crawler,
            Path(settings["PATH_DATA"]),
            {event: str(settings.get(name) or "") for event, name in API_SETTINGS.items()},
            retries=max(0, get_option(settings, "API_RETRY")),
            max_inflight=get_option(settings, "DARKCRAWL_API_MAX_INFLIGHT"),
            close_timeout=get_option(settings, "DARKCRAWL_API_CLOSE_TIMEOUT"),
            timeout=get_option(settings, "DARKCRAWL_API_TIMEOUT"),
            spool_without_api=get_option(settings, "DARKCRAWL_SPOOL_WITHOUT_API"),
        )

    # -- lifecycle ----------------------------------------------------------------

    async def open_spider(self) -> None:
        if not self.urls:
            return
        if not is_asyncio_available():
            logger.error("API submissions need the asyncio reactor: payloads stay in %s", self.spool.dir)
            self.urls = {}
            return
        self._loop = asyncio.get_running_loop()
        self._client = make_client(self.timeout, self.max_inflight)
        self._wake = asyncio.Event()
        self._sweeper = self._loop.create_task(self._sweep_forever())
        # what earlier runs (or a killed one) left behind goes out in the background
        self._backlog.update(self.urls)
        self._wake.set()

    async def close_spider(self) -> None:
        loop = self._loop
        if loop is None:
            return
        deadline = loop.time() + self.close_timeout
        if self._down_until:
            # One last round for endpoints in their cool-down: the API may be back,
            # and a dead one costs one more round of retries, once.
            self._down_until.clear()
            if self._wake is not None:
                self._wake.set()
        # Polling is enough here: it runs once, at the end of the crawl.
        while loop.time() < deadline and not self._settled():
            await asyncio.sleep(0.05)
        leftover = [t for t in self._tasks.values() if not t.done()]
        if self._sweeper is not None:
            self._sweeper.cancel()
            leftover.append(self._sweeper)
        for task in leftover:
            task.cancel()  # a cancelled POST leaves its payload spooled
        await asyncio.gather(*leftover, return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()
        self._loop = self._client = self._sweeper = self._wake = None
        pending = await asyncio.to_thread(self._tidy_spool)
        self.stats.set_value("darkcrawl/api/pending", pending)
        if pending:
            logger.info("%d API payloads left in %s (deliver them with: scrapy resubmit)", pending, self.spool.dir)

    def _tidy_spool(self) -> int:
        self.spool.prune()
        return self.spool.count(self.urls)

    def _settled(self) -> bool:
        """Nothing in flight and nothing deliverable left (every backlog endpoint is down)."""
        if self._tasks or self._sweeping:
            return False
        return all(self._is_down(event) for event in self._backlog)

    # -- items --------------------------------------------------------------------

    def process_item(self, item: Any) -> Any:
        event = EVENT_OF.get(type(item))
        if event is None or (event not in self.urls and not self.spool_without_api):
            if event is not None:
                self.stats.inc_value(f"darkcrawl/api/{event}/not_spooled")
            return item
        # a payload sent now carries its files; one kept for later names them (payloads.file_field)
        inline = event in self.urls
        if isinstance(item, PageItem):
            self.submit("requests", item.link, item.timestamp, requests_payload(item, self.root, inline))
        elif isinstance(item, NewHostItem):
            self.submit("new_host", item.link, item.timestamp, new_host_payload(item, self.root, inline))
        elif isinstance(item, RenderItem) and item.document_path:
            self.submit("selenium", item.link, item.timestamp, selenium_payload(
                item.link, item.timestamp, item.html, item.document_path, item.screenshot, item.screenshot_path,
                inline))
        return item

    def submit(self, event: str, link: LinkMetadata, timestamp: str, payload: dict[str, Any]) -> Path:
        """Spool *payload* of *event* for *link* and start delivering it: never blocks
        on the network.  Returns the spool file."""
        path = self.spool.path_for(event, link_base(link), paths.url_hash(link.url), datetime.fromisoformat(timestamp))
        if path in self._tasks or path in self._delivered:
            # The same payload made again (same URL, same timestamp: a bootstrap chain a
            # killed crawl left in its frontier, resumed): it is on its way or arrived.
            self.stats.inc_value(f"darkcrawl/api/{event}/made_again")
            return path
        self.spool.write(path, payload)
        self.stats.inc_value(f"darkcrawl/api/{event}/spooled")
        if event not in self.urls:
            self.stats.inc_value(f"darkcrawl/api/{event}/kept")
        elif self._loop is None or self._is_down(event) or len(self._tasks) >= self.max_inflight:
            self._defer(event)
        else:
            self._launch(event, path)
        return path

    # -- delivery -----------------------------------------------------------------

    def _defer(self, event: str) -> None:
        self.stats.inc_value(f"darkcrawl/api/{event}/deferred")
        self._backlog.add(event)
        if self._wake is not None:
            self._wake.set()

    def _launch(self, event: str, path: Path) -> None:
        assert self._loop is not None
        # registered before the task runs, so no sweep can start a second POST of it
        self._tasks[path] = self._loop.create_task(self._deliver(event, path))

    def _is_down(self, event: str) -> bool:
        until = self._down_until.get(event)
        return until is not None and self._loop is not None and self._loop.time() < until

    async def _deliver(self, event: str, path: Path) -> None:
        assert self._client is not None
        try:
            result = await send(
                self._client, self.urls[event], path, retries=self.retries, backoff=self.backoff,
                backoff_cap=self.backoff_cap, root=self.root,
                on_retry=lambda: self.stats.inc_value(f"darkcrawl/api/{event}/retried"),
            )
            if result.outcome is Outcome.DELIVERED:
                self.spool.done(path)
                self._delivered[path] = None
                if len(self._delivered) > DELIVERED_REMEMBERED:
                    self._delivered.popitem(last=False)
                self.stats.inc_value(f"darkcrawl/api/{event}/delivered")
                self._down_until.pop(event, None)
                self._cooldown.pop(event, None)
            elif result.outcome is Outcome.REJECTED:
                self._rejected.add(path)
                self.stats.inc_value(f"darkcrawl/api/{event}/failed")
                self.stats.inc_value(f"darkcrawl/api/{event}/rejected")
                logger.warning("API %s refused %s (%s): kept in the spool", event, path.name, result.detail)
            elif result.outcome is Outcome.FAILED:
                self.stats.inc_value(f"darkcrawl/api/{event}/failed")
                self._mark_down(event, result.detail)
                self._backlog.add(event)
        except Exception:  # never let one payload's bug kill the sweep; it stays spooled
            logger.exception("API %s delivery of %s crashed", event, path.name)
            self.stats.inc_value(f"darkcrawl/api/{event}/failed")
        finally:
            # the file is deleted before the path leaves _tasks: a sweep listing made
            # earlier finds it gone rather than sending it twice
            self._tasks.pop(path, None)
            if self._wake is not None:
                self._wake.set()

    def _mark_down(self, event: str, detail: str) -> None:
        assert self._loop is not None
        if self._is_down(event):
            return  # other POSTs that were in flight when it went down
        cooldown = min(COOLDOWN_MAX, self._cooldown.get(event, COOLDOWN_START / 2) * 2)
        self._cooldown[event] = cooldown
        self._down_until[event] = self._loop.time() + cooldown
        logger.warning("API %s unreachable (%s): payloads stay spooled, retrying in %.0f s",
                       event, detail, cooldown)

    async def _sweep_forever(self) -> None:
        """Deliver the backlog: payloads deferred for lack of a slot or a live endpoint,
        and those left by earlier runs."""
        assert self._wake is not None and self._loop is not None
        while True:
            await self._wake.wait()
            self._wake.clear()
            if not self._backlog or len(self._tasks) >= self.max_inflight:
                continue  # a finishing POST or a deferred payload sets _wake again
            live = [event for event in self._backlog if not self._is_down(event)]
            if not live:
                # wait out the cool-down, or until close_spider lifts it
                delay = min(self._down_until.get(event, 0.0) for event in self._backlog) - self._loop.time()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=max(0.0, delay))
                self._wake.set()
                continue
            self._backlog.difference_update(live)
            self._sweeping = True
            try:
                await self._sweep(live)
            except Exception:  # a disk error must not end deliveries for the run
                logger.exception("API sweep of %s failed", self.spool.dir)
                self._backlog.update(live)
                await asyncio.sleep(1.0)
            finally:
                self._sweeping = False
            if self._backlog:
                self._wake.set()  # the sweep may have consumed the wake-up of a deferral

    async def _sweep(self, events: list[str]) -> None:
        # Listing a big spool walks the disk: done off the event loop, a day at a
        # time, so that a long outage's backlog is never all in memory.
        for day in await asyncio.to_thread(self.spool.days):
            for event, path in await asyncio.to_thread(self.spool.pending_on, day, events):
                if path in self._tasks or path in self._rejected:
                    continue
                while len(self._tasks) >= self.max_inflight:
                    assert self._wake is not None
                    self._wake.clear()
                    await self._wake.wait()
                # after the wait for a slot: the endpoint may have gone down meanwhile
                if self._is_down(event):
                    self._backlog.add(event)  # the sweep after the cool-down gets it
                    continue
                self._launch(event, path)
