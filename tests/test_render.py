"""The render stage on real Chromium (Debian's): rendered DOM and full-page
screenshot saved beside the raw HTML, JavaScript-made links followed."""

from __future__ import annotations

import base64
import json

from darkcrawl.storage.paths import url_hash
from tests.components import needs
from tests.gateways import FakeGateway, html
from tests.harness.http import HttpService

pytestmark = needs("chromium")

JS_PAGE = (200, "text/html; charset=utf-8", b"""<html><head><title>js</title></head><body>
<p>static text</p><div id="out"></div>
<script>
  var a = document.createElement("a"); a.href = "/js-only.html"; a.textContent = "made by js";
  document.getElementById("out").appendChild(a);
</script>
<div style="height: 3000px">tall</div></body></html>""")


def test_javascript_links_rendered_and_followed(crawl):
    pages = {"/": JS_PAGE, "/js-only.html": html(text="reached through javascript")}
    with FakeGateway(pages) as site:
        result = crawl("-a", f"urls=http://127.0.0.1:{site.port}/", settings={"DARKCRAWL_RENDER": 1}, timeout=240)
        hits = dict(site.hits)
    assert result.returncode == 0, result.log[-3000:]
    # only the rendered DOM has this link (then fetched by both stages, as in darc)
    assert hits.get("/js-only.html") == 2
    folder = f"clearnet/http/127.0.0.1_{site.port}"
    rendered = [p for p in result.files(f"{folder}/*.html") if not p.name.endswith("_raw.html")]
    assert any(b"made by js" in p.read_bytes() for p in rendered)
    screenshots = result.files(f"{folder}/{url_hash(f'http://127.0.0.1:{site.port}/')}_*.png")
    assert len(screenshots) == 1 and screenshots[0].read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    height = int.from_bytes(screenshots[0].read_bytes()[20:24], "big")
    assert height > 3000  # full page, not the 800 px viewport
    assert result.stats["darkcrawl/render/pages"] >= 2
    # one visit, one stem: raw document, headers record, rendered DOM and screenshot
    stem = screenshots[0].name.removesuffix(".png")
    assert {p.name for p in result.files(f"{folder}/{stem}*")} == {
        f"{stem}_raw.html", f"{stem}.json", f"{stem}.html", f"{stem}.png"}
    record = json.loads((result.data / folder / f"{stem}.json").read_text())
    assert record["Rendered"]["Document"] == f"{folder}/{stem}.html"
    assert record["Rendered"]["Screenshot"] == f"{folder}/{stem}.png"
    assert record["Rendered"]["Timestamp"] > record["Timestamp"]  # rendered after it was fetched
    # -O items say what they are
    kinds = {item["item_type"] for item in result.items}
    assert {"page", "render", "new_host"} <= kinds
    renders = [item for item in result.items if item["item_type"] == "render"]
    assert all(item["visit"] for item in renders)


DEEP_JS_PAGE = (200, "text/html; charset=utf-8", b"""<html><body><div id="top"></div><script>
  // 600 levels: deeper than libxml2's default 255, where a plain parse stops
  var node = document.getElementById("top");
  for (var i = 0; i < 600; i++) { var d = document.createElement("div"); node.appendChild(d); node = d; }
  var a = document.createElement("a"); a.href = "/deep-js.html"; a.textContent = "deep"; node.appendChild(a);
</script></body></html>""")


def test_a_link_deep_in_the_rendered_dom_is_followed(crawl):
    pages = {"/": DEEP_JS_PAGE, "/deep-js.html": html()}
    with FakeGateway(pages) as site:
        result = crawl("-a", f"urls=http://127.0.0.1:{site.port}/", settings={"DARKCRAWL_RENDER": 1}, timeout=240)
        hits = dict(site.hits)
    assert result.returncode == 0, result.log[-3000:]
    assert hits.get("/deep-js.html", 0) >= 1, result.log[-3000:]


def test_render_stage_can_be_switched_off(crawl):
    pages = {"/": JS_PAGE, "/js-only.html": html()}
    with FakeGateway(pages) as site:
        result = crawl("-a", f"urls=http://127.0.0.1:{site.port}/", settings={"DARKCRAWL_RENDER": 0})
        hits = dict(site.hits)
    assert result.returncode == 0
    assert "/js-only.html" not in hits
    assert not result.files("clearnet/http/*/*.png")


