"""Bounded headers records: caps on header lines, value length, cookies listed and
total size, with a note of what was cut, the same in the file and the payload."""

from __future__ import annotations

import json
from pathlib import Path

from scrapy import Request
from scrapy.http import Headers, Response

from darkcrawl.items import LinkMetadata, PageItem
from darkcrawl.records import (
    RecordLimits,
    bound_cookies,
    bound_history,
    bound_page_record,
    cookie_dict,
    headers_dict,
    headers_record,
    response_cookies,
)
from darkcrawl.submission.payloads import requests_payload

LIMITS = RecordLimits()


def test_unbounded_headers_are_darcs_shape():
    headers = Headers({"Content-Type": "text/html", "Set-Cookie": ["a=1", "b=2"]})
    assert headers_dict(headers) == {"Content-Type": "text/html", "Set-Cookie": "a=1, b=2"}
    cut: list[str] = []
    assert headers_dict(headers, LIMITS, cut) == headers_dict(headers) and cut == []


def test_a_set_cookie_bomb_keeps_the_first_lines_and_says_so():
    headers = Headers({"Content-Type": "text/html", "Set-Cookie": [f"c{i}=v{i}" for i in range(10_000)]})
    cut: list[str] = []
    record = headers_dict(headers, LIMITS, cut, "response headers")
    assert record["Content-Type"] == "text/html"
    assert record["Set-Cookie"].count("=") == 99  # 100 lines, Content-Type one of them
    assert cut == ["response headers: 9,901 of 10,001 lines dropped (over 100), "
                   "all Set-Cookie: 9,901 of 10,000 values"]


def test_ten_thousand_headers_and_long_values():
    headers = Headers({f"X-Bomb-{i}": "v" for i in range(10_000)})
    headers["X-Long"] = "x" * 20_000
    cut: list[str] = []
    record = headers_dict(headers, RecordLimits(max_headers=50, max_value=100), cut, "response headers")
    assert len(record) == 50
    assert cut[0].startswith("response headers: 9,951 of 10,001 lines dropped (over 50): X-Bomb-50, X-Bomb-51")
    assert cut[0].endswith("(9,951 names)")
    cut = []
    record = headers_dict(Headers({"X-Long": "x" * 20_000}), LIMITS, cut, "response headers")
    assert len(record["X-Long"]) == 8192
    assert cut == ["response headers: 1 values cut to 8,192 characters: X-Long"]


def test_cookies_of_a_response_are_parsed_up_to_the_cap():
    url = "http://bomb.example/"
    response = Response(url, headers={"Set-Cookie": [f"c{i}=v" for i in range(10_000)]})
    cut: list[str] = []
    cookies = response_cookies(Request(url), response, LIMITS, cut)
    assert [c.name for c in cookies] == [f"c{i}" for i in range(180)]
    assert cut == ["Cookies: 9,820 of 10,000 cookies set not listed (over 180)"]
    assert len(response_cookies(Request(url), Response(url, headers={"Set-Cookie": ["a=1"] * 300}))) == 300


def test_a_huge_cookie_value_is_cut_in_the_record():
    url = "http://bomb.example/"
    response = Response(url, headers={"Set-Cookie": "big=" + "x" * 15_000 + "; Path=/"})
    cut: list[str] = []
    records = bound_cookies([cookie_dict(c) for c in response_cookies(Request(url), response)], LIMITS, cut, "Cookies")
    assert len(records[0]["value"]) == 8192 and records[0]["path"] == "/"
    assert cut == ["Cookies: 1 cookies with fields cut to 8,192 characters"]


def test_redirect_hops_are_bounded():
    hop = {"URL": "http://a.example/", "Status-Code": 302, "Cookies": {f"c{i}": "v" for i in range(1000)},
           "Request": {"Accept": "*/*"}, "Response": {"Set-Cookie": "c=v, " * 100_000, "Location": "/b"}}
    cut: list[str] = []
    (bounded,) = bound_history([hop], LIMITS, cut)
    assert len(bounded["Cookies"]) == 180 and len(bounded["Response"]["Set-Cookie"]) == 8192
    assert bounded["Response"]["Location"] == "/b" and bounded["Status-Code"] == 302
    assert cut == ["History[1] response headers: 1 values cut to 8,192 characters: Set-Cookie",
                   "History[1] Cookies: 820 of 1,000 not listed (over 180)"]


def _item(**fields) -> PageItem:
    link = LinkMetadata(url="http://bomb.example/", network="clearnet", scheme="http", host="bomb.example")
    return PageItem(link=link, timestamp="2026-12-03T08:00:00+00:00", final_url=link.url, method="GET", status=200,
                    reason="OK", content_type="text/html", request_headers={"Accept": "*/*"},
                    response_headers={}, body=b"<html>167 bytes</html>", **fields)


def test_the_whole_record_and_its_payload_stay_under_the_total_cap():
    # each part within its own caps, together far over 256 KiB
    item = _item(history=[{"URL": f"http://bomb.example/{n}", "Response": {f"X-{i}": "h" * 8000 for i in range(30)}}
                          for n in range(5)],
                 session=[{"name": f"s{i}", "value": "s" * 4000} for i in range(180)])
    item.response_headers = {f"X-Page-{i}": "p" * 8000 for i in range(100)}
    limits = RecordLimits(max_record=256 * 1024)
    bound_page_record(item, limits, [])
    record = headers_record(item, "clearnet/http/bomb.example", "abc")
    assert len(json.dumps(record, ensure_ascii=False).encode()) <= 256 * 1024
    assert record["cut"][0] == "History: 5 of 5 entries dropped (the record was over 262,144 bytes)"
    assert record["cut"][1] == "Session: 180 of 180 entries dropped (the record was over 262,144 bytes)"
    assert record["cut"][2].startswith("Response: ") and 0 < len(record["Response"]) < 100
    assert record["Request"] == {"Accept": "*/*"}  # small parts are kept
    payload = requests_payload(item, Path("."))
    payload.pop("Document")
    assert payload["cut"] == record["cut"]
    assert len(json.dumps(payload, ensure_ascii=False).encode()) <= 256 * 1024


def test_a_small_record_is_untouched():
    item = _item(cookies=[{"name": "a", "value": "1"}])
    bound_page_record(item, LIMITS, [])
    assert item.cut == [] and "cut" not in headers_record(item, "b", "n")
