"""The archive's item pipeline: what only darkcrawl knows, as WARC records.

* a page (``PageItem``): a ``metadata`` record concurrent to its response record
  (the network, the proxy or SocksPort, the onion address, the page that linked to
  it, the special links found, content-seen's digest and verdict, the title);
* a host file (robots.txt, a sitemap, hosts.txt): the same, for the bootstrap;
* a render (``RenderItem``): the full-page screenshot (``urn:fullPage:<url>``, or
  ``urn:view:<url>`` when only the viewport could be taken) and the rendered DOM
  (``urn:dom:<url>``) as ``resource`` records, and their metadata;
* a failure (``FailureItem``): a ``metadata`` record of what could not be captured
  and why, so that the archive shows its gaps.

A page's item waits until its records are on disk: the frontier marks the page
done only after its items went through the pipelines, so a crawl killed with
``kill -9`` has archived every page it will not fetch again.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any

from darkcrawl.archive import records
from darkcrawl.archive.crawl import ArchiveComponent, Captured, network_fields
from darkcrawl.archive.jobs import render_records
from darkcrawl.items import FailureItem, HostFileItem, PageItem, RenderItem

if TYPE_CHECKING:
    from darkcrawl.archive.writer import Job


def _date(iso: str) -> str:
    return records.warc_date(datetime.fromisoformat(iso))


def page_fields(item: PageItem, captured: Captured | None) -> list[tuple[str, str]]:
    link = item.link
    fields = network_fields("plain", captured.network if captured else link.network,
                            captured.proxy if captured else None, link.host, link.backref)
    if item.final_url != link.url:
        fields.append(("redirected-from", link.url))
    if item.is_html and item.status < 400:
        fields.append(("page", "yes"))  # a line of the WACZ's pages.jsonl
    if item.title:
        fields.append(("title", item.title))
    if item.content_digest:
        fields.append(("content-digest", f"blake2b-128:{item.content_digest}"))
    if item.duplicate_of:
        fields.append(("duplicate-of", item.duplicate_of))
    fields.append(("links-found", str(item.links_found)))
    fields += [("special-link", f"{kind} {value}" + (f" ({why})" if why else ""))
               for kind, value, why in item.special_links]
    return fields


def failure_fields(item: FailureItem) -> list[tuple[str, str]]:
    fields = network_fields(item.stage, item.network, None, None, None)
    fields += [("failure", item.reason), ("error", item.error or "unknown"),
               ("partial", "yes" if item.partial else "no")]
    fields += [("redirect", url) for url in item.redirects]
    return fields


def render_job(item: RenderItem, proxy: str | None) -> Job:
    """The render's resource and metadata records, made in the writer (a screenshot is
    megabytes to digest): a function and its arguments, which pickle."""
    link = item.link
    fields = network_fields("render", link.network, proxy, link.host, link.backref)
    fields += [("page", "rendered"), ("rendered-from", link.url)]
    if item.title:
        fields.append(("title", item.title))
    if item.visit:
        fields.append(("visit", item.visit))
    return partial(render_records, item.final_url, _date(item.timestamp), item.screenshot,
                   bool(item.screenshot_full_page), item.html, fields)


class ArchivePipeline(ArchiveComponent):
    async def process_item(self, item: Any) -> Any:
        future = None
        if isinstance(item, PageItem):
            future = self._page(item)
        elif isinstance(item, HostFileItem):
            captured = self.archive.captured.pop(item.url, None)
            fields = network_fields("bootstrap", captured.network if captured else item.network,
                                    captured.proxy if captured else None, item.host, None)
            fields.append(("host-file", item.kind))
            self._metadata(item.url, captured.date if captured else _date(item.timestamp), fields, captured)
        elif isinstance(item, RenderItem):
            proxy = self.archive.render_proxies.pop(item.link.url, None)
            self.archive.writer.submit(render_job(item, proxy))
            self.stats.inc_value("darkcrawl/archive/renders")
        elif isinstance(item, FailureItem):
            self._metadata(item.url, _date(item.timestamp), failure_fields(item), None)
            self.stats.inc_value("darkcrawl/archive/failures")
        if future is not None:
            await asyncio.wrap_future(future)
        return item

    def _page(self, item: PageItem) -> Any:
        captured = self.archive.captured.pop(item.final_url, None)
        date = captured.date if captured else _date(item.timestamp)
        self.stats.inc_value("darkcrawl/archive/pages")
        return self._metadata(item.final_url, date, page_fields(item, captured), captured, wait=True)

    def _metadata(self, uri: str, date: str, fields: list[tuple[str, str]], captured: Captured | None,
                  wait: bool = False) -> Any:
        return self.archive.metadata(uri, date, fields, captured.record_id if captured else None, wait=wait)
