"""Items and files -> catalogue rows.  Pure: no database, no I/O.

A crawl's items and a rebuild's files meet here in one shape, :class:`Visit`
(a plain-stage fetch or its render) and :class:`FailureRow`, so the incremental
catalogue and a rebuilt one hold the same rows.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from darkcrawl.catalog.entities import link_entities, pgp_entities
from darkcrawl.items import FailureItem, PageItem, RenderItem
from darkcrawl.links.classify import NETWORKS, Gateways, classify

_FETCHABLE = frozenset(NETWORKS)


@dataclass(slots=True)
class Visit:
    """One snapshot's columns, its text and its links: a plain fetch (``render``
    false) or the render of one (``render`` true: only the render's columns)."""

    url: str
    timestamp: str  # the visit's: a render carries the fetch's
    host: str
    network: str
    scheme: str
    render: bool
    columns: dict[str, Any]
    title: str | None = None
    text: str | None = None  # None: the page was not read (not HTML, a duplicate)
    links: list[tuple[str, str | None]] = field(default_factory=list)  # (target, target host)
    entities: set[tuple[str, str]] = field(default_factory=set)
    #: the fetch's times in ms (connect_ms, ttfb_ms, elapsed_ms: darkcrawl.timing), when known
    timing: dict[str, Any] | None = None
    #: the interstitial the page was, not the site's page (kind, evidence, wait: darkcrawl.intel.gates)
    gate: dict[str, Any] | None = None
    #: the sitemap <changefreq> the URL's first revisit interval started from (darkcrawl.frontier.revisit_policy)
    sitemap_changefreq: str | None = None


@dataclass(frozen=True, slots=True)
class FailureRow:
    url: str
    timestamp: str
    stage: str
    host: str
    network: str
    reason: str
    error: str
    partial: bool
    redirects: str  # JSON
    connect_ms: int | None = None
    ttfb_ms: int | None = None


def sha256(data: bytes | None) -> str | None:
    return hashlib.sha256(data).hexdigest() if data else None


#: links remembered by a :class:`TargetCache`: a site's navigation repeats on every page
TARGET_CACHE_SIZE = 100_000


class TargetCache(dict[str, "tuple[str, str | None] | None"]):
    """url -> (target, host), or None for a link that is no target: classified once."""

    def __init__(self, gateways: Gateways) -> None:
        super().__init__()
        self.gateways = gateways

    def __missing__(self, url: str) -> tuple[str, str | None] | None:
        if len(self) >= TARGET_CACHE_SIZE:
            self.clear()
        link = classify(url, self.gateways)
        if link.kind in _FETCHABLE:
            target: tuple[str, str | None] | None = (link.url, link.host)
        elif link.kind not in ("data", "script", "invalid"):  # data: and javascript: are no targets
            target = (url, None)
        else:
            target = None
        self[url] = target
        return target


def link_targets(links: list[str] | None, cache: TargetCache) -> list[tuple[str, str | None]]:
    """(target, its host when it is a URL the crawl could fetch) for each link, once."""
    targets: dict[str, str | None] = {}
    for url in links or ():
        found = cache[url]
        if found is not None:
            targets.setdefault(found[0], found[1])
    return list(targets.items())


def with_facts(visit: Visit, links: list[str] | None, title: str | None, text: str | None,
           cache: TargetCache) -> Visit:
    visit.title = title or None
    visit.text = text
    visit.links = link_targets(links, cache)
    visit.entities = link_entities(links or (), cache.gateways) | (pgp_entities(text) if text else set())
    return visit


def page_visit(item: PageItem, cache: TargetCache, *, size: int | None = None) -> Visit:
    """The snapshot of a plain-stage fetch (after the files pipeline named its files).
    *size*: the stored document's size, when the item's body is not at hand."""
    link = item.link
    stored = item.duplicate_of is None and item.document_path is not None
    body_size = size if size is not None else (len(item.body) if stored else None)
    columns = {
        "final_url": item.final_url, "status": item.status, "mime": item.content_type,
        "sha256": sha256(item.body) if stored and item.body else None,
        "content_digest": item.content_digest, "duplicate_of": item.duplicate_of,
        "size": body_size, "source": link.backref,
        "raw_path": item.document_path if stored else None, "headers_path": item.headers_path,
    }
    visit = Visit(link.url, item.timestamp, link.host, link.network, link.scheme, False, columns,
                  timing=item.timing, gate=item.gate, sitemap_changefreq=item.sitemap_changefreq)
    return with_facts(visit, item.links, item.title, item.text, cache)


def render_visit(item: RenderItem, cache: TargetCache) -> Visit:
    link = item.link
    columns = {
        "final_url": item.final_url, "rendered_path": item.document_path, "screenshot_path": item.screenshot_path,
        "rendered_size": len(item.html) if item.html is not None else None,
        "screenshot_size": len(item.screenshot) if item.screenshot is not None else None,
        "rendered_at": item.timestamp,
    }
    visit = Visit(link.url, item.visit or item.timestamp, link.host, link.network, link.scheme, True, columns)
    return with_facts(visit, item.links, item.title, item.text, cache)


def failure_row(item: FailureItem | dict[str, Any], gateways: Gateways) -> FailureRow:
    """A failure record (the item, or its line in ``misc/failures.jsonl``)."""
    get = item.get if isinstance(item, dict) else (lambda name, default=None: getattr(item, name, default))
    url = str(get("url", ""))
    link = classify(url, gateways)
    host = link.host if link.kind in _FETCHABLE else f"({link.kind})"
    timing = get("timing") or {}
    return FailureRow(
        url=url, timestamp=str(get("timestamp", "")), stage=str(get("stage", "")), host=host,
        network=str(get("network") or link.kind), reason=str(get("reason") or "no reason recorded"),
        error=str(get("error") or ""), partial=bool(get("partial", False)),
        redirects=json.dumps(list(get("redirects") or []), ensure_ascii=False),
        connect_ms=timing.get("connect_ms") if isinstance(timing, dict) else None,
        ttfb_ms=timing.get("ttfb_ms") if isinstance(timing, dict) else None,
    )
