"""The crawl's report: exit codes (pure table and through the real commands), the
progress line and the end-of-crawl summary (text and JSON)."""

from __future__ import annotations

import json
import sys

import pytest

from darkcrawl.items import FailureItem, LinkMetadata, PageItem, RenderItem, TrapItem
from darkcrawl.report.outcome import ExitCode, exit_code
from darkcrawl.report.summary import build_summary, summary_lines
from darkcrawl.report.tally import CrawlTally
from tests.harness.ports import free_port as _closed_port  # nothing listens there once it is closed


@pytest.mark.parametrize(("stats", "reason", "expected"), [
    ({"darkcrawl/pages": 3}, "finished", ExitCode.OK),
    ({"darkcrawl/pages": 0}, "finished", ExitCode.NOTHING_FETCHED),
    ({}, "finished", ExitCode.NOTHING_FETCHED),
    ({"darkcrawl/pages": 3}, "config_error", ExitCode.CONFIG_ERROR),
    ({"darkcrawl/pages": 3}, "shutdown", ExitCode.INTERRUPTED),
    ({"darkcrawl/network/unavailable/tor": 2}, "shutdown", ExitCode.INTERRUPTED),
    ({"darkcrawl/pages": 3, "darkcrawl/network/unavailable/tor": 2}, "finished", ExitCode.OK),  # links only
    ({"darkcrawl/network/tor/ready": True, "darkcrawl/pages": 1}, "finished", ExitCode.OK),
    ({"darkcrawl/network/unavailable_seeds/i2p": 1}, "finished", ExitCode.NETWORK_UNAVAILABLE),
    ({"darkcrawl/pages": 1, "darkcrawl/network/unavailable/tor": 0}, "finished", ExitCode.OK),
    ({"darkcrawl/pages": 1}, "closespider_pagecount", ExitCode.OK),
    ({"darkcrawl/seeds/not_due": 3}, "finished", ExitCode.OK),
])
def test_exit_code_table(stats, reason, expected):
    assert exit_code(stats, reason) is expected


def _page(network: str, host: str, status: int) -> PageItem:
    return PageItem(link=LinkMetadata(url=f"http://{host}/", network=network, scheme="http", host=host),
                    timestamp="t", final_url=f"http://{host}/", method="GET", status=status, reason="",
                    content_type="text/html", request_headers={}, response_headers={})


def _tally() -> CrawlTally:
    tally = CrawlTally()
    for item in (
        _page("clearnet", "a.org", 200), _page("clearnet", "a.org", 404), _page("tor", "x.onion", 200),
        RenderItem(link=LinkMetadata(url="http://a.org/", network="clearnet", scheme="http", host="a.org"),
                   timestamp="t", final_url="http://a.org/"),
        FailureItem(url="http://dead.org/x", timestamp="t", network="clearnet", stage="plain",
                    reason="connection refused", error="ConnectionRefusedError"),
        FailureItem(url="http://dead.org/y", timestamp="t", network="clearnet", stage="plain",
                    reason="connection refused", error="ConnectionRefusedError"),
        FailureItem(url="http://a.org/z", timestamp="t", network="clearnet", stage="render",
                    reason="render deadline reached", error="RenderDeadline", partial=True),
        TrapItem(url="http://a.org/cal", host="a.org", trap="query_variants", timestamp="t"),
    ):
        tally.add(item)
    return tally


def test_tally_counts_by_network_and_hosts():
    tally = _tally()
    clear = tally.networks["clearnet"]
    assert (clear.pages, clear.renders, clear.failed) == (2, 1, 2)
    assert dict(clear.statuses) == {200: 1, 404: 1}
    assert clear.hosts_up == {"a.org"} and clear.hosts_down == 1  # a.org's render failure is not "down"
    assert tally.networks["tor"].pages == 1
    assert tally.failures[("plain", "ConnectionRefusedError")] == 2
    assert tally.examples["RenderDeadline"] == "render deadline reached"
    assert tally.traps["query_variants"] == 1


def test_summary_words_what_happened():
    stats = {"darkcrawl/pages": 3, "darkcrawl/api/pending": 4, "darkcrawl/backoff/entered": 1,
             "darkcrawl/network/unavailable/i2p": 2, "darkcrawl/network/unavailable_seeds/i2p": 1}
    summary = build_summary(stats, _tally(), "finished", exit_code(stats, "finished"), "/data")
    assert summary["exit_code"] == 3
    assert summary["networks"]["clearnet"]["status"] == {"200": 1, "404": 1}
    assert summary["failures"][0] == {"stage": "plain", "error": "ConnectionRefusedError", "count": 2,
                                      "example": "connection refused"}
    text = "\n".join(summary_lines(summary))
    assert "exit code 3" in text
    assert "clearnet: 2 pages (1×200, 1×404), 1 renders, 2 failed; hosts 1 up, 1 down" in text
    assert "i2p: network unavailable for 2 requests" in text
    assert "4 API payloads still spooled" in text
    assert "output: /data" in text
    assert "gates:" not in text  # no gate met: no line
    json.dumps(summary)  # JSON-ready


