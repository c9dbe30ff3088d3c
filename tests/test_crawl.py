"""End to end: ``scrapy crawl darkweb`` over the local test web (tests/darknet)."""

from __future__ import annotations

import csv
import json
import sys
from urllib.parse import unquote

import pytest

from darkcrawl.storage.paths import url_hash
from tests.conftest import run_crawl
from tests.darknet import Darknet, sites


@pytest.fixture(scope="module")
def main_crawl(darknet, tmp_path_factory):
    """One crawl of the whole test web from main's index, shared by the checks below."""
    darknet.reset_hits()
    result = run_crawl(
        tmp_path_factory.mktemp("main"),
        "-a", f"urls={darknet.url('main', '/')}",
        settings={"DARKCRAWL_HOST_PAGE_LIMIT": 150},
    )
    hits = {name: darknet[name].hits for name in sites.SITE_NAMES}
    return result, hits


def test_crawl_finishes_cleanly(main_crawl):
    result, _ = main_crawl
    assert result.returncode == 0, result.log[-3000:]
    assert result.stats["finish_reason"] == "finished"
    assert "Traceback" not in result.log.replace("CannotResolveHostError", "")


def test_every_expected_page_is_fetched(main_crawl, darknet):
    _, hits = main_crawl
    for site, expected in sites.EXPECTED_FETCHED_PATHS.items():
        missing = {path for path in expected if hits[site][path] == 0}
        assert not missing, f"{site}: never fetched {sorted(missing)}"


def test_robots_disallowed_and_unlinked_pages_are_never_fetched(main_crawl):
    _, hits = main_crawl
    for site, paths in sites.EXPECTED_NEVER_FETCHED.items():
        for path in paths:
            assert hits[site][path] == 0, f"{site}{path} fetched"


def test_pages_are_fetched_once(main_crawl):
    _, hits = main_crawl
    for site, paths in sites.EXPECTED_FETCHED_ONCE.items():
        for path in paths:
            assert hits[site][path] == 1, f"{site}{path} fetched {hits[site][path]} times"
    repeated = {p: n for p, n in hits["main"].items() if n > 1 and p != "/error"}
    assert not repeated


def test_robots_txt_is_fetched_once_per_host(main_crawl):
    # the rules come from the bootstrap's fetch, which saves it too: one request per host
    _, hits = main_crawl
    fetched = {site: hits[site]["/robots.txt"] for site in sites.SITE_NAMES if hits[site]["/robots.txt"]}
    assert fetched and set(fetched.values()) == {1}, fetched


def test_sitemaps_from_robots_index_and_gzip(main_crawl, darknet):
    result, hits = main_crawl
    for path in sites.SITEMAP_ONLY_PATHS:
        assert hits["main"][path] == 1, path
    saved = result.files(f"clearnet/http/127.0.0.1_{darknet['main'].port}/sitemap_*.xml")
    assert len(saved) == 3  # index, plain, gzip (saved decompressed)
    gz_url = darknet.url("main", "/sitemap-more.xml.gz")
    gz_file = next(p for p in saved if p.name == f"sitemap_{url_hash(gz_url)}.xml")
    assert b"/sitemap-gz-only.html" in gz_file.read_bytes()


def test_robots_txt_saved_byte_for_byte(main_crawl, darknet):
    result, _ = main_crawl
    main_dir = result.data / "clearnet" / "http" / f"127.0.0.1_{darknet['main'].port}"
    assert b"Disallow: /private/" in (main_dir / "robots.txt").read_bytes()
    broken_dir = result.data / "clearnet" / "http" / f"127.0.0.1_{darknet['broken'].port}"
    assert len((broken_dir / "robots.txt").read_bytes()) == sites.BROKEN_ROBOTS_SIZE


def test_new_host_records(main_crawl, darknet):
    result, _ = main_crawl
    new_hosts = {item["url"]: item for item in result.items if "partial" in item and "sitemaps" in item}
    main_root = darknet.url("main", "/")
    assert set(new_hosts) >= {main_root, darknet.url("other", "/"), darknet.url("broken", "/")}
    main = new_hosts[main_root]
    assert main["robots"].endswith("/robots.txt") and len(main["sitemaps"]) == 3
    assert main["link"]["network"] == "clearnet" and main["partial"] is False
    assert new_hosts[darknet.url("other", "/")]["robots"] is None


def test_special_links_recorded_with_their_source(main_crawl, darknet):
    result, _ = main_crawl
    index = darknet.url("main", "/")
    for kind, values in sites.SPECIAL_LINKS.items():
        records = [r for r in result.misc(kind) if r["src"] == index]
        if kind == "data":
            saved = {(result.data / r["url"]).read_bytes() for r in records}
            assert saved >= set(values), kind
        else:
            recorded = {r["url"] for r in records}
            missing = {v for v in values if v not in recorded}
            assert not missing, f"{kind}: {missing} not in {recorded}"
    invalid = {r["url"]: r["reason"] for r in result.misc("invalid")}
    assert invalid[sites.ONION_V2].startswith("v2 onion")
    assert "malformed onion address" in invalid[sites.ONION_V3_MALFORMED]


