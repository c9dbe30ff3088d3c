"""The distributed profile: workers on one real Redis share one frontier.

The end-to-end tests run ``SCRAPY_PROJECT=distributed scrapy crawl darkweb``
workers as subprocesses over the local test web (tests/darknet) and count what the
sites served; each test gets its own redis-server (tests/harness/redisserver.py).
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from scrapy.settings import Settings

from darkcrawl.distributed import connection
from darkcrawl.distributed.redis_frontier import RedisFrontier
from darkcrawl.distributed.seen import RedisSeenSet, mark_of
from tests.components import needs
from tests.conftest import ROOT, crawl_argv
from tests.darknet import Darknet, sites
from tests.harness.redisserver import RedisServer

pytestmark = needs("redis-server")

#: each worker's robots middleware fetches robots.txt for itself (a single crawl
#: fetches it twice already); /error answers 500 and is retried
REFETCHED = frozenset({"/robots.txt", "/error"})
PREFIX = "darkcrawl:darkweb"


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    with RedisServer(tmp_path / "redis") as server:
        yield server


class Worker:
    """One ``scrapy crawl darkweb`` of the distributed profile, in the background."""

    def __init__(self, workdir: Path, redis_url: str, *args: str, settings: dict[str, Any] | None = None) -> None:
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        base = {
            "DARKCRAWL_REDIS_URL": redis_url,
            "DARKCRAWL_REDIS_POLL_INTERVAL": "0.2",
            "DARKCRAWL_REDIS_WORKER_TTL": "6",
            "DARKCRAWL_HOST_PAGE_LIMIT": "150",
        }
        argv = crawl_argv(workdir, *args, settings={**base, **(settings or {})})
        self._log = (workdir / "crawl.log").open("w")
        self.process = subprocess.Popen(argv, cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT,
                                        env={**os.environ, **_distributed_env()})

    def wait(self, timeout: float = 120) -> int:
        try:
            return self.process.wait(timeout)
        finally:
            self._log.close()

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()
        self._log.close()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._log.close()

    @property
    def stats(self) -> dict[str, Any]:
        path = self.workdir / "stats.json"
        return json.loads(path.read_text()) if path.exists() else {}

    @property
    def log(self) -> str:
        return (self.workdir / "crawl.log").read_text(errors="replace")


def _distributed_env() -> dict[str, str]:
    return {"SCRAPY_PROJECT": "distributed", "DARKCRAWL_ALLOW_LOOPBACK": "1"}


@pytest.fixture
def workers() -> Iterator[Callable[..., Worker]]:
    started: list[Worker] = []

    def start(*args: Any, **kwargs: Any) -> Worker:
        worker = Worker(*args, **kwargs)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


def pushseeds(redis_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "scrapy", "pushseeds", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=60,
                          env={**os.environ, **_distributed_env(), "DARKCRAWL_REDIS_URL": redis_url})


def hits_of(net: Darknet) -> dict[str, dict[str, int]]:
    return {name: dict(net[name].hits) for name in sites.SITE_NAMES}


def fetched_twice(hits: dict[str, dict[str, int]]) -> dict[str, int]:
    return {f"{site}{path}": n for site, paths in hits.items() for path, n in paths.items()
            if n > 1 and path not in REFETCHED}


def never_fetched(hits: dict[str, dict[str, int]]) -> dict[str, list[str]]:
    missing = {site: sorted(path for path in expected if not hits[site].get(path))
               for site, expected in sites.EXPECTED_FETCHED_PATHS.items()}
    return {site: paths for site, paths in missing.items() if paths}


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def assert_finished(*done: Worker) -> None:
    for worker in done:
        assert worker.process.returncode == 0, worker.log[-3000:]
        assert worker.stats.get("finish_reason") == "finished", worker.log[-3000:]
        assert "Traceback" not in worker.log, worker.log[-3000:]


# -- the frontier itself ------------------------------------------------------------


def _frontier(server: RedisServer, worker: str, ttl: float = 30.0) -> RedisFrontier:
    client = connection.from_settings(Settings({"DARKCRAWL_REDIS_URL": server.url, "DARKCRAWL_REDIS_RETRY_TIMEOUT": 10}))
    frontier = RedisFrontier(client, PREFIX, worker, ttl=ttl, seen_capacity=100_000)
    frontier.register(heartbeat=False)
    return frontier


def _dies(frontier: RedisFrontier) -> None:
    """As if killed: its process is gone (a pid that no longer exists), its heartbeat stops."""
    dead = subprocess.Popen(["true"])
    dead.wait()
    info = json.loads(frontier._info)
    info["pid"] = dead.pid
    frontier.client.hset(frontier.key("workers"), frontier.worker, json.dumps(info))
    frontier.client.delete(frontier.key("alive", frontier.worker))


def test_priorities_then_first_in_first_out_and_slots_rest(redis_server: RedisServer) -> None:
    frontier = _frontier(redis_server, "w1")
    for slot, priority, member in [("a", 0, b"a0"), ("a", 5, b"a5"), ("b", 10, b"b10"), ("b", -1, b"b-1"),
                                   ("b", 10, b"b10-later")]:
        frontier.push(slot, priority, member)
    frontier.flush()
    order = [member for _ in range(6) for member in frontier.pop(1, 0.0)]
    assert order == [b"b10", b"b10-later", b"a5", b"a0", b"b-1"]

    # with a delay, a slot gives one request per pop and then rests, for every worker
    other = _frontier(redis_server, "w2")
    for slot, priority, member in [("a", 1, b"a1"), ("a", 2, b"a2"), ("b", 3, b"b3"), ("b", 0, b"b0")]:
        frontier.push(slot, priority, member)
    frontier.flush()
    before = time.monotonic()
    assert frontier.pop(10, 1.0) == [b"b3", b"a2"]
    assert other.pop(10, 1.0) == []
    # the slots rest 1 s from the first pop, however long the pops took (1 ms: Redis's resolution)
    assert other.next_wake is not None and before + 1.0 - 0.01 <= other.next_wake <= time.monotonic() + 1.0 + 0.01
    time.sleep(max(0.0, other.next_wake - time.monotonic()) + 0.05)
    assert sorted(other.pop(10, 1.0)) == [b"a1", b"b0"]

    # leased until acknowledged
    assert redis_server.client().hlen(frontier.key("lease", "w1")) == 7
    for member in (b"b10", b"b10-later", b"a5", b"a0", b"b-1", b"b3", b"a2"):
        frontier.ack(member)
    frontier.flush()
    assert redis_server.client().hlen(frontier.key("lease", "w1")) == 0


def test_requests_are_stored_as_json(redis_server: RedisServer) -> None:
    from scrapy import Request, Spider

    from darkcrawl.distributed.queue import SlotQueue
    from darkcrawl.frontier import serialize

    class Stored(Spider):
        name = "stored"

        def parse(self, response: Any) -> None:
            pass

    spider = Stored()
    frontier = _frontier(redis_server, "w1")
    queue = SlotQueue(frontier.client, spider, "unused", serialize, frontier=frontier)
    queue.push(Request("http://a.example/x", callback=spider.parse, priority=3,
                       meta={"download_slot": "clearnet@a.example", "darkcrawl_link": ("clearnet", "a", "a"),
                             "darkcrawl_lease": 7}))
    frontier.flush()
    [(member, score)] = redis_server.client().zrange(f"{PREFIX}:q:clearnet@a.example", 0, -1, withscores=True)
    stored = json.loads(member)  # plain JSON, no pickle
    assert stored["r"]["url"] == "http://a.example/x" and stored["r"]["callback"] == "parse"
    assert "darkcrawl_lease" not in stored["r"]["meta"]  # a worker's own bookkeeping stays with it
    assert score < 0  # higher priority first
    # what a new Request has anyway is left out (Redis stores, logs and sends back every byte)
    assert not {"body", "cookies", "headers", "method", "errback", "flags", "cb_kwargs", "encoding",
                "dont_filter"} & stored["r"].keys()
    request = queue.decode(frontier.pop(1, 0.0)[0])
    assert request.callback == spider.parse and request.meta["darkcrawl_link"] == ("clearnet", "a", "a")
    assert (request.url, request.priority, request.method, request.body, request.dont_filter) == (
        "http://a.example/x", 3, "GET", b"", False)
    # and what differs from the defaults is kept
    queue.push(Request("http://a.example/y", method="POST", body=b"q=1", headers={"X-A": "1"}, dont_filter=True,
                       cookies={"c": "1"}, meta={"download_slot": "clearnet@a.example"}))
    request = queue.decode(frontier.pop(1, 0.0)[0])
    assert (request.method, request.body, request.headers.get("X-A"), request.dont_filter, request.cookies) == (
        "POST", b"q=1", b"1", True, {"c": "1"})


def test_a_dead_workers_requests_come_back(redis_server: RedisServer) -> None:
    survivor = _frontier(redis_server, "survivor")
    victim = _frontier(redis_server, "victim")
    survivor.push("a", 0, b"r1")
    survivor.push("b", 0, b"r2")
    survivor.flush()
    assert sorted(victim.pop(10, 0.0)) == [b"r1", b"r2"]
    victim.ack(b"r1")
    victim.flush()
    assert survivor.pop(10, 0.0) == []
    _dies(victim)
    assert survivor.recover_dead() == 1
    assert survivor.pop(10, 0.0) == [b"r2"]
    assert redis_server.client().hexists(survivor.key("workers"), "victim") is False


def test_a_pop_says_whether_seeds_wait(redis_server: RedisServer) -> None:
    """A busy worker learns from its pops whether seeds wait in Redis: the seed intake
    asks for them only then (no take_seeds round trip a poll to find none)."""
    frontier = _frontier(redis_server, "w1")
    frontier.pop(1, 0.0)
    assert frontier.seeds_waiting == 0
    redis_server.client().rpush(frontier.key("seeds"), "http://a.example/", "http://b.example/", "http://c.example/")
    frontier.pop(1, 0.0)
    assert frontier.seeds_waiting == 3
    assert frontier.take_seeds(2) == ["http://a.example/", "http://b.example/"]
    assert frontier.seeds_waiting == 1
    assert frontier.take_seeds(2) == ["http://c.example/"]
    assert frontier.seeds_waiting == 0


def test_leases_by_pop_token(redis_server: RedisServer) -> None:
    """A lease is named by its pop (``<token>/<n>``): a retried pop gets the same
    requests again, a request queued twice is leased twice, and a lease written by
    an older version (named by the request) is still recovered."""
    frontier = _frontier(redis_server, "w1")
    client = redis_server.client()
    lease = frontier.key("lease", "w1")
    for slot, member in (("a", b"r1"), ("b", b"r2")):
        frontier.push(slot, 0, member)
    frontier.flush()
    token = frontier._token()
    pop = frontier._scripts["pop"]
    args = [frontier.prefix, "w1", "", 0, 0, 0, 0, 0, 0, 0, token, 10, 0, 0]
    first = pop(args=args)
    assert pop(args=args) == first  # its answer lost: the same requests, under the same leases
    assert sorted(client.hkeys(lease)) == [f"{token}/1".encode(), f"{token}/2".encode()]
    # the same request queued again while leased: two leases, gone one ack each
    frontier.push("c", 0, b"r3")
    frontier.push("c", 0, b"r3")
    frontier.flush()
    assert frontier.pop(10, 0.0) == [b"r3"]
    frontier.push("c", 0, b"r3")
    frontier.flush()
    assert frontier.pop(10, 0.0) == [b"r3"]
    assert client.hlen(lease) == 4
    frontier.ack(b"r3")
    frontier.flush()
    assert client.hlen(lease) == 3
    frontier.ack(b"r3")
    frontier.ack(b"r3")  # acked once too often: nothing more to give
    frontier.flush()
    assert client.hlen(lease) == 2
    # an older worker's lease: member -> "slot\nscore\ntoken"
    client.hset(frontier.key("lease", "old"), b'{"v":1,"r":{"url":"http://d/"}}', b"d\n-5\nab12.3")
    frontier.close()
    survivor = _frontier(redis_server, "w2")
    assert sorted(survivor.pop(10, 0.0)) == [b"r1", b"r2"]  # w1 left: what it held is back
    survivor._run("recover", "old", "1")
    assert survivor.pop(10, 0.0) == [b'{"v":1,"r":{"url":"http://d/"}}']


def test_shared_seen_set_admits_once_and_forgets_what_a_dead_worker_did_not_queue(
    redis_server: RedisServer,
) -> None:
    one, two = _frontier(redis_server, "one"), _frontier(redis_server, "two")
    seen_one, seen_two = RedisSeenSet(one), RedisSeenSet(two)
    assert seen_one.add_many(["http://x/1", "http://x/2", "http://x/1"]) == [True, True, False]
    assert seen_one.known("http://x/1") and not seen_two.known("http://x/1")
    assert seen_two.add_many(["http://x/2", "http://x/3", "http://x/4"], marks=["http://x/refused"]) == [
        False, True, True]
    assert "http://x/refused" in seen_one and "http://x/3" in seen_one and "http://x/5" not in seen_one
    assert len(seen_one) == 5
    # worker two queues the request for x/4, then dies before queueing x/3's
    two.push("x", 0, b"request-4", mark_of("http://x/4", two.seen_bits))
    two.flush()
    _dies(two)
    assert one.recover_dead() == 1
    assert "http://x/3" not in RedisSeenSet(one)  # forgotten: the page that found it is fetched again
    assert "http://x/4" in RedisSeenSet(one)  # queued: stays seen
    assert "http://x/refused" in RedisSeenSet(one)
    assert seen_one.add_many(["http://x/3"]) == [True]


def test_links_are_admitted_by_the_flush_that_queues_them(redis_server: RedisServer) -> None:
    """With the fleet's queue, a page's links cost no round trip: the flush that writes
    their requests queues each only if its URL is new to the fleet (then seen), drops
    the others and takes their page counts back; nothing is marked (nothing to forget)."""
    one, two = _frontier(redis_server, "one"), _frontier(redis_server, "two")
    one.admits_at_flush = two.admits_at_flush = True
    seen_one, seen_two = RedisSeenSet(one), RedisSeenSet(two)
    client = redis_server.client()
    assert seen_one.add_many(["http://x/1", "http://x/2", "http://x/1"], marks=["http://x/refused"]) == [
        True, True, False]
    assert seen_two.add_many(["http://x/2", "http://x/3"]) == [True, True]  # provisional
    assert client.get(one.key("seen", "n")) is None  # nothing asked, nothing written yet
    bits = one.seen_bits
    for frontier, url, member in ((one, "http://x/1", b"r1"), (one, "http://x/2", b"r2"),
                                  (two, "http://x/2", b"r2-again"), (two, "http://x/3", b"r3")):
        frontier.count_page("clearnet|x")
        frontier.admit("x", 0, member, mark_of(url, bits), "clearnet|x")
    one.flush()
    two.flush()
    assert client.zrange(one.key("q", "x"), 0, -1) == [b"r1", b"r2", b"r3"]
    assert int(client.hget(one.key("pages"), "clearnet|x")) == 3  # two's x/2 taken back
    assert int(client.get(one.key("seen", "n"))) == 4
    fresh = RedisSeenSet(_frontier(redis_server, "three"))
    assert all(url in fresh for url in ("http://x/1", "http://x/2", "http://x/3", "http://x/refused"))
    assert not client.exists(one.key("marks", "one"), one.key("marks", "two"))
    # the same URL twice in one flush, and a URL seen already: queued once
    for member in (b"r4", b"r4-again"):
        one.admit("x", 0, member, mark_of("http://x/4", bits), None)
    one.admit("x", 0, b"r1-again", mark_of("http://x/1", bits), None)
    one.push("x", 0, b"r1-retry", mark_of("http://x/1", bits))  # a plain push (a retry) is not admitted
    one.flush()
    assert client.zrange(one.key("q", "x"), 0, -1) == [b"r1", b"r2", b"r3", b"r4", b"r1-retry"]


# -- workers over the test web --------------------------------------------------------


def test_two_workers_crawl_the_test_web_once(darknet: Darknet, redis_server: RedisServer, tmp_path: Path,
                                             workers: Callable[..., Worker]) -> None:
    darknet.reset_hits()
    first = workers(tmp_path / "w1", redis_server.url, "-a", f"urls={darknet.url('main', '/')}")
    second = workers(tmp_path / "w2", redis_server.url)
    first.wait(180), second.wait(180)
    assert_finished(first, second)
    hits = hits_of(darknet)
    assert not never_fetched(hits)
    assert not fetched_twice(hits)
    for site, paths in sites.EXPECTED_NEVER_FETCHED.items():
        assert not any(hits[site].get(path) for path in paths), site
    # both did a share of it, and together they wrote one link.csv row per document
    assert first.stats["darkcrawl/pages"] > 0 and second.stats["darkcrawl/pages"] > 0
    rows = [row for worker in (first, second)
            for row in csv.DictReader((worker.workdir / "data" / "link.csv").open())]
    links = [row["link"] for row in rows]
    assert len(links) == len(set(links))
    # every host bootstrapped once: one new_host record per host across the fleet
    new_hosts = [json.loads(line)["url"] for worker in (first, second)
                 for line in (worker.workdir / "items.jsonl").read_text().splitlines() if '"sitemaps"' in line]
    assert len(new_hosts) == len(set(new_hosts)) >= 3
    # the fleet left nothing behind: no worker registered, nothing leased
    client = redis_server.client()
    assert client.hlen(f"{PREFIX}:workers") == 0
    assert not list(client.scan_iter(f"{PREFIX}:lease:*"))


def test_a_killed_worker_loses_nothing(darknet: Darknet, redis_server: RedisServer, tmp_path: Path,
                                       workers: Callable[..., Worker]) -> None:
    darknet.reset_hits()
    # spaced out (politeness) so that the crawl is still going when the kill comes
    slow = {"DOWNLOAD_DELAY": "0.05", "CONCURRENT_REQUESTS": "4"}
    victim = workers(tmp_path / "victim", redis_server.url, "-a", f"urls={darknet.url('main', '/')}",
                     settings={**slow, "DARKCRAWL_WORKER_ID": "victim"})
    survivor = workers(tmp_path / "survivor", redis_server.url, settings=slow)
    client = redis_server.client()
    wait_for(lambda: sum(darknet["main"].hits.values()) >= 15 and client.hlen(f"{PREFIX}:lease:victim") > 0,
             60, "the crawl to get going, the victim holding requests")
    victim.kill()
    at_kill = sum(darknet["main"].hits.values())
    again = workers(tmp_path / "again", redis_server.url, settings=slow)
    survivor.wait(180), again.wait(180)
    assert_finished(survivor, again)
    hits = hits_of(darknet)
    assert sum(hits["main"].values()) > at_kill + 20, "killed after the crawl was over"
    assert not never_fetched(hits)
    recovered = survivor.stats.get("darkcrawl/redis/recovered_requests", 0) + again.stats.get(
        "darkcrawl/redis/recovered_requests", 0)
    assert survivor.stats.get("darkcrawl/redis/recovered_workers", 0) + again.stats.get(
        "darkcrawl/redis/recovered_workers", 0) == 1
    # what is fetched twice is what the killed worker had in flight (downloading or
    # parsing: CONCURRENT_REQUESTS, and popped for the next ones: the pop batch), no more
    twice = fetched_twice(hits)
    assert 1 <= recovered <= 4 + 8 + 2, recovered
    assert len(twice) <= recovered, (twice, recovered)


def test_workers_survive_a_redis_restart(darknet: Darknet, redis_server: RedisServer, tmp_path: Path,
                                         workers: Callable[..., Worker]) -> None:
    darknet.reset_hits()
    slow = {"DOWNLOAD_DELAY": "0.05", "CONCURRENT_REQUESTS": "4"}
    first = workers(tmp_path / "w1", redis_server.url, "-a", f"urls={darknet.url('main', '/')}", settings=slow)
    second = workers(tmp_path / "w2", redis_server.url, settings=slow)
    wait_for(lambda: sum(darknet["main"].hits.values()) >= 15, 60, "the crawl to get going")
    redis_server.restart(down_for=1.5)
    at_restart = sum(darknet["main"].hits.values())
    first.wait(180), second.wait(180)
    assert_finished(first, second)
    hits = hits_of(darknet)
    assert sum(hits["main"].values()) > at_restart + 20, "restarted after the crawl was over"
    assert first.stats.get("darkcrawl/redis/outages", 0) + second.stats.get("darkcrawl/redis/outages", 0) >= 1
    assert not never_fetched(hits)
    assert not fetched_twice(hits)


class _TimedSite(ThreadingHTTPServer):
    """One host that notes when each request arrived."""

    daemon_threads = True

    def __init__(self, pages: int) -> None:
        self.pages = pages
        self.arrivals: list[tuple[float, str]] = []
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _TimedHandler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/"


class _TimedHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _TimedSite

    def do_GET(self) -> None:  # noqa: N802
        with self.server.lock:
            self.server.arrivals.append((time.monotonic(), self.path))
        if self.path == "/":
            body = "".join(f'<a href="/p{i}.html">{i}</a>' for i in range(self.server.pages)).encode()
        elif self.path.startswith("/p"):
            body = b'<a href="/">home</a>'
        else:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


def test_politeness_holds_across_workers(redis_server: RedisServer, tmp_path: Path,
                                         workers: Callable[..., Worker]) -> None:
    delay = 0.4
    site = _TimedSite(pages=12)
    threading.Thread(target=site.serve_forever, daemon=True).start()
    try:
        polite = {"DOWNLOAD_DELAY": str(delay), "CONCURRENT_REQUESTS_PER_DOMAIN": "4"}
        first = workers(tmp_path / "w1", redis_server.url, "-a", f"urls={site.url}", settings=polite)
        second = workers(tmp_path / "w2", redis_server.url, settings=polite)
        first.wait(120), second.wait(120)
    finally:
        site.shutdown()
    assert_finished(first, second)
    times = sorted(t for t, _ in site.arrivals)
    paths = [path for _, path in site.arrivals]
    assert {f"/p{i}.html" for i in range(12)} <= set(paths)
    assert first.stats["darkcrawl/pages"] > 1 and second.stats["darkcrawl/pages"] > 1
    gaps = sorted(b - a for a, b in zip(times, times[1:]))
    # every request to the host, whichever worker sent it, DOWNLOAD_DELAY after the one
    # before (as the server sees it: a worker the OS holds back after its turn came, on a
    # busy machine, arrives a little late; without the shared reservation, requests of
    # the two workers arrive milliseconds apart)
    assert gaps[0] >= 0.75 * delay, [round(g, 3) for g in gaps]
    assert gaps[len(gaps) // 2] >= delay - 0.005, [round(g, 3) for g in gaps]


def test_pushed_seeds_are_checked_then_crawled(darknet: Darknet, redis_server: RedisServer, tmp_path: Path,
                                               workers: Callable[..., Worker]) -> None:
    darknet.reset_hits()
    seeds = tmp_path / "seeds.txt"
    seeds.write_text(
        "# two good seeds, three bad lines\n"
        f"{darknet.url('other', '/')}\n"
        "ftp://example.org/file\n"
        f"{darknet.url('broken', '/b1.html')}\n"
        "\n"
        "http://abcdefghijklmnop.onion/\n"
        "not a url\n"
    )
    result = pushseeds(redis_server.url, str(seeds))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "pushed 2 seeds" in result.stdout
    for line in (3, 6, 7):
        assert f"{seeds}:{line}:" in result.stderr, result.stderr
    assert result.stderr.count("bad seed skipped") == 3
    assert redis_server.client().llen(f"{PREFIX}:seeds") == 2
    missing = pushseeds(redis_server.url, str(tmp_path / "nope.txt"))
    assert missing.returncode == 2 and "not found" in missing.stderr

    worker = workers(tmp_path / "w", redis_server.url)  # no seeds of its own
    worker.wait(120)
    assert_finished(worker)
    assert worker.stats["darkcrawl/seeds/from_redis"] == 2
    assert darknet["other"].hits["/"] == 1 and darknet["other"].hits["/o1.html"] == 1
    assert darknet["broken"].hits["/b1.html"] == 1
    assert sum(darknet["main"].hits.values()) >= 1  # other's index links main: the crawl went on from there
    assert redis_server.client().llen(f"{PREFIX}:seeds") == 0


def test_a_worker_without_reboot_waits_for_work(darknet: Darknet, redis_server: RedisServer, tmp_path: Path,
                                                 workers: Callable[..., Worker]) -> None:
    darknet.reset_hits()
    worker = workers(tmp_path / "w", redis_server.url, settings={"DARC_REBOOT": "0", "TIME_CACHE": "inf"})
    wait_for(lambda: redis_server.client().hlen(f"{PREFIX}:workers") == 1, 30, "the worker to join")
    time.sleep(2)
    assert worker.process.poll() is None, worker.log[-3000:]  # nothing to do, yet it waits
    assert pushseeds(redis_server.url, darknet.url("broken", "/b1.html")).returncode == 0
    wait_for(lambda: darknet["broken"].hits["/b1.html"] == 1, 30, "the pushed seed to be fetched")
    wait_for(lambda: darknet["broken"].hits["/"] == 1, 30, "the pushed seed's links to be fetched")
    time.sleep(1)
    assert worker.process.poll() is None, worker.log[-3000:]
    worker.process.send_signal(signal.SIGINT)  # Ctrl-C: a clean stop
    assert worker.wait(60) == 4, worker.log[-3000:]  # interrupted (Ctrl-C), cleanly
    assert redis_server.client().hlen(f"{PREFIX}:workers") == 0


def test_cookies_imported_into_the_fleet_open_a_captcha_for_every_worker(redis_server: RedisServer, tmp_path: Path,
                                                                         workers: Callable[..., Worker]) -> None:
    """``SCRAPY_PROJECT=distributed scrapy cookies import`` puts a host's cookies in the fleet's
    Redis; a worker with a PATH_DATA of its own (no file store) gets behind the host's
    captcha with them, and is paced as behind a gate."""
    from tests.endgame import PAGES, EndGameSite

    with EndGameSite(delay=2.0, captcha=True) as site:
        exported = tmp_path / "cookies.txt"
        exported.write_text(f"{site.host}\tFALSE\t/\tFALSE\t0\tdcap\t{site.solved_cookie()}\n")
        imported = subprocess.run(
            [sys.executable, "-m", "scrapy", "cookies", "import", site.host, str(exported)], cwd=ROOT,
            capture_output=True, text=True, timeout=60,
            env={**os.environ, **_distributed_env(), "DARKCRAWL_REDIS_URL": redis_server.url})
        assert imported.returncode == 0, imported.stderr
        assert f"({PREFIX}:cookies)" in imported.stdout
        worker = workers(tmp_path / "w1", redis_server.url, "-a", f"urls={site.url('/')}")
        assert worker.wait(120) == 0, worker.log[-3000:]
    assert not site.bans() and not site.served("captcha") and not site.served("queue")
    assert {path for path, (kind, _body) in PAGES.items() if kind.startswith("text/html")} <= {
        v.path for v in site.served("content")}
    assert worker.stats["darkcrawl/cookies/imported_used"] >= 1
    assert worker.stats["darkcrawl/gates/imported_hosts"] == 1
    assert not (tmp_path / "w1" / "data" / "cookies").exists()  # from Redis, not from a file
