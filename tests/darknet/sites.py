"""Content of the local "test web": every site's routes, generated in code.

The pages link to each other by their real ``http://127.0.0.1:<port>`` URLs,
so the content is built by :func:`build_sites` once the server has bound
its ports, never at import time.

The module also holds the expectations an end-to-end crawl test checks
(``EXPECTED_*``, ``SPECIAL_LINKS``, ...).  They are plain data keyed by
site name and path, because ports change on every run; turn them into URLs
with ``Darknet.url(site, path)``.  Keeping them next to the content is the
point: a change to a page and to what the tests expect lands in one diff.
"""

from __future__ import annotations

import base64
import gzip
import html
import random
import re
import struct
import zlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qs

from tests.darknet.pgp import PGP_PUBLIC_KEY

__all__ = [
    "BINARY_PATHS",
    "BROKEN_ROBOTS_SIZE",
    "COOKIES_SET",
    "CP1252_TEXT",
    "DATA_TEXT",
    "EXPECTED_FETCHED_ONCE",
    "EXPECTED_FETCHED_PATHS",
    "EXPECTED_LINKED_PATHS",
    "EXPECTED_NEVER_FETCHED",
    "EXPECTED_RESPONSES",
    "FORM_TARGET_PATHS",
    "HTML",
    "HUGE_PATHS",
    "HUGE_SIZE",
    "INVALID_ONIONS",
    "LATIN1_TEXT",
    "NETWORK_LINKS",
    "NOT_RECORDED",
    "ONION_V2",
    "ONION_V3",
    "ONION_V3_MALFORMED",
    "PNG_1X1",
    "REDIRECT_CHAIN",
    "SITE_NAMES",
    "SITEMAP_ONLY_PATHS",
    "SITEMAP_PROBE_PATHS",
    "SLOW_DELAY",
    "SPECIAL_LINKS",
    "SRCSET_PATHS",
    "Reply",
    "SiteContent",
    "Streamed",
    "TEXT_BITCOIN",
    "TEXT_EMAILS",
    "TEXT_URL_PATHS",
    "TRAP_PREFIXES",
    "WEBP_1X1",
    "build_sites",
]

# --------------------------------------------------------------------------
# Constants shared by the content and the tests
# --------------------------------------------------------------------------

SITE_NAMES: tuple[str, ...] = ("main", "other", "broken", "slow")

HTML = "text/html; charset=utf-8"
TEXT = "text/plain; charset=utf-8"
XML = "application/xml"
GZIP = "application/gzip"

# How long the slow site's "/" stalls; tests of timeouts rely on it being far
# longer than any sane DOWNLOAD_TIMEOUT they configure.
SLOW_DELAY = 30.0

# 12 MiB: big enough to exceed a crawler's DOWNLOAD_MAXSIZE/WARNSIZE of a few
# MB, small enough to stream quickly over loopback.
HUGE_SIZE = 12 * 1024 * 1024

BROKEN_ROBOTS_SIZE = 1024

LATIN1_TEXT = "café déjà vu"
# Characters that only exist in cp1252 (0x80-0x9f), so decoding the page as
# latin-1 or utf-8 gives visibly wrong text and a test can tell.
CP1252_TEXT = "naïve “smart quotes” – 5 €"
DATA_TEXT = b"Hello darkcrawl!"


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png_1x1() -> bytes:
    # Built rather than pasted so it is provably valid (real CRCs, real zlib
    # stream): crawlers/image sniffers may actually decode it.
    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 6, 0, 0, 0)  # 1x1, 8-bit RGBA
    idat = zlib.compress(b"\x00" + bytes((255, 0, 0, 255)), 9)  # filter 0, one red pixel
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )


PNG_1X1: bytes = _png_1x1()
# The well-known 1x1 lossless WebP (34 bytes) used by feature detectors.
WEBP_1X1: bytes = base64.b64decode("UklGRhoAAABXRUJQVlA4TA0AAAAvAAAAEAcQERGIiP4HAA==")
FAKE_PDF: bytes = (
    b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
    b"2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\n"
    b"trailer << /Root 1 0 R >>\n%%EOF\n"
)