def test_summary_says_what_gates_were_met():
    stats = {"darkcrawl/pages": 5, "darkcrawl/gates/queue": 3, "darkcrawl/gates/captcha": 1,
             "darkcrawl/gates/passed": 2, "darkcrawl/gates/needs_person": 1}
    summary = build_summary(stats, _tally(), "finished", exit_code(stats, "finished"), "/data")
    assert summary["gates"] == {"pages": {"queue": 3, "captcha": 1}, "passed": 2, "banned": 0, "needs_person": 1,
                                "gave_up": 0}
    assert ("  gates: queue ×3, captcha ×1; 2 waited out, 1 hosts need a person (misc/hosts_gates.json)"
            in summary_lines(summary))


# -- through the real commands --------------------------------------------------------


def test_crawl_that_fetched_pages_exits_0_with_a_summary(darknet, crawl, tmp_path):
    result = crawl("-a", f"urls={darknet.url('other', '/')}",
                   settings={"DARKCRAWL_HOST_PAGE_LIMIT": 5, "DARKCRAWL_PROGRESS_INTERVAL": 0.2})
    assert result.returncode == 0, result.log[-3000:]
    summary = json.loads((result.data / "crawl-summary.json").read_text())
    assert summary["exit_code"] == 0 and summary["pages"] >= 1
    assert summary["networks"]["clearnet"]["pages"] == summary["pages"]
    assert "crawl finished (finished" in result.log
    assert result.stats["darkcrawl/exit_code"] == 0
    assert "Crawled " not in result.log  # Scrapy's line (renders counted as pages) is replaced


def test_every_seed_failing_exits_1(crawl):
    result = crawl("-a", f"urls=http://127.0.0.1:{_closed_port()}/", settings={"RETRY_TIMES": 0})
    assert result.returncode == ExitCode.NOTHING_FETCHED, result.log[-3000:]
    assert "exit code 1: nothing was fetched" in result.log


def test_loopback_refused_exits_1(crawl):
    result = crawl("-a", f"urls=http://127.0.0.1:{_closed_port()}/", env={"DARKCRAWL_ALLOW_LOOPBACK": "0"})
    assert result.returncode == ExitCode.NOTHING_FETCHED, result.log[-3000:]


def test_onion_without_tor_exits_3(crawl):
    onion = "http://2gzyxa5ihm7nsggfxnu52rck2vv4rvmdlkiu3zzui5du4xyclen53wid.onion/"
    result = crawl("-a", f"urls={onion}", settings={"TOR_WAIT": 1})
    assert result.returncode == ExitCode.NETWORK_UNAVAILABLE, result.log[-3000:]
    summary = json.loads((result.data / "crawl-summary.json").read_text())
    assert summary["networks_unavailable"].get("tor", 0) >= 1


def test_darkcrawl_command_has_the_same_exit_codes(crawl):
    result = crawl(f"http://127.0.0.1:{_closed_port()}/", settings={"RETRY_TIMES": 0},
                   command=[sys.executable, "-m", "darkcrawl"])
    assert result.returncode == ExitCode.NOTHING_FETCHED, result.log[-3000:]


# -- "nothing to crawl" only when nothing was given ----------------------------------


def test_seeds_all_fetched_already_say_so(darknet, crawl, tmp_path):
    seed = darknet.url("other", "/o1.html")
    first = crawl("-a", f"urls={seed}", settings={"DARKCRAWL_HOST_PAGE_LIMIT": 3, "TIME_CACHE": 3600})
    assert first.returncode == 0, first.log[-3000:]
    again = crawl("-a", f"urls={seed}", settings={"DARKCRAWL_HOST_PAGE_LIMIT": 3, "TIME_CACHE": 3600})
    assert "nothing to crawl: give" not in again.log
    assert "1 seeds were fetched already by this job (DARC_REBOOT=1)" in again.log, again.log[-3000:]
    assert again.returncode == 0  # nothing was due: not a failure


def test_seeds_refused_by_a_list_say_which(darknet, crawl):
    result = crawl("-a", f"urls={darknet.url('other', '/')}", settings={"LINK_BLACK_LIST": '["127\\\\.0\\\\.0\\\\.1.*"]'})
    assert "nothing to crawl: give" not in result.log
    assert "1 seeds refused: 1 by LINK_WHITE_LIST/LINK_BLACK_LIST" in result.log, result.log[-3000:]
    assert result.returncode == 1
