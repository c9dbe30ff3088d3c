"""What the crawl produces: plain dataclasses, so itemadapter, pipelines and feed
exports (``-O items.jsonl``) all understand them.

Byte fields carry a feed ``serializer`` that exports their size and SHA-256 instead
of the bytes: the bytes themselves are saved as files by the pipelines.  Every item
carries ``item_type`` (``page``, ``render``, ...) first, so the lines of one
``-O`` feed, where all kinds mix, say what each one is.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any


def now_iso() -> str:
    """The timestamp items carry: now, in UTC, ISO 8601."""
    return datetime.now(timezone.utc).isoformat()


def _digest(data: bytes | None) -> dict[str, Any] | None:
    if data is None:
        return None
    return {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def _bytes_field() -> Any:
    return field(default=b"", repr=False, metadata={"serializer": _digest})


def _type_field(name: str) -> Any:
    # not an __init__ argument: fixed per class, exported like any field
    return field(default=name, init=False)


@dataclass(slots=True)
class LinkMetadata:
    """darc's ``[metadata]`` of a link (``Link.asdict()``), minus derived values."""

    url: str
    network: str  # darc's "proxy": clearnet, tor, tor2web, i2p, zeronet, freenet
    scheme: str
    host: str
    backref: str | None = None


@dataclass(slots=True)
class PageItem:
    """One plain-stage (HTTP) fetch: darc's ``requests`` record."""

    item_type: str = _type_field("page")
    link: LinkMetadata
    timestamp: str  # ISO 8601, UTC
    final_url: str
    method: str
    status: int
    reason: str
    content_type: str
    request_headers: dict[str, str]
    response_headers: dict[str, str]
    #: cookies the response set, and the session jar for the host (darc's shape:
    #: ``vars(http.cookiejar.Cookie)``)
    cookies: list[dict[str, Any]] = field(default_factory=list)
    session: list[dict[str, Any]] = field(default_factory=list)
    #: one entry per redirect hop, oldest first
    history: list[dict[str, Any]] = field(default_factory=list)
    body: bytes = _bytes_field()
    is_html: bool = False
    #: links recorded but not fetched: (kind, value, reason-or-None)
    special_links: list[tuple[str, str, str | None]] = field(default_factory=list)
    #: number of links found on the page, and of those newly queued
    links_found: int = 0
    links_queued: int = 0
    #: BLAKE2b-128 (hex) of the normalised content of a 2xx page
    #: (darkcrawl.seen.content), and the URL that had this content first when it
    #: was another one: then the body is not stored again and no link was extracted
    content_digest: str | None = None
    duplicate_of: str | None = None
    #: the sitemap's <changefreq> its first visit's revisit interval started from
    #: (darkcrawl.frontier.revisit_policy): recorded so the catalogue's rebuild starts there too
    sitemap_changefreq: str | None = None
    #: filled by the storage pipeline, relative to PATH_DATA
    document_path: str | None = None
    headers_path: str | None = None
    #: what the headers record's caps left out (darkcrawl.records.RecordLimits), in words
    cut: list[str] = field(default_factory=list)
    #: the page's facts for the catalogue (darkcrawl.links.extract.page_facts):
    #: every link, the title, the visible text; None when the page was not parsed
    links: list[str] | None = None
    title: str | None = None
    text: str | None = field(default=None, repr=False)
    #: the attempt's times in ms: connect_ms (None: a pooled connection), ttfb_ms, elapsed_ms (darkcrawl.timing)
    timing: dict[str, int | None] | None = None
    #: the interstitial this answer was instead of the site's content (darkcrawl.intel.gates):
    #: ``{"kind": "queue"|"captcha"|"ban"|"login"|"proxy_error", "evidence": one sentence,
    #: "wait": seconds asked for or None, "rule", "action": "wait"|"person"|"give_up"|"none",
    #: "first_seen", "round", "reason"}``.  Such a page is saved (the evidence) but never
    #: read as the site's text: ``links`` is empty, ``text`` None, no render, no content-seen
    gate: dict[str, Any] | None = None


@dataclass(slots=True)
class RenderItem:
    """One render-stage visit: darc's ``selenium`` record."""

    item_type: str = _type_field("render")
    link: LinkMetadata
    timestamp: str
    final_url: str
    html: bytes = _bytes_field()  # the rendered DOM, UTF-8
    screenshot: bytes | None = field(default=None, repr=False, metadata={"serializer": _digest})
    screenshot_full_page: bool = True  # False: the full page failed, this is the viewport
    #: the timestamp of the plain fetch this render belongs to: the files of one
    #: visit (raw document, headers, rendered DOM, screenshot) are named by it
    visit: str | None = None
    document_path: str | None = None
    screenshot_path: str | None = None
    #: the rendered DOM's facts, as PageItem's
    links: list[str] | None = None
    title: str | None = None
    text: str | None = field(default=None, repr=False)


@dataclass(slots=True)
class HostFileItem:
    """A host-level file: ``robots.txt``, a sitemap, I2P's ``hosts.txt``, a favicon."""

    item_type: str = _type_field("host_file")
    kind: str  # "robots" | "sitemap" | "hosts" | "favicon"
    url: str
    network: str
    scheme: str
    host: str
    timestamp: str
    body: bytes = _bytes_field()
    path: str | None = None


@dataclass(slots=True)
class NewHostItem:
    """darc's ``new_host`` event, emitted once a host's bootstrap files are in."""

    item_type: str = _type_field("new_host")
    link: LinkMetadata
    timestamp: str
    url: str  # the host's root URL (darc sent the bare host name here)
    partial: bool = False  # a bootstrap fetch failed
    force: bool = False  # re-bootstrap after TIME_CACHE expired
    robots: str | None = None  # paths relative to PATH_DATA
    sitemaps: list[str] = field(default_factory=list)
    hosts: str | None = None


@dataclass(slots=True)
class TableRow:
    """One row for a SQLite table (a site hook's structured data): the table pipeline
    upserts it into ``table``, keyed by the columns named in ``key``."""

    item_type: str = _type_field("table_row")
    table: str
    key: tuple[str, ...]
    row: dict[str, Any]


@dataclass(slots=True)
class FailureItem:
    """A visit that gave no page, or less than the whole page, and why.

    Written as one JSON line to ``PATH_DATA/misc/failures.jsonl`` (the record a
    later catalogue reads): every failure of every stage has one, with a reason a
    person can read.
    """

    item_type: str = _type_field("failure")
    url: str
    timestamp: str  # ISO 8601, UTC
    network: str  # clearnet, tor, i2p, ...
    stage: str  # "plain" | "bootstrap" | "render"
    reason: str  # a human sentence, never empty
    error: str = ""  # the exception's class, or the name of the bound that cut it
    #: the redirect chain so far, oldest first (the URL above is where it failed)
    redirects: list[str] = field(default_factory=list)
    #: something was still saved (a render captured at its deadline, a truncated page)
    partial: bool = False
    #: the failed attempt's times in ms, when it got as far as the transport (darkcrawl.timing)
    timing: dict[str, int | None] | None = None


@dataclass(slots=True)
class TrapItem:
    """A crawler trap that was hit, and what was cut: ``PATH_DATA/misc/traps.jsonl``."""

    item_type: str = _type_field("trap")
    url: str  # the page (or sitemap) where the trap was seen
    host: str
    trap: str  # the defence that fired: "links_per_page", "query_variants", ...
    timestamp: str
    detail: str = ""  # a human sentence: what was cut, and how much
    dropped: int = 0  # links or URLs not admitted because of it
