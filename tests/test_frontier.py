"""The embedded crash-proof frontier: serializer, store, scheduler, kill -9 and resume."""

from __future__ import annotations

import collections
import os
import signal
import sqlite3
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
from scrapy import Request, Spider
from scrapy_playwright.page import PageMethod

from darkcrawl.frontier import serialize
from darkcrawl.frontier.store import DONE, LEASED, PENDING, FrontierStore, StoredHostLedger, StoredRevisitSchedule
from tests.conftest import ROOT, crawl_argv, run_crawl
from tests.harness.http import HttpService, LoopbackHTTPServer


class _Spider(Spider):
    name = "s"

    def parse(self, response: Any) -> None:
        pass

    def on_error(self, failure: Any) -> None:
        pass


# -- serializer ------------------------------------------------------------------------------

ROUND_TRIPS = [
    ("tuple in meta", {"darkcrawl_link": ("tor", "x.onion", "x.onion:80")}),
    ("nested tuples and lists", {"a": [1, (2, (3, "4"))], "b": {"c": None, "d": True}}),
    ("bytes in meta", {"raw": b"\x00\xff\xfe"}),
    ("bootstrap state", {"darkcrawl_bootstrap": {"todo": [], "robots": None, "force": False, "visited": ["/a"]}}),
    ("dict that looks like a tag", {"x": {"__b": "not base64 but two keys", "y": 1}}),
]


@pytest.mark.parametrize("meta", [m for _, m in ROUND_TRIPS], ids=[n for n, _ in ROUND_TRIPS])
def test_serializer_round_trips(meta: dict[str, Any]) -> None:
    spider = _Spider()
    request = Request("http://a.onion/p?q=1", callback=spider.parse, errback=spider.on_error, priority=-3,
                      headers={"Accept": "text/html"}, body=b"\x01\x02", meta=meta, dont_filter=True)
    data = serialize.request_to_bytes(request, spider)
    assert b"pickle" not in data and data.startswith(b"{")
    back = serialize.request_from_bytes(data, spider)
    assert back.meta == meta
    assert (back.url, back.priority, back.body, back.dont_filter) == (request.url, -3, b"\x01\x02", True)
    assert back.headers.getlist("Accept") == [b"text/html"]
    assert back.callback == spider.parse and back.errback == spider.on_error


def test_serializer_keeps_page_methods() -> None:
    spider = _Spider()
    request = Request("http://x/", meta={"playwright_page_methods": [PageMethod("wait_for_timeout", 250)]})
    back = serialize.request_from_bytes(serialize.request_to_bytes(request, spider), spider)
    (method,) = back.meta["playwright_page_methods"]
    assert isinstance(method, PageMethod) and method.method == "wait_for_timeout" and method.args == (250,)


def test_serializer_refuses_live_objects_and_unknown_formats() -> None:
    spider = _Spider()
    with pytest.raises(TypeError):
        serialize.request_to_bytes(Request("http://x/", meta={"lock": threading.Lock()}), spider)
    with pytest.raises(ValueError):
        serialize.loads(b'{"v": 999, "r": {}}')


# -- store -----------------------------------------------------------------------------------


def test_store_survives_a_crash_at_the_last_commit(tmp_path: Path) -> None:
    path = tmp_path / "frontier.sqlite"
    store = FrontierStore(path, commit_delay=0)
    first = store.push("a", 0, "http://a/1", b"{}")
    store.push("a", 5, "http://a/2", b"{}")
    store.push("b", 0, "http://b/1", b"{}")
    popped = store.pop("a")
    assert popped is not None and popped[0] != first  # priority 5 first
    store.done(popped[0])
    leased = store.pop("a")
    assert leased is not None and leased[0] == first
    # now changes that are never committed: the process dies
    store.commit_delay = 1e9
    store._write().execute("INSERT INTO queue (slot, priority, url, data) VALUES ('c', 0, 'http://c/', x'')")
    store.db.close()  # no COMMIT: as after kill -9

    again = FrontierStore(path, commit_delay=0)
    assert again.count(PENDING) == 1 and again.count(LEASED) == 1 and again.count(DONE) == 1
    assert again.requeue_leased() == 1
    assert again.pending_by_slot() == {"a": 1, "b": 1}
    assert sorted(again.urls(PENDING)) == ["http://a/1", "http://b/1"]


