"""The render stage on real Chromium (Debian's): rendered DOM and full-page
screenshot saved beside the raw HTML, JavaScript-made links followed."""

from __future__ import annotations

import base64
import shutil

import pytest

from darkcrawl.storage.paths import url_hash
from tests.gateways import FakeGateway, html

pytestmark = pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium is not installed (scripts/setup.sh installs it)")

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
