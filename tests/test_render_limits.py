"""The render stage's bounds on real Chromium: a page whose script loops, a
``window.location`` loop, a meta-refresh loop, a page whose ``load`` never comes
and a request flood each end within the render's deadline, are recorded with the reason, cost their site a bounded
number of requests, and leave the browser context usable for the next page."""

from __future__ import annotations

import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from darkcrawl.render.limits import RenderLimits, cut_reason, is_empty_render, seconds
from tests.components import needs

chromium = needs("chromium")

AFTER = """<html><body><h1>after {}</h1><p>a normal page, rendered after the hostile one</p>
<div style="height: 1500px">tall</div></body></html>"""


def _page(script: str = "", head: str = "") -> bytes:
    return (f'<html><head>{head}</head><body><p>hostile</p><a href="/after.html">after</a>'
            f"<script>{script}</script></body></html>").encode()


#: one host per case (its own loopback address): path -> body; "*" answers any other path
CASES: dict[str, dict[str, bytes]] = {
    # the script takes the renderer's main thread for ever once the page has loaded
    "busy": {"/": _page("addEventListener('load', () => setTimeout(() => { while (true) {} }, 50))")},
    # every document sends the browser to another one
    "location": {"/": _page("window.location = '/hop?' + Math.random()"),
                 "/hop": _page("window.location = '/hop?' + Math.random()")},
    # a DDoS-protection queue that never lets in: refresh to itself at once
    "refresh": {"/": _page(head='<meta http-equiv="refresh" content="0">')},
    # an image that never finishes: ``load`` never comes (a slow onion's usual page)
    "stall": {"/": _page(head='<img src="/stall.gif">')},
    # fetches and images without end
    "flood": {"/": _page("let i = 0; setInterval(() => { for (let k = 0; k < 10; k++) {"
                         " fetch('/f?' + i++).catch(() => 0); new Image().src = '/i?' + i++; } }, 5)")},
}


class HostileSite:
    """A loopback HTTP server on its own address, counting the browser's requests
    (Chromium sends ``Sec-Fetch-Dest``, Scrapy does not)."""

    def __init__(self, address: str, pages: dict[str, bytes]) -> None:
        site = self
        self.pages = {**pages, "/after.html": AFTER.format(address).encode()}  # not a duplicate of another host's
        self.browser_hits: Counter[str] = Counter()
        self.plain_hits: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.closed = threading.Event()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                with site.lock:
                    (site.browser_hits if "sec-fetch-dest" in self.headers else site.plain_hits)[path] += 1
                if path == "/stall.gif" and "sec-fetch-dest" in self.headers:  # the plain stage gets a 404
                    self._stall()
                    return
                body = site.pages.get(path)
                if body is None:
                    body = b"" if path != "/robots.txt" else b"User-agent: *\nAllow: /\n"
                ctype = "text/plain" if path == "/robots.txt" else "text/html; charset=utf-8"
                self.send_response(200 if body or path in ("/f", "/i") else 404)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def _stall(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "image/gif")
                self.send_header("Content-Length", "1000000")
                self.end_headers()
                self.wfile.write(b"GIF89a")
                self.wfile.flush()
                site.closed.wait(60)

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # the browser drops connections when a page is stopped

        self.server = Server((address, 0), Handler)
        self.url = f"http://{address}:{self.server.server_address[1]}/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.closed.set()
        self.server.shutdown()
        self.server.server_close()

    def browser_total(self) -> int:
        return sum(self.browser_hits.values())


LIMITS = RenderLimits(timeout=5.0, request_budget=50, max_navigations=5, grace=5.0)


