"""Cookie caps: per host, per jar, per cookie, and the Cookie: header sent."""

from __future__ import annotations

import pytest
from scrapy import Request
from scrapy.http import Response
from scrapy.utils.test import get_crawler

from darkcrawl.downloadermiddlewares.cookies import OfflineCookiesMiddleware, cut_cookie_header


def _middleware(**settings):
    crawler = get_crawler(settings_dict={"COOKIES_ENABLED": True, **settings})
    crawler.stats.open_spider()
    return OfflineCookiesMiddleware.from_crawler(crawler), crawler.stats


def _set(mw, url, *cookies):
    request = Request(url)
    mw.process_request(request)
    mw.process_response(request, Response(url, headers={"Set-Cookie": list(cookies)}, request=request))


def _sent(mw, url) -> bytes:
    request = Request(url)
    mw.process_request(request)
    return request.headers.get(b"Cookie") or b""


def _names(header: bytes) -> set[str]:
    return {pair.split(b"=", 1)[0].decode() for pair in header.split(b"; ") if pair}


def test_a_cookie_bomb_keeps_the_last_cookies_up_to_the_host_cap():
    mw, stats = _middleware()
    _set(mw, "http://bomb.example/", *[f"c{i}=v{i}" for i in range(10_000)])
    sent = _sent(mw, "http://bomb.example/next")
    assert len(_names(sent)) == 180 and "c9999" in _names(sent) and "c0" not in _names(sent)
    assert len(sent) < 8192
    assert stats.get_value("darkcrawl/cookies/dropped/per_host") == 10_000 - 180


def test_cookies_set_one_by_one_evict_the_least_recently_set():
    mw, stats = _middleware(DARKCRAWL_COOKIES_PER_HOST=5)
    for i in range(8):
        _set(mw, "http://drip.example/", f"c{i}=v")
    _set(mw, "http://drip.example/", "c3=again")  # set again: recent now
    _set(mw, "http://drip.example/", "c8=v")
    assert _names(_sent(mw, "http://drip.example/")) == {"c3", "c5", "c6", "c7", "c8"}
    assert stats.get_value("darkcrawl/cookies/dropped/per_host") == 4
    # other hosts are not touched by one host's cap
    _set(mw, "http://other.example/", "keep=1")
    assert _names(_sent(mw, "http://other.example/")) == {"keep"}


def test_the_jar_has_a_total_cap_across_hosts():
    mw, stats = _middleware(DARKCRAWL_COOKIES_TOTAL=50)
    for host in range(10):
        _set(mw, f"http://h{host}.example/", *[f"c{i}=v" for i in range(10)])
    assert _names(_sent(mw, "http://h0.example/")) == set()  # the oldest hosts' cookies went first
    assert len(_names(_sent(mw, "http://h9.example/"))) == 10
    assert sum(1 for _ in mw.jars[None].jar) == 50
    assert stats.get_value("darkcrawl/cookies/dropped/total") == 50


def test_a_cookie_over_4096_bytes_is_dropped():
    mw, stats = _middleware()
    _set(mw, "http://big.example/", "big=" + "x" * 5000, "small=1", "edge=" + "y" * (4096 - 4))
    assert _names(_sent(mw, "http://big.example/")) == {"small", "edge"}
    assert stats.get_value("darkcrawl/cookies/dropped/too_large") == 1


def test_the_cookie_header_sent_is_bounded():
    mw, stats = _middleware()
    _set(mw, "http://wide.example/", *[f"c{i}=" + "z" * 4000 for i in range(10)])  # 10 cookies, 40 KB
    sent = _sent(mw, "http://wide.example/")
    assert 0 < len(sent) <= 8192 and len(_names(sent)) == 2
    assert stats.get_value("darkcrawl/cookies/header_cut") == 1
    assert stats.get_value("darkcrawl/cookies/left_out") == 8


@pytest.mark.parametrize(
    ("header", "limit", "expected"),
    [
        (b"a=1; b=2; c=3", 100, (b"a=1; b=2; c=3", 0)),
        (b"a=1; b=2; c=3", 8, (b"a=1; b=2", 1)),
        (b"a=1; b=2; c=3", 7, (b"a=1", 2)),
        (b"abcdef=1", 3, (b"", 1)),
    ],
)
def test_cut_cookie_header(header, limit, expected):
    assert cut_cookie_header(header, limit) == expected