def test_text_patterns(main_crawl, darknet):
    result, hits = main_crawl
    assert {f"mailto:{e}" for e in sites.TEXT_EMAILS} <= {r["url"] for r in result.misc("mail")}
    assert set(sites.TEXT_BITCOIN) <= {r["url"] for r in result.misc("bitcoin")}
    everything = json.dumps([result.misc(k) for k in ("ethereum", "bitcoin", "invalid")])
    for value in sites.NOT_RECORDED:
        assert value not in everything
    assert hits["main"]["/text-only.html"] == 1


def test_onion_links_fail_closed_without_tor(main_crawl):
    result, _ = main_crawl
    assert result.stats.get("darkcrawl/network/unavailable/tor", 0) >= 1
    assert not result.files("tor/**/*.json")


def test_redirect_history_and_cookies(main_crawl, darknet):
    result, _ = main_crawl
    url = darknet.url("main", "/redirect")
    record = next(r for r in result.headers_records() if r["[metadata]"]["url"] == url)
    assert record["URL"] == darknet.url("main", "/redirected.html")
    assert [hop["Status-Code"] for hop in record["History"]] == [301, 302]
    assert record["History"][0]["Cookies"] == {"hop": "1"}
    assert record["History"][0]["URL"] == url
    page1 = next(r for r in result.headers_records() if r["[metadata]"]["url"] == darknet.url("main", "/page1.html"))
    assert {c["name"]: c["value"] for c in page1["Cookies"]} == {"session": "abc"}


def test_error_pages_and_binaries_are_kept(main_crawl, darknet):
    result, _ = main_crawl
    by_url = {r["[metadata]"]["url"]: r for r in result.headers_records()}
    assert by_url[darknet.url("main", "/missing")]["Status-Code"] == 404
    assert by_url[darknet.url("main", "/error")]["Status-Code"] == 500
    pdf = by_url[darknet.url("main", "/binary.pdf")]
    assert pdf["Content-Type"] == "application/pdf" and pdf["Document"].endswith(".pdf")
    assert (result.data / pdf["Document"]).read_bytes().startswith(b"%PDF-1.4")
    png = by_url[darknet.url("main", "/image.png")]
    if png["Document"] is None:  # /img-1x.png (same bytes) came first: stored under it
        png = by_url[png["Duplicate-Of"]]
    assert (result.data / png["Document"]).read_bytes() == sites.PNG_1X1


def test_encodings_and_broken_html(main_crawl):
    _, hits = main_crawl
    for path in ("/broken-target.html", "/latin1-target.html", "/nocharset-target.html", "/badbytes-target.html",
                 "/base-target/child.html", "/form-target", "/img-2x.png", "/pic-b.webp"):
        assert hits["main"][path] == 1, path


def test_huge_page_costs_only_that_page(main_crawl):
    result, hits = main_crawl
    assert hits["main"]["/huge.html"] >= 1
    assert hits["main"]["/after-huge.html"] == 0
    assert sum(v for k, v in result.stats.items() if k.startswith("darkcrawl/fetch_error/")) >= 1


def test_traps_are_bounded(main_crawl):
    result, hits = main_crawl
    trap = sum(n for p, n in hits["main"].items() if p.startswith(sites.TRAP_PREFIXES))
    assert 0 < trap < 150
    assert result.stats.get("darkcrawl/refused/host_budget", 0) + result.stats.get(
        "darkcrawl/refused/repeated_path_segment", 0) > 0