# Onion addresses.  The v3 one has a correct SHA3 checksum and version byte;
# the malformed one changes its last base32 character, which holds the low
# bits of the version byte (3 -> 4), so both version and checksum are wrong
# while it still *looks* like a 56-char v3 address.
ONION_V3 = "http://lbtgmztgmztgmztgmztgmztgmztgmztgmztgmztgmztgmztgmztmn5ad.onion/"
ONION_V3_MALFORMED = "http://lbtgmztgmztgmztgmztgmztgmztgmztgmztgmztgmztgmztgmztmn5ae.onion/"
ONION_V2 = "http://expyuzz4wqqyqhjn.onion/"

_DATA_TEXT_URI = "data:text/plain;base64," + base64.b64encode(DATA_TEXT).decode("ascii")
_DATA_PNG_URI = "data:image/png;base64," + base64.b64encode(PNG_1X1).decode("ascii")

# Special (non-fetchable) links on main's index, in document order, as
# ``href`` values.  Kept as one ordered table so the index page and
# SPECIAL_LINKS below cannot drift apart.
_SPECIAL_HREFS: tuple[tuple[str, str], ...] = (
    ("mail", "mailto:admin@example.com"),
    ("tel", "tel:+15551234567"),
    ("bitcoin", "bitcoin:1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"),
    ("bitcoin", "btc:3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy"),
    ("ethereum", "ethereum:0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"),
    ("ethereum", "eth:0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359"),
    ("magnet", "magnet:?xt=urn:btih:c12fe1c06bba254a9dc9f519b335aa7c1367a88a&dn=test"),
    ("ed2k", "ed2k://|file|test.iso|1024|31D6CFE0D16AE931B73C59D7E0C089C0|/"),
    ("irc", "irc://irc.example.org/channel"),
    ("ws", "ws://127.0.0.1:1/socket"),
    ("ws", "wss://example.org/socket"),
    ("script", "javascript:void(0)"),
    ("data", _DATA_TEXT_URI),
    ("data", _DATA_PNG_URI),
    ("tor", ONION_V3),
    ("invalid", ONION_V2),
    ("invalid", ONION_V3_MALFORMED),
    ("invalid", "ftp://ftp.example.org/file"),
)


def _recorded_value(kind: str, href: str) -> str | bytes:
    # Crypto addresses are recorded without their scheme, data: URIs as their
    # decoded payload, and everything else as the URL itself.
    if kind in ("bitcoin", "ethereum"):
        return href.split(":", 1)[1]
    if kind == "data":
        return base64.b64decode(href.split(",", 1)[1])
    return href


def _special_links() -> dict[str, list[str | bytes]]:
    out: dict[str, list[str | bytes]] = {}
    for kind, href in _SPECIAL_HREFS:
        if kind not in NETWORK_LINKS:
            out.setdefault(kind, []).append(_recorded_value(kind, href))
    return out


# Links on main's index to networks the tests cannot reach (no Tor proxy):
# recorded as links of that network, never fetched.
NETWORK_LINKS: dict[str, list[str]] = {"tor": [ONION_V3]}

# kind -> values as recorded, for every non-fetchable link on main's index.
# Kinds follow darkcrawl.links.classify: mail, tel, bitcoin (bitcoin:/btc:),
# ethereum (ethereum:/eth:), magnet, ed2k, irc, ws (ws:/wss:), script
# (javascript:), data, and invalid (retired v2 onion, malformed v3 onion,
# unsupported ftp:).  Values are raw href values (crypto: bare address,
# data: decoded bytes); a link extractor that percent-encodes (e.g. "|" in
# the ed2k link) must undo that before comparing.
SPECIAL_LINKS: dict[str, list[str | bytes]] = _special_links()

# Onion links that must NOT be treated as Tor services (both in "invalid").
INVALID_ONIONS: tuple[str, ...] = (ONION_V2, ONION_V3_MALFORMED)

# Findings that appear only in main index's *text*, never in an href.
TEXT_EMAILS: tuple[str, ...] = ("contact@example.org",)
TEXT_BITCOIN: tuple[str, ...] = ("bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq",)
TEXT_URL_PATHS: dict[str, frozenset[str]] = {"main": frozenset({"/text-only.html"})}
# A SHA-1 (of the empty string) in the text: hex, 40 chars, but no 0x, so
# it is not an Ethereum address and must not be recorded as anything.
NOT_RECORDED: tuple[str, ...] = ("da39a3ee5e6b4b0d3255bfef95601890afd80709",)

