"""The crawl catalogue: what a crawl of the test darknet puts in it, a rebuild
from PATH_DATA that equals it, idempotent writes, a kill that leaves it
consistent, and the pure parts (entities, PGP fingerprints, page text)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from lxml import html as lxml_html

from darkcrawl.catalog.db import CatalogDB
from darkcrawl.catalog.entities import email_value, link_entities, pgp_entities, pgp_fingerprint
from darkcrawl.catalog.rebuild import RebuildSource, record_paths, record_visits
from darkcrawl.catalog.writer import CatalogWriter
from darkcrawl.links.classify import Gateways
from darkcrawl.links.extract import page_title, visible_text
from tests.components import needs
from tests.conftest import ROOT, crawl_argv, run_crawl
from tests.darknet import pgp
from tests.gateways import FakeGateway
from tests.harness.catalog import catalog_dump, dump_differences

XMR = "44AFFq5kSiGBoZ4NMDwYtN18obc8AemS33DBLWs3H7otXft3XjrpDtQGv7SqSsaBYBb98uNbr2VBBEt7f2wfn3RVGQBEP3A"

# -- pure parts ------------------------------------------------------------------------------


@pytest.mark.parametrize(("url", "expected"), [
    ("mailto:Admin@Example.COM", "admin@example.com"),
    ("mailto:a@b.org?subject=hi", "a@b.org"),
    ("mailto:a%40b.org", "a@b.org"),
    ("mailto:no-at-sign", None),
    ("mailto:two words@x.org", None),
])
def test_email_value(url: str, expected: str | None) -> None:
    assert email_value(url) == expected


@pytest.mark.parametrize(("links", "expected"), [
    (["http://x.org/", "https://y.onion/"], set()),
    (["bitcoin:1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa?amount=1"], {("bitcoin", "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa")}),
    (["ethereum:0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"], {("ethereum", "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed")}),
    (["monero:" + XMR + "?tx_amount=1"], {("monero", XMR)}),
    (["mailto:X@Y.org", "mailto:x@y.org"], {("email", "x@y.org")}),
    (["tel:+15551234567"], {("tel", "tel:+15551234567")}),
    (["data:text/plain,hi", "javascript:alert(1)", "nonsense"], set()),
    (["magnet:?xt=urn:btih:" + "a" * 5000], set()),  # longer than any value kept
])
def test_link_entities(links: list[str], expected: set[tuple[str, str]]) -> None:
    assert link_entities(links) == expected


def test_pgp_fingerprint_is_gpgs() -> None:
    armour = pgp.PGP_PUBLIC_KEY
    assert pgp_entities(f"text\n{armour}\nmore") == {("pgp", pgp.PGP_FINGERPRINT)}
    # a page that folded the lines, or added an armour header, shows the same key
    assert pgp_entities(" ".join(armour.split("\n"))) == {("pgp", pgp.PGP_FINGERPRINT)}
    with_header = armour.replace("-----\n\n", "-----\nComment: our key\n\n", 1)
    assert pgp_entities(with_header) == {("pgp", pgp.PGP_FINGERPRINT)}
    # a damaged block is still one entity, named by its armour
    damaged = armour.replace(armour.split("\n")[2][:12], "!!!!", 1)
    (kind, value), = pgp_entities(damaged)
    assert kind == "pgp" and value.startswith("armour-sha256:") and len(value) == len("armour-sha256:") + 64
    assert pgp_fingerprint("not base64 at all") is None
    assert pgp_entities("no key here") == set()


def test_visible_text_and_title() -> None:
    root = lxml_html.fromstring("<html><head><title>  A \n title </title><style>p{}</style></head><body>"
                                "<p>one</p><script>var secret = 1</script><noscript>ns</noscript>"
                                "<pre>line 1\nline 2</pre></body></html>")
    assert page_title(root) == "A title"
    text = visible_text(root, 1000)
    assert text == "one\nns\nline 1\nline 2"  # noscript is what a browser without scripts shows
    assert "secret" not in text and "p{}" not in text
    assert visible_text(root, 5) == "one\nn"


# -- a crawl of the test darknet ---------------------------------------------------------------


@pytest.fixture(scope="module")
def crawled(darknet, tmp_path_factory):
    result = run_crawl(tmp_path_factory.mktemp("catalog"), "-a", f"urls={darknet.url('main', '/')}",
                       settings={"DARKCRAWL_HOST_PAGE_LIMIT": 150})
    assert result.returncode == 0, result.log[-3000:]
    return result


def _open(path: Path) -> CatalogDB:
    return CatalogDB.open(str(path), readonly=True)


def test_the_catalogue_holds_the_crawl(crawled, darknet) -> None:
    db = _open(crawled.data / "catalog.sqlite")
    snapshots = db.value("SELECT count(*) FROM snapshots")
    assert snapshots == crawled.stats["darkcrawl/pages"] == crawled.stats["darkcrawl/catalog/snapshots"]
    # every file a snapshot names is on disk
    for row in db.all("SELECT raw_path, headers_path FROM snapshots"):
        assert (crawled.data / row["headers_path"]).is_file()
        assert row["raw_path"] is None or (crawled.data / row["raw_path"]).is_file()
    hosts = {row["host"]: row for row in db.all("SELECT * FROM hosts")}
    main_host = darknet.url("main", "/").split("/")[2]
    assert hosts[main_host]["state"] == "up" and hosts[main_host]["network"] == "clearnet"
    assert hosts[main_host]["pages"] == db.value("SELECT count(*) FROM snapshots WHERE host = ?", (main_host,))
    onion = [row for row in hosts.values() if row["network"] == "tor"]
    # tor was not running here: the onion was never tried, so nothing is known of it (not "down")
    assert onion and all(row["state"] == "unknown" and "tor is not available" in row["last_reason"] for row in onion)
    failures = (crawled.data / "misc/failures.jsonl").read_text().splitlines()
    assert db.value("SELECT count(*) FROM failures") == len(failures) > 0


def test_entities_are_found_where_they_were_seen(crawled, darknet) -> None:
    db = _open(crawled.data / "catalog.sqlite")
    seen = {(row["kind"], row["value"]): row["url"] for row in db.all(
        "SELECT e.kind, e.value, s.url FROM entities e JOIN sightings g ON g.entity_id = e.id "
        "JOIN snapshots s ON s.id = g.snapshot_id")}
    index = darknet.url("main", "/")
    assert seen[("bitcoin", "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa")] == index
    assert seen[("email", "admin@example.com")] == index
    assert seen[("pgp", pgp.PGP_FINGERPRINT)] == darknet.url("main", "/text-only.html")


def test_full_text_search_and_the_link_graph(crawled, darknet) -> None:
    db = _open(crawled.data / "catalog.sqlite")
    hits = db.all("SELECT s.url, snippet(page_text, 1, '[', ']', '…', 8) AS snippet FROM page_text "
                  "JOIN snapshots s ON s.id = page_text.rowid WHERE page_text MATCH ? ORDER BY rank", ('"mentioned"',))
    assert [hit["url"] for hit in hits] == [darknet.url("main", "/text-only.html")]
    assert "[mentioned]" in hits[0]["snippet"]
    # a link only mentioned in the index's text is an edge of the graph too
    targets = {row["target"] for row in db.all(
        "SELECT l.target FROM links l JOIN snapshots s ON s.id = l.source_id WHERE s.url = ?",
        (darknet.url("main", "/"),))}
    assert darknet.url("main", "/text-only.html") in targets
    other = darknet.url("other", "/").split("/")[2]
    assert db.value("SELECT count(*) FROM links WHERE target_host = ?", (other,)) >= 1


def test_a_rebuild_equals_the_incremental_catalogue(crawled, tmp_path) -> None:
    data = tmp_path / "data"
    shutil.copytree(crawled.data, data)
    incremental = catalog_dump(_open(data / "catalog.sqlite"))
    (data / "catalog.sqlite").unlink()  # a crawl from before the catalogue: only files
    proc = subprocess.run([sys.executable, "-m", "scrapy", "catalog", "--rebuild", "-s", f"PATH_DATA={data}"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "catalog: rebuilt" in proc.stdout and "clearnet: 3 hosts (3 up)" in proc.stdout, proc.stdout
    rebuilt = catalog_dump(_open(data / "catalog.sqlite"))
    assert rebuilt == incremental, dump_differences(incremental, rebuilt)
    assert not list(data.glob("catalog.sqlite.rebuild*"))


def test_writing_the_same_visits_again_adds_nothing(crawled, tmp_path) -> None:
    shutil.copy(crawled.data / "catalog.sqlite", tmp_path / "catalog.sqlite")
    db = CatalogDB.open(str(tmp_path / "catalog.sqlite"))
    before = catalog_dump(db)
    source = RebuildSource(crawled.data, Gateways(), (), 100_000)
    visits = [v for path in record_paths(crawled.data)[:50] for v in record_visits(source, path)]
    counts = CatalogWriter(db).write(visits)
    assert counts.snapshots == 0 and counts.links > 0
    assert catalog_dump(db) == before


def test_no_catalogue_when_it_is_off(darknet, tmp_path) -> None:
    result = run_crawl(tmp_path, "-a", f"urls={darknet.url('other', '/')}", settings={"DARKCRAWL_CATALOG": 0})
    assert result.returncode == 0 and result.stats["darkcrawl/pages"] >= 1
    assert not (result.data / "catalog.sqlite").exists()


def test_a_killed_crawl_leaves_a_consistent_catalogue(darknet, tmp_path) -> None:
    """SIGKILL in the middle of a crawl of the calendar trap: what was committed is
    whole (hosts' counts match their snapshots, every snapshot of HTML has its text)."""
    argv = crawl_argv(tmp_path, "-a", f"urls={darknet.url('main', '/calendar/2024/01/01')}",
                      settings={"DARKCRAWL_CATALOG_BATCH": 5, "DARKCRAWL_CATALOG_INTERVAL": 0.2,
                                "DARKCRAWL_MAX_DATE_VARIANTS": 0, "DARKCRAWL_MAX_HOST_DEPTH": 0,
                                "DARKCRAWL_HOST_PAGE_LIMIT": 0, "CONCURRENT_REQUESTS_PER_DOMAIN": 2})
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "DARKCRAWL_ALLOW_LOOPBACK": "1"})
    catalog = tmp_path / "data" / "catalog.sqlite"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                with sqlite3.connect(catalog, timeout=5) as probe:
                    if probe.execute("SELECT count(*) FROM snapshots").fetchone()[0] >= 40:
                        break
            except sqlite3.Error:
                pass
            time.sleep(0.2)
        else:
            pytest.fail("the catalogue never got 40 snapshots")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    db = sqlite3.connect(catalog)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    for host, pages, counted in db.execute(
            "SELECT h.host, h.pages, (SELECT count(*) FROM snapshots s WHERE s.host = h.host) FROM hosts h"):
        assert pages == counted, host
    unindexed = db.execute("SELECT count(*) FROM snapshots s WHERE s.mime = 'text/html' AND s.raw_path IS NOT NULL "
                           "AND s.rowid NOT IN (SELECT rowid FROM page_text)").fetchone()[0]
    assert unindexed == 0


