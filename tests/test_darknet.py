"""Tests of the local test web (tests/darknet) itself, with no crawler.

If these fail, end-to-end crawl failures mean nothing, so they also check
that the ``EXPECTED_*`` constants in ``tests.darknet.sites`` agree with what
the servers actually serve.
"""

from __future__ import annotations

import base64
import gzip
import http.client
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
import zlib
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest

from tests.darknet import Darknet
from tests.darknet import sites as S
from tests.darknet.server import _Server

REPO = Path(__file__).resolve().parents[1]
SITEMAP_NS = "{http://www.sitemaps.org/schemas/sitemap/0.9}"


@pytest.fixture(scope="module")
def net() -> Iterator[Darknet]:
    with Darknet() as darknet:
        yield darknet


# -- helpers ----------------------------------------------------------------


def request(url: str, method: str = "GET", timeout: float = 10.0) -> tuple[int, http.client.HTTPMessage, bytes]:
    """One request on a fresh connection, redirects not followed."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        conn.request(method, target or "/")
        resp = conn.getresponse()
        return resp.status, resp.headers, resp.read()
    finally:
        conn.close()


class LinkParser(HTMLParser):
    """Collects every URL-ish attribute, honouring <base href>."""

    def __init__(self, page_url: str) -> None:
        super().__init__(convert_charrefs=True)
        self.base = page_url
        self.links: list[str] = []
        self.raw_hrefs: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v for k, v in attrs if v is not None}
        if tag == "base" and "href" in a:
            self.base = urljoin(self.base, a["href"])
            return
        if "href" in a:
            self.raw_hrefs.append(a["href"])
        for name in ("href", "src", "action"):
            if name in a:
                self.links.append(urljoin(self.base, a[name]))
        if "srcset" in a:
            for candidate in a["srcset"].split(","):
                self.links.append(urljoin(self.base, candidate.split()[0]))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(url: str, body: bytes, encoding: str = "utf-8") -> LinkParser:
    parser = LinkParser(url)
    parser.feed(body.decode(encoding, errors="replace"))
    parser.close()
    return parser


# -- routes -------------------------------------------------------------------


ROUTES = [(site, path) for site, routes in S.EXPECTED_RESPONSES.items() for path in routes]


@pytest.mark.parametrize(("site", "path"), ROUTES, ids=[f"{s}:{p}" for s, p in ROUTES])
def test_route_status_and_content_type(net: Darknet, site: str, path: str) -> None:
    status, headers, body = request(net.url(site, path))
    want_status, want_type = S.EXPECTED_RESPONSES[site][path]
    assert status == want_status
    assert headers["Content-Type"] == want_type
    assert int(headers["Content-Length"]) == len(body)
    assert body


def test_unknown_paths_404_on_every_site(net: Darknet) -> None:
    for name in S.SITE_NAMES:
        status, headers, _ = request(net.url(name, "/definitely/not/here?x=1"))
        assert status == 404, name
        assert headers["Content-Type"] == S.HTML


def test_head_matches_get_without_body(net: Darknet) -> None:
    for path in ("/", "/binary.pdf", "/missing", "/huge.html"):
        g_status, g_headers, g_body = request(net.url("main", path), "GET")
        h_status, h_headers, h_body = request(net.url("main", path), "HEAD")
        assert (h_status, h_headers["Content-Type"]) == (g_status, g_headers["Content-Type"])
        assert int(h_headers["Content-Length"]) == len(g_body)
        assert h_body == b""


# -- robots and sitemaps --------------------------------------------------------


def test_main_robots(net: Darknet) -> None:
    _, _, body = request(net.url("main", "/robots.txt"))
    lines = body.decode().splitlines()
    assert "User-agent: *" in lines
    assert [ln for ln in lines if ln.startswith("Disallow")] == ["Disallow: /private/"]
    assert f"Sitemap: {net.url('main', '/sitemap_index.xml')}" in lines


def test_broken_robots_is_binary_garbage(net: Darknet) -> None:
    _, _, body = request(net.url("broken", "/robots.txt"))
    assert len(body) == S.BROKEN_ROBOTS_SIZE
    assert b"\x00" in body
    with pytest.raises(UnicodeDecodeError):
        body.decode("utf-8")
    # Same bytes every run, so failures reproduce.
    assert request(net.url("broken", "/robots.txt"))[2] == body


def locs(xml: bytes) -> list[str]:
    return [el.text or "" for el in ET.fromstring(xml).iter(f"{SITEMAP_NS}loc")]


def test_sitemap_index_and_urlsets(net: Darknet) -> None:
    _, _, index = request(net.url("main", "/sitemap_index.xml"))
    assert ET.fromstring(index).tag == f"{SITEMAP_NS}sitemapindex"
    assert locs(index) == [net.url("main", "/sitemap-pages.xml"), net.url("main", "/sitemap-more.xml.gz")]

    _, _, pages = request(net.url("main", "/sitemap-pages.xml"))
    assert ET.fromstring(pages).tag == f"{SITEMAP_NS}urlset"
    assert locs(pages) == [net.url("main", "/sitemap-only.html"), net.url("main", "/page1.html")]

    _, headers, gz = request(net.url("main", "/sitemap-more.xml.gz"))
    assert headers["Content-Type"] in ("application/gzip", "application/x-gzip")
    assert headers["Content-Encoding"] is None  # a gzip file, not a compressed transfer
    assert gz[:2] == b"\x1f\x8b"
    assert locs(gzip.decompress(gz)) == [net.url("main", "/sitemap-gz-only.html")]


def test_broken_sitemap_is_malformed(net: Darknet) -> None:
    _, _, body = request(net.url("broken", "/sitemap.xml"))
    with pytest.raises(ET.ParseError):
        ET.fromstring(body)


# -- redirects and cookies ----------------------------------------------------


def test_redirect_chain_and_cookies(net: Darknet) -> None:
    status, headers, _ = request(net.url("main", "/redirect"))
    assert (status, headers["Location"], headers["Set-Cookie"]) == (301, "/redirect2", "hop=1")
    status, headers, _ = request(net.url("main", "/redirect2"))
    assert (status, headers["Location"]) == (302, net.url("main", "/redirected.html"))
    # urllib follows both hops (relative then absolute Location) to the end.
    with urllib.request.urlopen(net.url("main", "/redirect"), timeout=10) as resp:
        assert resp.status == 200
        assert resp.url == net.url("main", S.REDIRECT_CHAIN[-1])
    _, headers, _ = request(net.url("main", "/page1.html"))
    assert headers["Set-Cookie"] == S.COOKIES_SET["/page1.html"] == "session=abc; Path=/"


def test_error_pages_are_html(net: Darknet) -> None:
    for path, code in (("/missing", 404), ("/error", 500)):
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(net.url("main", path), timeout=10)
        assert info.value.code == code
        assert b"<html>" in info.value.read()


# -- encodings and odd content -------------------------------------------------


def test_latin1_page(net: Darknet) -> None:
    _, headers, body = request(net.url("main", "/latin1.html"))
    assert headers["Content-Type"] == "text/html; charset=iso-8859-1"
    assert "café déjà vu".encode("latin-1") in body
    with pytest.raises(UnicodeDecodeError):
        body.decode("utf-8")
    assert "/latin1-target.html" in parse(net.url("main", "/latin1.html"), body, "latin-1").raw_hrefs


def test_nocharset_and_badbytes_pages(net: Darknet) -> None:
    _, headers, body = request(net.url("main", "/nocharset.html"))
    assert headers["Content-Type"] == "text/html"
    assert S.CP1252_TEXT.encode("cp1252") in body
    assert b"<meta" not in body.lower() and b"charset=" not in body.lower()  # nothing declares it
    with pytest.raises(UnicodeDecodeError):
        body.decode("utf-8")
    assert "/nocharset-target.html" in parse(net.url("main", "/nocharset.html"), body, "cp1252").raw_hrefs

    _, headers, body = request(net.url("main", "/badbytes.html"))
    assert "charset=utf-8" in headers["Content-Type"]
    with pytest.raises(UnicodeDecodeError):
        body.decode("utf-8")
    assert "/badbytes-target.html" in parse(net.url("main", "/badbytes.html"), body).raw_hrefs


def test_broken_html_link_is_findable(net: Darknet) -> None:
    url = net.url("main", "/broken.html")
    _, _, body = request(url)
    assert b"<a href=broken-target.html>" in body
    assert net.url("main", "/broken-target.html") in parse(url, body).links


def test_binary_and_images(net: Darknet) -> None:
    assert request(net.url("main", "/binary.pdf"))[2].startswith(b"%PDF-1.4")
    for path in ("/image.png", "/img-1x.png", "/img-2x.png"):
        assert request(net.url("main", path))[2] == S.PNG_1X1
    for path in ("/pic-a.webp", "/pic-b.webp"):
        body = request(net.url("main", path))[2]
        assert body[:4] == b"RIFF" and body[8:12] == b"WEBP"
        assert struct.unpack("<I", body[4:8])[0] == len(body) - 8


def test_png_is_valid() -> None:
    png = S.PNG_1X1
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, {}
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos : pos + 4])
        kind, data = png[pos + 4 : pos + 8], png[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", png[pos + 8 + length : pos + 12 + length])
        assert zlib.crc32(kind + data) == crc, kind
        chunks[kind] = data
        pos += 12 + length
    assert list(chunks) == [b"IHDR", b"IDAT", b"IEND"]
    assert struct.unpack(">II", chunks[b"IHDR"][:8]) == (1, 1)
    assert len(zlib.decompress(chunks[b"IDAT"])) == 1 + 4  # filter byte + one RGBA pixel


def test_huge_page(net: Darknet) -> None:
    parts = urlsplit(net.url("main"))
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        conn.request("GET", "/huge.html")
        resp = conn.getresponse()
        assert int(resp.headers["Content-Length"]) == S.HUGE_SIZE == 12 * 1024 * 1024
        total, tail = 0, b""
        while chunk := resp.read(1 << 20):
            total += len(chunk)
            tail = (tail + chunk)[-4096:]
    finally:
        conn.close()
    assert total == S.HUGE_SIZE
    assert b'<a href="/after-huge.html">' in tail
    assert tail.endswith(b"</html>\n")


def test_huge_page_client_hangup_is_harmless(net: Darknet) -> None:
    # A crawler aborting at DOWNLOAD_MAXSIZE must not wedge the server.
    parts = urlsplit(net.url("main"))
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(b"GET /huge.html HTTP/1.1\r\nHost: x\r\n\r\n")
        assert sock.recv(1024).startswith(b"HTTP/1.1 200")
    assert request(net.url("main", "/page2.html"))[0] == 200


# -- link structure --------------------------------------------------------------


def test_index_special_links_and_text(net: Darknet) -> None:
    url = net.url("main")
    page = parse(url, request(url)[2])
    hrefs = page.raw_hrefs
    for _, href in S._SPECIAL_HREFS:
        assert href in hrefs, href
    assert f"{net.url('other')}" in hrefs and f"{net.url('broken')}" in hrefs
    assert not any(net.url("slow").rstrip("/") in h for h in hrefs)

    text = " ".join(page.text)
    html_hrefs = " ".join(hrefs)
    for finding in (*S.TEXT_EMAILS, *S.TEXT_BITCOIN, *S.NOT_RECORDED, net.url("main", "/text-only.html")):
        assert finding in text, finding
        assert finding not in html_hrefs, finding
    assert not re.search(r"0x[0-9a-f]{40}", text.replace("0x5aAeb", "")), "only the bare SHA-1 form"


def test_special_links_constant() -> None:
    assert S.SPECIAL_LINKS["data"] == [S.DATA_TEXT, S.PNG_1X1]
    assert S.DATA_TEXT == b"Hello darkcrawl!"
    assert base64.b64decode("SGVsbG8gZGFya2NyYXdsIQ==") == S.DATA_TEXT
    assert S.SPECIAL_LINKS["bitcoin"] == ["1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa", "3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy"]
    assert S.SPECIAL_LINKS["ethereum"] == [
        "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
        "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
    ]
    assert S.SPECIAL_LINKS["mail"] == ["mailto:admin@example.com"]
    assert S.SPECIAL_LINKS["ws"] == ["ws://127.0.0.1:1/socket", "wss://example.org/socket"]
    assert S.SPECIAL_LINKS["invalid"] == [S.ONION_V2, S.ONION_V3_MALFORMED, "ftp://ftp.example.org/file"]
    assert S.NETWORK_LINKS == {"tor": [S.ONION_V3]}
    assert set(S.INVALID_ONIONS) <= set(S.SPECIAL_LINKS["invalid"])
    assert set(S.SPECIAL_LINKS) == {
        "mail", "tel", "bitcoin", "ethereum", "magnet", "ed2k", "irc", "ws", "script", "data", "invalid",
    }  # fmt: skip


def onion_v3_valid(url: str) -> bool:
    import hashlib

    label = urlsplit(url).hostname.removesuffix(".onion")  # type: ignore[union-attr]
    raw = base64.b32decode(label.upper())
    key, checksum, version = raw[:32], raw[32:34], raw[34:]
    return version == b"\x03" and hashlib.sha3_256(b".onion checksum" + key + version).digest()[:2] == checksum


def test_onion_constants() -> None:
    assert onion_v3_valid(S.ONION_V3)
    assert not onion_v3_valid(S.ONION_V3_MALFORMED)
    assert len(S.ONION_V3_MALFORMED) == len(S.ONION_V3)
    assert len(urlsplit(S.ONION_V2).hostname or "") == 16 + len(".onion")


def test_trap_urls_grow_forever(net: Darknet) -> None:
    url = net.url("main", "/trap/0")
    body = request(url)[2]
    links = parse(url, body).links
    assert net.url("main", "/trap/1") in links
    deeper = net.url("main", "/trap/0/x/trap/")
    assert deeper in links
    lengths = []
    for _ in range(5):
        status, _, body = request(deeper)
        assert status == 200
        lengths.append(len(deeper))
        (deeper,) = [u for u in parse(deeper, body).links if u.startswith(deeper)]
    assert lengths == sorted(set(lengths))


def test_calendar_paginates_forever(net: Darknet) -> None:
    url = net.url("main", "/calendar?day=41")
    links = parse(url, request(url)[2]).links
    assert net.url("main", "/calendar?day=42") in links
    assert net.url("main", "/calendar?day=40") in links


def test_link_graph_matches_expectations(net: Darknet) -> None:
    """Every link target exists, and the constants list exactly what is linked.

    A mini crawl of main's pages (all except the 12 MB one, covered above),
    plus robots.txt's Sitemap lines, sitemap <loc>s and the URL in the index text.
    """
    main = net.url("main").rstrip("/")
    found: set[str] = set()
    for path, (status, ctype) in S.EXPECTED_RESPONSES["main"].items():
        if not ctype.startswith("text/html") or path == "/huge.html" or path.startswith(S.TRAP_PREFIXES):
            continue
        url = net.url("main", path)
        encoding = {"/latin1.html": "latin-1", "/nocharset.html": "cp1252"}.get(path, "utf-8")
        for link in parse(url, request(url)[2], encoding).links:
            if link.startswith(main + "/"):
                found.add(link[len(main) :])
    found |= {"/after-huge.html"} | S.TEXT_URL_PATHS["main"]
    for sm in ("/sitemap_index.xml", "/sitemap-pages.xml"):
        found |= {u[len(main) :] for u in locs(request(net.url("main", sm))[2])}
    found |= {u[len(main) :] for u in locs(gzip.decompress(request(net.url("main", "/sitemap-more.xml.gz"))[2]))}
    robots = request(net.url("main", "/robots.txt"))[2].decode()
    found |= {"/robots.txt"} | {ln.split(": ", 1)[1][len(main) :] for ln in robots.splitlines() if ln.startswith("Sitemap:")}

    ok_non_200 = {"/missing", "/error", "/redirect", "/redirect2"}
    for path in found:
        if not path.startswith(S.TRAP_PREFIXES):
            assert request(net.url("main", path))[0] == 200 or path in ok_non_200, path

    # Trap pages beyond the entry points and the redirect's later hops are
    # reached by following, not linking.
    linked = {p for p in found if not p.startswith(S.TRAP_PREFIXES)} | {"/trap/0", "/calendar?day=0"}
    expected = S.EXPECTED_LINKED_PATHS["main"] | S.EXPECTED_NEVER_FETCHED["main"]
    assert linked | {"/redirect2", "/redirected.html"} == expected
    assert S.SITEMAP_ONLY_PATHS <= expected


def test_other_and_broken_sites_link_structure(net: Darknet) -> None:
    other = parse(net.url("other"), request(net.url("other"))[2]).links
    assert net.url("main") in other and net.url("other", "/o1.html") in other
    broken = parse(net.url("broken"), request(net.url("broken"))[2]).links
    assert broken == [net.url("broken", "/b1.html")]


# -- server behaviour ------------------------------------------------------------


def test_keep_alive_reuses_one_connection(net: Darknet) -> None:
    parts = urlsplit(net.url("main"))
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        seen = []
        for method, path in (("GET", "/"), ("GET", "/missing"), ("HEAD", "/page2.html"), ("GET", "/binary.pdf")):
            conn.request(method, path)
            resp = conn.getresponse()
            resp.read()
            assert resp.version == 11
            assert not resp.will_close, path
            assert conn.sock is not None
            seen.append(conn.sock.getsockname())
        assert len(set(seen)) == 1  # same local port: one TCP connection
    finally:
        conn.close()


#: struct tcp_info (linux/tcp.h): tcpi_total_retrans, after 8 one-byte fields and 23 u32s
_TCPI_TOTAL_RETRANS = struct.Struct("=8x92xI")


def _total_retransmits(sock: socket.socket) -> int:
    return _TCPI_TOTAL_RETRANS.unpack(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)[:104])[0]


def test_fifty_concurrent_requests_do_not_stall(net: Darknet) -> None:
    """Fifty connections at once all get into the listen backlog: none has to resend a
    segment (a full backlog drops SYNs or handshake ACKs, which the client resends after
    ~1 s).  Counted by the kernel (TCP_INFO), not by a clock."""
    assert _Server.request_queue_size >= 128
    n = 50
    barrier = threading.Barrier(n)
    results: dict[int, int] = {}
    retransmits: dict[int, int] = {}
    errors: list[BaseException] = []
    parts = urlsplit(net.url("main"))

    def worker(i: int) -> None:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        try:
            barrier.wait(30)
            conn.request("GET", f"/page2.html?c={i}")
            resp = conn.getresponse()
            resp.read()
            results[i] = resp.status
            assert conn.sock is not None
            retransmits[i] = _total_retransmits(conn.sock)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            conn.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert results == {i: 200 for i in range(n)}
    assert all(net["main"].hits[f"/page2.html?c={i}"] == 1 for i in range(n))
    assert retransmits == {i: 0 for i in range(n)}


def test_hit_counting(net: Darknet) -> None:
    site = net["other"]
    site.reset_hits()
    assert site.hits == {}
    request(net.url("other", "/o1.html"))
    request(net.url("other", "/o1.html"))
    request(net.url("other", "/o1.html?q=1"))
    request(net.url("other", "/o1.html"), "HEAD")
    request(net.url("other", "/nope"))
    hits = site.hits
    assert hits["/o1.html"] == 2
    assert hits["/o1.html?q=1"] == 1
    assert hits["/nope"] == 1  # 404s count too: "was it requested?"
    assert hits["/never"] == 0
    assert site.head_hits == {"/o1.html": 1}
    assert [r.target for r in site.requests] == ["/o1.html", "/o1.html", "/o1.html?q=1", "/o1.html", "/nope"]
    assert site.requests[0].header("host") == net["other"].url.removeprefix("http://")
    # Other sites count separately.
    assert net["main"].hits["/o1.html"] == 0
    site.reset_hits()
    assert site.hits == {} and site.head_hits == {} and site.requests == []


def test_hits_snapshot_is_safe_to_iterate_while_serving(net: Darknet) -> None:
    """Snapshots iterated while handler threads count neither raise nor lag: each one
    holds every request completed before it was taken, and in the end every request
    the hammer made is counted exactly once."""
    site = net["main"]
    stop = threading.Event()
    done: list[int] = []  # the hammer's requests that were answered, in order
    errors: list[BaseException] = []

    def hammer() -> None:
        i = 0
        try:
            while not stop.is_set():
                status = request(net.url("main", f"/page2.html?h={i}"))[0]
                assert status == 200, status
                done.append(i)
                i += 1
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    def counted() -> int:
        return sum(n for target, n in site.hits.items() if target.startswith("/page2.html?h="))

    t = threading.Thread(target=hammer, daemon=True)
    t.start()
    hang = time.monotonic() + 120  # a guard against a hang, not a speed bound
    try:
        # keep iterating until the hammer has had 50 requests answered meanwhile
        while not done and not errors:
            assert time.monotonic() < hang, "the hammer got no answer"
            time.sleep(0.01)
        first = len(done)
        while len(done) < first + 50 and not errors:
            assert time.monotonic() < hang, f"the hammer hangs after {len(done)} requests"
            completed = len(done)
            assert counted() >= completed
    finally:
        stop.set()
        t.join(30)
    assert not t.is_alive(), "the hammer did not stop"
    assert not errors, errors
    hits = site.hits
    assert counted() == len(done) and all(hits[f"/page2.html?h={i}"] == 1 for i in done)


def test_slow_site_times_out_and_shutdown_is_prompt() -> None:
    net = Darknet()
    with net:
        url = net.url("slow")
        with pytest.raises((TimeoutError, socket.timeout, urllib.error.URLError)):
            urllib.request.urlopen(url, timeout=0.5)
        assert net["slow"].hits["/"] == 1  # counted on arrival
        assert request(net.url("slow", "/robots.txt"))[0] == 404  # only "/" is slow
        handlers = [t for t in net["slow"]._server._workers if t.is_alive()]
        assert handlers, "no handler sleeping its 30 s"
    # __exit__ woke the handler still sleeping its 30 s (it joins it for 5 s at most)
    assert not [t for t in handlers if t.is_alive()]


def test_slow_delay_is_configurable() -> None:
    with Darknet(slow_delay=0.3) as net:
        start = time.monotonic()
        # the default 30 s would outlast the client's 20 s
        status, _, body = request(net.url("slow"), timeout=20)
        assert status == 200 and b"Slow" in body
        assert time.monotonic() - start >= 0.25


def test_root_overrides_and_blocks_traversal(tmp_path: Path) -> None:
    (tmp_path / "main" / "extra").mkdir(parents=True)
    (tmp_path / "main" / "extra" / "index.html").write_text("<p>extra</p>")
    (tmp_path / "main" / "page2.html").write_text("<p>overridden</p>")
    (tmp_path / "secret.txt").write_text("outside")
    with Darknet(tmp_path) as net:
        assert request(net.url("main", "/extra/"))[2] == b"<p>extra</p>"
        status, headers, body = request(net.url("main", "/page2.html"))
        assert (status, headers["Content-Type"], body) == (200, S.HTML, b"<p>overridden</p>")
        assert request(net.url("main", "/%2e%2e/secret.txt"))[0] == 404
        assert request(net.url("other", "/page2.html"))[0] == 404  # per-site directories


def test_clean_shutdown_frees_ports_and_threads() -> None:
    before = {t.ident for t in threading.enumerate()}
    net = Darknet()
    with net:
        ports = {name: site.port for name, site in net.sites.items()}
        assert len(set(ports.values())) == len(S.SITE_NAMES)
        # Leave an idle keep-alive connection open across shutdown.
        parts = urlsplit(net.url("main"))
        idle = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
        idle.request("GET", "/")
        idle.getresponse().read()
    idle.close()
    leftover = [t for t in threading.enumerate() if t.ident not in before and t.is_alive()]
    assert not leftover, leftover
    for port in ports.values():
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", port))  # free for the next server
    # Hits stay readable after exit, and the darknet can start again.
    assert net["main"].hits["/"] == 1
    with net:
        assert request(net.url("main"))[0] == 200


def test_python_dash_m_prints_urls_and_stops_on_ctrl_c() -> None:
    with subprocess.Popen(
        [sys.executable, "-m", "tests.darknet", "--slow-delay", "1"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    ) as proc:
        try:
            assert proc.stdout is not None
            lines = [proc.stdout.readline().split() for _ in S.SITE_NAMES]
            urls = dict(lines)
            assert list(urls) == list(S.SITE_NAMES)
            assert request(urls["main"])[0] == 200
            proc.send_signal(signal.SIGINT)
            # a hang guard, not a speed bound (10 s ran out on a loaded 2-core machine)
            assert proc.wait(60) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
