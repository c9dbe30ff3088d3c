"""Dead hosts are backed off: the pure policy, the middleware's bookkeeping, and a real crawl."""

from __future__ import annotations

import asyncio
import functools
import json
import re
import time
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from scrapy import Request, Spider
from scrapy.core.downloader import Slot
from scrapy.exceptions import DownloadCancelledError, DownloadConnectionRefusedError, IgnoreRequest, NotConfigured
from scrapy.http import HtmlResponse
from scrapy.utils.httpobj import urlparse_cached
from scrapy.utils.misc import build_from_crawler
from scrapy.utils.test import get_crawler

from darkcrawl.config import ConfigError
from darkcrawl.downloadermiddlewares.backoff import (
    PROBE_KEY,
    STATE_FILE,
    HostBackedOff,
    HostBackoffMiddleware,
    HostGivenUp,
)
from darkcrawl.policy.backoff import BackoffPolicy, BackoffTable, Event, HostState, Verdict
from tests.conftest import run_crawl
from tests.darknet import sites
from tests.harness.http import QuietHandler, serving
from tests.harness.ports import free_port as closed_port  # nothing listens there once it is closed

# -- the policy -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("policy", "failures", "rand", "delay"),
    [
        (BackoffPolicy(after=3, base=10, maximum=600, jitter=0), 0, 0.0, 0.0),
        (BackoffPolicy(after=3, base=10, maximum=600, jitter=0), 2, 0.0, 0.0),
        (BackoffPolicy(after=3, base=10, maximum=600, jitter=0), 3, 0.0, 10.0),
        (BackoffPolicy(after=3, base=10, maximum=600, jitter=0), 4, 0.0, 20.0),
        (BackoffPolicy(after=3, base=10, maximum=600, jitter=0), 8, 0.0, 320.0),
        (BackoffPolicy(after=3, base=10, maximum=600, jitter=0), 9, 0.0, 600.0),  # capped
        (BackoffPolicy(after=3, base=10, maximum=600, jitter=0), 10_000, 0.0, 600.0),  # no overflow
        (BackoffPolicy(after=1, base=0.5, maximum=2, jitter=0), 1, 0.0, 0.5),
        (BackoffPolicy(after=1, base=0.5, maximum=2, jitter=0), 4, 0.0, 2.0),
        # jitter only ever shortens the wait, so the cap holds
        (BackoffPolicy(after=3, base=10, maximum=600, jitter=0.25), 3, 0.0, 10.0),
        (BackoffPolicy(after=3, base=10, maximum=600, jitter=0.25), 3, 0.5, 8.75),
        (BackoffPolicy(after=3, base=10, maximum=600, jitter=0.25), 20, 0.999, 600 * (1 - 0.25 * 0.999)),
        (BackoffPolicy(after=2, base=1, maximum=float("inf"), jitter=0), 12, 0.0, 1024.0),
    ],
)
def test_delay(policy, failures, rand, delay):
    assert policy.delay(failures, rand) == pytest.approx(delay)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"after": 0}, "after=0"),
        ({"base": 0}, "base=0"),
        ({"base": 700, "maximum": 600}, "base=700"),
        ({"after": 5, "give_up": 3}, "give_up=3"),
        ({"jitter": 1.5}, "jitter=1.5"),
    ],
)
def test_policy_rejects(kwargs, message):
    with pytest.raises(ValueError, match=message):
        BackoffPolicy(**kwargs)


def test_give_up_zero_means_never():
    table = BackoffTable(BackoffPolicy(after=1, base=1, maximum=1, give_up=0, jitter=0))
    for i in range(50):
        assert Event.GAVE_UP not in table.failed("h", table.hosts["h"].probe if i else None, i * 10.0, "x")
        assert table.admit("h", i * 10.0 + 5, lease=100).verdict is Verdict.PROBE
    assert table.hosts["h"].gave_up is False


# -- one host's life, step by step ----------------------------------------------------

POLICY = BackoffPolicy(after=2, base=10, maximum=40, give_up=5, jitter=0)
LEASE = 100.0

