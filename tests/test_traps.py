"""Crawls against real trap sites on loopback: each trap is cut by its own bound
(not by the 10,000-page host budget), the round ends by itself, and every hit is
recorded in ``misc/traps.jsonl`` with a reason.

One loopback address per trap host, so that one stuck case cannot stall the others.
"""

from __future__ import annotations

import gzip
import json
import secrets
import threading
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.conftest import run_crawl

SITEMAP_URLS = 600_000
MANY_LINKS = 100_000
NESTING = 3000


def calendar(path: str) -> bytes:
    # /cal/2024/01 -> the month before and the month after, for ever
    _, _, year, month = path.split("/")[:4]
    y, m = int(year), int(month)
    nxt = (y + (m == 12), m % 12 + 1)
    prv = (y - (m == 1), (m - 2) % 12 + 1)
    return (f"<html><body><h1>{y}-{m:02d}</h1><a href='/cal/{nxt[0]}/{nxt[1]:02d}'>next</a>"
            f"<a href='/cal/{prv[0]}/{prv[1]:02d}'>prev</a></body></html>").encode()


def session_page(path: str) -> bytes:
    # every link carries a fresh session id: without normalisation, no page is ever seen twice
    links = "".join(f"<a href='/{name}?sid={secrets.token_hex(16)}'>{name}</a>" for name in ("a", "b", "c"))
    return f"<html><body>{path}{links}</body></html>".encode()


def query_page(query: str) -> bytes:
    page = int(query.partition("=")[2] or 0)
    return f"<html><body><a href='/list?page={page + 1}'>more</a><a href='/list?page={page + 2}'>+2</a></body></html>".encode()


def many_links() -> bytes:
    return ("<html><body>" + "".join(f"<a href='/item/{i}'>{i}</a>" for i in range(MANY_LINKS)) + "</body></html>").encode()


def deep_page() -> bytes:
    return ("<html><body><a href='/shallow'>s</a>" + "<div>" * NESTING + "<a href='/deep-target'>deep</a>"
            + "</div>" * NESTING + "<a href='/after-the-cut'>a</a></body></html>").encode()


class TrapHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802
        site = self.server.site  # type: ignore[attr-defined]
        self.server.hits[urlsplit(self.path).path] += 1  # type: ignore[attr-defined]
        body, ctype = self.route(site, self.path)
        if body is None:
            self.send_response(404)
            body, ctype = b"not here", "text/plain"
        else:
            self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def route(self, site: str, raw: str) -> tuple[bytes | None, str]:
        parts = urlsplit(raw)
        path = parts.path
        html = "text/html; charset=utf-8"
        if path == "/robots.txt" and site != "badsitemap":
            if site == "sitemap":
                host = self.headers["Host"]
                return f"User-agent: *\nSitemap: http://{host}/sitemap.xml.gz\n".encode(), "text/plain"
            return None, ""
        if path == "/sitemap.xml.gz" and site == "sitemap":
            return self.server.sitemap, "application/gzip"  # type: ignore[attr-defined]
        if site == "calendar":
            if path == "/":
                return b"<html><body><a href='/cal/2024/01'>calendar</a></body></html>", html
            if path.startswith("/cal/"):
                return calendar(path), html
        if site == "session":
            return (session_page(path), html) if path in ("/", "/a", "/b", "/c") else (None, "")
        if site == "query":
            if path == "/":
                return b"<a href='/list?page=1'>list</a>", html
            if path == "/list":
                return query_page(parts.query), html
        if site == "many":
            if path == "/":
                return many_links(), html
            if path.startswith("/item/"):
                return b"<html><body>item</body></html>", html
        if site == "deep":
            if path == "/":
                return deep_page(), html
            if path in ("/shallow", "/deep-target", "/after-the-cut"):
                return b"<html><body>ok</body></html>", html
        if site == "chain":
            # generated pages, each linking to the next: no date, no query, just depth
            if path == "/":
                return b"<a href='/n/1'>start</a>", html
            if path.startswith("/n/"):
                step = int(path.rpartition("/")[2])
                return f"<a href='/n/{step + 1}'>next</a>".encode(), html
        if site == "badsitemap":
            host = self.headers["Host"]
            if path == "/robots.txt":
                return f"User-agent: *\nSitemap: http://{host}/cut.xml.gz\n".encode(), "text/plain"
            if path == "/cut.xml.gz":
                return gzip.compress(b"<urlset>" + b"<url><loc>http://x.org/</loc></url>" * 5)[:30], "application/gzip"
            if path == "/":
                return b"home", html
        if site == "sitemap":
            if path == "/":
                return b"<html><body>home</body></html>", html
            if path.startswith("/sm/"):
                return b"<html><body>listed</body></html>", html
        return None, ""


