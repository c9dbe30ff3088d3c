"""``scrapy view``: the catalogue as a web app, driven by a real Chromium.

A catalogue is written with plain INSERTs (hosts, snapshots, links, entities,
sightings, page text) beside real files in a PATH_DATA (a PNG screenshot, raw
HTML, a headers record, robots.txt), and the viewer serves it from a thread.  A
set of hostile pages is stored as snapshots too: shown by the viewer, none may run
a script or fetch anything (a loopback beacon counts every hit)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from aiohttp import web

from darkcrawl.catalog import queries
from darkcrawl.catalog.db import CatalogDB
from darkcrawl.viewer.app import FRAME_CSP, VIEWER_CSP, make_app
from tests.components import COMPONENTS, chromium_path, needs
from tests.conftest import ROOT
from tests.harness.ports import LOOPBACK, free_port
from tests.viewer_catalogue import CLEAR, HOSTILE_GLOBALS, I2P, ONION, add_host, build_catalogue, hostile_pages

class Served:
    """An aiohttp application served from a thread of its own on loopback."""

    def __init__(self, app: web.Application, host: str = LOOPBACK) -> None:
        self.app, self.host, self.port = app, host, free_port(host)
        self.loop = asyncio.new_event_loop()
        self.runner = web.AppRunner(app)
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _call(self, coroutine: object) -> object:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(30)

    def __enter__(self) -> Served:
        # the loop runs in its thread from the start: the caller's thread may have a
        # loop of its own running (Playwright's sync API)
        self.thread.start()
        self._call(self.runner.setup())
        self._call(web.TCPSite(self.runner, self.host, self.port).start())
        return self

    def __exit__(self, *exc: object) -> None:
        self._call(self.runner.cleanup())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


class Beacon(ThreadingHTTPServer):
    """Counts every request that reaches it (the hostile pages aim at it)."""

    def __init__(self) -> None:
        self.hits: list[str] = []
        beacon = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                beacon.hits.append(self.path)
                self.send_response(204)
                self.end_headers()

            do_POST = do_GET

            def log_message(self, *args: object) -> None:
                pass

        super().__init__((LOOPBACK, 0), Handler)
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.server_address[1]}"


@pytest.fixture(scope="module")
def beacon():
    server = Beacon()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def site(tmp_path_factory, beacon):
    data = tmp_path_factory.mktemp("view") / "data"
    ids = build_catalogue(data, beacon.url)
    db = CatalogDB.open(str(data / "catalog.sqlite"), readonly=True)
    with Served(make_app(db, data)) as served:
        served.ids = ids
        served.data = data
        yield served
    db.close()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def any_site(request, site, tmp_path_factory, beacon):
    """The same catalogue on each dialect: SQLite (the site fixture), or PostgreSQL."""
    if request.param == "sqlite":
        yield site
        return
    if "postgresql" not in COMPONENTS:  # the PostgreSQL harness (tests/harness/postgres.py) is not in this tree
        pytest.skip("needs the postgresql test component (tests/harness/postgres.py)")
    # one database per test module that uses this fixture (test_viewer_liveness imports it)
    url = request.getfixturevalue("postgres_server").create_database(f"viewer_{request.module.__name__.rsplit('.', 1)[-1]}")
    data = tmp_path_factory.mktemp("view-pg") / "data"
    ids = build_catalogue(data, beacon.url, url)
    db = CatalogDB.open(url, readonly=True)
    assert db.dialect == "postgresql"
    with Served(make_app(db, data)) as served:
        served.ids = ids
        served.data = data
        yield served
    db.close()


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=headers or {})

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: object, **kwargs: object) -> None:
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(request, timeout=20) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def get_json(url: str) -> dict:
    status, _headers, body = get(url)
    assert status == 200, body
    return json.loads(body)


# -- queries, pure ----------------------------------------------------------------------


def test_user_words_become_quoted_fts5_terms():
    assert queries.fts5_query('market OR "x" NEAR(a b) col:*') == '"market" "OR" "x" "NEAR(a" "b)" "col:*"'
    assert queries.fts5_query('  " "  ') == ""


def test_snippets_are_escaped_and_only_our_marks_become_tags():
    marked = f"<b>{queries.MARK_START}market{queries.MARK_END}</b> & {queries.MARK_END}<mark>{queries.MARK_START}x"
    assert queries.snippet_html(marked) == "&lt;b&gt;<mark>market</mark>&lt;/b&gt; &amp; &lt;mark&gt;<mark>x</mark>"


def test_defang_keeps_text_and_drops_what_runs_or_loads(beacon):
    from darkcrawl.viewer.defang import defang

    for name, html in hostile_pages(beacon.url).items():
        inert = defang(html)
        assert "127.0.0.1" not in inert and "<script" not in inert.lower(), (name, inert)
        assert "javascript:" not in inert and " on" not in inert.replace("on i2p", ""), (name, inert)
    assert defang("<p class=x>a &lt;b&gt; <a href='#top'>top</a></p>").endswith(
        '<p class="x">a &lt;b&gt; <a href="#top">top</a></p>')
    assert 'src="data:image/png;base64,AA"' in defang("<img src='data:image/png;base64,AA'>")
    assert "url(" not in defang("<style>p{color:red} b{background:u\\72l(x)}</style>")


# -- the JSON API ----------------------------------------------------------------------


def test_api_overview_counts_hosts_and_pages_per_network(any_site):
    data = get_json(f"{any_site.url}/api/overview")
    assert data["hosts"] == 4 and data["up"] == 3 and data["down"] == 1
    assert data["networks"]["tor"]["hosts"] == 2 and data["networks"]["i2p"]["down"] == 1
    assert data["pages"] == 2 + 1 + 1 + len(any_site.ids["hostile"])
    assert data["latest"]["id"] >= 1


def test_api_hosts_shape_filters_and_paging(any_site):
    data = get_json(f"{any_site.url}/api/hosts?limit=2")
    assert data["page"] == 1 and data["limit"] == 2 and data["next"] == 2 and len(data["items"]) == 2
    item = data["items"][0]
    assert {"host", "network", "state", "first_seen", "last_seen", "pages", "screenshot"} <= set(item)
    rest = get_json(f"{any_site.url}/api/hosts?limit=2&page=2")
    assert rest["next"] is None and len(rest["items"]) == 2
    assert {h["host"] for h in data["items"] + rest["items"]} == {ONION, I2P, CLEAR, any_site.ids["hostile_host"]}
    assert [h["host"] for h in get_json(f"{any_site.url}/api/hosts?network=i2p")["items"]] == [I2P]
    assert [h["host"] for h in get_json(f"{any_site.url}/api/hosts?state=down")["items"]] == [I2P]
    assert [h["host"] for h in get_json(f"{any_site.url}/api/hosts?q=market")["items"]] == [ONION]
    onion = get_json(f"{any_site.url}/api/hosts?q={ONION[:12]}")["items"][0]
    assert onion["screenshot"] == f"/file/{any_site.ids['second']}/screenshot"


def test_api_search_hits_with_marked_snippets(any_site):
    data = get_json(f"{any_site.url}/api/search?q=prices")
    assert {hit["url"] for hit in data["items"]} == {f"http://{ONION}/"}
    hit = data["items"][0]
    assert {"url", "title", "snippet", "snippet_html", "timestamp"} <= set(hit)
    assert "prices" in hit["snippet"] and "<mark>prices</mark>" in hit["snippet_html"]
    ranked = get_json(f"{any_site.url}/api/search?q=prices&sort=rank")["items"]
    assert sorted(h["id"] for h in ranked) == sorted(h["id"] for h in data["items"]) == [any_site.ids["first"],
                                                                                        any_site.ids["second"]]
    newest = get_json(f"{any_site.url}/api/search?q=hostile")["items"]
    assert [h["id"] for h in newest] == sorted((h["id"] for h in newest), reverse=True)
    hostile = get_json(f"{any_site.url}/api/search?q=hostile&limit=3")
    assert len(hostile["items"]) == 3 and hostile["next"] == 2
    for h in hostile["items"]:  # crawled markup in a snippet is text (PostgreSQL's parser may drop it)
        assert "<script" not in h["snippet_html"]
        assert ("<script>" in h["snippet"]) == ("&lt;script&gt;" in h["snippet_html"])
    # FTS5 syntax in a query is words, not an error
    assert get_json(f"{any_site.url}/api/search?q=" + urllib.request.quote('NEAR( "x OR*'))["items"] == []
    assert get_json(f"{any_site.url}/api/search?q=")["items"] == []


def test_api_entities_with_the_urls_they_were_seen_on(any_site):
    data = get_json(f"{any_site.url}/api/entities?q=1Boat")
    assert [(x["kind"], x["value"]) for x in data["items"]] == [("bitcoin", "1BoatSLRHtKNngkdXEeobR76b53LETtpyT")]
    assert set(data["items"][0]["urls"]) == {f"http://{ONION}/", f"https://{CLEAR}/"}
    assert len(get_json(f"{any_site.url}/api/entities?limit=1")["items"]) == 1


# -- safety over HTTP ------------------------------------------------------------------


def test_headers_csp_nosniff_and_safe_types(site):
    status, headers, _ = get(f"{site.url}/")
    assert status == 200 and headers["X-Content-Type-Options"] == "nosniff"
    assert "default-src 'self'" in headers["Content-Security-Policy"]
    assert "unsafe-inline" not in headers["Content-Security-Policy"]
    status, headers, body = get(f"{site.url}/file/{site.ids['second']}/screenshot")
    assert status == 200 and headers["Content-Type"] == "image/png" and body.startswith(b"\x89PNG")
    assert headers["X-Content-Type-Options"] == "nosniff"
    status, headers, body = get(f"{site.url}/file/{site.ids['hostile']['script']}/raw")
    assert status == 200 and headers["Content-Type"].startswith("text/plain") and b"<script>" in body
    status, headers, _ = get(f"{site.url}/frame/{site.ids['hostile']['script']}/rendered")
    assert status == 200 and headers["Content-Security-Policy"] == FRAME_CSP
    status, headers, _ = get(f"{site.url}/nowhere")
    assert status == 404 and headers["X-Content-Type-Options"] == "nosniff"


def test_no_file_outside_path_data_is_served(any_site):
    for snapshot_id in any_site.ids["traversal"]:
        for kind in ("raw", "screenshot"):
            status, _headers, body = get(f"{any_site.url}/file/{snapshot_id}/{kind}")
            assert status == 404 and b"secret" not in body, (snapshot_id, kind)
        status, _headers, body = get(f"{any_site.url}/frame/{snapshot_id}/raw")
        assert status == 404 and b"secret" not in body
        status, _headers, body = get(f"{any_site.url}/snapshot/{snapshot_id}")
        assert status == 200 and b"secret" not in body
    for path in ("/static/..%2Fapp.py", "/static/../app.py", "/file/1/..%2F..%2Fcatalog.sqlite"):
        assert get(f"{any_site.url}{path}")[0] == 404


def test_pages_escape_crawled_text_and_never_link_crawled_urls(any_site):
    _status, _headers, body = get(f"{any_site.url}/host/{any_site.ids['hostile_host']}")
    text = body.decode()
    assert "<script>window.pwned_title" not in text and "&lt;script&gt;window.pwned_title" in text
    assert f'href="http://{any_site.ids["hostile_host"]}' not in text
    _status, _headers, body = get(f"{any_site.url}/snapshot/{any_site.ids['hostile']['handlers']}")
    assert b"onerror=\"window" not in body and b"&lt;img src=missing.png onerror=" in body


def test_every_page_answers(any_site):
    ids = any_site.ids
    for path in ("/", "/hosts?network=tor&state=up&q=market", f"/host/{ONION}", f"/snapshot/{ids['second']}",
                 f"/snapshot/{ids['first']}", "/search?q=prices", "/search?q=market&page=2", "/entities?q=1Boat",
                 "/entities?kind=email", f"/entity/{ids['wallet']}"):
        status, headers, body = get(f"{any_site.url}{path}")
        assert status == 200 and headers["Content-Type"].startswith("text/html"), (path, body[:300])
        assert b"&lt;time&gt;" not in body, path  # the viewer's own markup is never escaped twice
    assert get(f"{any_site.url}/host/nowhere.onion")[0] == 404
    assert get(f"{any_site.url}/snapshot/999999")[0] == 404
    assert get(f"{any_site.url}/entity/999999")[0] == 404


def test_a_host_with_a_slash_in_its_name_has_its_page(tmp_path, beacon):
    data = tmp_path / "data"
    build_catalogue(data, beacon.url)
    writer = CatalogDB.open(str(data / "catalog.sqlite"))
    key = "USK@QD3eF0xJx4Fk8oQxl0dDh4CMw5MTxwK8nByZ,AQACAAE/index/7"
    add_host(writer, key, "freenet", "up", "2026-11-04T00:00:00+00:00", "2026-11-04T00:00:00+00:00", 0, "fn")
    writer.close()
    reader = CatalogDB.open(str(data / "catalog.sqlite"), readonly=True)
    with Served(make_app(reader, data)) as served:
        status, _headers, body = get(f"{served.url}/host/{urllib.request.quote(key, safe='')}")
        assert status == 200 and key.encode() in body
        _status, _headers, body = get(f"{served.url}/hosts?network=freenet")
        assert f'href="/host/{urllib.request.quote(key, safe="")}"'.encode() in body
    reader.close()


def test_a_failing_query_is_a_500_with_the_viewer_headers(tmp_path, beacon):
    data = tmp_path / "data"
    build_catalogue(data, beacon.url)
    db = CatalogDB.open(str(data / "catalog.sqlite"), readonly=True)
    with Served(make_app(db, data)) as served:
        db.connection.close()  # every query fails from now on
        status, headers, _body = get(f"{served.url}/api/hosts")
        assert status == 500 and headers["X-Content-Type-Options"] == "nosniff"


def test_a_loopback_viewer_refuses_other_host_names(site):
    status, _headers, _body = get(f"{site.url}/api/overview", {"Host": "rebound.example:80"})
    assert status == 403


def test_a_token_is_required_by_query_once_then_cookie_or_bearer(site):
    db = CatalogDB.open(str(site.data / "catalog.sqlite"), readonly=True)
    with Served(make_app(db, site.data, token="s3cret")) as guarded:
        assert get(f"{guarded.url}/api/overview")[0] == 401
        assert get(f"{guarded.url}/?token=wrong")[0] == 401
        assert get(f"{guarded.url}/api/overview", {"Authorization": "Bearer s3cret"})[0] == 200
        status, headers, _ = get(f"{guarded.url}/hosts?token=s3cret&state=up")
        assert status == 302 and headers["Location"] == "/hosts?state=up"
        cookie = headers["Set-Cookie"].split(";")[0]
        assert "HttpOnly" in headers["Set-Cookie"] and "SameSite=Strict" in headers["Set-Cookie"]
        assert get(f"{guarded.url}/hosts?state=up", {"Cookie": cookie})[0] == 200
        assert get(f"{guarded.url}/api/overview?token=s3cret")[0] == 200
    db.close()


# -- the command ----------------------------------------------------------------------


def test_command_refuses_a_non_loopback_bind_without_a_token(tmp_path):
    result = subprocess.run([sys.executable, "-m", "scrapy", "view", "--bind", "0.0.0.0", "-s",
                             f"PATH_DATA={tmp_path}"], cwd=ROOT, capture_output=True, text=True, timeout=120,
                            env={**_clean_env(), "DARKCRAWL_VIEW_TOKEN": ""})
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().count("\n") == 0 and "token" in result.stderr


def test_command_serves_the_catalogue(site):
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "scrapy", "view", "--port", str(port), "-s",
                                f"PATH_DATA={site.data}"], cwd=ROOT, env=_clean_env(),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                data = get_json(f"http://{LOOPBACK}:{port}/api/overview")
                break
            except (urllib.error.URLError, ConnectionError):
                assert process.poll() is None and time.monotonic() < deadline, process.communicate()
                time.sleep(0.3)
        assert data["hosts"] == 4
    finally:
        process.terminate()
        process.wait(20)


def _clean_env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith(("DARKCRAWL_", "PATH_DATA"))}


# -- in a real Chromium ----------------------------------------------------------------


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=chromium_path(), headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, site):
    context = browser.new_context()
    tab = context.new_page()
    tab.requests = []
    tab.failed = {}
    tab.on("request", lambda request: tab.requests.append(request.url))
    tab.on("requestfailed", lambda request: tab.failed.__setitem__(request.url, request.failure))
    tab.console = []
    tab.on("console", lambda message: tab.console.append(message.text))
    yield tab
    context.close()


def _only_viewer_requests(page, site) -> None:
    foreign = [url for url in page.requests if not url.startswith(site.url + "/")]
    assert foreign == [], {url: page.failed.get(url) for url in foreign}
    # nothing even tried what a CSP forbids: the viewer's pages have no inline script or style,
    # and a crawled page reaches the frame already inert
    assert [text for text in page.console if "Content Security Policy" in text] == []


@needs("chromium")
def test_browse_overview_hosts_host_snapshot_search_entity(page, site):
    page.goto(f"{site.url}/")
    assert page.locator("h1").inner_text() == "Overview"
    assert page.locator("svg.chart rect.bar").count() == 4  # three days of pages, and the queue page's
    page.click("header nav >> text=Hosts")
    page.wait_for_url("**/hosts")
    assert page.locator("tbody tr").count() == 4
    page.select_option("select[name=network]", "tor")
    page.click("form.filters button")
    page.wait_for_url("**/hosts?network=tor**")
    assert page.locator("tbody tr").count() == 2
    page.click(f"text={ONION}")
    page.wait_for_url(f"**/host/{ONION}")
    assert page.locator("pre.source", has_text="Disallow: /admin").count() == 1  # robots.txt
    assert page.locator("text=abc123").count() >= 1  # a cookie of the headers record
    thumb = page.locator("img.thumb").first
    thumb.wait_for()
    assert page.evaluate("img => img.complete && img.naturalWidth", thumb.element_handle()) == 64
    page.click("td >> text=2026-11-03 10:00")
    page.wait_for_url(f"**/snapshot/{site.ids['second']}")
    assert page.locator("pre.diff .del", has_text="old prices").count() == 1
    assert page.locator("pre.diff .add", has_text="new prices").count() == 1
    assert page.evaluate("() => document.querySelector('img.screenshot').naturalWidth") == 64
    page.fill("header input[name=q]", "prices")
    page.press("header input[name=q]", "Enter")
    page.wait_for_url("**/search?q=prices")
    assert page.locator("p.snippet mark", has_text="prices").count() >= 1
    page.goto(f"{site.url}/entities?q=1Boat")
    page.click("text=1BoatSLRHtKNngkdXEeobR76b53LETtpyT")
    page.wait_for_url(f"**/entity/{site.ids['wallet']}")
    assert page.locator("tbody", has_text=ONION).count() == 2 and page.locator("tbody", has_text=CLEAR).count() >= 1
    _only_viewer_requests(page, site)


@needs("chromium")
def test_live_counts_poll_the_api(page, site):
    page.goto(f"{site.url}/")
    page.wait_for_function("() => document.querySelector('[data-live=status]').textContent.startsWith('Updated')",
                           timeout=15000)
    assert any(url.endswith("/api/overview") for url in page.requests)


@needs("chromium")
def test_hostile_pages_run_nothing_and_fetch_nothing(page, site, beacon):
    pages = [f"/snapshot/{i}" for i in site.ids["hostile"].values()]
    pages += [f"/frame/{i}/raw" for i in site.ids["hostile"].values()]
    pages += [f"/host/{site.ids['hostile_host']}", "/search?q=hostile", "/hosts"]
    for path in pages:
        page.goto(f"{site.url}{path}")
        page.wait_for_load_state("load")
        if path.startswith("/snapshot/"):
            page.frame_locator("iframe.preview").locator("body").wait_for(state="attached")
        if path.endswith(f"/{site.ids['hostile']['javascript-link']}"):
            page.frame_locator("iframe.preview").locator("#js").click()
        page.wait_for_timeout(400)
        for frame in page.frames:
            found = frame.evaluate(f"() => {json.dumps(list(HOSTILE_GLOBALS))}.filter(n => n in window)")
            assert found == [], (path, frame.url, found)
        assert page.url == f"{site.url}{path}"  # no meta refresh, no navigation
    time.sleep(1.0)
    assert beacon.hits == []
    _only_viewer_requests(page, site)


@needs("chromium")
def test_the_frame_csp_alone_stops_scripts_and_requests(browser, beacon):
    """The first wall without the second: hostile HTML as crawled (not made inert),
    served with the frame's CSP into a sandboxed iframe of a page with the viewer's CSP."""
    hostile = hostile_pages(beacon.url)

    async def document(request: web.Request) -> web.Response:
        return web.Response(text=hostile[request.match_info["name"]], content_type="text/html",
                            headers={"Content-Security-Policy": FRAME_CSP})

    async def parent(request: web.Request) -> web.Response:
        return web.Response(text=f'<iframe sandbox="" src="/doc/{request.match_info["name"]}"></iframe>',
                            content_type="text/html", headers={"Content-Security-Policy": VIEWER_CSP})

    app = web.Application()
    app.add_routes([web.get("/doc/{name}", document), web.get("/page/{name}", parent)])
    before = len(beacon.hits)
    with Served(app) as served:
        context = browser.new_context()
        tab = context.new_page()
        for name in hostile:
            tab.goto(f"{served.url}/page/{name}")
            tab.frame_locator("iframe").locator("body").wait_for(state="attached")
            if name == "javascript-link":
                tab.frame_locator("iframe").locator("#js").click()
            tab.wait_for_timeout(400)
            for frame in tab.frames:
                found = frame.evaluate(f"() => {json.dumps(list(HOSTILE_GLOBALS))}.filter(n => n in window)")
                assert found == [], (name, frame.url, found)
            assert tab.url == f"{served.url}/page/{name}"
        context.close()
    time.sleep(1.0)
    assert beacon.hits[before:] == []


@needs("chromium")
def test_overview_counts_follow_a_crawl_writing_the_catalogue(browser, tmp_path, beacon):
    """The viewer's read-only connection sees each batch a writer commits (WAL): an open
    overview shows it within a poll, without a reload."""
    data = tmp_path / "data"
    build_catalogue(data, beacon.url)
    reader = CatalogDB.open(str(data / "catalog.sqlite"), readonly=True)
    writer = CatalogDB.open(str(data / "catalog.sqlite"))
    with Served(make_app(reader, data)) as served:
        context = browser.new_context()
        tab = context.new_page()
        tab.goto(f"{served.url}/")
        assert tab.locator("[data-live=hosts]").inner_text() == "4"
        with writer.transaction():
            add_host(writer, "new5onionaddressxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx.onion", "tor", "up",
                  "2026-11-04T00:00:00+00:00", "2026-11-04T00:00:00+00:00", 7, "fresh")
        tab.wait_for_function("() => document.querySelector('[data-live=hosts]').textContent === '5'",
                              timeout=20000)
        assert tab.locator("[data-live=pages]").inner_text() == str(2 + 1 + 1 + len(hostile_pages("")) + 7)
        context.close()
    writer.close()
    reader.close()


@needs("chromium")
def test_a_copy_button_copies_the_crawled_url_without_fetching_it(browser, site):
    context = browser.new_context(permissions=["clipboard-read", "clipboard-write"])
    tab = context.new_page()
    requests: list[str] = []
    tab.on("request", lambda request: requests.append(request.url))
    tab.goto(f"{site.url}/snapshot/{site.ids['second']}")
    button = tab.locator("dl.facts button.copy").first
    button.click()
    tab.wait_for_function("() => document.querySelector('dl.facts button.copy').textContent === 'copied'")
    assert tab.evaluate("() => navigator.clipboard.readText()") == f"http://{ONION}/"
    assert [url for url in requests if not url.startswith(site.url + "/")] == []
    context.close()


# -- over a real crawl's catalogue -------------------------------------------------------------


@needs("chromium")
def test_a_real_crawls_catalogue_in_the_viewer(crawl, browser):
    """What a crawl (with its render stage) wrote, browsed: every host and snapshot page,
    the screenshot, the sandboxed page and a search of its text."""
    from tests.gateways import FakeGateway, html

    pages = {"/": (200, "text/html; charset=utf-8", b"<html><head><title>front</title></head><body>"
                   b"<p>quokkaberry listing</p><a href='/second.html'>next</a> mail admin@example.org</body></html>"),
             "/second.html": html(text="second page of quokkaberry")}
    with FakeGateway(pages) as gateway:
        result = crawl("-a", f"urls=http://127.0.0.1:{gateway.port}/", settings={"DARKCRAWL_RENDER": 1}, timeout=240)
    assert result.returncode == 0, result.log[-3000:]
    db = CatalogDB.open(str(result.data / "catalog.sqlite"), readonly=True)
    with Served(make_app(db, result.data)) as served:
        hosts = get_json(f"{served.url}/api/hosts")["items"]
        assert [h["host"] for h in hosts] == [f"127.0.0.1:{gateway.port}"] and hosts[0]["screenshot"]
        snapshots = db.all("SELECT id FROM snapshots")
        assert len(snapshots) >= 2
        for path in [f"/host/{hosts[0]['host']}", *(f"/snapshot/{row['id']}" for row in snapshots)]:
            assert get(f"{served.url}{path}")[0] == 200, path
        hits = get_json(f"{served.url}/api/search?q=quokkaberry")["items"]
        assert len(hits) >= 2 and all("<mark>quokkaberry</mark>" in h["snippet_html"].lower() for h in hits)
        context = browser.new_context()
        tab = context.new_page()
        tab.goto(f"{served.url}{hosts[0]['screenshot'].replace('/file/', '/snapshot/').rsplit('/', 1)[0]}")
        assert tab.evaluate("() => document.querySelector('img.screenshot').naturalWidth") > 100
        assert "quokkaberry" in tab.frame_locator("iframe.preview").locator("body").inner_text()
        context.close()
    db.close()