#: (operation, time, argument, expected): "admit" expects (verdict, wait); "fail" takes
#: "probe" (the last probe's token) or None and expects the events; "ok" expects the event.
LIFE = [
    ("admit", 0, None, (Verdict.GO, 0)),  # unknown host
    ("fail", 1, None, ()),
    ("admit", 1, None, (Verdict.GO, 0)),  # one failure: not yet
    ("fail", 2, None, (Event.BACKOFF,)),  # second in a row: next try at 2 + 10
    ("fail", 2.5, None, ()),  # sent before the backoff: does not double it
    ("admit", 3, None, (Verdict.WAIT, 9)),
    ("admit", 12, None, (Verdict.PROBE, 0)),
    ("admit", 13, None, (Verdict.WAIT, 99)),  # one probe at a time (until its lease ends)
    ("fail", 20, "probe", (Event.ESCALATED,)),  # next try at 20 + 20
    ("admit", 21, None, (Verdict.WAIT, 19)),
    ("admit", 40, None, (Verdict.PROBE, 0)),
    ("fail", 41, "probe", (Event.ESCALATED,)),  # 4 in a row: 41 + 40 (the cap)
    ("admit", 81, None, (Verdict.PROBE, 0)),
    ("fail", 82, "probe", (Event.ESCALATED, Event.GAVE_UP)),  # 5: given up, probed every 40 s
    ("admit", 83, None, (Verdict.DROP, 0)),
    ("admit", 122, None, (Verdict.PROBE, 0)),
    ("admit", 123, None, (Verdict.DROP, 0)),  # given up: no waiting, even during a probe
    ("ok", 124, None, Event.RECOVERED),  # the probe got an answer
    ("admit", 125, None, (Verdict.GO, 0)),
    ("fail", 126, None, ()),
    ("ok", 127, None, None),  # a lone failure between answers is forgotten
    ("fail", 128, None, ()),
    ("fail", 129, None, (Event.BACKOFF,)),  # a second backoff starts from the base again
    ("admit", 130, None, (Verdict.WAIT, 9)),
]


def test_a_host_life():
    table = BackoffTable(POLICY)
    token = None
    for step, (operation, now, argument, expected) in enumerate(LIFE):
        if operation == "admit":
            admission = table.admit("h", now, LEASE)
            assert (admission.verdict, admission.wait) == pytest.approx(expected), step
            if admission.verdict is Verdict.PROBE:
                token = admission.token
        elif operation == "fail":
            assert table.failed("h", token if argument == "probe" else None, now, f"error {step}") == expected, step
        else:
            assert table.succeeded("h") == expected, step
    state = table.hosts["h"]
    assert (state.failures, state.backoffs, state.probes, state.dropped) == (2, 2, 4, 2)
    assert state.last_error == "error 22"


def test_a_lost_probe_is_replaced_after_its_lease():
    table = BackoffTable(POLICY)
    table.failed("h", None, 0, "x")
    table.failed("h", None, 0, "x")
    first = table.admit("h", 10, lease=5)
    assert first.verdict is Verdict.PROBE
    assert table.admit("h", 14, lease=5).verdict is Verdict.WAIT
    second = table.admit("h", 15, lease=5)
    assert second.verdict is Verdict.PROBE and second.token != first.token
    assert table.failed("h", first.token, 16, "late") == ()  # the lost one's outcome no longer counts
    assert table.failed("h", second.token, 17, "x") == (Event.ESCALATED,)


def test_a_probe_released_without_outcome_lets_the_next_request_probe():
    table = BackoffTable(POLICY)
    table.failed("h", None, 0, "x")
    table.failed("h", None, 0, "x")
    probe = table.admit("h", 10, LEASE)
    table.released("h", probe.token)
    assert table.admit("h", 11, LEASE).verdict is Verdict.PROBE


@pytest.mark.parametrize(
    ("failures", "probing", "gave_up", "backoffs", "status"),
    [
        (0, False, False, 0, "ok"),
        (1, False, False, 0, "failing"),
        (2, False, False, 1, "backoff"),
        (2, True, False, 1, "probing"),
        (5, False, True, 1, "gave_up"),
        (5, True, True, 1, "probing"),
        (0, False, False, 1, "recovered"),
        (1, False, False, 1, "failing"),
    ],
)
def test_status(failures, probing, gave_up, backoffs, status):
    state = HostState(failures=failures, gave_up=gave_up, backoffs=backoffs)
    if probing:
        state.probe, state.probe_until = 1, 100.0
    assert state.status(POLICY.after, now=50.0) == status