class TrapSite:
    def __init__(self, site: str, address: str, sitemap: bytes = b"") -> None:
        self.server = ThreadingHTTPServer((address, 0), TrapHandler)
        self.server.daemon_threads = True
        self.server.site = site  # type: ignore[attr-defined]
        self.server.hits = Counter()  # type: ignore[attr-defined]
        self.server.sitemap = sitemap  # type: ignore[attr-defined]
        self.url = f"http://{address}:{self.server.server_address[1]}/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def hits(self) -> Counter[str]:
        return self.server.hits  # type: ignore[attr-defined]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def sites(request) -> Iterator[dict[str, TrapSite]]:
    opened: dict[str, TrapSite] = {}
    yield opened
    for site in opened.values():
        site.close()


def open_sites(sites: dict[str, TrapSite], names: dict[str, str], sitemap: bytes = b"") -> None:
    for name, address in names.items():
        sites[name] = TrapSite(name, address, sitemap)


def traps_of(data: Path) -> list[dict]:
    path = data / "misc" / "traps.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_traps_are_cut_by_their_own_bounds(sites, tmp_path):
    open_sites(sites, {"calendar": "127.0.5.1", "session": "127.0.5.2", "query": "127.0.5.3",
                       "many": "127.0.5.4", "deep": "127.0.5.5", "chain": "127.0.5.6", "badsitemap": "127.0.5.7"})
    result = run_crawl(
        tmp_path, "-a", "urls=" + ",".join(site.url for site in sites.values()),
        settings={"DARKCRAWL_MAX_LINKS_PER_PAGE": 200, "DARKCRAWL_MAX_DATE_VARIANTS": 30,
                  "DARKCRAWL_MAX_QUERY_VARIANTS": 20, "DARKCRAWL_MAX_HOST_DEPTH": 40,
                  "CONCURRENT_REQUESTS_PER_DOMAIN": 16},
        timeout=240,  # the round ends by itself, well within this
    )
    assert result.returncode == 0, result.log[-3000:]
    assert "Traceback" not in result.log
    traps = traps_of(result.data)
    by_kind = {(t["host"].split(":")[0], t["trap"]) for t in traps}
    assert all(t["detail"] and t["timestamp"] and t["url"] for t in traps)

    # the calendar: cut by its date template, long before the host budget
    assert ("127.0.5.1", "calendar") in by_kind
    calendar_pages = sum(n for path, n in sites["calendar"].hits.items() if path.startswith("/cal/"))
    assert 30 <= calendar_pages <= 32

    # session ids: every link normalised, each page fetched once, recorded once for the host
    assert sites["session"].hits["/a"] == sites["session"].hits["/b"] == sites["session"].hits["/c"] == 1
    session_records = [t for t in traps if t["trap"] == "session_params"]
    assert len(session_records) == 1 and "sid=" in session_records[0]["detail"]

    # a query that never repeats: DARKCRAWL_MAX_QUERY_VARIANTS of it
    assert ("127.0.5.3", "query_variants") in by_kind
    assert sites["query"].hits["/list"] == 20

    # 100,000 links on one page: 200 followed, the rest counted
    assert sum(n for path, n in sites["many"].hits.items() if path.startswith("/item/")) == 200
    [many] = [t for t in traps if t["trap"] == "links_per_page"]
    assert many["dropped"] == MANY_LINKS - 200 and "DARKCRAWL_MAX_LINKS_PER_PAGE" in many["detail"]
    assert result.stats["darkcrawl/traps/links_per_page/dropped"] == MANY_LINKS - 200
    assert result.stats["darkcrawl/saved/traps"] == len(traps)

    # nested deeper than libxml2 builds: the links after the cut are still followed, and the page is recorded
    assert sites["deep"].hits["/deep-target"] == 1 and sites["deep"].hits["/after-the-cut"] == 1
    truncated = [i for i in result.items if i.get("stage") == "plain" and i.get("partial")]
    assert truncated and "nested deeper than 2047 levels" in truncated[0]["reason"]

    # a chain of generated pages: cut DARKCRAWL_MAX_HOST_DEPTH links into the host
    assert ("127.0.5.6", "host_depth") in by_kind
    assert sum(n for path, n in sites["chain"].hits.items() if path.startswith("/n/")) == 40

    # an unreadable gzip sitemap says why, in the log and in a record
    [bad] = [i for i in result.items if i.get("stage") == "bootstrap"]
    assert bad["url"].endswith("/cut.xml.gz") and bad["error"] == "TruncatedGzip" and "gzip" in bad["reason"]
    assert "sitemap " + bad["url"] + " not read: gzip stream ends early" in result.log


