"""The viewer's clones and mirrors: ``/clusters``, ``/cluster/<id>``, the cluster line
of a host page, ``cluster`` in ``/api/hosts`` and ``/api/clusters``; on a fixture
catalogue (both dialects, hostile values escaped) and, in a real Chromium, over a
real crawl of a generated clone web (screenshots side by side, the differing
addresses highlighted)."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest

from darkcrawl.catalog.db import CatalogDB
from darkcrawl.intel.clusters import cluster_id
from darkcrawl.viewer.app import make_app
from tests.clonesites import WebPlan, crawl_web, plan_web
from tests.components import COMPONENTS, needs
from tests.test_viewer import Served, _only_viewer_requests, beacon, browser, get, get_json  # noqa: F401 (fixtures)
from tests.viewer_catalogue import CLEAR, ONION, add_host, build_catalogue

HOSTILE = "<script>window.pwned_cluster=1</script>"
WALLET, OTHER = "1BoatSLRHtKNngkdXEeobR76b53LETtpyT", "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"


def add_clusters(db: CatalogDB) -> dict[str, str]:
    """Two clusters: ONION and CLEAR, suspected phishing (each shows its own wallet,
    and ONION a hostile "address"), and three mirrors that show none."""
    flagged, plain = cluster_id(CLEAR), cluster_id("mirror-a.onion")
    db.execute("INSERT INTO clone_clusters (cluster, representative, size, suspected_phishing, addresses, title) "
               "VALUES (?, ?, 2, 1, ?, ?)", [flagged, CLEAR, json.dumps([["bitcoin", OTHER], ["bitcoin", WALLET]]),
                                           f"Hidden Market {HOSTILE}"])
    db.execute("INSERT INTO clone_clusters (cluster, representative, size, suspected_phishing, addresses, title) "
               "VALUES (?, ?, 3, 0, '[]', 'mirrors')", [plain, "mirror-a.onion"])
    for host, cluster, addresses in ((CLEAR, flagged, [["bitcoin", OTHER]]),
                                     (ONION, flagged, [["bitcoin", WALLET], ["ethereum", HOSTILE]])):
        db.execute("INSERT INTO clone_members (host, cluster, image_distance, text_distance, same_favicon, "
                   "same_title, addresses) VALUES (?, ?, 2, 3, 1, 0, ?)", [host, cluster, json.dumps(addresses)])
    for host in ("mirror-a.onion", "mirror-b.onion", "mirror-c.onion"):
        add_host(db, host, "tor", "up", "2026-11-04T00:00:00+00:00", "2026-11-04T00:00:00+00:00", 1, "mirrors")
        db.execute("INSERT INTO clone_members (host, cluster, image_distance, text_distance, same_favicon, "
                   "same_title, addresses) VALUES (?, ?, 0, 0, 1, 1, '[]')", [host, plain])
    return {"flagged": flagged, "plain": plain}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def site(request, tmp_path_factory, beacon):  # noqa: F811
    location = None
    if request.param == "postgresql":
        if "postgresql" not in COMPONENTS:
            pytest.skip("needs the postgresql test component (tests/harness/postgres.py)")
        location = request.getfixturevalue("postgres_server").create_database("viewer_clusters")
    data = tmp_path_factory.mktemp(f"view-clusters-{request.param}") / "data"
    ids = build_catalogue(data, beacon.url, location)
    writer = CatalogDB.open(location or str(data / "catalog.sqlite"))
    ids.update(add_clusters(writer))
    writer.close()
    db = CatalogDB.open(location or str(data / "catalog.sqlite"), readonly=location is None)
    with Served(make_app(db, data)) as served:
        served.ids = ids
        yield served
    db.close()


def test_api_hosts_names_each_hosts_cluster(site):
    hosts = {h["host"]: h for h in get_json(f"{site.url}/api/hosts?limit=50")["items"]}
    assert hosts[ONION]["cluster"] == hosts[CLEAR]["cluster"] == site.ids["flagged"]
    assert hosts["shop.i2p"]["cluster"] is None


def test_api_clusters_flagged_first_with_members_and_addresses(site):
    found = get_json(f"{site.url}/api/clusters")
    assert [c["cluster"] for c in found["items"]] == [site.ids["flagged"], site.ids["plain"]]
    flagged = found["items"][0]
    assert flagged["suspected_phishing"] is True and flagged["size"] == 2 and flagged["representative"] == CLEAR
    assert flagged["addresses"] == [["bitcoin", OTHER], ["bitcoin", WALLET]]
    assert {m["host"]: m["addresses"] for m in flagged["members"]}[ONION] == [["bitcoin", WALLET],
                                                                              ["ethereum", HOSTILE]]
    only = get_json(f"{site.url}/api/clusters?flagged=1")
    assert [c["cluster"] for c in only["items"]] == [site.ids["flagged"]] and only["next"] is None
    assert get_json(f"{site.url}/api/clusters?limit=1")["next"] == 2


def test_cluster_pages_answer_and_escape_crawled_values(site):
    for path in ("/clusters", "/clusters?flagged=1", f"/cluster/{site.ids['flagged']}", f"/cluster/{site.ids['plain']}",
                 f"/host/{ONION}"):
        status, headers, body = get(f"{site.url}{path}")
        assert status == 200 and headers["Content-Type"].startswith("text/html"), (path, body[:300])
        assert b"<script>window.pwned" not in body, path
    _status, _headers, body = get(f"{site.url}/cluster/{site.ids['flagged']}")
    text = body.decode()
    assert "&lt;script&gt;window.pwned_cluster=1&lt;/script&gt;" in text
    assert f"<mark class=differ><span class=\"copyable\"><code class=address>{WALLET}</code>" in text
    assert "suspected phishing" in text
    _status, _headers, body = get(f"{site.url}/host/{ONION}")
    assert f'href="/cluster/{site.ids["flagged"]}"'.encode() in body and b"with 1 other host<" in body
    _status, _headers, body = get(f"{site.url}/host/shop.i2p")
    assert b"/cluster/" not in body
    assert get(f"{site.url}/cluster/000000000000")[0] == 404


# -- over a real crawl, in Chromium ------------------------------------------------------------


@pytest.fixture(scope="module")
def crawled(tmp_path_factory):
    work = tmp_path_factory.mktemp("view-clone-crawl")
    specs = plan_web(WebPlan(families=2, phishing_families=1, unrelated=1, templates=1, per_template=2), seed=19)
    result = crawl_web(work, specs)
    assert result.returncode == 0, result.log[-3000:]
    return specs, result


@needs("chromium")
def test_browse_the_clusters_of_a_real_crawl(crawled, browser):  # noqa: F811
    specs, result = crawled
    db = CatalogDB.open(str(result.data / "catalog.sqlite"), readonly=True)
    phishing = [s for s in specs if s.role == "clone"]
    with Served(make_app(db, result.data)) as served:
        context = browser.new_context()
        page = context.new_page()
        page.requests, page.console = [], []
        page.on("request", lambda request: page.requests.append(request.url))
        page.on("console", lambda message: page.console.append(message.text))
        page.goto(f"{served.url}/")
        page.click("header nav >> text=Clusters")
        page.wait_for_url("**/clusters")
        rows = page.locator("table.clusters tbody tr")
        assert rows.count() == 2
        assert rows.first.locator(".badge.phishing").count() == 1  # the flagged cluster first
        rows.first.locator("td a").first.click()
        page.wait_for_url("**/cluster/*")
        members = page.locator("figure.member")
        family = [s for s in specs if s.family == phishing[0].family]
        assert members.count() == len(family)
        # the screenshots side by side: every member whose page was rendered shows one, loaded
        for img in page.locator("figure.member img.thumb").element_handles():
            img.scroll_into_view_if_needed()
            page.wait_for_function("img => img.complete && img.naturalWidth > 100", arg=img)
        assert page.locator("figure.member img.thumb").count() >= 2
        for figure in members.all():  # a member without one is a byte-for-byte copy (never rendered)
            assert figure.locator("img.thumb").count() == 1 or "byte for byte" in figure.inner_text()
        # the differing addresses highlighted: the original's and a clone's at least
        marked = page.locator("figure.member mark.differ").all_inner_texts()
        original = next(s for s in family if s.role == "original")
        assert any(original.address in text for text in marked)
        assert any(c.address in text for c in phishing for text in marked)
        page.locator(f"figure.member figcaption > a:text-is(\"{original.host}\")").click()
        page.wait_for_url(f"**/host/{quote(original.host, safe='')}")
        assert page.locator("dl.facts dd .badge.phishing").count() == 1
        hosts = get_json(f"{served.url}/api/hosts?limit=100")["items"]
        assert {h["host"]: h["cluster"] for h in hosts}[original.host] == cluster_id(min(s.host for s in family))
        _only_viewer_requests(page, served)
        context.close()
    db.close()


def test_a_catalogue_from_before_the_clones_facet_is_shown_without_clusters(tmp_path, beacon):  # noqa: F811
    data = tmp_path / "data"
    build_catalogue(data, beacon.url)
    writer = CatalogDB.open(str(data / "catalog.sqlite"))
    for table in ("clone_members", "clone_clusters", "clone_signatures"):
        writer.execute(f"DROP TABLE {table}")
    writer.close()
    reader = CatalogDB.open(str(data / "catalog.sqlite"), readonly=True)  # read-only: not upgraded
    with Served(make_app(reader, data)) as served:
        for path in ("/clusters", f"/host/{ONION}"):
            assert get(f"{served.url}{path}")[0] == 200, path
        assert get(f"{served.url}/cluster/{cluster_id(ONION)}")[0] == 404
        assert {h["cluster"] for h in get_json(f"{served.url}/api/hosts")["items"]} == {None}
        assert get_json(f"{served.url}/api/clusters")["items"] == []
    reader.close()