def test_hosts_are_independent():
    table = BackoffTable(POLICY)
    table.failed("tor@a", None, 0, "x")
    table.failed("tor@a", None, 0, "x")
    assert table.admit("tor@a", 1, LEASE).verdict is Verdict.WAIT
    assert table.admit("tor@b", 1, LEASE).verdict is Verdict.GO
    assert table.succeeded("tor@b") is None and "tor@b" not in table.hosts


def test_hurry_makes_every_backed_off_host_due_now():
    table = BackoffTable(POLICY)
    for key in ("a", "b"):
        table.failed(key, None, 0, "x")
    table.failed("a", None, 0, "x")  # a: backed off; b: one failure only
    assert table.hurry(now=1) == ["a"]
    assert table.admit("a", 1, LEASE).verdict is Verdict.PROBE
    assert table.hurry(now=2) == []  # already due (and probing)


# -- the middleware, with a stand-in engine ----------------------------------------------


class FakeDownloader:
    def __init__(self) -> None:
        self.slots: dict[str, Slot] = {}
        self.active: set[Request] = set()
        self.full = False

    def _get_slot(self, request: Request) -> tuple[str, Slot]:
        key = request.meta.get("download_slot") or urlparse_cached(request).hostname
        return key, self.slots.setdefault(key, Slot(concurrency=2, delay=0, jitter=0))

    def needs_backout(self) -> bool:
        return self.full


def middleware(tmp_path: Path, **settings: Any) -> HostBackoffMiddleware:
    crawler = get_crawler(Spider, {"ADDONS": {"darkcrawl.addon.Addon": 0}, "PATH_DATA": str(tmp_path),
                                   "CONCURRENT_REQUESTS": 4, "DARKCRAWL_BACKOFF_AFTER": 2,
                                   "DARKCRAWL_BACKOFF_GIVE_UP": 3, **settings})
    crawler._apply_settings()
    crawler.stats.open_spider()
    crawler.engine = SimpleNamespace(  # what the middleware reads of the engine
        downloader=FakeDownloader(), running=True, _start=None,
        scraper=SimpleNamespace(slot=SimpleNamespace(is_idle=lambda: True)),
        _slot=SimpleNamespace(closing=None, scheduler=SimpleNamespace(has_pending_requests=lambda: False)))
    return build_from_crawler(HostBackoffMiddleware, crawler)


def in_loop(test):
    """Run *test* (a coroutine function) on an asyncio loop: the middleware's timers need one."""
    @functools.wraps(test)
    def run(*args: Any, **kwargs: Any) -> None:
        asyncio.run(test(*args, **kwargs))

    return run


DEAD = "clearnet@dead.example"


def request(url: str = "http://dead.example/", **meta: Any) -> Request:
    return Request(url, meta={"download_slot": DEAD, **meta})


def queued(mw: HostBackoffMiddleware, url: str = "http://dead.example/") -> Request:
    """A request as the scheduler hands it out."""
    req = request(url)
    mw.parking._request_scheduled(req)
    return req


def response(status: int, req: Request) -> HtmlResponse:
    return HtmlResponse(req.url, status=status, body=b"<html></html>", request=req)


def stand_ins(mw: HostBackoffMiddleware, key: str = DEAD) -> int:
    slot = mw.crawler.engine.downloader.slots.get(key)
    return 0 if slot is None else sum(1 for entry in slot.active if not isinstance(entry, Request))


def test_wired_between_retry_and_cookies():
    crawler = get_crawler(Spider, {"ADDONS": {"darkcrawl.addon.Addon": 0}})
    crawler._apply_settings()
    order = crawler.settings.getwithbase("DOWNLOADER_MIDDLEWARES")
    mine = order["darkcrawl.downloadermiddlewares.backoff.HostBackoffMiddleware"]
    assert order["darkcrawl.downloadermiddlewares.routing.NetworkRoutingMiddleware"] < mine
    assert order["scrapy.downloadermiddlewares.retry.RetryMiddleware"] < mine
    assert order["darkcrawl.downloadermiddlewares.history.HistoryRedirectMiddleware"] < mine
    assert mine < order["darkcrawl.downloadermiddlewares.cookies.OfflineCookiesMiddleware"]