@pytest.fixture(scope="session")
def big_sitemap(tmp_path_factory) -> bytes:
    """A gzip sitemap of 600,000 URLs (about 1.6 MB), made once per session."""
    path = tmp_path_factory.getbasetemp() / "big-sitemap.xml.gz"
    if not path.exists():
        head = b'<?xml version="1.0" encoding="UTF-8"?>\n<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n'
        rows = b"".join(b"<url><loc>http://127.0.5.9/sm/%d</loc></url>\n" % i for i in range(SITEMAP_URLS))
        path.write_bytes(gzip.compress(head + rows + b"</urlset>\n", 6))
    return path.read_bytes()


def test_huge_gzip_sitemap_streams_with_flat_memory(sites, tmp_path, big_sitemap):
    # The sitemap names its own host by address; the port is only known once it listens.
    site = TrapSite("sitemap", "127.0.5.9")
    sites["sitemap"] = site
    port = site.server.server_address[1]
    site.server.sitemap = gzip.compress(  # type: ignore[attr-defined]
        gzip.decompress(big_sitemap).replace(b"http://127.0.5.9/", f"http://127.0.5.9:{port}/".encode()), 6)
    result = run_crawl(
        tmp_path, "-a", f"urls={site.url}",
        settings={"DARKCRAWL_HOST_PAGE_LIMIT": 100, "DARKCRAWL_MAX_SITEMAP_URLS": 50_000,
                  "EXTENSIONS": json.dumps({"tests.trap_probe.LoopProbe": 100})},
        timeout=240,
    )
    assert result.returncode == 0, result.log[-3000:]
    assert "Traceback" not in result.log
    stats = result.stats
    # at most DARKCRAWL_MAX_SITEMAP_URLS looked at, the host budget fetched, the rest counted
    assert stats["darkcrawl/sitemaps/urls"] == 50_000
    assert sum(n for path, n in site.hits.items() if path.startswith("/sm/")) < 100
    [cut] = [t for t in traps_of(result.data) if t["trap"] == "sitemap_urls"]
    assert SITEMAP_URLS - 50_000 - 2 <= cut["dropped"] <= SITEMAP_URLS - 50_000
    assert "DARKCRAWL_MAX_SITEMAP_URLS" in cut["detail"]
    # the event loop kept running while the sitemap was read (13 s stall before)
    assert stats["probe/max_gap_s"] < 1.0, stats["probe/max_gap_s"]
    # memory stays flat: the 28 MB of XML and its 600,000 URLs are never held at once (~800 MB before)
    growth_mb = (stats["probe/rss_peak_kb"] - stats["probe/rss_base_kb"]) / 1024
    assert growth_mb < 150, growth_mb
    # the saved copy is bounded and still a sitemap
    [saved] = result.files("clearnet/http/*/sitemap_*.xml")
    assert saved.stat().st_size <= 2 * 1024 * 1024 + 64 and saved.read_bytes().rstrip().endswith(b"</urlset>")
