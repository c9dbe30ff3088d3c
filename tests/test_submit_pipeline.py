"""The submission pipeline in real crawls of the test web, POSTing to a real local API.

What is guaranteed (and checked here, kill -9 included): every payload is written
to the spool before it is sent, and its file is deleted only after a 2xx, so each
payload is delivered or still spooled, never lost.  Delivery is at least once:
a payload the API had received when the crawl died (POST in flight, no 2xx seen
yet, or 2xx seen but file not yet deleted) is sent again with the same
``Idempotency-Key``; the API's deduplication by that key (tests/apiserver.py)
makes it exactly once from the API's side.
"""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from darkcrawl.storage.paths import timestamp_token, url_hash
from darkcrawl.submission.spool import Spool
from tests.apiserver import ApiServer
from tests.conftest import ROOT, CrawlResult, logged_at, run_crawl
from tests.conftest import crawl_argv as conftest_crawl_argv

PAGE_LIMIT = 150
#: DARKCRAWL_API_MAX_INFLIGHT of the dead-API test: POSTs a round can fail at most
MAX_INFLIGHT = 16


@pytest.fixture
def api():
    with ApiServer() as server:
        yield server


def api_settings(api: ApiServer, **more: Any) -> dict[str, Any]:
    return {"API_REQUESTS": api.url("requests"), "API_NEW_HOST": api.url("new_host"),
            "DARKCRAWL_HOST_PAGE_LIMIT": PAGE_LIMIT, **more}


def crawl(tmp_path: Path, darknet: Any, settings: dict[str, Any]) -> CrawlResult:
    return run_crawl(tmp_path, "-a", f"urls={darknet.url('main', '/')}", settings=settings)


def page_keys(data: Path) -> set[str]:
    """Stems of the headers files the storage pipeline wrote: one per fetched page,
    the same ``<sha256>_<ts>`` as the page's ``requests`` payload key."""
    return {p.stem for p in data.glob("*/*/*/*.json")}


def new_host_items(result: CrawlResult) -> list[dict[str, Any]]:
    return [item for item in result.items if "partial" in item and "sitemaps" in item]


def new_host_key(item: dict[str, Any]) -> str:
    return f"{url_hash(item['link']['url'])}_{timestamp_token(datetime.fromisoformat(item['timestamp']))}"


def spooled_keys(data: Path) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for event, path in Spool(data).pending():
        found.setdefault(event, set()).add(path.stem)
    return found


def rate(api: ApiServer) -> float:
    span = api.arrivals[-1] - api.arrivals[0] if len(api.arrivals) > 1 else 0.0
    return len(api.arrivals) / span if span else float("inf")


def test_every_page_and_host_arrives(tmp_path: Path, darknet: Any, api: ApiServer) -> None:
    result = crawl(tmp_path, darknet, api_settings(api))
    assert result.returncode == 0, result.log[-3000:]
    pages = page_keys(result.data)
    assert len(pages) == result.stats["darkcrawl/pages"] > 100
    assert api.keys("requests") == pages
    hosts = new_host_items(result)
    assert len(hosts) >= 3
    assert api.keys("new_host") == {new_host_key(item) for item in hosts}
    assert not api.duplicates and api.failed == 0
    stats = result.stats
    for event, count in (("requests", len(pages)), ("new_host", len(hosts))):
        assert stats[f"darkcrawl/api/{event}/spooled"] == stats[f"darkcrawl/api/{event}/delivered"] == count
        assert f"darkcrawl/api/{event}/failed" not in stats
    assert stats["darkcrawl/api/pending"] == 0
    assert not any(p.is_file() for p in (result.data / "api").rglob("*"))  # delivered, and pruned

    # the payloads are darc's, with the saved bytes in them (a duplicate's were sent
    # with the URL that had them first, darkcrawl/seen/content.py)
    by_url = {p["URL"]: p for p in api.received["requests"].values()}
    for payload in api.received["requests"].values():
        if payload["Document"] is None:
            assert by_url[payload["Duplicate-Of"]]["Document"]
            continue
        document = base64.b64decode(payload["Document"]["data"])
        assert (result.data / payload["Document"]["path"]).read_bytes() == document
        assert payload["[metadata]"]["name"] == url_hash(payload["URL"])
    redirect = by_url[darknet.url("main", "/redirect")]
    assert [hop["Status-Code"] for hop in redirect["History"]] == [301, 302]
    main = next(p for p in api.received["new_host"].values() if p["URL"] == darknet.url("main", "/"))
    assert base64.b64decode(main["Robots"]["data"]) == (result.data / main["Robots"]["path"]).read_bytes()
    assert len(main["Sitemaps"]) == 3 and main["$FORCE$"] is main["$RELOAD$"] is False
    print(f"\n{api.count()} payloads delivered at {rate(api):.0f}/s during the crawl "
          f"({stats['elapsed_time_seconds']:.2f} s crawl)")