def test_settings(tmp_path, monkeypatch):
    monkeypatch.setenv("DARKCRAWL_BACKOFF_BASE", "2.5")
    mw = middleware(tmp_path, DARKCRAWL_BACKOFF_MAX="inf", DARKCRAWL_BACKOFF_JITTER=0)
    assert mw.table.policy == BackoffPolicy(after=2, base=2.5, maximum=float("inf"), give_up=3, jitter=0,
                                            dead_after=3)
    assert mw.parking.busy_weight == 5  # more than CONCURRENT_REQUESTS
    with pytest.raises(NotConfigured):
        middleware(tmp_path, DARKCRAWL_BACKOFF_ENABLED="0")
    with pytest.raises(ConfigError, match="DARKCRAWL_BACKOFF_.*give_up=1"):
        middleware(tmp_path, DARKCRAWL_BACKOFF_GIVE_UP=1)
    with pytest.raises(ConfigError, match="DARKCRAWL_BACKOFF_AFTER='x': expected a whole number"):
        middleware(tmp_path, DARKCRAWL_BACKOFF_AFTER="x")


@in_loop
async def test_what_counts_as_a_failure(tmp_path):
    mw = middleware(tmp_path)
    mw.process_exception(request(), DownloadConnectionRefusedError("refused"))
    assert mw.table.hosts[DEAD].failures == 1
    mw.process_response(request(), response(404, request()))  # an answer: alive
    assert DEAD not in mw.table.hosts
    for neutral in (IgnoreRequest("robots"), DownloadCancelledError("maxsize")):
        mw.process_exception(request(), neutral)
    mw.process_exception(request(playwright=True), TimeoutError("browser"))
    mw.process_response(request(playwright=True), response(503, request()))
    assert DEAD not in mw.table.hosts
    mw.process_response(request(), response(503, request()))
    mw.process_exception(request(), TimeoutError("took too long"))
    state = mw.table.hosts[DEAD]
    assert (state.failures, state.backoffs, state.last_error) == (2, 1, "TimeoutError: took too long")
    assert mw.crawler.stats.get_value("darkcrawl/backoff/entered") == 1
    assert mw.crawler.stats.get_value("darkcrawl/backoff/hosts") == 1
    # without a download slot in its meta, a request's host is its hostname
    mw.process_exception(Request("http://other.example/"), TimeoutError())
    assert mw.table.hosts["other.example"].failures == 1


@in_loop
async def test_a_backed_off_host_waits_in_the_scheduler_and_is_probed_once(tmp_path):
    mw = middleware(tmp_path, DARKCRAWL_BACKOFF_BASE=0.2, DARKCRAWL_BACKOFF_JITTER=0,
                    DARKCRAWL_BACKOFF_GIVE_UP=0)
    downloader = mw.crawler.engine.downloader
    for _ in range(2):
        mw.process_exception(request(), DownloadConnectionRefusedError())
    # its slot looks busier than any live slot can be, so the scheduler keeps its requests
    assert stand_ins(mw) == mw.parking.busy_weight == 5
    # one that is handed out all the same waits, counted in its slot...
    waiting = asyncio.ensure_future(mw.process_request(queued(mw, "http://dead.example/a")))
    await asyncio.sleep(0.05)
    assert not waiting.done() and len(downloader.slots[DEAD].active) == 5 + 1
    # ...until a live host's request is queued while the downloader is full: it goes back
    downloader.full = True
    mw.parking._request_scheduled(Request("http://live.example/", meta={"download_slot": "clearnet@live.example"}))
    requeued = await asyncio.wait_for(waiting, 1)
    assert isinstance(requeued, Request) and requeued.url == "http://dead.example/a" and requeued.dont_filter
    assert len(downloader.slots[DEAD].active) == 5  # its place is free again
    downloader.full = False
    # when the wait is over, the slot is free for one probe; the others wait for its outcome
    await asyncio.sleep(0.2)
    assert stand_ins(mw) == 0
    probe = queued(mw, "http://dead.example/b")
    assert await mw.process_request(probe) is None and probe.meta[PROBE_KEY]
    assert stand_ins(mw) == 5
    follower = asyncio.ensure_future(mw.process_request(queued(mw, "http://dead.example/c")))
    await asyncio.sleep(0.05)
    assert not follower.done()
    mw.process_response(probe, response(200, probe))  # it answered: everyone goes
    assert await asyncio.wait_for(follower, 1) is None
    assert stand_ins(mw) == 0
    stats = mw.crawler.stats
    assert (stats.get_value("darkcrawl/backoff/delayed"), stats.get_value("darkcrawl/backoff/requeued"),
            stats.get_value("darkcrawl/backoff/probes"), stats.get_value("darkcrawl/backoff/recovered")) == (2, 1, 1, 1)