REDIRECT_CHAIN: tuple[str, ...] = ("/redirect", "/redirect2", "/redirected.html")
# path -> Set-Cookie header value sent with it.
COOKIES_SET: dict[str, str] = {"/redirect": "hop=1", "/page1.html": "session=abc; Path=/"}

TRAP_PREFIXES: tuple[str, ...] = ("/trap/", "/calendar")

# Path groups whose fetching depends on crawler policy, so e2e tests opt in.
BINARY_PATHS: frozenset[str] = frozenset({"/binary.pdf", "/image.png"})
HUGE_PATHS: frozenset[str] = frozenset({"/huge.html", "/after-huge.html"})
FORM_TARGET_PATHS: frozenset[str] = frozenset({"/form-target"})
SRCSET_PATHS: frozenset[str] = frozenset(
    {"/img-1x.png", "/img-2x.png", "/pic-a.webp", "/pic-b.webp"}
)
# Reachable only through the sitemaps (robots.txt -> index -> urlset).
SITEMAP_ONLY_PATHS: frozenset[str] = frozenset({"/sitemap-only.html", "/sitemap-gz-only.html"})
# Only found by a crawler that probes /sitemap.xml when robots.txt names none.
SITEMAP_PROBE_PATHS: dict[str, frozenset[str]] = {
    "other": frozenset({"/sitemap.xml"}),
    "broken": frozenset({"/sitemap.xml"}),
}

# What any correct crawl of main (robots obeyed, sitemaps followed, other
# hosts allowed, no tight size limit needed) fetches at least once, per site.
EXPECTED_FETCHED_PATHS: dict[str, frozenset[str]] = {
    "main": frozenset(
        {
            "/",
            "/robots.txt",
            "/sitemap_index.xml",
            "/sitemap-pages.xml",
            "/sitemap-more.xml.gz",
            *SITEMAP_ONLY_PATHS,
            "/page1.html",
            "/page2.html",
            "/dir/page3.html",
            *REDIRECT_CHAIN,
            "/missing",
            "/error",
            "/trap/0",
            "/calendar?day=0",
            "/broken.html",
            "/broken-target.html",
            "/latin1.html",
            "/latin1-target.html",
            "/nocharset.html",
            "/nocharset-target.html",
            "/badbytes.html",
            "/badbytes-target.html",
            "/form.html",
            "/srcset.html",
            "/based/index.html",
            "/base-target/child.html",
        }
    ),
    "other": frozenset({"/", "/robots.txt", "/o1.html"}),
    "broken": frozenset({"/", "/robots.txt", "/b1.html"}),
    "slow": frozenset(),
}

# Everything a link/text/sitemap extractor can discover (the policy groups
# included); a fetched path outside this set (and outside TRAP_PREFIXES)
# means the crawler invented a URL.
EXPECTED_LINKED_PATHS: dict[str, frozenset[str]] = {
    "main": EXPECTED_FETCHED_PATHS["main"]
    | BINARY_PATHS
    | HUGE_PATHS
    | FORM_TARGET_PATHS
    | SRCSET_PATHS
    | TEXT_URL_PATHS["main"],
    "other": EXPECTED_FETCHED_PATHS["other"] | SITEMAP_PROBE_PATHS["other"],
    "broken": EXPECTED_FETCHED_PATHS["broken"] | SITEMAP_PROBE_PATHS["broken"],
    "slow": frozenset(),
}

# Linked but must never be requested (robots Disallow; slow is unlinked).
EXPECTED_NEVER_FETCHED: dict[str, frozenset[str]] = {
    "main": frozenset({"/private/secret.html"}),
    "other": frozenset(),
    "broken": frozenset(),
    "slow": frozenset({"/"}),
}

# Pages linked from several places: a deduplicating crawler GETs them once.
EXPECTED_FETCHED_ONCE: dict[str, frozenset[str]] = {
    "main": frozenset({"/", "/page1.html"}),
    "other": frozenset({"/"}),
    "broken": frozenset(),
    "slow": frozenset(),
}