@chromium
def test_hostile_renders_end_are_recorded_and_the_context_stays_usable(crawl):
    import time

    sites = {name: HostileSite(f"127.0.7.{i + 1}", pages) for i, (name, pages) in enumerate(CASES.items())}
    started = time.monotonic()
    try:
        result = crawl("-a", "urls=" + ",".join(site.url for site in sites.values()), timeout=300, settings={
            "DARKCRAWL_RENDER": 1,
            "DARKCRAWL_RENDER_TIMEOUT": LIMITS.timeout,
            "DARKCRAWL_RENDER_GRACE": LIMITS.grace,
            "DARKCRAWL_RENDER_REQUEST_BUDGET": LIMITS.request_budget,
            "DARKCRAWL_RENDER_MAX_NAVIGATIONS": LIMITS.max_navigations,
            # one page at a time in the one clearnet context: each after.html
            # renders after its hostile page, in the same context
            "PLAYWRIGHT_MAX_PAGES_PER_CONTEXT": 1,
            # under the deadline too; and a refresh loop is still looping when it ends
            # (without it the render may be done before the loop's seventh hop)
            "SE_WAIT": 1,
        })
    finally:
        elapsed = time.monotonic() - started
        for site in sites.values():
            site.close()
    assert result.returncode == 0, result.log[-4000:]
    assert "Traceback" not in result.log and " ERROR: " not in result.log, result.log[-6000:]
    # without the bounds the first of them held its render for ever; now each
    # ends within its deadline and grace (one render at a time: their sum, and
    # the rest of the crawl, with room for a loaded machine)
    assert elapsed < len(CASES) * (LIMITS.timeout + 3 * LIMITS.grace) + 60, elapsed

    failures = {item["url"]: item for item in result.items if item.get("stage") == "render"}
    assert set(failures) == {site.url for site in sites.values()}, failures
    for item in failures.values():
        assert item["reason"] and item["network"] == "clearnet" and item["timestamp"]
    busy, location, refresh, stall, flood = (failures[sites[name].url] for name in CASES)

    # the busy script: stopped at the deadline, the page captured as it stood
    assert busy["error"] == "RenderDeadline" and busy["partial"], busy
    assert busy["reason"].startswith("render deadline of 5 s reached") and "captured as it stood" in busy["reason"]
    assert result.stats["darkcrawl/render/killed"] >= 1

    # the page whose load never came: captured at the deadline, where goto's own
    # timeout would have lost it
    assert stall["error"] == "RenderDeadline" and stall["partial"], stall
    assert stall["reason"] == "render deadline of 5 s reached: captured as it stood"
    assert result.stats["darkcrawl/render/deadline"] == 2

    # the navigation loops: cut after a few hops, not thousands
    assert location["error"] == "RenderNavigationLoop" and location["partial"], location
    assert location["reason"].startswith("navigation loop: ")
    assert location["redirects"] and all("/hop?" in url for url in location["redirects"])
    assert sites["location"].browser_hits["/hop"] <= LIMITS.max_navigations + 3, sites["location"].browser_hits
    # a refresh loop can also break the DOM read first; then it is cut as unsettled
    assert refresh["error"] in ("RenderNavigationLoop", "RenderUnsettled") and refresh["partial"], refresh
    assert sites["refresh"].browser_hits["/"] <= LIMITS.max_navigations + 4, sites["refresh"].browser_hits
    assert result.stats.get("darkcrawl/render/navigation_loop", 0) + result.stats.get("darkcrawl/render/unsettled", 0) == 2

    # the flood: the site got the budget plus what the page fired while the
    # budget's request event travelled to Python (34-81 on a quiet machine, 192 on
    # a loaded CI run: the page fires 4,000 a second), not the 1,383 of an uncut
    # 5-s render; the bound is a multiple of the budget for that reason
    assert flood["error"] == "RenderRequestBudget", flood
    assert flood["reason"].startswith("request budget of 50 reached")
    assert sites["flood"].browser_total() <= 8 * LIMITS.request_budget, sites["flood"].browser_hits
    assert result.stats["darkcrawl/render/request_budget"] == 1

    # what was captured was saved as a render; every after.html rendered in full, in the
    # same context (one context in the whole crawl), after the hostile page
    assert result.stats["playwright/context_count"] == 1
    renders = {item["final_url"]: item for item in result.items if "screenshot_full_page" in item}
    for name, site in sites.items():
        item = renders.get(site.url + "after.html")
        assert item is not None, (name, sorted(renders))
        assert item["screenshot"] and item["screenshot"]["size"] > 0 and item["screenshot_full_page"], item
        host = site.url.split("//", 1)[1].rstrip("/").replace(":", "_")
        rendered = [p for p in result.files(f"clearnet/http/{host}/*.html") if not p.name.endswith("_raw.html")]
        assert any(f"after {site.url.split('//')[1].split(':')[0]}".encode() in p.read_bytes() for p in rendered)
        assert any(p.read_bytes().startswith(b"\x89PNG") for p in result.files(f"clearnet/http/{host}/*.png"))
        if failures[site.url]["partial"]:
            assert any(b"hostile" in p.read_bytes() for p in rendered), name  # the cut page as it stood
    captured = sum(1 for item in failures.values() if item["partial"])
    assert result.stats["darkcrawl/render/cut_captured"] == captured
    assert result.stats["darkcrawl/render/pages"] == len(CASES) + captured