def test_retries_bring_everything_through_a_failing_api(tmp_path: Path, darknet: Any, api: ApiServer) -> None:
    api.fail_next(3)
    result = crawl(tmp_path, darknet, api_settings(api, API_RETRY=3))
    assert result.returncode == 0, result.log[-3000:]
    assert api.failed == 3
    assert api.keys("requests") == page_keys(result.data)
    assert api.keys("new_host") == {new_host_key(item) for item in new_host_items(result)}
    retried = sum(v for k, v in result.stats.items() if k.endswith("/retried"))
    assert retried == 3
    assert not any(k.endswith("/failed") for k in result.stats)
    assert result.stats["darkcrawl/api/pending"] == 0


def test_without_api_urls_payloads_stay_spooled(tmp_path: Path, darknet: Any, api: ApiServer) -> None:
    result = crawl(tmp_path, darknet, {"DARKCRAWL_HOST_PAGE_LIMIT": PAGE_LIMIT})
    assert result.returncode == 0, result.log[-3000:]
    spooled = spooled_keys(result.data)
    assert spooled["requests"] == page_keys(result.data)
    assert spooled["new_host"] == {new_host_key(item) for item in new_host_items(result)}
    stats = result.stats
    assert stats["darkcrawl/api/requests/kept"] == stats["darkcrawl/api/requests/spooled"] == len(spooled["requests"])
    # darc's layout: api/<YYYY-MM-DD>/<proxy>/<scheme>/<host>/<event>/<sha256>_<ts>.json
    path = next(iter((result.data / "api").glob("*/clearnet/http/*/requests/*.json")))
    payload = json.loads(path.read_bytes())
    assert path.parts[-6] == payload["Timestamp"][:10]
    assert path.stem.split("_")[0] == payload["[metadata]"]["name"]
    assert set(payload) - {"Duplicate-Of", "Content-Digest", "Timing"} == {"[metadata]", "Timestamp", "URL", "Method", "Status-Code", "Reason",
                                               "Cookies", "Session", "Request", "Response", "Content-Type",
                                               "Document", "History"}
    # kept for later, a payload names its saved document instead of carrying a second copy of it
    assert payload["Document"]["data"] is None and payload["Document"]["$file"] == payload["Document"]["path"]
    assert path.stat().st_size < (result.data / payload["Document"]["path"]).stat().st_size + 8192
    # ... and `scrapy resubmit` sends darc's payload, the document in it
    done = resubmit(result.data, f"API_REQUESTS={api.url('requests')}", f"API_NEW_HOST={api.url('new_host')}")
    assert done.returncode == 0, done.stdout + done.stderr
    assert api.keys("requests") == spooled["requests"]
    for sent in api.received["requests"].values():
        if sent["Document"] is not None:
            assert set(sent["Document"]) == {"path", "data"}
            assert base64.b64decode(sent["Document"]["data"]) == (result.data / sent["Document"]["path"]).read_bytes()
    hosts = list(api.received["new_host"].values())
    assert hosts and all(set(h["Robots"]) == {"path", "data"} for h in hosts if h["Robots"])


def test_no_spool_without_api_when_asked(tmp_path: Path, darknet: Any, api: ApiServer) -> None:
    # only API_REQUESTS is set: requests payloads are spooled and sent, the others not kept
    result = crawl(tmp_path, darknet, {"DARKCRAWL_HOST_PAGE_LIMIT": 20, "DARKCRAWL_SPOOL_WITHOUT_API": 0,
                                       "API_REQUESTS": api.url("requests")})
    assert result.returncode == 0, result.log[-3000:]
    assert "new_host" not in spooled_keys(result.data)
    assert result.stats["darkcrawl/api/new_host/not_spooled"] >= 1
    assert "darkcrawl/api/new_host/spooled" not in result.stats
    assert result.stats["darkcrawl/api/requests/delivered"] == len(page_keys(result.data))