# site -> path -> (status, Content-Type) of a plain GET, no redirect following.
EXPECTED_RESPONSES: dict[str, dict[str, tuple[int, str]]] = {
    "main": {
        "/": (200, HTML),
        "/robots.txt": (200, TEXT),
        "/sitemap_index.xml": (200, XML),
        "/sitemap-pages.xml": (200, XML),
        "/sitemap-more.xml.gz": (200, GZIP),
        "/sitemap-only.html": (200, HTML),
        "/sitemap-gz-only.html": (200, HTML),
        "/page1.html": (200, HTML),
        "/page2.html": (200, HTML),
        "/dir/page3.html": (200, HTML),
        "/private/secret.html": (200, HTML),
        "/redirect": (301, HTML),
        "/redirect2": (302, HTML),
        "/redirected.html": (200, HTML),
        "/missing": (404, HTML),
        "/error": (500, HTML),
        "/binary.pdf": (200, "application/pdf"),
        "/image.png": (200, "image/png"),
        "/trap/0": (200, HTML),
        "/trap/7": (200, HTML),
        "/trap/0/x/trap/": (200, HTML),
        "/calendar?day=0": (200, HTML),
        "/calendar?day=12345": (200, HTML),
        "/broken.html": (200, HTML),
        "/broken-target.html": (200, HTML),
        "/latin1.html": (200, "text/html; charset=iso-8859-1"),
        "/latin1-target.html": (200, HTML),
        "/nocharset.html": (200, "text/html"),
        "/nocharset-target.html": (200, HTML),
        "/badbytes.html": (200, HTML),
        "/badbytes-target.html": (200, HTML),
        "/huge.html": (200, HTML),
        "/after-huge.html": (200, HTML),
        "/form.html": (200, HTML),
        "/form-target": (200, HTML),
        "/srcset.html": (200, HTML),
        "/img-1x.png": (200, "image/png"),
        "/img-2x.png": (200, "image/png"),
        "/pic-a.webp": (200, "image/webp"),
        "/pic-b.webp": (200, "image/webp"),
        "/based/index.html": (200, HTML),
        "/base-target/child.html": (200, HTML),
        "/text-only.html": (200, HTML),
        "/no/such/page.html": (404, HTML),
    },
    "other": {
        "/": (200, HTML),
        "/o1.html": (200, HTML),
        "/robots.txt": (404, HTML),
        "/sitemap.xml": (404, HTML),
    },
    "broken": {
        "/": (200, HTML),
        "/b1.html": (200, HTML),
        "/robots.txt": (200, "text/plain"),
        "/sitemap.xml": (200, XML),
    },
    "slow": {
        # "/" is deliberately absent: it takes SLOW_DELAY seconds.
        "/robots.txt": (404, HTML),
    },
}

# --------------------------------------------------------------------------
# Reply model and routing
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Streamed:
    """A body produced in chunks, so a 12 MB page is never held in memory."""

    length: int
    chunks: Callable[[], Iterator[bytes]]


@dataclass(frozen=True)
class Reply:
    """What the server sends for one request (HEAD sends it minus the body)."""

    status: int = 200
    content_type: str | None = HTML
    body: bytes | Streamed = b""
    headers: tuple[tuple[str, str], ...] = ()
    # Seconds to stall before answering; the server wakes early on shutdown.
    delay: float = 0.0

    @property
    def length(self) -> int:
        return self.body.length if isinstance(self.body, Streamed) else len(self.body)


# A dynamic route gets the decoded path and the parsed query string and may
# decline (None) so routing falls through to the next one / 404.
DynamicRoute = Callable[[str, dict[str, list[str]]], Reply | None]


@dataclass
class SiteContent:
    """All routes of one site: exact paths first, then dynamic handlers."""

    name: str
    static: dict[str, Reply] = field(default_factory=dict)
    dynamic: list[DynamicRoute] = field(default_factory=list)

    def resolve(self, path: str, query: str = "") -> Reply:
        reply = self.static.get(path)
        if reply is not None:
            return reply
        params = parse_qs(query, keep_blank_values=True)
        for route in self.dynamic:
            reply = route(path, params)
            if reply is not None:
                return reply
        return _not_found(path)


# --------------------------------------------------------------------------
# Page helpers
# --------------------------------------------------------------------------


def _a(href: str, text: str | None = None) -> str:
    # html.escape so hrefs like magnet's "&dn=" survive as real attributes.
    return f'<a href="{html.escape(href)}">{html.escape(text if text is not None else href)}</a>'


