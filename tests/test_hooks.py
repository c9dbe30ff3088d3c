"""Site hooks end to end: the shipped Naver hook on a local replica, a login hook,
link dropping and failing hooks."""

from __future__ import annotations

import csv
import json
import sqlite3
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.gateways import FakeGateway, html
from tests.naver_replica import NaverReplica

NAVER_HOOK = "darkcrawl.sites.naver_stock.NaverStockHook"


def test_naver_daily_prices_twice_into_sqlite(tmp_path, crawl):
    stocks = tmp_path / "stocks.csv"
    with open(stocks, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["codeName", "full_code", "marketName", "short_code"])
        writer.writerow(["가온전선", "KR7000500009", "KOSPI", "500"])  # leading zeros lost, as in the notebook
        writer.writerow(["가비아", "KR7079940003", "KOSDAQ", "079940"])
        writer.writerow(["다온소재", "KR7499990009", "KOSDAQ", "499990"])  # a new listing: one page
        writer.writerow(["폐지종목", "KR7999990009", "KOSPI", "999990"])  # an error page
    tables = tmp_path / "tables.sqlite"
    with NaverReplica() as naver:
        settings = {"DARKCRAWL_SITE_HOOKS": json.dumps({r"127\.0\.0\.1:\d+": NAVER_HOOK}),
                    "NAVER_STOCK_LIST": str(stocks), "NAVER_BASE_URL": naver.base_url,
                    "DARKCRAWL_TABLES_DB": str(tables)}
        first = crawl(settings={**settings, "PATH_DATA": str(tmp_path / "run1")})
        second = crawl(settings={**settings, "PATH_DATA": str(tmp_path / "run2")})
        expected = sum(len(naver.expected_rows(code)) for code in ("000500", "079940", "499990"))
        expected_500 = naver.expected_rows("000500")
    assert first.returncode == 0, first.log[-3000:]
    assert first.stats["darkcrawl/tables/naver_daily_price/new"] == expected
    assert first.stats["darkcrawl/naver/error_pages"] == 1
    assert second.stats.get("darkcrawl/tables/naver_daily_price/new", 0) == 0  # a re-run adds nothing
    with sqlite3.connect(tables) as db:
        assert db.execute("select count(*) from naver_daily_price").fetchone()[0] == expected
        rows = db.execute("select date, close, volume from naver_daily_price where code='000500' order by date desc").fetchall()
    assert rows == [(p.date, p.close, p.volume) for p in sorted(expected_500, key=lambda p: p.date, reverse=True)]
    assert list((tmp_path / "run1").glob("clearnet/http/*/*_raw.html"))  # the pages are kept as evidence too


class _LoginSite(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    hits: dict[str, int] = {}

    def log_message(self, *args: object) -> None:
        pass

    def _reply(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        form = self.rfile.read(length).decode()
        if self.path == "/login" and form == "user=analyst&password=secret":
            self._reply(200, b"<p>welcome</p>", {"Set-Cookie": "sid=ok; Path=/"})
        else:
            self._reply(403, b"bad login")

    def do_GET(self) -> None:
        type(self).hits[self.path] = type(self).hits.get(self.path, 0) + 1
        logged_in = "sid=ok" in (self.headers.get("Cookie") or "")
        if self.path.startswith("/members/"):
            if not logged_in:
                self._reply(403, b"<p>members only</p>")
            elif self.path == "/members/":
                self._reply(200, b'<a href="/members/secret.html">secret</a>')
            else:
                self._reply(200, b"<p>the secret</p>")
        else:
            self._reply(404, b"no")


def test_a_hook_logs_in_before_crawling(crawl):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _LoginSite)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        result = crawl(settings={"DARKCRAWL_SITE_HOOKS": json.dumps({r"127\.0\.0\.1:\d+": "tests.hook_examples.LoginHook"}),
                                 "LOGIN_SITE_URL": base})
    finally:
        server.shutdown()
        server.server_close()
    assert result.returncode == 0, result.log[-3000:]
    saved = {r["[metadata]"]["url"]: r["Status-Code"] for r in result.headers_records()}
    assert saved[f"{base}/members/secret.html"] == 200  # reached only with the session cookie
    assert saved[f"{base}/members/"] == 200


def test_hooks_drop_defer_and_fail_without_stopping_the_crawl(crawl):
    pages = {
        "/": html("/drop-me.html", "/later.html", "/boom.html", "/fine.html"),
        "/drop-me.html": html(), "/later.html": html(), "/fine.html": html(),
        "/boom.html": html("/after-boom.html"), "/after-boom.html": html(),
    }
    with FakeGateway(pages) as site:
        result = crawl("-a", f"urls=http://127.0.0.1:{site.port}/",
                       settings={"DARKCRAWL_SITE_HOOKS": json.dumps({r"127\.0\.0\.1:\d+": "tests.hook_examples.PickyHook"})})
        hits = dict(site.hits)
    assert result.returncode == 0
    assert "/drop-me.html" not in hits and "/later.html" not in hits
    assert hits["/fine.html"] == 1 and hits["/boom.html"] == 1
    assert "/after-boom.html" not in hits  # the failing page lost its links, nothing else
    assert result.stats["darkcrawl/hooks/dropped"] == 1 and result.stats["darkcrawl/hooks/deferred"] == 1
    assert result.stats["darkcrawl/hooks/error/PickyHook"] == 1
    boom = next(r for r in result.headers_records() if r["[metadata]"]["url"].endswith("/boom.html"))
    assert boom["Request"]["X-Hooked"] == "1"  # the page itself is kept as evidence


def test_a_hook_that_cannot_be_configured_is_reported(crawl, tmp_path):
    result = crawl("-a", "urls=http://127.0.0.1:1/",
                   settings={"DARKCRAWL_SITE_HOOKS": json.dumps({"x": NAVER_HOOK})})
    assert "darkcrawl cannot start: site hook darkcrawl.sites.naver_stock.NaverStockHook: NaverStockHook needs NAVER_STOCK_LIST" in result.log
    assert result.stats["finish_reason"] == "config_error"
    assert "Traceback" not in result.log


def test_hooks_from_installed_packages_entry_points(crawl, tmp_path):
    """An installed package declares its hook in the ``darkcrawl.site_hooks`` group."""
    dist = tmp_path / "site" / "darkcrawl_example_hook-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: darkcrawl-example-hook\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[darkcrawl.site_hooks]\nexample = tests.hook_examples:HeaderHook\n")
    import os

    from tests.conftest import ROOT

    with FakeGateway({"/": html()}) as site:
        result = crawl("-a", f"urls=http://127.0.0.1:{site.port}/",
                       env={"PYTHONPATH": os.pathsep.join([str(tmp_path / "site"), str(ROOT)])})
    assert result.returncode == 0, result.log[-3000:]
    record = next(r for r in result.headers_records() if r["[metadata]"]["url"].endswith(f"{site.port}/"))
    assert record["Request"]["X-From-Entry-Point"] == "yes"