def test_store_gives_the_seen_set_back_what_it_lacks(tmp_path: Path) -> None:
    from darkcrawl.seen.compact import CompactSeenSet
    from darkcrawl.seen.memory import MemorySeenSet

    store = FrontierStore(tmp_path / "f.sqlite", commit_delay=0)
    seen = CompactSeenSet(tmp_path / "seen.filter", capacity=1000)
    store.attach_seen(seen)
    for n in range(3):
        seen.add(f"http://a/{n}")
        store.push("a", 0, f"http://a/{n}", b"{}")
    store.checkpoint()  # saves the seen set with 0..2, forgets nothing pending
    for n in range(3, 5):
        seen.add(f"http://a/{n}")
        store.push("a", 0, f"http://a/{n}", b"{}")
    row, _ = store.pop("a")  # type: ignore[misc]
    store.done(row)
    store.db.close()  # crash: the seen set file has 0..2 only

    reopened = FrontierStore(tmp_path / "f.sqlite", commit_delay=0)
    fresh = CompactSeenSet(tmp_path / "seen.filter", capacity=1000)
    assert "http://a/4" not in fresh
    assert reopened.attach_seen(fresh) == 2
    assert all(f"http://a/{n}" in fresh for n in range(5))
    exact = MemorySeenSet()
    assert reopened.attach_seen(exact) == 5  # not saved anywhere: every row


def test_store_keeps_hosts_and_revisits(tmp_path: Path) -> None:
    store = FrontierStore(tmp_path / "f.sqlite", commit_delay=0)
    ledger = StoredHostLedger(store)
    assert ledger.claim_bootstrap("tor|x.onion", 100.0, None)
    ledger.count_page("tor|x.onion")
    revisits = StoredRevisitSchedule(60.0, store)
    revisits.visited("http://x.onion/", 1, 1000.0, "digest")
    store.commit()
    store.db.close()

    store = FrontierStore(tmp_path / "f.sqlite", commit_delay=0)
    ledger = StoredHostLedger(store)
    assert not ledger.claim_bootstrap("tor|x.onion", 200.0, None)
    assert ledger.pages("tor|x.onion") == 1
    revisits = StoredRevisitSchedule(60.0, store)
    assert revisits.pop_due(1059.0) == []
    assert revisits.pop_due(1060.0) == [("http://x.onion/", 1)]


# -- a crawl killed midway -------------------------------------------------------------------

PAGES = 150  # a binary tree of pages: /p/n links to /p/2n+1 and /p/2n+2


class _TreeWeb(HttpService):
    """A slow site on loopback that counts every hit."""

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.hits: collections.Counter[str] = collections.Counter()
        lock = threading.Lock()
        web = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with lock:
                    web.hits[self.path] += 1
                if self.path == "/robots.txt":
                    body = b"User-agent: *\nDisallow:\n"
                    ctype = "text/plain"
                elif self.path.startswith("/p/"):
                    time.sleep(delay)
                    n = int(self.path[3:])
                    links = "".join(f'<a href="/p/{c}">{c}</a>' for c in (2 * n + 1, 2 * n + 2) if c < PAGES)
                    body = f"<html><body><h1>page {n}</h1>{links}</body></html>".encode()
                    ctype = "text/html"
                else:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        class Server(LoopbackHTTPServer):
            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # the crawler it serves is killed on purpose

        self.handler_class, self.server_class = Handler, Server
        self.bind()

    @property
    def root(self) -> str:
        return self.url("/p/0")

    def page_hits(self) -> collections.Counter[str]:
        return collections.Counter({path: n for path, n in self.hits.items() if path.startswith("/p/")})


SETTINGS = {"CONCURRENT_REQUESTS": 4, "CONCURRENT_REQUESTS_PER_DOMAIN": 2, "ROBOTSTXT_OBEY": "True"}