def _page(title: str, body: str, *, head: str = "", charset: str | None = "utf-8") -> str:
    meta = f'<meta charset="{charset}">' if charset else ""
    return (
        "<!DOCTYPE html>\n<html><head>"
        f"{meta}<title>{html.escape(title)}</title>{head}</head>\n"
        f"<body>\n<h1>{html.escape(title)}</h1>\n{body}\n</body></html>\n"
    )


def _html(title: str, body: str = "", *, status: int = 200, headers: tuple[tuple[str, str], ...] = ()) -> Reply:
    return Reply(status=status, body=_page(title, body).encode("utf-8"), headers=headers)


def _not_found(path: str) -> Reply:
    return _html("404 Not Found", f"<p>No page at {html.escape(path)}.</p>", status=404)


def _ul(*items: str) -> str:
    return "<ul>\n" + "\n".join(f"<li>{item}</li>" for item in items) + "\n</ul>"


def _huge_body(size: int, tail_href: str) -> Streamed:
    head = _page("Huge", "")[: -len("\n</body></html>\n")].encode("utf-8") + b"\n"
    tail = f"<p>{_a(tail_href, 'after huge')}</p>\n</body></html>\n".encode("utf-8")
    line = b"<p>darknet filler text to make this page very large indeed.</p>\n"
    block = line * (65536 // len(line))  # whole lines, so tags are never cut
    filler = size - len(head) - len(tail)
    if filler < 0:
        raise ValueError(f"huge page size {size} smaller than its frame")
    full, rest = divmod(filler, len(block))

    def chunks() -> Iterator[bytes]:
        yield head
        for _ in range(full):
            yield block
        # Pad with newlines (whitespace between elements) for an exact size.
        yield b"\n" * rest
        yield tail

    return Streamed(length=size, chunks=chunks)


def _trap(path: str, params: dict[str, list[str]]) -> Reply | None:
    if not path.startswith("/trap/"):
        return None
    # Relative links with dot segments: each resolves one level deeper, so
    # the URL space is infinite and URLs keep growing.
    match = re.fullmatch(r"/trap/(\d+)", path)
    if match:
        n = int(match.group(1))
        links = [_a(str(n + 1), "next"), _a(f"{n}/x/y/../trap/", "deeper")]
    else:
        links = [_a("x/y/../trap/", "deeper")]
    return _html(f"Trap {path}", _ul(*links))


def _calendar(path: str, params: dict[str, list[str]]) -> Reply | None:
    if path != "/calendar":
        return None
    try:
        day = int(params.get("day", ["0"])[0])
    except ValueError:
        day = 0
    links = [_a(f"/calendar?day={day + 1}", "next day")]
    if day > 0:
        links.append(_a(f"/calendar?day={day - 1}", "previous day"))
    return _html(f"Calendar day {day}", _ul(*links))


# --------------------------------------------------------------------------
# Sites
# --------------------------------------------------------------------------


def _main(urls: Mapping[str, str]) -> SiteContent:
    main, other, broken = urls["main"], urls["other"], urls["broken"]
    site = SiteContent("main")
    s = site.static

    index_links = [
        _a("/page1.html"),
        _a("/page2.html"),
        _a("dir/page3.html"),  # relative on purpose
        _a("/private/secret.html"),
        _a("/redirect"),
        _a("/missing"),
        _a("/error"),
        _a("/binary.pdf"),
        _a("/image.png"),
        _a("/trap/0"),
        _a("/calendar?day=0"),
        _a("/broken.html"),
        _a("/latin1.html"),
        _a("/nocharset.html"),
        _a("/badbytes.html"),
        _a("/huge.html"),
        _a("/form.html"),
        _a("/srcset.html"),
        _a("/based/index.html"),
        _a(f"{other}/", "other site"),
        _a(f"{broken}/", "broken site"),
    ]
    special = [_a(href, kind) for kind, href in _SPECIAL_HREFS]
    text = (
        "<p>Write to contact@example.org for access.</p>\n"
        f"<p>Mirror list: {main}/text-only.html (copy and paste).</p>\n"
        "<p>Donate: bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq</p>\n"
        "<p>Checksum: da39a3ee5e6b4b0d3255bfef95601890afd80709</p>"
    )
    s["/"] = _html("Main index", _ul(*index_links) + "\n<h2>Special</h2>\n" + _ul(*special) + "\n" + text)

    s["/robots.txt"] = Reply(
        content_type=TEXT,
        body=f"User-agent: *\nDisallow: /private/\n\nSitemap: {main}/sitemap_index.xml\n".encode(),
    )
    ns = 'xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"'
    s["/sitemap_index.xml"] = Reply(
        content_type=XML,
        body=(
            f'<?xml version="1.0" encoding="UTF-8"?>\n<sitemapindex {ns}>\n'
            f"  <sitemap><loc>{main}/sitemap-pages.xml</loc></sitemap>\n"
            f"  <sitemap><loc>{main}/sitemap-more.xml.gz</loc></sitemap>\n"
            "</sitemapindex>\n"
        ).encode(),
    )
    s["/sitemap-pages.xml"] = Reply(
        content_type=XML,
        body=(
            f'<?xml version="1.0" encoding="UTF-8"?>\n<urlset {ns}>\n'
            f"  <url><loc>{main}/sitemap-only.html</loc></url>\n"
            f"  <url><loc>{main}/page1.html</loc></url>\n"
            "</urlset>\n"
        ).encode(),
    )
    # Served as a gzip *file* (no Content-Encoding), like real .xml.gz
    # sitemaps; mtime=0 keeps the bytes reproducible.
    gz_xml = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<urlset {ns}>\n'
        f"  <url><loc>{main}/sitemap-gz-only.html</loc></url>\n"
        "</urlset>\n"
    ).encode()
    s["/sitemap-more.xml.gz"] = Reply(content_type=GZIP, body=gzip.compress(gz_xml, mtime=0))
    s["/sitemap-only.html"] = _html("Only in the sitemap", "<p>Linked from sitemap-pages.xml only.</p>")
    s["/sitemap-gz-only.html"] = _html("Only in the gzip sitemap", "<p>Linked from sitemap-more.xml.gz only.</p>")

    s["/page1.html"] = _html(
        "Page 1",
        _ul(_a("/", "home"), _a("/page2.html")),
        headers=(("Set-Cookie", COOKIES_SET["/page1.html"]),),
    )
    s["/page2.html"] = _html("Page 2", _ul(_a("/", "home"), _a("page1.html")))
    s["/dir/page3.html"] = _html("Page 3", _ul(_a("../page1.html")))
    s["/private/secret.html"] = _html("Secret", "<p>Robots must keep crawlers out of here.</p>")

    # First hop relative, second absolute: both Location forms are legal.
    s["/redirect"] = Reply(
        status=301,
        body=_page("Moved", _a("/redirect2")).encode(),
        headers=(("Location", "/redirect2"), ("Set-Cookie", COOKIES_SET["/redirect"])),
    )
    s["/redirect2"] = Reply(
        status=302,
        body=_page("Found", _a(f"{main}/redirected.html")).encode(),
        headers=(("Location", f"{main}/redirected.html"),),
    )
    s["/redirected.html"] = _html("Redirected", "<p>End of the redirect chain.</p>" + _ul(_a("/", "home")))

    s["/missing"] = _html("404 Not Found", "<p>This page is missing on purpose.</p>", status=404)
    s["/error"] = _html("500 Internal Server Error", "<p>This page fails on purpose.</p>", status=500)
    s["/binary.pdf"] = Reply(content_type="application/pdf", body=FAKE_PDF)
    s["/image.png"] = Reply(content_type="image/png", body=PNG_1X1)

    # Unclosed tags, stray closers, unquoted attributes, a bogus nesting: a
    # lenient parser must still find the link.
    s["/broken.html"] = Reply(
        body=(
            b"<html><head><title>Broken</title>\n<body>\n<div class=outer><p>unclosed paragraph\n"
            b"</div></div></span>\n<table><tr><td>cell<td>cell\n"
            b"<a href=broken-target.html>broken target</a>\n<b><i>mis</b>nested</i>\n"
            b"<span class=odd title=x <p>trailing"
        ),
    )
    s["/broken-target.html"] = _html("Broken target", "<p>Found despite the mess.</p>")

    latin1_body = (
        "<!DOCTYPE html>\n<html><head><title>Latin-1</title></head>\n"
        f"<body><p>{LATIN1_TEXT}</p>\n{_a('/latin1-target.html')}\n</body></html>\n"
    )
    s["/latin1.html"] = Reply(content_type="text/html; charset=iso-8859-1", body=latin1_body.encode("latin-1"))
    s["/latin1-target.html"] = _html("Latin-1 target")
    nocharset_body = (
        "<!DOCTYPE html>\n<html><head><title>No charset</title></head>\n"
        f"<body><p>{CP1252_TEXT}</p>\n{_a('/nocharset-target.html')}\n</body></html>\n"
    )
    s["/nocharset.html"] = Reply(content_type="text/html", body=nocharset_body.encode("cp1252"))
    s["/nocharset-target.html"] = _html("No-charset target")
    s["/badbytes.html"] = Reply(
        body=(
            b'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>Bad bytes</title></head>\n'
            # lone continuation byte, truncated sequence, invalid lead bytes
            b"<body><p>before \x80 \xc3\x28 \xff\xfe after</p>\n"
            b'<a href="/badbytes-target.html">target</a>\n</body></html>\n'
        ),
    )
    s["/badbytes-target.html"] = _html("Bad-bytes target")

    s["/huge.html"] = Reply(body=_huge_body(HUGE_SIZE, "/after-huge.html"))
    s["/after-huge.html"] = _html("After huge", "<p>Only linked from the end of huge.html.</p>")

    s["/form.html"] = _html(
        "Form",
        '<form action="/form-target" method="get">\n<input type="text" name="q">\n'
        '<input type="submit" value="Go">\n</form>',
    )
    s["/form-target"] = _html("Form target")
    s["/srcset.html"] = _html(
        "Srcset",
        '<img src="/image.png" srcset="/img-1x.png 1x, /img-2x.png 2x" alt="srcset">\n'
        '<picture><source srcset="/pic-a.webp 480w, /pic-b.webp 800w" type="image/webp">'
        '<img src="/image.png" alt="picture"></picture>',
    )
    for p in ("/img-1x.png", "/img-2x.png"):
        s[p] = Reply(content_type="image/png", body=PNG_1X1)
    for p in ("/pic-a.webp", "/pic-b.webp"):
        s[p] = Reply(content_type="image/webp", body=WEBP_1X1)
    s["/based/index.html"] = Reply(
        body=_page("Based", _a("child.html"), head='<base href="/base-target/">').encode()
    )
    s["/base-target/child.html"] = _html("Base target child", "<p>Resolved against the base href.</p>")
    s["/text-only.html"] = _html("Text only", "<p>Only mentioned in the index text, never in an href.</p>\n"
                                 f"<p>Our key:</p>\n<pre>{PGP_PUBLIC_KEY}</pre>")

    site.dynamic += [_trap, _calendar]
    return site