def test_api_back_during_the_crawl(tmp_path: Path, darknet: Any, api: ApiServer) -> None:
    """Down when the crawl starts, up a little later: the backlog goes out in the same run."""
    api.down()
    outcome: list[CrawlResult] = []
    watcher = SpoolWatcher(tmp_path / "data")
    watcher.start()
    runner = threading.Thread(target=lambda: outcome.append(crawl(tmp_path, darknet, api_settings(
        api, API_RETRY=1, DOWNLOAD_DELAY="0.02", CONCURRENT_REQUESTS_PER_DOMAIN="2"))))
    runner.start()
    try:
        assert api.wait_for(lambda: watcher.current >= 20, timeout=60)  # payloads pile up
    finally:
        watcher.stop()
    time.sleep(1.0)  # the first ones have used their attempts by now
    api.up()
    runner.join()
    result = outcome[0]
    assert result.returncode == 0, result.log[-3000:]
    assert result.stats["darkcrawl/api/requests/retried"] >= 1
    assert result.stats["darkcrawl/api/pending"] == 0
    assert api.keys("requests") == page_keys(result.data)
    assert api.keys("new_host") == {new_host_key(item) for item in new_host_items(result)}


def resubmit(data: Path, *settings: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "scrapy", "resubmit", "-s", f"PATH_DATA={data}"]
    for setting in settings:
        argv += ["-s", setting]
    env = {k: v for k, v in os.environ.items() if not k.startswith("API_")}
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=120, env=env)


def down_rounds(log: str, event: str) -> list[int]:
    """The cool-downs (s) the pipeline announced for *event*: one per round of failed POSTs."""
    return [int(s) for s in re.findall(rf"API {event} unreachable \(.*?\): payloads stay spooled, "
                                       r"retrying in (\d+) s", log)]


def close_seconds(log: str) -> float:
    """From Scrapy's "Closing spider" to its "Spider closed"."""
    return (logged_at(log, "Spider closed") - logged_at(log, "Closing spider")).total_seconds()


def test_api_down_for_the_whole_crawl_then_resubmit(tmp_path: Path, darknet: Any, api: ApiServer) -> None:
    api.down()
    result = crawl(tmp_path, darknet, api_settings(api, API_RETRY=2, DARKCRAWL_API_CLOSE_TIMEOUT=120,
                                                   DARKCRAWL_API_MAX_INFLIGHT=MAX_INFLIGHT))
    assert result.returncode == 0, result.log[-3000:]
    pages, hosts = page_keys(result.data), {new_host_key(i) for i in new_host_items(result)}
    assert spooled_keys(result.data) == {"requests": pages, "new_host": hosts}
    stats = result.stats
    assert stats["darkcrawl/api/pending"] == len(pages) + len(hosts)
    assert "darkcrawl/api/requests/delivered" not in stats
    # A dead API costs a round of attempts per cool-down (5 s doubling to 60 s) and
    # one more at close, then payloads just stay spooled: however long the crawl
    # takes, each round (announced in the log) fails at most the POSTs in flight.
    for event in ("requests", "new_host"):
        rounds = down_rounds(result.log, event)
        assert rounds == [min(60, 5 * 2**k) for k in range(len(rounds))] and rounds, (event, rounds)
        assert stats[f"darkcrawl/api/{event}/failed"] <= MAX_INFLIGHT * len(rounds), (event, rounds)
    # the close does not wait out its bound (120 s) for an API that stays dead
    assert close_seconds(result.log) < 120, result.log[-3000:]

    down = resubmit(result.data, f"API_REQUESTS={api.url('requests')}", f"API_NEW_HOST={api.url('new_host')}")
    assert down.returncode == 1, down.stdout + down.stderr
    assert sum(len(v) for v in spooled_keys(result.data).values()) == len(pages) + len(hosts)

    api.up()
    partial = resubmit(result.data, f"API_REQUESTS={api.url('requests')}")
    assert partial.returncode == 1, partial.stdout + partial.stderr  # new_host has no URL: kept
    assert f"requests: delivered {len(pages)}" in partial.stdout
    assert api.keys("requests") == pages and spooled_keys(result.data) == {"new_host": hosts}

    done = resubmit(result.data, f"API_REQUESTS={api.url('requests')}", f"API_NEW_HOST={api.url('new_host')}")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"new_host: delivered {len(hosts)}" in done.stdout
    assert api.keys("new_host") == hosts and not api.duplicates
    assert spooled_keys(result.data) == {}
    again = resubmit(result.data, f"API_REQUESTS={api.url('requests')}")
    assert again.returncode == 0 and "0 delivered, 0 left" in again.stdout


def test_resubmit_reads_darc_environment(tmp_path: Path, api: ApiServer) -> None:
    spool = Spool(tmp_path)
    path = spool.put("requests", "clearnet/http/h", "a" * 64, datetime.fromisoformat("2024-01-02T03:04:05+00:00"),
                     {"URL": "http://h/"})
    argv = [sys.executable, "-m", "scrapy", "resubmit", "-s", f"PATH_DATA={tmp_path}"]
    proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "API_REQUESTS": api.url("requests")})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert api.keys("requests") == {path.stem} and not path.exists()