LIMITS_90 = RenderLimits(timeout=90.0, request_budget=200, max_navigations=5, grace=5.0)


@pytest.mark.parametrize(("kind", "kwargs", "reason"), [
    ("deadline", {"captured": True}, "render deadline of 90 s reached: captured as it stood"),
    ("deadline", {"captured": False}, "render deadline of 90 s reached: nothing could be captured"),
    ("deadline", {"captured": True, "script_stopped": True},
     "render deadline of 90 s reached; its script held the renderer and was stopped: captured as it stood"),
    ("navigations", {"captured": True, "navigations": 7},
     "navigation loop: 7 main-frame navigations (limit 5 after the first): captured as it stood"),
    ("requests", {"captured": True, "script_stopped": True},
     "request budget of 200 reached: the page and its loads were stopped: captured as it stood"),
    ("unsettled", {"captured": True, "navigations": 3, "error": "Page.content: navigating"},
     "the page kept navigating (3 main-frame navigations) and the render failed (Page.content: navigating): "
     "captured as it stood"),
])
def test_cut_reasons(kind: str, kwargs: dict[str, Any], reason: str):
    assert cut_reason(kind, LIMITS_90, **kwargs) == reason


@pytest.mark.parametrize(("value", "text"), [(90, "90 s"), (90.0, "90 s"), (2.5, "2.5 s"), (0.25, "0.25 s")])
def test_seconds(value: float, text: str):
    assert seconds(value) == text


@pytest.mark.parametrize(("html", "url", "empty"), [
    ("<html><head></head><body></body></html>", "http://a.onion/", True),
    ("<html><head></head>\n<body>\n</body></html>", "http://a.onion/", True),
    ("", "http://a.onion/", True),
    ("<html><body><p>x</p></body></html>", "about:blank", True),
    ("<html><body><p>x</p></body></html>", "http://a.onion/", False),
])
def test_empty_renders(html: str, url: str, empty: bool):
    assert is_empty_render(html, url) is empty


def test_limits_from_settings():
    from scrapy.settings import Settings

    from darkcrawl.config import ConfigError

    assert RenderLimits.from_settings(Settings()) == LIMITS_90  # the defaults
    assert RenderLimits.from_settings(Settings({"DARKCRAWL_RENDER_REQUEST_BUDGET": 0})).request_budget == 0
    for bad in ({"DARKCRAWL_RENDER_REQUEST_BUDGET": -1}, {"DARKCRAWL_RENDER_MAX_NAVIGATIONS": -2},
                {"DARKCRAWL_RENDER_TIMEOUT": 0}, {"DARKCRAWL_RENDER_GRACE": "inf"}):
        with pytest.raises(ConfigError):
            RenderLimits.from_settings(Settings(bad))