def test_link_csv(main_crawl, darknet):
    result, hits = main_crawl
    with open(result.data / "link.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["proxy", "scheme", "host", "hash", "link", "source", "timestamp"]
    links = {unquote(r["link"]) for r in rows}
    assert darknet.url("main", "/page2.html") in links
    row = next(r for r in rows if unquote(r["link"]) == darknet.url("main", "/page2.html"))
    assert unquote(row["source"]) == darknet.url("main", "/")
    assert row["hash"] == url_hash(darknet.url("main", "/page2.html")) and row["proxy"] == "clearnet"
    pages = result.stats["darkcrawl/pages"]
    sitemaps = len(result.files("clearnet/http/*/sitemap_*.xml"))
    assert len(rows) == pages + sitemaps


def test_items_export_as_json_lines(main_crawl):
    result, _ = main_crawl
    pages = [i for i in result.items if "final_url" in i]
    assert len(pages) == result.stats["darkcrawl/pages"]
    assert all(set(p["body"]) == {"size", "sha256"} for p in pages)


def test_force_ignores_robots(darknet, crawl):
    darknet.reset_hits()
    result = crawl("-a", f"urls={darknet.url('main', '/')}",
                   settings={"DARKCRAWL_HOST_PAGE_LIMIT": 60}, env={"DARC_FORCE": "1"})
    assert result.returncode == 0
    assert darknet["main"].hits["/private/secret.html"] == 1


def test_seed_file_with_bad_lines(darknet, crawl, tmp_path):
    seeds = tmp_path / "seeds.txt"
    seeds.write_text(f"# test\nnot a url\n{darknet.url('other', '/')}\nftp://x.org/\n")
    darknet.reset_hits()
    result = crawl("-a", f"seeds={seeds}", settings={"LINK_WHITE_LIST": json.dumps([r"127\.0\.0\.1:%d" % darknet["other"].port])})
    assert result.returncode == 0
    assert f"{seeds}:2: no scheme" in result.log
    assert f"{seeds}:4: unsupported scheme 'ftp'" in result.log
    assert darknet["other"].hits["/o1.html"] == 1
    assert darknet["main"].hits["/"] == 0  # other links to main, but the white list excludes it
    assert result.stats["darkcrawl/refused/host"] >= 1


def test_missing_seed_file_is_a_clear_error(crawl, tmp_path):
    result = crawl("-a", f"seeds={tmp_path / 'nope.txt'}")
    assert result.returncode != 0
    assert f"seeds file not found: {tmp_path / 'nope.txt'}" in result.log


def test_malformed_environment_stops_start_up(crawl, darknet):
    result = crawl("-a", f"urls={darknet.url('other', '/')}", env={"LINK_BLACK_LIST": "[not json"})
    assert result.returncode != 0
    assert "LINK_BLACK_LIST='[not json': invalid JSON" in result.log
    assert not result.data.exists()  # stopped before anything was crawled


def test_mime_black_list(darknet, crawl):
    result = crawl("-a", f"urls={darknet.url('main', '/srcset.html')}", settings={"MIME_BLACK_LIST": '["image/.*"]', "DARKCRAWL_HOST_PAGE_LIMIT": 40})
    assert result.returncode == 0
    assert not result.files("clearnet/http/*/*.png")
    assert result.stats["darkcrawl/refused/mime"] >= 1


def test_continuous_mode_revisits_when_due(darknet, crawl):
    darknet.reset_hits()
    result = crawl("-a", f"urls={darknet.url('other', '/')}",
                   settings={"DARC_REBOOT": 0, "TIME_CACHE": 1, "DARC_WAIT": 1, "CLOSESPIDER_TIMEOUT": 6,
                             "LINK_WHITE_LIST": json.dumps([r"127\.0\.0\.1:%d" % darknet["other"].port])})
    assert result.stats["finish_reason"] == "closespider_timeout"
    assert darknet["other"].hits["/o1.html"] >= 2
    assert result.stats["darkcrawl/revisits"] >= 2


def test_darc_command_line(darknet, crawl, tmp_path):
    seeds = tmp_path / "seeds.txt"
    seeds.write_text(darknet.url("other", "/") + "\n")
    darknet.reset_hits()
    result = crawl("-f", str(seeds), command=[sys.executable, "-m", "darkcrawl"],
                   settings={"LINK_WHITE_LIST": json.dumps([r"127\.0\.0\.1:%d" % darknet["other"].port])})
    assert result.returncode == 0, result.log[-2000:]
    assert darknet["other"].hits["/o1.html"] == 1
    assert (result.data / "link.csv").exists()


def test_root_is_always_allowed_by_robots(tmp_path, crawl):
    root = tmp_path / "static"
    (root / "other").mkdir(parents=True)
    (root / "other" / "robots.txt").write_text("User-agent: *\nDisallow: /\n")
    with Darknet(root=root) as net:
        result = crawl("-a", f"urls={net.url('other', '/')}",
                       settings={"LINK_WHITE_LIST": json.dumps([r"127\.0\.0\.1:%d" % net["other"].port])})
        hits = net["other"].hits
    assert result.returncode == 0
    assert hits["/"] == 1 and hits["/o1.html"] == 0
    assert result.stats["robotstxt/forbidden"] >= 1


def test_depth_limit_and_dead_server(darknet, crawl):
    darknet.reset_hits()
    result = crawl("-a", f"urls={darknet.url('main', '/')},http://127.0.0.1:1/",
                   settings={"DEPTH_LIMIT": 1})
    hits = darknet["main"].hits
    assert result.returncode == 0
    assert hits["/trap/0"] == 1 and hits["/trap/1"] == 0  # depth 1 and 2
    assert result.stats["darkcrawl/refused/depth"] >= 1
    # the dead server's page failed with a reason: refused, or given up once its robots.txt was
    failures = [json.loads(line) for line in (result.data / "misc" / "failures.jsonl").read_text().splitlines()]
    dead = [f for f in failures if f["url"] == "http://127.0.0.1:1/" and f["stage"] == "plain"]
    assert dead and "refused" in dead[0]["reason"].lower(), failures
