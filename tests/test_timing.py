"""Each attempt's connect time and time to first byte (darkcrawl/timing.py), in the headers
record and the failure record, through both transports: Twisted (direct) and httpx (SOCKS, Tor)."""

from __future__ import annotations

import json
import time

from darkcrawl.timing import AttemptClock
from tests.harness.http import HttpService, QuietHandler
from tests.harness.ports import free_port
from tests.test_tor import tor_settings

#: how long the slow page waits before its headers
HEADERS_DELAY = 0.4


class _Handler(QuietHandler):
    def do_GET(self) -> None:  # noqa: N802
        if self.path == "/slow":
            time.sleep(HEADERS_DELAY)
            self.send_body(200, b"<html><title>slow</title>late</html>")
        elif self.path == "/":
            self.send_body(200, b'<html><title>home</title><a href="/slow">slow</a> <a href="/b">b</a></html>')
        else:
            self.send_body(200, b"<html><title>b</title>b</html>")


class TimedSite(HttpService):
    handler_class = _Handler


def test_the_clock_in_milliseconds() -> None:
    clock = AttemptClock(started=100.0, connected=100.0123, first_byte=100.25)
    assert clock.as_record(ended=101.0) == {"connect_ms": 12, "ttfb_ms": 250, "elapsed_ms": 1000}
    assert AttemptClock(started=5.0).as_record(ended=5.5) == {"connect_ms": None, "ttfb_ms": None, "elapsed_ms": 500}


def test_direct_fetches_have_their_times(crawl) -> None:
    dead = free_port()
    with TimedSite() as site:
        result = crawl("-a", f"urls={site.url('/')},http://127.0.0.1:{dead}/",
                       settings={"DARC_REBOOT": 1, "RETRY_TIMES": 0, "DARKCRAWL_RENDER": 0})
    records = {r["[metadata]"]["url"]: r for r in result.headers_records()}
    home, slow = records[site.url("/")]["Timing"], records[site.url("/slow")]["Timing"]
    assert home["connect_ms"] is not None and home["connect_ms"] <= home["ttfb_ms"] <= home["elapsed_ms"]
    assert slow["ttfb_ms"] >= HEADERS_DELAY * 1000  # the wait before the headers is the first byte's
    failures = [json.loads(line) for line in (result.data / "misc" / "failures.jsonl").read_text().splitlines()]
    refused = next(f for f in failures if f["url"] == f"http://127.0.0.1:{dead}/" and f["stage"] == "plain")
    assert refused["timing"]["ttfb_ms"] is None and refused["timing"]["elapsed_ms"] is not None


def test_onion_fetches_time_their_circuit(tor_network, crawl) -> None:
    main, _other = tor_network.onions
    result = crawl("-a", f"urls={main.url}", settings=tor_settings(tor_network, DARC_REBOOT=1, DARKCRAWL_RENDER=0))
    timings = [r["Timing"] for r in result.headers_records() if r["[metadata]"]["url"].startswith(main.url)]
    assert timings, result.log[-2000:]
    # the first fetch of the onion made its circuit: tor's SOCKS answer is its connect time
    assert any(t["connect_ms"] is not None for t in timings), timings
    assert all(t["connect_ms"] is None or t["connect_ms"] <= t["ttfb_ms"] for t in timings), timings