# -- kill -9 ------------------------------------------------------------------------


def crawl_argv(workdir: Path, darknet: Any, settings: dict[str, Any]) -> list[str]:
    """``scrapy crawl`` as run_crawl builds it, for a process the test kills."""
    return conftest_crawl_argv(workdir, "-a", f"urls={darknet.url('main', '/')}", settings=settings,
                               command=[sys.executable, "-m", "scrapy", "crawl", "darkweb"])


class SpoolWatcher(threading.Thread):
    """Records every payload file seen in the spool while a crawl runs."""

    def __init__(self, data: Path) -> None:
        super().__init__(daemon=True)
        self.spool = Spool(data)
        self.seen: set[str] = set()
        #: files in the spool at the last look
        self.current = 0
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.is_set():
            current = {path.stem for _, path in self.spool.pending()}
            self.seen |= current
            self.current = len(current)
            time.sleep(0.005)

    def stop(self) -> set[str]:
        self.stopped.set()
        self.join()
        return self.seen


@pytest.mark.parametrize("recovery", ["restart", "resubmit"])
def test_kill_9_loses_nothing(tmp_path: Path, darknet: Any, recovery: str) -> None:
    # A slow API (1 s per POST, after it has recorded the payload: 16 POSTs/s at
    # most) and a slowed crawl (still faster than that), so that the kill lands
    # mid-crawl with POSTs in flight and a backlog in the spool.
    with ApiServer(delay=1.0) as api:
        settings = api_settings(api, DOWNLOAD_DELAY="0.02", CONCURRENT_REQUESTS_PER_DOMAIN="2")
        data = tmp_path / "data"
        watcher = SpoolWatcher(data)
        watcher.start()
        proc = subprocess.Popen(crawl_argv(tmp_path, darknet, settings), cwd=ROOT, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, env={**os.environ, "DARKCRAWL_ALLOW_LOOPBACK": "1"})
        try:
            assert api.wait_for(lambda: api.count() >= 16 and api.in_progress >= 3 and watcher.current >= 40,
                                timeout=60)
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        seen = watcher.stop()
        assert proc.returncode == -signal.SIGKILL
        # Let the API finish with what was sent before the kill: a POST whose handler had
        # not run yet (a loaded machine) is recorded late; quiet for 0.5 s = all heard.
        quiet_since, last = time.monotonic(), (-1, -1)
        while time.monotonic() - quiet_since < 0.5:
            now = (sum(map(len, (api.keys(e) for e in ("requests", "new_host")))), api.in_progress)
            if now != last or api.in_progress:
                quiet_since, last = time.monotonic(), now
            time.sleep(0.02)
        heard = {event: api.keys(event) for event in ("requests", "new_host")}
        left = spooled_keys(data)
        first_run = set().union(*heard.values(), *left.values())
        # nothing the first run spooled is gone: it was heard by the API, or it is still on disk
        assert seen <= first_run
        assert len(page_keys(data)) < PAGE_LIMIT - 10, "killed too late: the crawl was over"
        assert len(set().union(*left.values()) - set().union(*heard.values())) >= 20, "no backlog at the kill"
        # pages saved but never spooled: only one killed between the storage and submit pipelines
        assert len(page_keys(data) - first_run) <= 1
        in_flight = {event: heard[event] & left.get(event, set()) for event in heard}
        assert any(in_flight.values()), "no POST was in flight at the kill"

        api.delay = 0.0
        if recovery == "restart":
            rerun = run_crawl(tmp_path, "-a", f"urls={darknet.url('main', '/')}", settings=settings)
            assert rerun.returncode == 0, rerun.log[-3000:]
        else:
            proc2 = resubmit(data, f"API_REQUESTS={api.url('requests')}", f"API_NEW_HOST={api.url('new_host')}")
            assert proc2.returncode == 0, proc2.stdout + proc2.stderr

        for event in ("requests", "new_host"):
            # every payload of the first run arrived (exactly once after the API's dedup) ...
            assert heard[event] | left.get(event, set()) <= api.keys(event)
        # ... and the only second deliveries are those the API had heard when the crawl died
        assert sum(api.duplicates.values()) == sum(len(keys) for keys in in_flight.values())
        assert spooled_keys(data) == {}
        print(f"\nkill -9 ({recovery}): first run spooled {len(first_run)}, {sum(map(len, heard.values()))} heard, "
              f"{sum(map(len, left.values()))} left on disk, {sum(map(len, in_flight.values()))} heard but not "
              f"acknowledged; after recovery: {sum(api.duplicates.values())} duplicates dropped by key")
