"""The gate middleware (darkcrawl/downloadermiddlewares/gates.py) with a stand-in engine:
answers read for a gate, a gated host's requests held then probed, a probe whose
connection dies taken for a ban (the host's cookies dropped), hosts that need a
person refused with the reason, renders given a pacer, hosts with imported cookies
paced.  The whole crawl against an EndGame-style site: tests/test_endgame.py."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from scrapy import Request, Spider
from scrapy.exceptions import NotConfigured
from scrapy.http import HtmlResponse, TextResponse
from scrapy.utils.misc import build_from_crawler
from scrapy.utils.test import get_crawler
from twisted.web._newclient import ResponseNeverReceived
from twisted.internet.error import ConnectionDone
from twisted.python.failure import Failure

from darkcrawl.downloadermiddlewares.cookies import OfflineCookiesMiddleware
from darkcrawl.downloadermiddlewares.gates import GateMiddleware, HostGateGaveUp, HostNeedsPerson
from darkcrawl.intel.cookiefiles import StoredCookie
from darkcrawl.meta import GATE_CHECKED_KEY, GATE_KEY, GATE_PACER_KEY, GATE_PROBE_KEY, NETWORK_KEY
from darkcrawl.policy.gates import Phase
from darkcrawl.storage.cookiestore import FileCookieStore
from tests.test_backoff import FakeDownloader, in_loop
from tests.endgame.site import BAN_TEXT, QUEUE_PAGE

ONION = "queuedxmplqueuedxmplqueuedxmplqueuedxmplqueuedxmplqueuedd.onion"
KEY = f"tor@{ONION}"
CAPTCHA = (b"<html><head><title>DDOS Protection</title></head><body><p>Prove that you are human.</p>"
           b"<form method=post><select name=cap><option>01</option></select><button>Verify</button></form></body></html>")
CONTENT = b"<html><head><title>Harbor</title></head><body>" + b"<p>listings and vendors</p>" * 400 + b"</body></html>"


def middleware(tmp_path: Path, **settings: Any) -> tuple[GateMiddleware, OfflineCookiesMiddleware]:
    crawler = get_crawler(Spider, {"ADDONS": {"darkcrawl.addon.Addon": 0}, "PATH_DATA": str(tmp_path),
                                   "CONCURRENT_REQUESTS": 4, "DARKCRAWL_GATE_MARGIN": 0.05,
                                   "DARKCRAWL_GATE_BAN_WAIT": 0.3, **settings})
    crawler._apply_settings()
    crawler.stats.open_spider()
    crawler.engine = SimpleNamespace(downloader=FakeDownloader(), running=True,
                                     _slot=SimpleNamespace(closing=None, nextcall=None,
                                                           scheduler=SimpleNamespace(has_pending_requests=lambda: False)))
    cookies = build_from_crawler(OfflineCookiesMiddleware, crawler)
    crawler.get_downloader_middleware = lambda cls: cookies  # what the gate middleware asks for
    return build_from_crawler(GateMiddleware, crawler), cookies


def request(path: str = "/", **meta: Any) -> Request:
    return Request(f"http://{ONION}{path}", meta={"download_slot": KEY, NETWORK_KEY: "tor", **meta})


def answer(req: Request, body: bytes, status: int = 200, content_type: str = "text/html",
           headers: dict[str, str] | None = None) -> TextResponse:
    cls = HtmlResponse if content_type == "text/html" else TextResponse
    return cls(req.url, status=status, body=body, encoding="utf-8", request=req,
               headers={"Content-Type": content_type, **(headers or {})})


def queue_page(delay: float) -> bytes:
    return QUEUE_PAGE.format(delay=f"{delay:g}").encode()


def first_answer(mw: GateMiddleware, cookies: OfflineCookiesMiddleware, body: bytes,
                 content_type: str = "text/html") -> Request:
    """The host's first answer: it sets the queue's cookie, and says *body*."""
    first = request()
    cookies.process_response(first, answer(first, b"", headers={"Set-Cookie": "dcap=q1; Path=/"}))
    mw.process_response(first, answer(first, body, content_type=content_type))
    return first


def test_off_with_gates_off(tmp_path):
    with pytest.raises(NotConfigured):
        middleware(tmp_path, DARKCRAWL_GATES=0)


@in_loop
async def test_a_queue_holds_the_host_until_its_delay_then_one_probe_lets_it_in(tmp_path):
    mw, cookies = middleware(tmp_path)
    first = request("/robots.txt")
    assert await mw.process_request(first) is None  # a host never seen goes
    cookies.process_response(first, answer(first, queue_page(0.2), headers={"Set-Cookie": "dcap=q1; Path=/"}))
    mw.process_response(first, answer(first, queue_page(0.2)))
    assert first.meta[GATE_KEY]["kind"] == "queue" and first.meta[GATE_KEY]["action"] == "wait"
    assert first.meta[GATE_CHECKED_KEY]
    loop = asyncio.get_running_loop()
    started = loop.time()
    probe, follower = request("/robots.txt"), request("/")
    waiting = asyncio.ensure_future(mw.process_request(probe))
    await asyncio.sleep(0.05)
    assert not waiting.done()  # held: the queue asked for 0.2 s
    assert await waiting is None and loop.time() - started >= 0.2
    token = probe.meta[GATE_PROBE_KEY]
    held = asyncio.ensure_future(mw.process_request(follower))
    await asyncio.sleep(0.05)
    assert not held.done()  # the others wait for the probe's answer
    mw.process_response(probe, answer(probe, b"User-agent: *\n", content_type="text/plain"))
    assert await asyncio.wait_for(held, 1) is None and GATE_PROBE_KEY not in follower.meta
    assert mw.book.phase(KEY) is Phase.OPEN and token
    assert mw.crawler.stats.get_value("darkcrawl/gates/passed") == 1


@in_loop
async def test_a_probe_whose_connection_dies_is_a_ban_and_the_cookies_go(tmp_path):
    mw, cookies = middleware(tmp_path)
    first_answer(mw, cookies, queue_page(0.1))
    probe = request()
    await mw.process_request(probe)
    cookies.process_request(probe)
    assert probe.headers.get(b"Cookie") == b"dcap=q1"
    # EndGame's answer to a cookie back too early: the connection closed, nothing said
    mw.process_exception(probe, ResponseNeverReceived([Failure(ConnectionDone())]))
    state = mw.book.table.hosts[KEY]
    assert (state.kind, state.bans, state.phase) == ("ban", 1, Phase.WAIT)
    fresh = request()
    cookies.process_request(fresh)
    assert not fresh.headers.get(b"Cookie")  # the banned cookie is gone from the jar
    assert mw.crawler.stats.get_value("darkcrawl/gates/banned") == 1


@in_loop
async def test_a_ban_page_drops_the_cookies(tmp_path):
    mw, cookies = middleware(tmp_path)
    first = first_answer(mw, cookies, BAN_TEXT.encode(), content_type="text/plain")
    assert first.meta[GATE_KEY]["kind"] == "ban" and first.meta[GATE_KEY]["rule"] == "endgame-ban"
    fresh = request()
    cookies.process_request(fresh)
    assert not fresh.headers.get(b"Cookie")


@in_loop
async def test_a_captcha_refuses_the_hosts_requests_with_the_reason(tmp_path):
    mw, _cookies = middleware(tmp_path)
    first = request()
    mw.process_response(first, answer(first, CAPTCHA))
    assert first.meta[GATE_KEY]["action"] == "person"
    with pytest.raises(HostNeedsPerson, match=f"{KEY} needs a person \\(captcha: .*\\): http://{ONION}/a"):
        await mw.process_request(request("/a"))
    assert mw.crawler.stats.get_value("darkcrawl/gates/refused") == 1
    assert mw.crawler.stats.get_value("darkcrawl/gates/needs_person") == 1


@in_loop
async def test_a_queue_that_never_opens_is_given_up(tmp_path):
    mw, _cookies = middleware(tmp_path, DARKCRAWL_GATE_MAX_ROUNDS=1)
    first = request()
    mw.process_response(first, answer(first, queue_page(0.05)))
    for _round in range(2):
        probe = request()
        await mw.process_request(probe)
        mw.process_response(probe, answer(probe, queue_page(0.05)))
    assert probe.meta[GATE_KEY]["action"] == "give_up"
    with pytest.raises(HostGateGaveUp, match="still gated after 2 rounds"):
        await mw.process_request(request("/b"))


@in_loop
async def test_an_ordinary_answer_is_not_read_closely(tmp_path):
    mw, _cookies = middleware(tmp_path)
    req = request()
    mw.process_response(req, answer(req, CONTENT))
    assert GATE_CHECKED_KEY not in req.meta and GATE_KEY not in req.meta
    assert not mw.book.table.hosts


@in_loop
async def test_a_gated_hosts_render_gets_a_pacer(tmp_path):
    mw, _cookies = middleware(tmp_path, DARKCRAWL_GATE_RATE=20, DARKCRAWL_GATE_BURST=1)
    first = request()
    mw.process_response(first, answer(first, queue_page(0.05)))
    probe = request()
    await mw.process_request(probe)
    mw.process_response(probe, answer(probe, CONTENT))
    render = request("/", playwright=True, download_slot=f"render@{ONION}")
    assert await mw.process_request(render) is None
    pacer = render.meta[GATE_PACER_KEY]
    loop = asyncio.get_running_loop()
    started = loop.time()
    for _resource in range(3):
        await pacer()  # the browser's requests to the host wait their turns: 20 a second
    assert loop.time() - started >= 0.1
    plain = request("/x")
    assert await mw.process_request(plain) is None and GATE_PACER_KEY not in plain.meta


@in_loop
async def test_a_host_with_imported_cookies_is_paced(tmp_path):
    FileCookieStore(tmp_path / "cookies" / "imported.json").put(ONION, [StoredCookie("dcap", "ok", ONION)], "c.txt")
    mw, _cookies = middleware(tmp_path, DARKCRAWL_GATE_RATE=10, DARKCRAWL_GATE_BURST=1)
    await mw.process_request(request("/a"))
    assert KEY in mw.book.table.hosts and mw.book.phase(KEY) is Phase.OPEN
    loop = asyncio.get_running_loop()
    started = loop.time()
    await mw.process_request(request("/b"))
    assert loop.time() - started >= 0.09
    other = Request("http://other.onion/", meta={"download_slot": "tor@other.onion", NETWORK_KEY: "tor"})
    await mw.process_request(other)
    assert "tor@other.onion" not in mw.book.table.hosts
