"""Cookie and header bombs, crawled: the cookie jar, the headers records and the
API payloads stay under their caps, with a note of what was cut."""

from __future__ import annotations

import json

from tests.bombweb import BombSite
from tests.conftest import run_crawl

MAX_RECORD = 256 * 1024


def _by_path(records: list[dict], site: BombSite) -> dict[str, dict]:
    return {record["[metadata]"]["url"].removeprefix(site.url("")): record for record in records}


def test_cookie_and_header_bombs_are_bounded(tmp_path):
    with BombSite() as site:
        result = run_crawl(
            tmp_path, "-a", f"urls={site.url('/')}",
            # nothing listens there: the payloads stay in the spool, where they are checked
            settings={"API_REQUESTS": "http://127.0.7.2:9/api/requests", "API_RETRY": 0,
                      "DARKCRAWL_API_CLOSE_TIMEOUT": 5, "RETRY_TIMES": 0},
            timeout=120,
        )
        sent = {path: list(cookies) for path, cookies in site.requests.items()}
    assert result.returncode == 0, result.log[-3000:]
    assert "Traceback" not in result.log

    # the jar: 180 cookies of the 10,000, the huge one dropped; the header sent is bounded
    (after,) = sent["/after"]
    assert after and len(after[0]) <= 8192
    assert len(after[0].split("; ")) == 180 and "big=" not in after[0]
    # the last 180 of each bomb kept; the redirect's then evicted the page's (or the other way round)
    assert result.stats["darkcrawl/cookies/dropped/per_host"] == (10_000 - 180) + (5_000 - 180) + 180
    assert result.stats["darkcrawl/cookies/dropped/too_large"] == 1

    # the headers records
    records = result.headers_records()
    assert all(len(json.dumps(r, ensure_ascii=False).encode()) <= MAX_RECORD for r in records)
    pages = _by_path(records, site)
    cookies = pages["/cookies"]
    assert cookies["Response"]["Set-Cookie"].count("=v") < 100 and len(cookies["Cookies"]) == 180
    assert "Cookies: 9,820 of 10,000 cookies set not listed (over 180)" in cookies["cut"]
    assert any(note.startswith("response headers: 9,902 of 10,002 lines dropped (over 100), all Set-Cookie")
               for note in cookies["cut"])
    headers = pages["/headers"]
    assert len(headers["Response"]) == 100 and headers["cut"][0].startswith("response headers: 9,902 of 10,002")
    big = pages["/bigcookie"]
    assert len(big["Cookies"][0]["value"]) == 8192 and len(big["Response"]["Set-Cookie"]) == 8192
    assert "Cookies: 1 cookies with fields cut to 8,192 characters" in big["cut"]
    wide = pages["/wide"]  # 30 header values of 8,000 latin-1 bytes, 16 KB each as JSON: over the total
    assert any(note.startswith("Response: ") and "(the record was over 262,144 bytes)" in note for note in wide["cut"])
    assert wide["Response"]["Content-Type"] == "text/html"  # the first headers are the ones kept
    hop = pages["/redirect"]["History"][0]
    assert len(hop["Cookies"]) == 180 and "History[1] Cookies: 4,820 of 5,000 not listed (over 180)" in pages["/redirect"]["cut"]
    assert "cut" not in pages["/"]
    assert result.stats["darkcrawl/records/cut"] == 5

    # the payloads of the same pages, as spooled: the same caps and notes, the document aside
    spooled = [json.loads(path.read_text()) for path in result.data.glob("api/**/requests/*.json")]
    assert len(spooled) == len(records)
    for payload in spooled:
        payload.pop("Document")
        assert len(json.dumps(payload, ensure_ascii=False).encode()) <= MAX_RECORD
    assert {tuple(p.get("cut", ())) for p in spooled} == {tuple(r.get("cut", ())) for r in records}

    # a 1 MB header line, 2 MB of headers: the fetch fails at once, saying why (darkcrawl.headerlimits)
    assert f"fetch failed {site.url('/hugeline')}: " in result.log
    assert "response headers refused: a response header line over 16,384 bytes" in result.log
    assert f"fetch failed {site.url('/endless')}: " in result.log
    assert "response headers refused: response headers over 262,144 bytes" in result.log
    assert "/hugeline" not in pages and "/endless" not in pages
    assert len(sent["/endless"]) == 1  # not retried either (RETRY_TIMES=0 here), nothing else asked