def test_renders_are_submitted_as_selenium_events(crawl):
    from tests.apiserver import ApiServer

    pages = {"/": JS_PAGE, "/js-only.html": html()}
    with FakeGateway(pages) as site, ApiServer() as api:
        result = crawl("-a", f"urls=http://127.0.0.1:{site.port}/",
                       settings={"DARKCRAWL_RENDER": 1, "API_SELENIUM": api.url("selenium")}, timeout=240)
        received = list(api.received["selenium"].values())
    assert result.returncode == 0, result.log[-3000:]
    assert result.stats["darkcrawl/api/selenium/delivered"] >= 2
    root = next(p for p in received if p["URL"] == f"http://127.0.0.1:{site.port}/")
    assert base64.b64decode(root["Screenshot"]["data"]).startswith(b"\x89PNG")
    assert b"made by js" in base64.b64decode(root["Document"]["data"])


REVEAL_PAGE = (200, "text/html; charset=utf-8", b"""<html><body>
<button id="reveal" onclick="document.getElementById('secret').hidden = false">show</button>
<p id="secret" hidden>revealed by a click</p></body></html>""")


def test_a_render_hook_clicks_and_the_result_is_saved(crawl):
    import json

    with FakeGateway({"/": REVEAL_PAGE}) as site:
        result = crawl("-a", f"urls=http://127.0.0.1:{site.port}/", timeout=240, settings={
            "DARKCRAWL_RENDER": 1,
            "DARKCRAWL_SITE_HOOKS": json.dumps({r"127\.0\.0\.1:\d+": "tests.hook_examples.RevealHook"})})
    assert result.returncode == 0, result.log[-3000:]
    rendered = [p for p in result.files("clearnet/http/*/*.html") if not p.name.endswith("_raw.html")]
    assert len(rendered) == 1
    assert b'<p id="secret">revealed by a click</p>' in rendered[0].read_bytes()
    raw = result.files("clearnet/http/*/*_raw.html")[0].read_bytes()
    assert b'<p id="secret" hidden>' in raw  # the plain stage saw it hidden


class _RecordingSite(HttpService):
    """A site that records every request's headers: two pages sharing a stylesheet
    and an image (cacheable)."""

    def __init__(self) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler

        super().__init__()
        site = self
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.lock = threading.Lock()
        page = ('<html><head><link rel="stylesheet" href="/s.css"></head><body><img src="/i.gif">'
                '<a href="/b.html">b</a><p>{}</p></body></html>')
        self.files = {
            "/": ("text/html", page.format("first").encode(), {}),
            "/b.html": ("text/html", page.format("second").encode(), {}),
            "/s.css": ("text/css", b"p { color: #123456 }", {"Cache-Control": "max-age=3600"}),
            "/i.gif": ("image/gif", base64.b64decode("R0lGODlhAQABAAAAACw="), {"Cache-Control": "max-age=3600"}),
        }

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                with site.lock:
                    site.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
                ctype, body, extra = site.files.get(self.path, ("text/plain", b"not found", {}))
                self.send_response(200 if self.path in site.files else 404)
                for name, value in {"Content-Type": ctype, "Content-Length": str(len(body)), **extra}.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

        self.handler_class = Handler
        self.bind()

    def browser(self, path: str) -> list[dict[str, str]]:
        """Headers of the browser's requests for *path* (Scrapy sends no Sec-Fetch-Dest)."""
        return [h for p, h in self.requests if p == path and "sec-fetch-dest" in h]


def test_the_browser_sends_the_crawls_identity_and_uses_its_cache(crawl):
    from darkcrawl.addon import DEFAULTS

    with _RecordingSite() as site:
        # one page at a time: the second render finds the first one's stylesheet in the cache
        result = crawl("-a", f"urls=http://127.0.0.1:{site.port}/", timeout=240,
                       settings={"DARKCRAWL_RENDER": 1, "PLAYWRIGHT_MAX_PAGES_PER_CONTEXT": 1})
        requests = list(site.requests)
    assert result.returncode == 0, result.log[-3000:]
    assert result.stats["darkcrawl/render/pages"] == 2
    # every request of the browser carries the crawl's user agent, not HeadlessChrome's
    browser = [h for _, h in requests if "sec-fetch-dest" in h]
    assert len(browser) >= 4 and all(h["user-agent"] == DEFAULTS["USER_AGENT"] for h in browser)
    assert len(site.browser("/")) == len(site.browser("/b.html")) == 1
    # and its cache is on: the second page finds the first one's stylesheet and image there
    assert len(site.browser("/s.css")) == 1 and len(site.browser("/i.gif")) == 1
    assert all("no-cache" not in h.get("cache-control", "") for h in browser)
