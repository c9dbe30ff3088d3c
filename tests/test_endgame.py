"""A DDoS-protected site (tests/endgame: EndGame's queue, cookie, ban on early return,
rate limits, captcha) crawled by ``scrapy crawl darkweb`` on the clear web: the crawl
waits the queue out as it asks and gets behind it with no ban, both stages; a ban is
recognised and started afresh; a queue that never opens ends with its reason; a captcha
needs a person, and cookies imported for the host open it.  Through the private Tor
network: tests/test_endgame_tor.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

from tests.components import needs
from tests.conftest import ROOT, CrawlResult
from tests.endgame import PAGES, EndGameSite
from tests.harness.ports import loopback_address

DELAY = 2.0
#: the pages of the site behind the gate (its robots.txt, stylesheet and image too)
HTML_PAGES = {path for path, (kind, _body) in PAGES.items() if kind.startswith("text/html")}


def host(index: int) -> str:
    return loopback_address((127, 0, 41), index)


def gate_records(result: CrawlResult) -> list[dict]:
    return [r for r in result.headers_records() if "Gate" in r]


def page_records(result: CrawlResult) -> dict[str, dict]:
    """The headers records of the pages behind the gate, by path."""
    return {urlsplit(r["URL"]).path or "/": r for r in result.headers_records() if "Gate" not in r}


def check_waited(site: EndGameSite) -> None:
    """Every cookie a queue page set came back no sooner than the page asked, and nothing
    was banned or killed."""
    assert not site.bans(), site.bans()
    returns = site.returns()
    assert returns, "no queue cookie ever came back"
    for queue, back in returns:
        assert back.at - queue.at >= site.delay, (queue, back)
    assert not [v for v in site.visits if v.path == f"/{site.delay:g}"]  # the refresh's delay is no link


@needs("chromium")
def test_the_crawl_waits_the_queue_out_and_gets_behind_it_with_no_ban(crawl):
    with EndGameSite(host(1), delay=DELAY) as site:
        result = crawl("-a", f"urls={site.url('/')}", settings={"DARKCRAWL_RENDER": 1}, timeout=240)
    assert result.returncode == 0, result.log[-3000:]
    check_waited(site)
    content = {v.path for v in site.served("content")}
    assert HTML_PAGES | {"/robots.txt", "/static/logo.png", "/static/site.css"} <= content
    # the gate page: saved as the evidence, recorded as a gate, never rendered or followed
    [gate] = gate_records(result)
    assert gate["Gate"]["kind"] == "queue" and gate["Gate"]["wait"] == DELAY
    assert gate["Gate"]["action"] == "wait" and gate["Gate"]["evidence"].startswith("queue page")
    assert gate["Rendered"] is None and not gate.get("Duplicate-Of")
    assert b"placed in a queue" in (result.data / gate["Document"]).read_bytes()
    # the pages behind it: saved, none a duplicate of another, each rendered with the queue's cookie
    pages = page_records(result)
    assert HTML_PAGES <= set(pages)
    for path in HTML_PAGES:
        record = pages[path]
        assert record["Status-Code"] == 200 and not record.get("Duplicate-Of"), path
        assert record["Rendered"] and record["Rendered"]["Screenshot"], path
        rendered = (result.data / record["Rendered"]["Document"]).read_text()
        assert "placed in a queue" not in rendered and PAGES[path][1].decode().split("<h1>")[1][:8] in rendered, path
    assert result.stats["darkcrawl/gates/queue"] >= 1 and result.stats["darkcrawl/gates/passed"] >= 1
    assert "darkcrawl/gates/banned" not in result.stats
    # the gate is in the host's state file
    state = json.loads((result.data / "misc" / "hosts_gates.json").read_text())
    [row] = state["hosts"]
    assert (row["gate"], row["state"], row["passed"], row["bans"]) == ("queue", "open", 1, 0)


def test_without_gates_the_crawl_is_banned_at_once(crawl):
    """The issue's measurement, kept as the control: the queue page taken for content, its
    cookie sent back long before the delay, and the circuit killed."""
    with EndGameSite(host(2), delay=DELAY) as site:
        result = crawl("-a", f"urls={site.url('/')}", settings={"DARKCRAWL_GATES": 0})
    assert result.returncode == 0, result.log[-3000:]
    assert site.served("early") or site.served("banned")
    assert not site.served("content")


def test_a_ban_is_recognised_and_a_fresh_start_gets_behind_it(crawl):
    with EndGameSite(host(3), delay=DELAY, ban_first_cookie=True) as site:
        result = crawl("-a", f"urls={site.url('/')}", settings={"DARKCRAWL_GATE_BAN_WAIT": 1})
    assert result.returncode == 0, result.log[-3000:]
    banned = site.served("banned")
    assert len(banned) == 1  # the ban page, once: the banned cookie was dropped, not sent again
    assert not [v for v in site.visits[site.visits.index(banned[0]) + 1:] if v.cookie == banned[0].cookie]
    assert HTML_PAGES <= {v.path for v in site.served("content")}
    kinds = sorted(r["Gate"]["kind"] for r in gate_records(result))
    assert kinds == ["ban", "queue", "queue"]
    assert result.stats["darkcrawl/gates/banned"] == 1 and result.stats["darkcrawl/gates/passed"] == 1
    assert "banned us (EndGame ban page" in result.log


def test_a_queue_that_never_opens_ends_with_its_reason(crawl):
    with EndGameSite(host(4), delay=1.0, never_open=True) as site:
        result = crawl("-a", f"urls={site.url('/')}",
                       settings={"DARKCRAWL_GATE_MAX_ROUNDS": 2, "DARKCRAWL_GATE_MARGIN": 0.2})
    assert not site.bans()
    assert len(site.served("queue")) <= 2 + 1 + 2  # the first page, two rounds, and the host's first requests
    failures = [json.loads(line) for line in (result.data / "misc" / "failures.jsonl").read_text().splitlines()]
    gave_up = [f for f in failures if f["error"] == "GateGaveUp"]
    assert gave_up and gave_up[0]["reason"].startswith("behind a gate: still gated after 3 rounds over")
    refused = [f for f in failures if f["error"] == "HostGateGaveUp"]
    assert refused and "still gated after 3 rounds" in refused[0]["reason"]
    assert result.stats["darkcrawl/gates/gave_up"] == 1
    assert f"Host clearnet@{site.host}:{site.port} given up: still gated after 3 rounds" in result.log


def cookies_import(data: Path, hostname: str, exported: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "scrapy", "cookies", "import", hostname, str(exported),
                           "-s", f"PATH_DATA={data}"], cwd=ROOT, capture_output=True, text=True, timeout=60,
                          env={**os.environ})


@needs("chromium")
def test_a_captcha_needs_a_person_and_imported_cookies_open_it(crawl, tmp_path):
    with EndGameSite(host(5), delay=DELAY, captcha=True) as site:
        first = crawl("-a", f"urls={site.url('/')}")
        assert first.returncode == 0, first.log[-3000:]
        check_waited(site)
        assert site.served("captcha") and not site.served("content")
        captcha = [r for r in gate_records(first) if r["Gate"]["kind"] == "captcha"]
        assert captcha and captcha[0]["Gate"]["action"] == "person"
        assert first.stats["darkcrawl/gates/needs_person"] == 1
        assert f"Host clearnet@{site.host}:{site.port} needs a person" in first.log
        assert f"`scrapy cookies import {site.host} FILE`" in first.log
        # the crawl did not fetch every page into the captcha: one captcha page, the rest refused
        assert len(site.served("captcha")) == 1
        failures = [json.loads(line) for line in (first.data / "misc" / "failures.jsonl").read_text().splitlines()]
        assert any(f["error"] == "HostNeedsPerson" and "needs a person (captcha" in f["reason"] for f in failures)

        # a person solves it in a browser and exports the cookie
        exported = tmp_path / "cookies.txt"
        exported.write_text(f"# Netscape HTTP Cookie File\n{site.host}\tFALSE\t/\tFALSE\t0\tdcap\t"
                            f"{site.solved_cookie()}\n")
        imported = cookies_import(first.data, site.host, exported)
        assert imported.returncode == 0, imported.stderr
        site.visits.clear()
        # the next visit: a new round (JOBDIR in memory), the same PATH_DATA, both stages
        second = crawl("-a", f"urls={site.url('/')}", settings={"JOBDIR": "", "DARKCRAWL_RENDER": 1}, timeout=240)
    assert second.returncode == 0, second.log[-3000:]
    assert not site.bans() and not site.served("captcha") and not site.served("queue")
    assert HTML_PAGES | {"/static/logo.png"} <= {v.path for v in site.served("content")}
    pages = page_records(second)
    assert all(pages[path]["Rendered"] for path in HTML_PAGES)
    assert second.stats["darkcrawl/cookies/imported_used"] >= 1


def test_a_gate_the_cheap_test_misses_is_read_once_the_page_is_parsed(crawl):
    """A captcha page with a plain title, no refresh and 20 KB of inline style: the gate
    middleware's cheap test lets it by, the spider reads it once parsed (its visible text
    is short) and records it as a gate, not as the host's content."""
    from tests.gateways import FakeGateway

    style = "<style>" + ".c{margin:0 auto;padding:4px}" * 800 + "</style>"
    captcha = (f"<html><head><title>Welcome</title>{style}</head><body><p>Prove that you are human: select "
               f"the time shown on the clock.</p><form method=post><select name=cap><option>01</option></select>"
               f'<button>Verify</button></form><a href="/hidden.html">x</a></body></html>').encode()
    assert len(captcha) > 16384
    with FakeGateway({"/": (200, "text/html", captcha), "/hidden.html": (200, "text/html", b"<html>x</html>")}) as site:
        result = crawl("-a", f"urls=http://127.0.0.1:{site.port}/")
        hits = dict(site.hits)
    assert result.returncode == 0, result.log[-3000:]
    [gate] = gate_records(result)
    assert gate["Gate"]["kind"] == "captcha" and gate["Gate"]["action"] == "person"
    assert result.stats["darkcrawl/gates/late"] == 1
    assert "/hidden.html" not in hits  # a gate's links are not followed
    pages = [item for item in result.items if item["item_type"] == "page"]
    assert [item["gate"]["kind"] for item in pages if item["gate"]] == ["captcha"]
    assert all(item["links"] == [] and item["text"] is None for item in pages if item["gate"])


def test_without_the_pace_the_rate_limit_bans(crawl):
    """The control of the pace: behind the same queue, with DARKCRAWL_GATE_RATE=0 and the
    tests' 8 requests at once per host, the front's rate limit (here 2 a second, 2 more at
    once) bans the cookie; the paced crawls above never met it."""
    with EndGameSite(host(6), delay=1.0, rate=2.0, burst=2) as site:
        crawl("-a", f"urls={site.url('/')}", settings={"DARKCRAWL_GATE_RATE": 0, "DARKCRAWL_GATE_MAX_ROUNDS": 1,
                                                         "DARKCRAWL_GATE_BAN_WAIT": 1})
    assert site.served("rate-limited")