JS_TEXT_PAGE = (200, "text/html; charset=utf-8", b"""<html><head><title>before</title></head><body>
<p>static words</p><div id="out"></div>
<script>
  document.title = "after render";
  document.getElementById("out").textContent = "zanzibarite appears only once rendered";
</script></body></html>""")


@needs("chromium")
def test_a_render_is_catalogued_and_rebuilt_alike(crawl, tmp_path) -> None:
    with FakeGateway({"/": JS_TEXT_PAGE}) as site:
        result = crawl("-a", f"urls=http://127.0.0.1:{site.port}/", settings={"DARKCRAWL_RENDER": 1}, timeout=240)
    assert result.returncode == 0, result.log[-3000:]
    db = _open(result.data / "catalog.sqlite")
    row = db.one("SELECT * FROM snapshots WHERE url = ?", (f"http://127.0.0.1:{site.port}/",))
    assert row["rendered_path"] and row["screenshot_path"] and row["screenshot_size"] > 0
    assert row["title"] == "after render"
    assert (result.data / row["screenshot_path"]).read_bytes().startswith(b"\x89PNG")
    # the text searched is the rendered page's
    assert db.value("SELECT count(*) FROM page_text WHERE page_text MATCH 'zanzibarite'") == 1
    incremental = catalog_dump(db)
    data = tmp_path / "copy"
    shutil.copytree(result.data, data)
    from darkcrawl.catalog.rebuild import rebuild_catalog
    rebuild_catalog(str(data / "catalog.sqlite"), RebuildSource(data, Gateways(), (), 100_000))
    rebuilt = catalog_dump(_open(data / "catalog.sqlite"))
    assert rebuilt == incremental, dump_differences(incremental, rebuilt)
    assert json.loads((result.data / row["headers_path"]).read_text())["Rendered"]["Screenshot"] == row["screenshot_path"]


def test_a_fetch_and_its_render_in_one_batch_index_the_rendered_text(tmp_path) -> None:
    from darkcrawl.catalog.rows import Visit

    def visit(render: bool, text: str) -> Visit:
        columns = {"final_url": "http://a.org/", "status": 200, "mime": "text/html"} if not render else {
            "final_url": "http://a.org/", "rendered_at": "2026-12-03T00:00:09+00:00"}
        return Visit("http://a.org/", "2026-12-03T00:00:00+00:00", "a.org", "clearnet", "http", render, columns,
                     title=text, text=text)

    db = CatalogDB.open(str(tmp_path / "catalog.sqlite"))
    writer = CatalogWriter(db)
    writer.write([visit(False, "plainword"), visit(True, "renderword")])
    assert db.all("SELECT title, body FROM page_text") == [{"title": "renderword", "body": "renderword"}]
    writer.write([visit(False, "plainword")])  # the fetch written again: the render's text stays
    assert db.all("SELECT title, body FROM page_text") == [{"title": "renderword", "body": "renderword"}]
    writer.write([visit(True, "otherword")])
    assert db.all("SELECT body FROM page_text") == [{"body": "otherword"}]
    assert db.value("SELECT title FROM snapshots") == "otherword"
