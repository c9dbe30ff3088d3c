"""The host bootstrap of the darkweb spider: robots.txt -> sitemaps (index, gzip)
-> I2P hosts.txt -> /favicon.ico -> a ``new_host`` item.  A chain of requests whose
state travels in their meta, so it survives being queued on disk or in Redis.

The favicon signs the host for the clone clustering (darkcrawl.intel): a missing
or failed one costs that signature only (no failure record, nothing partial).  A
root page that declares another icon on its host gets that one fetched too
(:meth:`HostBootstrap._declared_favicon`)."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

from scrapy import Request
from scrapy.http import TextResponse
from scrapy.utils.datatypes import LocalCache

from darkcrawl import hostfiles
from darkcrawl.addresses import AddressRefused
from darkcrawl.failures import Transfer, failure_item, failure_reason
from darkcrawl.intel.favicon import FAVICON_MAX_SIZE, declared_icon, default_icon_url, is_root_url
from darkcrawl.items import FailureItem, HostFileItem, LinkMetadata, NewHostItem
from darkcrawl.links.classify import NO_ROBOTS_NETWORKS, Link, classify
from darkcrawl.meta import BOOTSTRAP_KEY, GATE_KEY, LINK_KEY, SLOT_KEY, STEP_KEY, BootstrapState, slot_key
from darkcrawl.spiders.common import BOOTSTRAP_PRIORITY, now_iso
from darkcrawl.storage import paths

if TYPE_CHECKING:
    from scrapy.http import Response
    from twisted.python.failure import Failure

logger = logging.getLogger(__name__)


class HostBootstrap:
    """Mixed into DarkwebSpider (uses its scope, stats and admission)."""

    #: declared icons this crawl fetched (an icon's URL changes with its bytes): set up by the spider
    icons_fetched: LocalCache[str, bool]

    def _bootstrap_start(self, link: Link, force: bool) -> list[Any]:
        scheme = link.url.split(":", 1)[0].lower()
        if link.kind in NO_ROBOTS_NETWORKS:
            root = link.url.split(link.host, 1)[0] + link.host + "/"
        else:
            root = f"{scheme}://{link.url.split('://', 1)[1].split('/', 1)[0]}/"
        state: BootstrapState = {
            "network": link.kind, "scheme": scheme, "host": link.host, "service": link.service,
            "root": root, "force": force, "partial": False, "robots": None, "sitemaps": [],
            "hosts": None, "todo": [], "visited": [], "hosts_done": link.kind != "i2p",
            "favicon_done": False, "timestamp": now_iso(),
        }
        self.stats.inc_value("darkcrawl/hosts/bootstrapped")
        if link.kind in NO_ROBOTS_NETWORKS:
            return [self._new_host_item(state)]
        return [self._bootstrap_request(root + "robots.txt", state, "robots")]

    def _bootstrap_request(self, url: str, state: BootstrapState, step: str) -> Request:
        callback = {"robots": self._on_robots, "sitemap": self._on_sitemap, "hosts": self._on_hosts,
                    "favicon": self._on_favicon}[step]
        meta: dict[str, Any] = {"download_maxsize": FAVICON_MAX_SIZE} if step == "favicon" else {}
        return Request(
            url,
            callback=callback,
            errback=self._on_bootstrap_error,
            priority=BOOTSTRAP_PRIORITY,
            dont_filter=True,
            meta={
                BOOTSTRAP_KEY: state,
                STEP_KEY: step,
                "dont_obey_robotstxt": True,
                LINK_KEY: (state["network"], state["host"], state["service"]),
                SLOT_KEY: slot_key(state["network"], state["service"]),
                **meta,
            },
        )

    def _host_file(self, kind: str, url: str, state: BootstrapState, body: bytes) -> HostFileItem:
        return HostFileItem(kind=kind, url=url, network=state["network"], scheme=state["scheme"],
                            host=state["host"], timestamp=now_iso(), body=body)

    def _on_robots(self, response: Response) -> Iterator[Any]:
        if response.meta.get(GATE_KEY):  # a DDoS queue, a captcha... instead of the file
            yield from self._bootstrap_gate(response, "robots")
            return
        state = response.meta[BOOTSTRAP_KEY]
        body = response.body if response.status == 200 and not hostfiles.looks_like_html(response.body) else b""
        sitemaps: list[str] = []
        if body:
            item = self._host_file("robots", response.request.url, state, body)  # type: ignore[union-attr]
            state["robots"] = str(paths.host_file_path("robots", item.url, item.network, item.scheme, item.host))
            yield item
            sitemaps = hostfiles.robots_sitemaps(body)
        state["todo"] = sitemaps or [state["root"] + "sitemap.xml"]
        yield from self._bootstrap_next(state)

    async def _on_sitemap(self, response: Response) -> AsyncIterator[Any]:
        # Read in chunks, admitting each chunk's URLs and yielding to the event loop
        # between chunks: a 657,534-URL gzip sitemap neither stalls the crawl nor
        # sits in memory whole.  The host's sitemaps give at most max_sitemap_urls.
        state = response.meta[BOOTSTRAP_KEY]
        url = response.request.url  # type: ignore[union-attr]
        if response.meta.get(GATE_KEY):
            for output in self._bootstrap_gate(response, "sitemap"):
                yield output
            return
        if response.status != 200:
            for output in self._bootstrap_next(state):
                yield output
            return
        reader = hostfiles.SitemapReader(response.body)
        cap = self.options.max_sitemap_urls
        taken = state.get("sitemap_urls", 0)
        found = cut = 0
        traps: Counter[str] = Counter()
        examples: dict[str, str] = {}
        for locations in reader.batches():
            found += len(locations)
            self._sitemap_hints(reader.take_hints())  # type: ignore[attr-defined]  # the spider's: revisits
            if reader.kind == "index":
                budget = self.options.max_sitemaps - len(state["visited"]) - len(state["todo"])
                state["todo"].extend(loc for loc in locations[: max(0, budget)] if loc not in state["visited"])
            elif locations:
                if cap and taken + len(locations) > cap:
                    cut = taken + len(locations) - cap
                    locations = locations[: cap - taken]
                taken += len(locations)
                self.stats.inc_value("darkcrawl/sitemaps/urls", len(locations))
                for output in self._admit(locations, source=url, depth=1, specials=[], page=False, traps=traps,
                                          examples=examples):
                    yield output
                if cut:
                    cut += reader.count_rest()
                    break
            await asyncio.sleep(0)  # let downloads and other callbacks run
        state["sitemap_urls"] = taken
        if reader.kind == "broken" or reader.error:
            self.stats.inc_value("darkcrawl/sitemaps/broken")
        if reader.error:
            state["partial"] = True
        if reader.kind != "broken" or found:
            item = self._host_file("sitemap", url, state, reader.copy)
            state["sitemaps"].append(str(paths.host_file_path("sitemap", url, item.network, item.scheme, item.host)))
            if reader.copy_truncated:
                self.stats.inc_value("darkcrawl/sitemaps/copy_truncated")
            yield item
        failure = self._sitemap_failure(response, state, reader, found)
        if failure is not None:
            yield failure
        if cut:
            traps["sitemap_urls"] += cut
        if traps:
            for item in self._trap_items(url, traps, examples):
                yield item
        for output in self._bootstrap_next(state):
            yield output

    def _sitemap_failure(self, response: Response, state: BootstrapState, reader: hostfiles.SitemapReader,
                         found: int) -> FailureItem | None:
        """Why a sitemap was not (wholly) read: one INFO line and a record.  A guessed
        ``/sitemap.xml`` that turns out to be something else is no failure."""
        url = response.request.url  # type: ignore[union-attr]
        if reader.error is not None:
            error, reason = reader.error
        elif reader.kind == "broken" and not found and url != state["root"] + "sitemap.xml":
            error = "NotASitemap"
            what = f"root element <{reader.root_tag}>" if reader.root_tag else "no XML element"
            reason = f"not a sitemap ({what})"
        else:
            return None
        logger.info("sitemap %s not read%s: %s", url, " to its end" if found else "", reason)
        return FailureItem(url=url, timestamp=now_iso(), network=state["network"], stage="bootstrap",
                           reason=f"sitemap not read{' to its end' if found else ''}: {reason}",
                           error=error, redirects=list(response.meta.get("redirect_urls", ())), partial=bool(found))

    def _on_hosts(self, response: Response) -> Iterator[Any]:
        if response.meta.get(GATE_KEY):
            yield from self._bootstrap_gate(response, "hosts")
            return
        state = response.meta[BOOTSTRAP_KEY]
        if response.status == 200 and response.body:
            url = response.request.url  # type: ignore[union-attr]
            item = self._host_file("hosts", url, state, response.body)
            state["hosts"] = str(paths.host_file_path("hosts", url, item.network, item.scheme, item.host))
            yield item
            yield from self._admit(hostfiles.parse_hosts_txt(response.body), source=url, depth=1, specials=[],
                                   page=False)
        yield from self._bootstrap_next(state)

    def _on_favicon(self, response: Response) -> Iterator[Any]:
        state = response.meta[BOOTSTRAP_KEY]
        body = response.body
        if response.status == 200 and body and not hostfiles.looks_like_html(body):  # a soft 404 is no icon
            asked = (response.meta.get("redirect_urls") or [response.request.url])[0]  # type: ignore[union-attr]
            yield self._host_file("favicon", asked, state, body)
        else:
            self.stats.inc_value("darkcrawl/favicon/none")
        if not state.get("declared"):
            yield from self._bootstrap_next(state)

    def _favicon_failed(self, failure: Failure, request: Request) -> Iterator[Any]:
        """A favicon that could not be fetched: said, counted, and the chain goes on."""
        state = request.meta[BOOTSTRAP_KEY]
        reason, _error = failure_reason(failure, Transfer.of(request, FAVICON_MAX_SIZE))
        logger.info("favicon %s not fetched: %s", request.url, reason)
        self.stats.inc_value("darkcrawl/favicon/not_fetched")
        if not state.get("declared"):
            yield from self._bootstrap_next(state)

    def _declared_favicon(self, response: Response, url: str, kind: str, host: str, service: str) -> list[Request]:
        """The icon a host's root page declares, when it is another file of the same
        host than /favicon.ico (the bootstrap fetched that one), once per process."""
        if not is_root_url(url, kind) or not isinstance(response, TextResponse):
            return []
        try:
            icon = declared_icon(response.selector.root, response.url)
        except Exception:  # a page lxml cannot read has no icon to give
            return []
        if icon is None or icon[:5].lower() == "data:" or icon in self.icons_fetched:
            return []
        link = classify(icon, self.options.gateways)
        root = url if url.endswith("/") else url + "/"
        if not link.fetchable or link.host != host or link.kind != kind or link.url == default_icon_url(root):
            return []
        self.icons_fetched[icon] = True
        # saved in the host's folder, the root page's scheme (an https icon of an http page too)
        state: BootstrapState = {"network": kind, "scheme": url.split(":", 1)[0].lower(), "host": host,
                                 "service": service, "root": root, "declared": True}
        return [self._bootstrap_request(link.url, state, "favicon")]

    def _on_bootstrap_error(self, failure: Failure) -> Iterator[Any]:
        request: Request = failure.request  # type: ignore[attr-defined]
        state = request.meta[BOOTSTRAP_KEY]
        step = request.meta.get(STEP_KEY)
        if step == "favicon":
            yield from self._favicon_failed(failure, request)
            return
        state["partial"] = True
        self.stats.inc_value(f"darkcrawl/bootstrap_error/{step}")
        reason, error = failure_reason(failure, Transfer.of(request, self.settings.getint("DOWNLOAD_MAXSIZE")))
        logger.info("fetch failed %s: %s (bootstrap %s)", request.url, reason, step)
        yield failure_item(request, "bootstrap", reason, error)
        if step == "robots" and failure.check(AddressRefused):
            # the host itself points inside: every request to it is refused, so it is no new host
            self.stats.inc_value("darkcrawl/hosts/refused")
            return
        if step == "robots":
            state["todo"] = [state["root"] + "sitemap.xml"]
        yield from self._bootstrap_next(state)

    def _bootstrap_next(self, state: BootstrapState) -> Iterator[Any]:
        while state["todo"]:
            url = state["todo"].pop(0)
            if url in state["visited"] or len(state["visited"]) >= self.options.max_sitemaps:
                continue
            state["visited"].append(url)
            link = classify(url, self.options.gateways)
            scope = self.options.scope
            if link.fetchable and scope.network_allowed(link.kind) and scope.host_allowed(link.host):
                yield self._bootstrap_request(link.url, state, "sitemap")
                return
        if not state["hosts_done"]:
            state["hosts_done"] = True
            yield self._bootstrap_request(state["root"] + "hosts.txt", state, "hosts")
            return
        if state.get("favicon_done") is False:  # a chain queued by an older version has none
            state["favicon_done"] = True
            yield self._bootstrap_request(default_icon_url(state["root"]), state, "favicon")
            return
        yield self._new_host_item(state)

    def _new_host_item(self, state: BootstrapState) -> NewHostItem:
        self.stats.inc_value("darkcrawl/hosts/new")
        return NewHostItem(
            link=LinkMetadata(url=state["root"], network=state["network"], scheme=state["scheme"], host=state["host"]),
            timestamp=state["timestamp"],
            url=state["root"],
            partial=state["partial"],
            force=state["force"],
            robots=state["robots"],
            sitemaps=list(state["sitemaps"]),
            hosts=state["hosts"],
        )
