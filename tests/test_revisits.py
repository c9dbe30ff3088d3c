"""Adaptive revisits: the schedule (darkcrawl/frontier/revisits.py), its store in JOBDIR, and a
crawl in monitoring mode over a loopback site whose pages change on a known pattern, with its
catalogue's revisits facet (darkcrawl/catalog/facets/revisits.py) rebuilt alike."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from darkcrawl.catalog.db import CatalogDB
from darkcrawl.catalog.facets.revisits import RevisitsFacet
from darkcrawl.catalog.rows import Visit, failure_row
from darkcrawl.catalog.writer import CatalogWriter
from darkcrawl.links.classify import Gateways
from darkcrawl.frontier.revisit_policy import GATED, HostState, RevisitPolicy, SitemapHint, UrlState
from darkcrawl.frontier.revisits import RevisitSchedule
from darkcrawl.frontier.store import FrontierStore, StoredRevisitSchedule
from darkcrawl.viewer import pages
from darkcrawl.viewer.pages import View
from tests.conftest import ROOT, run_crawl
from tests.harness.catalog import catalog_dump, dump_differences
from tests.harness.http import HttpService, QuietHandler
from tests.harness.ports import free_port

POLICY = RevisitPolicy(10.0, 1000.0, probe=100.0, down_after=2)


class _Stats(dict[str, int]):
    def inc_value(self, key: str, n: int = 1) -> None:
        self[key] = self.get(key, 0) + n


# -- the schedule --------------------------------------------------------------------------------


def test_an_unchanged_page_waits_longer_a_changed_one_comes_back_sooner() -> None:
    schedule = RevisitSchedule(POLICY)
    schedule.visited("http://x/still", 0, 0.0, "a")
    schedule.visited("http://x/busy", 0, 0.0, "a")
    now, fetched = 0.0, {"http://x/still": 0, "http://x/busy": 0}
    while now < 500:
        now += 1
        for url, depth in schedule.pop_due(now):
            fetched[url] += 1
            schedule.visited(url, depth, now, "a" if url.endswith("still") else str(now))
    assert fetched["http://x/busy"] == 50  # every 10 s: the floor
    assert fetched["http://x/still"] == 5  # 10, 20, 40, 80, 160 s: 10 + 30 + 70 + 150 + 310 = 570 > 500
    assert schedule.state("http://x/still").interval == 320.0  # type: ignore[union-attr]


def test_a_down_host_is_probed_alone_and_its_urls_come_back_with_it() -> None:
    stats = _Stats()
    schedule = RevisitSchedule(POLICY, stats=stats)
    urls = [f"http://x/{n}" for n in range(5)]
    for url in urls:
        schedule.visited(url, 1, 0.0, "a")
    assert sorted(u for u, _ in schedule.pop_due(10.0)) == urls
    schedule.failed(urls[0], 1, 11.0, "ConnectionRefused")
    schedule.failed(urls[1], 1, 11.0, "ConnectTimeout")  # down: probed with its last URL that answered
    assert schedule.hosts["x"].down and schedule.hosts["x"].probe_url == urls[4]
    for url in urls[2:4]:
        schedule.failed(url, 1, 11.0, "ConnectionRefused")  # under way when it went down
    schedule.failed(urls[4], 1, 11.0, "ConnectionRefused")
    assert schedule.due(urls[4]) == 111.0  # the probe: 100 s
    assert schedule.pop_due(110.0) == []  # the other four fell due and were parked
    assert schedule.parked() == 4 and len(schedule) == 5
    assert schedule.pop_due(111.0) == [(urls[4], 1)]
    schedule.failed(urls[4], 1, 112.0, "OnionUnreachable")
    assert schedule.due(urls[4]) == 312.0  # a failed probe: twice the wait
    assert schedule.pop_due(312.0) == [(urls[4], 1)]
    assert schedule.visited(urls[4], 1, 313.0, "a") == "unchanged"
    assert sorted(u for u, _ in schedule.pop_due(313.0)) == urls[:4]  # back with their host
    assert not schedule.hosts["x"].down and schedule.parked() == 0
    assert stats["darkcrawl/revisits/hosts_down"] == 1 and stats["darkcrawl/revisits/hosts_up"] == 1
    assert stats["darkcrawl/revisits/released"] == 4 and stats["darkcrawl/revisits/probes"] == 2


def test_a_failing_page_is_asked_less_often_and_our_side_changes_nothing() -> None:
    schedule = RevisitSchedule(POLICY)
    schedule.visited("http://x/a", 0, 0.0, "a")
    assert schedule.failed("http://x/a", 0, 10.0, "RobotsTxtDisallowed") == "failed"
    assert schedule.due("http://x/a") == 30.0
    assert schedule.failed("http://x/a", 0, 30.0, "NetworkUnavailable") == "neutral"
    assert schedule.due("http://x/a") == 50.0 and schedule.hosts["x"].failures == 0


def test_sitemap_hints() -> None:
    stats = _Stats()
    schedule = RevisitSchedule(POLICY, stats=stats)
    schedule.hint("http://x/new", SitemapHint(0.0, None, 86400.0))  # before its first visit: its start
    schedule.visited("http://x/new", 0, 1.0, "a")
    assert schedule.due("http://x/new") == 1.0 + POLICY.start(86400.0)  # the target of a daily page
    schedule.visited("http://x/a", 0, 100.0, "a")
    assert schedule.hint("http://x/a", SitemapHint(105.0, (103.0, 104.0))) == "pulled"
    assert schedule.due("http://x/a") == 105.0
    schedule.pop_due(105.0)
    schedule.visited("http://x/a", 0, 106.0, "a")  # pulled, found unchanged: its lastmod lied
    assert schedule.hosts["x"].lies == 1
    assert schedule.hint("http://x/a", SitemapHint(107.0, (50.0, 51.0))) == "pushed"
    assert schedule.due("http://x/a") == 107.0 + schedule.state("http://x/a").interval  # type: ignore[union-attr]
    schedule.hosts["x"] = HostState(lies=POLICY.distrust_after)
    assert schedule.hint("http://x/a", SitemapHint(200.0, (150.0, 151.0))) is None  # no longer listened to
    assert stats["darkcrawl/revisits/sitemap/pulled"] == 1 and stats["darkcrawl/revisits/sitemap/pushed"] == 1


def test_a_sitemap_whose_lastmod_never_moves_is_caught_and_then_ignored() -> None:
    stats = _Stats()
    schedule = RevisitSchedule(POLICY, stats=stats)
    old = (0.0, 1.0)  # "unchanged since 1970", whatever happens
    now, version, visits = 100.0, 0, 0
    schedule.visited("http://x/a", 0, now, "v0")
    while now < 5000:
        now += 1
        if now % 5 == 0:
            schedule.hint("http://x/a", SitemapHint(now, old))
        if now % 30 == 0:
            version += 1  # it changes every 30 s
        for url, depth in schedule.pop_due(now):
            visits += 1
            schedule.visited(url, depth, now, f"v{version}")
    assert stats["darkcrawl/revisits/sitemap/lies"] == POLICY.distrust_after  # then no longer listened to
    assert stats["darkcrawl/revisits/sitemap/distrusted_hosts"] == 1
    assert not POLICY.trusts(schedule.hosts["x"]) and schedule.bootstrap_age("x") == POLICY.bound(POLICY.reread)
    assert visits >= 100  # followed by its own visits once its sitemap is ignored


def test_darcs_fixed_time_cache() -> None:
    schedule = RevisitSchedule(60.0)
    schedule.visited("http://x/a", 0, 0.0, "a")
    schedule.visited("http://x/a", 0, 60.0, "a")
    assert schedule.due("http://x/a") == 120.0
    assert not RevisitSchedule(float("inf")).enabled


# -- persisted in JOBDIR -------------------------------------------------------------------------


def test_a_restart_keeps_intervals_histories_probes_and_hints(tmp_path: Path) -> None:
    store = FrontierStore(tmp_path / "f.sqlite", commit_delay=0)
    schedule = StoredRevisitSchedule(POLICY, store)
    for when in (0.0, 10.0, 30.0):
        schedule.visited("http://x/a", 2, when, "a")
    schedule.visited("http://y/b", 1, 0.0, "a")
    schedule.failed("http://y/b", 1, 5.0, "ConnectionRefused")
    schedule.failed("http://y/b", 1, 6.0, "ConnectionRefused")
    schedule.hint("http://x/new", SitemapHint(7.0, None, 3600.0))
    before = (dict(schedule.states), dict(schedule.hosts), dict(schedule.hints),
              schedule.due("http://x/a"), schedule.due("http://y/b"))
    store.commit()
    store.db.close()

    store = FrontierStore(tmp_path / "f.sqlite", commit_delay=0)
    again = StoredRevisitSchedule(POLICY, store)
    assert (again.states, again.hosts, again.hints, again.due("http://x/a"), again.due("http://y/b")) == before
    assert again.state("http://x/a") == UrlState(40.0, 30.0, "a", 3, 0, 0, None, None, *before[0]["http://x/a"].as_list()[8:])
    assert again.hosts["y"].down and again.due("http://y/b") == 106.0
    again.visited("http://x/new", 0, 10.0, "a")
    assert again.due("http://x/new") == 10.0 + POLICY.start(3600.0)
    store.commit()
    assert store.db.execute("SELECT count(*) FROM revisit_hints").fetchone()[0] == 0  # used: forgotten


def test_in_a_fleet_a_urls_history_travels_with_its_revisit(tmp_path: Path) -> None:
    popper = StoredRevisitSchedule(POLICY, FrontierStore(tmp_path / "a.sqlite", commit_delay=0))
    for when in (0.0, 10.0, 30.0):
        popper.visited("http://x/a", 0, when, "a")
    assert popper.pop_due(70.0) == [("http://x/a", 0)]
    state = json.loads(json.dumps(popper.hand_off("http://x/a")))  # in the request's meta, through Redis
    assert popper.state("http://x/a") is None and len(popper) == 0
    assert popper.store.db.execute("SELECT count(*) FROM revisit").fetchone()[0] == 0  # not re-popped at a restart
    fetcher = RevisitSchedule(POLICY)
    fetcher.adopt("http://x/a", state)
    fetcher.visited("http://x/a", 0, 70.0, "a")
    assert fetcher.state("http://x/a").visits == 4 and fetcher.due("http://x/a") == 70.0 + 80.0  # type: ignore[union-attr]


def test_an_old_jobdir_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "f.sqlite"
    old = sqlite3.connect(path)
    old.execute("CREATE TABLE revisit (url TEXT PRIMARY KEY, depth INTEGER NOT NULL, due REAL NOT NULL)")
    old.execute("INSERT INTO revisit VALUES ('http://x/a', 3, 1060.0)")
    old.commit()
    old.close()
    store = FrontierStore(path, commit_delay=0)
    schedule = StoredRevisitSchedule(POLICY, store)
    assert schedule.due("http://x/a") == 1060.0  # kept
    assert schedule.pop_due(1060.0) == [("http://x/a", 3)]
    schedule.visited("http://x/a", 3, 1061.0, "a")  # adapts from its next visit
    store.commit()
    row = store.db.execute("SELECT due, state FROM revisit").fetchone()
    assert row[0] == 1071.0 and json.loads(row[1])[3] == 1


# -- a crawl in monitoring mode --------------------------------------------------------------------

PAGES = ("always", "never", "hinted", "old", "news")


class _Handler(QuietHandler):
    def do_GET(self) -> None:
        site: _Site = self.server.service
        path = self.path
        with site.lock:
            site.hits[path] = site.hits.get(path, 0) + 1
            count = site.hits[path]
        edition = int(time.time() // 3)
        if path == "/":
            body = "".join(f'<a href="/{p}">{p}</a> ' for p in PAGES)
        elif path == "/always":
            body = f"<p>visit {count}</p>"  # changes at every visit
        elif path == "/news":
            body = f"<p>edition {edition}</p>"  # every 3 s, and its sitemap says when (honest)
        elif path in ("/never", "/hinted", "/old"):
            body = f"<p>{path}: always the same</p>"
        elif path == "/sitemap.xml":
            self.send_body(200, _sitemap(site, edition).encode(), "application/xml")
            return
        else:
            self.send_body(404, b"no")
            return
        self.send_body(200, f"<html><head><title>{path}</title></head><body>{body}</body></html>".encode())


def _sitemap(site: _Site, edition: int) -> str:
    news = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(edition * 3))
    entries = [
        (site.url("/hinted"), "<changefreq>daily</changefreq>"),  # a start: a day, past the ceiling
        (site.url("/old"), "<lastmod>2020-01-01</lastmod>"),  # unchanged since: pushed back
        (site.url("/news"), f"<lastmod>{news}</lastmod>"),
        (site.url("/never"), "<lastmod>yesterday</lastmod><changefreq>sometimes</changefreq>"),  # garbage: ignored
    ]
    urls = "".join(f"<url><loc>{loc}</loc>{hint}</url>" for loc, hint in entries)
    return f'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>'


class _Site(HttpService):
    handler_class = _Handler

    def __init__(self, host: str, port: int = 0) -> None:
        super().__init__(host, port)
        self.lock = threading.Lock()
        self.hits: dict[str, int] = {}


def _host_state(jobdir: Path, key: str) -> HostState | None:
    try:
        db = sqlite3.connect(f"file:{jobdir / 'frontier.sqlite'}?mode=ro", uri=True, timeout=1)
        row = db.execute("SELECT state FROM revisit_hosts WHERE key = ?", (key,)).fetchone()
        db.close()
    except sqlite3.Error:
        return None
    return HostState.from_list(json.loads(row[0])) if row else None


def _start_when_down(late: _Site, jobdir: Path, key: str, started: threading.Event, stop: threading.Event) -> None:
    """The late host comes up once the crawl has it down (read from its JOBDIR)."""
    while not stop.is_set():
        state = _host_state(jobdir, key)
        if state is not None and state.down:
            late.start()
            started.set()
            return
        time.sleep(0.2)


SETTINGS = {"DARC_REBOOT": 0, "TIME_CACHE": 1, "DARKCRAWL_REVISIT_MAX": 8, "DARKCRAWL_REVISIT_PROBE": 2,
            "DARC_WAIT": 1, "DARKCRAWL_BACKOFF_ENABLED": 0, "CLOSESPIDER_TIMEOUT": 22}


@pytest.fixture(scope="module")
def monitored(tmp_path_factory: pytest.TempPathFactory) -> Any:
    work = tmp_path_factory.mktemp("monitor")
    site, late = _Site("127.0.0.61"), _Site("127.0.0.62", free_port("127.0.0.62"))
    site.start()
    started, stop = threading.Event(), threading.Event()
    watcher = threading.Thread(target=_start_when_down,
                               args=(late, work / "data" / "job", f"clearnet|127.0.0.62:{late.port}", started, stop),
                               daemon=True)
    watcher.start()
    try:
        urls = [site.url("/"), late.url("/"), late.url("/p1"), late.url("/p2")]
        result = run_crawl(work, "-a", f"urls={','.join(urls)}", settings=SETTINGS)
    finally:
        stop.set()
        watcher.join(5)
        site.stop()
        late.stop()
    return result, site, late, started.is_set()


def _states(result: Any) -> dict[str, UrlState]:
    db = sqlite3.connect(result.data / "job" / "frontier.sqlite")
    rows = db.execute("SELECT url, state FROM revisit WHERE state IS NOT NULL").fetchall()
    db.close()
    return {url: UrlState.from_list(json.loads(state)) for url, state in rows}


def test_the_intervals_diverge_as_designed(monitored: Any) -> None:
    result, site, _late, _started = monitored
    assert result.stats["finish_reason"] == "closespider_timeout", result.log[-3000:]
    states = {url.rsplit("/", 1)[1]: state for url, state in _states(result).items() if site.url("/") in url}
    assert states["always"].interval == 1.0  # changed at every visit: the floor
    assert states["always"].changes == states["always"].visits - 1 >= 4
    assert states["never"].changes == 0 and states["never"].interval >= 4.0  # 1, 2, 4, 8: it waits longer each time
    assert site.hits["/always"] >= site.hits["/never"] + 3, site.hits
    assert states["hinted"].interval == 8.0 and site.hits["/hinted"] <= site.hits["/never"]  # changefreq: a day
    stats = result.stats
    assert stats["darkcrawl/revisits/changed"] >= 4 and stats["darkcrawl/revisits/unchanged"] >= 4
    assert stats["darkcrawl/revisits/sitemap/pushed"] >= 1  # /old: its lastmod says unchanged since 2020
    assert stats["darkcrawl/revisits/sitemap/bad_lastmod"] >= 1 and stats["darkcrawl/revisits/sitemap/bad_changefreq"] >= 1


def test_a_down_host_is_probed_and_its_urls_come_back(monitored: Any) -> None:
    result, _site, late, started = monitored
    assert started, "the late host never went down"
    stats = result.stats
    assert stats["darkcrawl/revisits/hosts_down"] >= 1 and stats["darkcrawl/revisits/hosts_up"] >= 1
    assert stats["darkcrawl/revisits/probes"] >= 1
    assert late.hits.get("/p1", 0) >= 1 and late.hits.get("/p2", 0) >= 1  # fetched once the host was back


def test_the_catalogue_shows_each_urls_revisits_as_the_crawl_planned_them(monitored: Any, tmp_path: Path) -> None:
    result, site, _late, _started = monitored
    db = CatalogDB.open(str(result.data / "catalog.sqlite"), readonly=True)
    rows = {row["url"]: row for row in db.all("SELECT * FROM revisits")}
    crawl_states = _states(result)
    always, never, hinted = (rows[site.url(f"/{p}")] for p in ("always", "never", "hinted"))
    assert always["changes"] == always["visits"] - 1 and always["every"] == 1.0
    assert never["changes"] == 0 and never["every"] >= 4.0 and never["last_change"] is None
    assert hinted["changefreq"] == "daily" and hinted["every"] == 8.0
    for url in (site.url("/always"), site.url("/never"), site.url("/hinted")):  # the same policy, the same visits
        assert rows[url]["every"] == crawl_states[url].interval and rows[url]["visits"] == crawl_states[url].visits
    # a rebuild from PATH_DATA alone gives the same rows
    data = tmp_path / "data"
    shutil.copytree(result.data, data)
    incremental = catalog_dump(CatalogDB.open(str(data / "catalog.sqlite"), readonly=True))
    (data / "catalog.sqlite").unlink()
    proc = subprocess.run([sys.executable, "-m", "scrapy", "catalog", "--rebuild", "-s", f"PATH_DATA={data}",
                           "-s", "TIME_CACHE=1", "-s", "DARKCRAWL_REVISIT_MAX=8"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rebuilt = catalog_dump(CatalogDB.open(str(data / "catalog.sqlite"), readonly=True))
    assert rebuilt["revisits"] == incremental["revisits"], dump_differences(incremental, rebuilt)
    assert rebuilt == incremental, dump_differences(incremental, rebuilt)


def test_the_viewer_shows_a_urls_revisits(monitored: Any) -> None:
    result, site, _late, _started = monitored
    db = CatalogDB.open(str(result.data / "catalog.sqlite"), readonly=True)
    view = View(db, result.data)
    row = db.one("SELECT id, host FROM snapshots WHERE url = ? ORDER BY timestamp DESC LIMIT 1", (site.url("/never"),))
    assert row is not None
    revisits = db.one("SELECT visits, every FROM revisits WHERE url = ?", (site.url("/never"),))
    page = pages.snapshot_page(view, row["id"])
    assert page is not None
    assert f"every {pages.duration(revisits['every'])}, changed 0 of {revisits['visits']} visits, next due" in page
    host = pages.host_page(view, row["host"], {})
    assert host is not None and "URLs every 1 s to 8 s, changed" in host
    assert pages.duration(90) == "1.5 min" and pages.duration(7200) == "2 h" and pages.duration(3) == "3 s"


def _visit(url: str, minute: int, digest: str) -> Visit:
    return Visit(url, f"2026-12-07T10:{minute:02d}:00+00:00", "x", "clearnet", "http", False,
                 {"status": 200, "content_digest": digest, "final_url": url})


def test_the_facet_folds_what_a_catalogue_from_before_it_holds(tmp_path: Path) -> None:
    db = CatalogDB.open(str(tmp_path / "catalog.sqlite"))
    facet = RevisitsFacet(POLICY)
    CatalogWriter(db, facets=[]).write([_visit("http://x/a", m, "d1") for m in range(3)])  # before the facet
    CatalogWriter(db, facets=[facet]).write([_visit("http://x/a", 3, "d2")])
    row = db.one("SELECT visits, changes, every, last_change FROM revisits WHERE url = 'http://x/a'")
    assert row == {"visits": 4, "changes": 1, "every": POLICY.visited(POLICY.visited(POLICY.visited(
        POLICY.visited(None, 0, "d1"), 60, "d1"), 120, "d1"), 180, "d2").interval,
        "last_change": "2026-12-07T10:03:00+00:00"}
    CatalogWriter(db, facets=[facet]).write([_visit("http://x/a", 4, "d2")])  # in order: folded onto the row
    CatalogWriter(db, facets=[facet]).write((), [failure_row({"url": "http://x/a", "timestamp":
                                                              "2026-12-07T10:01:30+00:00", "stage": "plain",
                                                              "error": "ConnectionRefused"}, Gateways())])
    assert db.one("SELECT visits, failures FROM revisits") == {"visits": 5, "failures": 1}  # out of order: refolded


def test_a_down_host_whose_probe_is_gone_is_probed_by_its_next_url() -> None:
    schedule = RevisitSchedule(POLICY)
    for url in ("http://x/a", "http://x/b"):
        schedule.visited(url, 0, 0.0, "a")
    schedule.pop_due(10.0)
    schedule.failed("http://x/a", 0, 11.0, "ConnectionRefused")
    schedule.failed("http://x/b", 0, 11.0, "ConnectionRefused")
    probe = schedule.hosts["x"].probe_url
    other = "http://x/a" if probe == "http://x/b" else "http://x/b"
    schedule.hand_off(probe)  # gone from this schedule
    assert schedule.pop_due(21.0) == [(other, 0)] and schedule.hosts["x"].probe_url == other
    schedule.failed(other, 0, 22.0, "ConnectionRefused")
    assert schedule.due(other) == 22.0 + 2 * POLICY.probe  # its failure doubles the wait, as a probe's


def test_a_gated_visit_saw_the_host_not_the_page() -> None:
    schedule = RevisitSchedule(POLICY)
    schedule.visited("http://x/a", 0, 0.0, "a")
    before = schedule.state("http://x/a")
    assert schedule.failed("http://x/a", 0, 10.0, GATED) == "neutral"
    assert schedule.state("http://x/a") == before and schedule.due("http://x/a") == 20.0
    assert schedule.hosts["x"].failures == 0


def test_the_facet_does_not_count_a_gate_as_a_change(tmp_path: Path) -> None:
    db = CatalogDB.open(str(tmp_path / "catalog.sqlite"))
    writer = CatalogWriter(db)
    gate = _visit("http://x/a", 1, "queue")
    gate.gate = {"kind": "queue", "evidence": "please wait", "wait": 5}
    writer.write([_visit("http://x/a", 0, "d1"), gate, _visit("http://x/a", 2, "d1")])
    assert db.one("SELECT visits, changes FROM revisits") == {"visits": 2, "changes": 0}
    writer.write((), [failure_row({"url": "http://x/a", "timestamp": "2026-12-07T10:00:30+00:00", "stage": "plain",
                                   "error": "ConnectionRefused"}, Gateways())])  # refolded from the tables
    assert db.one("SELECT visits, changes, failures FROM revisits") == {"visits": 2, "changes": 0, "failures": 1}