@in_loop
async def test_a_given_up_host_fails_its_requests_at_once(tmp_path):
    mw = middleware(tmp_path, DARKCRAWL_BACKOFF_BASE=5)
    for _ in range(2):
        mw.process_exception(request(), TimeoutError())
    mw.table.hosts[DEAD].next_try = 0  # its wait is over: the next request probes
    probe = request()
    await mw.process_request(probe)
    mw.process_exception(probe, TimeoutError("still dead"))  # the third in a row
    assert mw.table.hosts[DEAD].gave_up
    assert stand_ins(mw) == 0  # nothing to keep waiting: its requests are taken to fail them
    with pytest.raises(HostGivenUp, match="clearnet@dead.example given up after 3 failures"):
        await mw.process_request(queued(mw))
    assert mw.crawler.stats.get_value("darkcrawl/backoff/dropped") == 1


@in_loop
async def test_waiting_requests_go_when_the_crawl_closes(tmp_path):
    mw = middleware(tmp_path)
    for _ in range(2):
        mw.process_exception(request(), TimeoutError())
    mw.crawler.engine._slot.closing = object()
    assert await asyncio.wait_for(mw.process_request(queued(mw)), 1) is None
    assert mw.crawler.stats.get_value("darkcrawl/backoff/released_at_close") == 1


@in_loop
async def test_a_request_outside_the_scheduler_fails_at_once(tmp_path):
    mw = middleware(tmp_path)
    for _ in range(2):
        mw.process_exception(request(), TimeoutError("slow"))
    robots = Request("http://dead.example/robots.txt", meta={"download_slot": DEAD, "dont_obey_robotstxt": True})
    with pytest.raises(HostBackedOff, match="backed off after 2 failures in a row .last: TimeoutError: slow."):
        await asyncio.wait_for(mw.process_request(robots), 1)  # as Scrapy's robots.txt middleware sends it
    assert mw.crawler.stats.get_value("darkcrawl/backoff/failed_fast") == 1
    mw.table.hosts[DEAD].next_try = 0
    assert await mw.process_request(robots) is None and robots.meta[PROBE_KEY]  # it may probe, though


@in_loop
async def test_one_round_does_not_wait_out_the_backoff_when_nothing_else_is_left(tmp_path):
    mw = middleware(tmp_path, DARC_REBOOT=1, DARKCRAWL_BACKOFF_BASE=60)
    for _ in range(2):
        mw.process_exception(request(), TimeoutError())
    downloader = mw.crawler.engine.downloader
    busy, waiting = Request("http://live.example/"), queued(mw)
    downloader.active |= {busy, waiting}
    task = asyncio.ensure_future(mw.process_request(waiting))
    await asyncio.sleep(0.7)
    assert not task.done()  # a live download is under way: wait
    downloader.active.discard(busy)
    await asyncio.wait_for(task, 1)  # only waiting is left: the host is probed now
    assert waiting.meta[PROBE_KEY] and mw.crawler.stats.get_value("darkcrawl/backoff/hurried") == 1


@in_loop
async def test_state_file(tmp_path):
    mw = middleware(tmp_path)
    path = tmp_path / "misc" / STATE_FILE
    mw._spider_closed()
    assert not path.exists()  # nothing was backed off: no file
    for _ in range(2):
        mw.process_exception(request(), DownloadConnectionRefusedError("Connection was refused by other side"))
    mw.process_exception(request("http://flaky.example/", download_slot="tor@flaky"), TimeoutError())
    mw._spider_closed()
    report = json.loads(path.read_text())
    assert [h["host"] for h in report["hosts"]] == [DEAD]  # flaky: one failure only
    row = report["hosts"][0]
    assert row["state"] == "backoff" and row["failures"] == 2 and row["backoffs"] == 1
    assert "refused" in row["last_error"]
    assert datetime.fromisoformat(row["next_try"]) > datetime.fromisoformat(row["last_failure"])
    assert report["policy"]["after"] == 2
    mw.process_response(request(), response(200, request()))
    mw._spider_closed()
    assert json.loads(path.read_text())["hosts"][0]["state"] == "recovered"
    assert mw.crawler.stats.get_value("darkcrawl/backoff/recovered") == 1