def _start(workdir: Path, url: str) -> subprocess.Popen[bytes]:
    argv = crawl_argv(workdir, "-a", f"urls={url}", settings=SETTINGS)
    return subprocess.Popen(argv, cwd=ROOT, env={**os.environ, "DARKCRAWL_ALLOW_LOOPBACK": "1"},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)


def _wait_for_hits(web: _TreeWeb, proc: subprocess.Popen[bytes], count: int) -> None:
    deadline = time.monotonic() + 60
    while sum(web.page_hits().values()) < count:
        assert proc.poll() is None, proc.stderr.read().decode()[-3000:]  # type: ignore[union-attr]
        assert time.monotonic() < deadline, "the crawl did not get going"
        time.sleep(0.02)


@pytest.mark.parametrize("how", ["kill -9", "Ctrl-C"])
def test_a_stopped_crawl_resumes_and_loses_nothing(tmp_path: Path, how: str) -> None:
    with _TreeWeb(delay=0.05) as web:
        proc = _start(tmp_path, web.root)
        _wait_for_hits(web, proc, PAGES // 3)
        if how == "kill -9":
            os.killpg(proc.pid, signal.SIGKILL)
        else:
            os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=60)
        first = web.page_hits()
        assert 0 < len(first) < PAGES, "stopped midway"

        state = sqlite3.connect(tmp_path / "data" / "job" / "frontier.sqlite")
        unfinished = {url.split("/", 3)[3] for (url,) in state.execute("SELECT url FROM queue WHERE state != 2")}
        done = state.execute("SELECT count(*) FROM queue WHERE state = 2").fetchone()[0]
        state.close()
        assert unfinished, "the unfinished part of the crawl is on disk"
        assert done >= len(first) - len(unfinished), "what was finished is marked so"

        result = run_crawl(tmp_path, "-a", f"urls={web.root}", settings=SETTINGS)
        assert result.returncode == 0, result.log[-3000:]
        hits = web.page_hits()

    assert set(hits) == {f"/p/{n}" for n in range(PAGES)}, "every page fetched"
    twice = {path: n for path, n in hits.items() if n > 1}
    # Fetched again: only what the file did not have as done at the kill, i.e. the
    # requests in flight (at most CONCURRENT_REQUESTS) and those of the last uncommitted
    # 50 ms. A graceful stop finishes them first.
    assert {path.lstrip("/") for path in twice} <= unfinished, twice
    assert max(twice.values(), default=1) <= 2
    if how == "Ctrl-C":
        assert not twice
    assert result.stats.get("darkcrawl/frontier/resumed", 0) > 0
    # the host is bootstrapped (robots.txt saved) once; the robots middleware reads it once per process
    assert web.hits["/robots.txt"] <= 3


def test_jobdir_empty_keeps_the_frontier_in_memory(tmp_path: Path) -> None:
    with _TreeWeb(delay=0) as web:
        result = run_crawl(tmp_path, "-a", f"urls={web.root}", settings={"JOBDIR": ""})
        assert result.returncode == 0, result.log[-3000:]
        assert len(web.page_hits()) == PAGES
    assert not (tmp_path / "data" / "job").exists()
    assert "darkcrawl/frontier/resumed" not in result.stats


def test_a_request_dict_is_scrapys_without_the_search() -> None:
    """serialize.request_dict == Request.to_dict(spider=...): the spider's methods, no
    callback, a FormRequest subclass."""
    from scrapy import FormRequest, Request, Spider

    from darkcrawl.frontier.serialize import request_dict

    class S(Spider):
        name = "s"

        def parse(self, response):  # noqa: ANN001, ANN201
            pass

        def on_error(self, failure):  # noqa: ANN001, ANN201
            pass

    spider = S()
    for request in (Request("http://a.example/", callback=spider.parse, errback=spider.on_error, meta={"x": 1}),
                    Request("http://a.example/", priority=3),
                    FormRequest("http://a.example/f", formdata={"a": "b"}, callback=spider.parse)):
        assert request_dict(request, spider) == request.to_dict(spider=spider)