def _other(urls: Mapping[str, str]) -> SiteContent:
    site = SiteContent("other")
    # No robots.txt and no sitemap on purpose: both fall through to 404.
    site.static["/"] = _html("Other index", _ul(_a(f"{urls['main']}/", "main site"), _a("/o1.html")))
    site.static["/o1.html"] = _html("Other page 1", _ul(_a("/", "home")))
    return site


def _broken(urls: Mapping[str, str]) -> SiteContent:
    site = SiteContent("broken")
    # Seeded noise: NULs and invalid UTF-8 a robots parser must survive
    # (and treat as "allow everything").
    noise = random.Random(0xDA2C).randbytes(BROKEN_ROBOTS_SIZE)
    site.static["/robots.txt"] = Reply(content_type="text/plain", body=noise)
    site.static["/sitemap.xml"] = Reply(
        content_type=XML,
        body=(
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n'
            f"  <url><loc>{urls['broken']}/b1.html</loc></url>\n"
            "  <url><loc>unclosed <<< & </url>\n</urlse"
        ).encode(),
    )
    site.static["/"] = _html("Broken host index", _ul(_a("/b1.html")))
    site.static["/b1.html"] = _html("Broken host page 1", _ul(_a("/", "home")))
    return site


def _slow(urls: Mapping[str, str], delay: float) -> SiteContent:
    site = SiteContent("slow")
    site.static["/"] = Reply(body=_page("Slow", "<p>Worth the wait.</p>").encode(), delay=delay)
    return site


def build_sites(urls: Mapping[str, str], *, slow_delay: float = SLOW_DELAY) -> dict[str, SiteContent]:
    """Build every site's routes; ``urls`` maps site name -> base URL (no slash)."""
    return {
        "main": _main(urls),
        "other": _other(urls),
        "broken": _broken(urls),
        "slow": _slow(urls, slow_delay),
    }