@in_loop
async def test_a_probe_mark_is_not_inherited(tmp_path):
    mw = middleware(tmp_path)
    retry = request(**{PROBE_KEY: 7})  # as a retry of a probe would carry it
    assert await mw.process_request(retry) is None  # unknown host: goes at once, as a plain request
    assert PROBE_KEY not in retry.meta


# -- a real crawl: one dead host, one that answers 503, and the test web -------------


class _Unavailable(QuietHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        self.server.arrivals.append(time.time())  # type: ignore[attr-defined]
        self.send_body(503, b"<html><body>down for maintenance</body></html>")


class _SlowChain(QuietHandler):
    """A live host that answers slowly: /p0 links /p1 ... : keeps the crawl busy a while."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        path = self.path.rsplit("/", 1)[-1]
        if path.startswith("p") and path[1:].isdigit():
            time.sleep(SLOW_PAGE_DELAY)
            number = int(path[1:])
            link = f'<a href="/p{number + 1}">next</a>' if number + 1 < SLOW_PAGES else ""
            status, body = 200, f"<html><body>page {number} {link}</body></html>".encode()
        else:
            status, body = 404, b"not here"
        self.send_body(status, body)


BACKOFF = {"DARKCRAWL_BACKOFF_AFTER": 2, "DARKCRAWL_BACKOFF_BASE": 1, "DARKCRAWL_BACKOFF_MAX": 3,
           "DARKCRAWL_BACKOFF_GIVE_UP": 6, "DARKCRAWL_BACKOFF_JITTER": 0,
           # the schedule itself, for refused hosts too (test_slow_hosts.py: dead hosts given up sooner)
           "DARKCRAWL_BACKOFF_DEAD_AFTER": 0}
#: waits after failures 2, 3, 4, 5 in a row (the 6th gives up)
EXPECTED_WAITS = [1.0, 2.0, 3.0, 3.0]
#: hosts whose port is closed (all of 127/8 is loopback on Linux; the test web is on 127.0.0.1)
DEAD_ADDRESSES = ("127.0.0.2", "127.0.0.4", "127.0.0.5")
#: a slow live host keeps this one-round crawl busy past the backoff schedule (else the
#: crawl, having nothing else to do, probes the backed-off hosts at once)
SLOW_PAGES, SLOW_PAGE_DELAY = 30, 0.4


@pytest.fixture(scope="module")
def backoff_crawl(darknet, tmp_path_factory):
    darknet.reset_hits()
    dead = [f"http://{address}:{closed_port(address)}" for address in DEAD_ADDRESSES]
    with (serving(_Unavailable, "127.0.0.3", arrivals=[]) as down,
          serving(_SlowChain, "127.0.0.6", arrivals=[]) as slow):
        unavailable = f"http://127.0.0.3:{down.server_address[1]}"
        seeds = [darknet.url("main", "/"), f"http://127.0.0.6:{slow.server_address[1]}/p0",
                 *(f"{host}/d{i}.html" for host in dead for i in range(8)),
                 *(f"{unavailable}/u{i}.html" for i in range(12))]
        result = run_crawl(
            tmp_path_factory.mktemp("backoff"), "-a", "urls=" + ",".join(seeds),
            # few places in the downloader: requests that wait must not take them from the live hosts
            settings={"DARKCRAWL_HOST_PAGE_LIMIT": 150, "CONCURRENT_REQUESTS": 4, **BACKOFF},
        )
        arrivals = list(down.arrivals)
    hits = {name: darknet[name].hits for name in sites.SITE_NAMES}
    return result, hits, arrivals


def test_crawl_finishes_and_says_why(backoff_crawl):
    result, _, _ = backoff_crawl
    assert result.returncode == 0, result.log[-3000:]
    assert result.stats["finish_reason"] == "finished"
    assert "backoff.py" not in result.log  # in no traceback
    for host in ("clearnet@127.0.0.3", *(f"clearnet@{address}" for address in DEAD_ADDRESSES)):
        # a host is its network location: address and port
        assert re.search(rf"Host {re.escape(host)}:\d+ backed off after 2 failures in a row", result.log)
        assert re.search(rf"Host {re.escape(host)}:\d+ given up after 6 failures in a row", result.log)
    stats = result.stats
    assert stats["darkcrawl/backoff/hosts"] == stats["darkcrawl/backoff/gave_up"] == 1 + len(DEAD_ADDRESSES)
    assert stats["darkcrawl/backoff/probes"] >= (1 + len(DEAD_ADDRESSES)) * len(EXPECTED_WAITS)
    assert stats["darkcrawl/backoff/dropped"] >= 1
    assert stats["darkcrawl/fetch_error/HostGivenUp"] >= 1  # the reason reaches the spider's errback


def test_waits_between_attempts_grow_to_the_cap(backoff_crawl):
    _, _, arrivals = backoff_crawl
    gaps = [b - a for a, b in zip(arrivals, arrivals[1:])]
    waits = [gap for gap in gaps if gap > 0.5]  # the first attempts were under way together
    assert len(waits) == len(EXPECTED_WAITS), gaps
    for got, expected in zip(waits, EXPECTED_WAITS):
        assert expected * 0.95 <= got <= expected + 1.0, gaps
    # without backoff: 12 pages, robots.txt and the sitemap probe, each tried twice
    assert len(arrivals) <= 4 + len(EXPECTED_WAITS), gaps


def test_state_file_shows_the_dead_hosts(backoff_crawl):
    result, _, _ = backoff_crawl
    report = json.loads((result.data / "misc" / STATE_FILE).read_text())
    rows = {row["host"].rpartition(":")[0]: row for row in report["hosts"]}  # without the port
    dead = [f"clearnet@{address}" for address in DEAD_ADDRESSES]
    assert set(rows) == {"clearnet@127.0.0.3", *dead}  # the live hosts are not there
    assert rows["clearnet@127.0.0.3"]["last_error"] == "HTTP 503"
    assert all("refused" in rows[host]["last_error"].lower() for host in dead)
    for row in rows.values():
        assert row["state"] in ("gave_up", "probing")
        assert row["failures"] >= BACKOFF["DARKCRAWL_BACKOFF_GIVE_UP"]
        assert row["backoffs"] == 1 and row["dropped"] >= 1
        assert datetime.fromisoformat(row["next_try"]) > datetime.fromisoformat(row["last_failure"])


def test_the_rest_of_the_crawl_is_unaffected(backoff_crawl):
    result, hits, arrivals = backoff_crawl
    for site, expected in sites.EXPECTED_FETCHED_PATHS.items():
        missing = {path for path in expected if hits[site][path] == 0}
        assert not missing, (site, missing)
    rows = [row.split(",") for row in (result.data / "link.csv").read_text().splitlines()[1:]]
    slow = [row for row in rows if row[2].startswith("127.0.0.6_")]
    assert len(slow) == SLOW_PAGES
    # the test web's pages never waited for the dead hosts' turn: no pause in their stream,
    # all of them fetched before the 503 host was even given up
    live = sorted(datetime.fromisoformat(row[-1]).timestamp() for row in rows if row[2].startswith("127.0.0.1_"))
    assert len(live) > 50
    pauses = [round(b - a, 2) for a, b in zip(live, live[1:]) if b - a > 0.8]
    assert not pauses
    assert live[-1] < arrivals[-1]


def test_a_one_round_crawl_does_not_wait_out_the_backoff(tmp_path):
    """When only backed-off hosts are left, they are probed one request after the other
    until they are given up: the round ends instead of waiting minutes for them."""
    dead = f"http://127.0.0.2:{closed_port('127.0.0.2')}"
    started = time.monotonic()
    result = run_crawl(
        tmp_path, "-a", "urls=" + ",".join(f"{dead}/d{i}.html" for i in range(6)), timeout=150,
        settings={"DARKCRAWL_BACKOFF_AFTER": 2, "DARKCRAWL_BACKOFF_BASE": 600, "DARKCRAWL_BACKOFF_MAX": 3600,
                  "DARKCRAWL_BACKOFF_GIVE_UP": 4, "DARKCRAWL_BACKOFF_DEAD_AFTER": 0},
    )
    took = time.monotonic() - started
    assert result.returncode == 1, result.log[-3000:]  # only dead hosts: nothing fetched
    # the backoff alone would wait 600 + 1200 s: far from any machine's speed
    assert took < 120, took
    stats = result.stats
    assert stats["darkcrawl/backoff/gave_up"] == 1 and stats["darkcrawl/backoff/hurried"] >= 1
    assert stats["darkcrawl/fetch_error/HostGivenUp"] >= 1
    row = json.loads((result.data / "misc" / STATE_FILE).read_text())["hosts"][0]
    assert row["state"] == "gave_up" and row["failures"] >= 4
