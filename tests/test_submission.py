"""Submission payloads (darc 1.0.3's shapes), the spool, and sending to a real local API."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from darkcrawl.items import LinkMetadata, NewHostItem, PageItem
from darkcrawl.storage.paths import url_hash
from darkcrawl.submission.payloads import new_host_payload, requests_payload, selenium_payload
from darkcrawl.submission.spool import Outcome, Spool, backoff_delay, make_client, send
from tests.apiserver import ApiServer

ROOT = Path(__file__).resolve().parent.parent

URL = "http://example.onion/path?q=1"
HASH = url_hash(URL)
TS = "2024-05-06T07:08:09.123456+00:00"
TOKEN = "20240506T070809.123456Z"
BASE = "tor/http/example.onion"
ROOT_URL = "http://example.onion/"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def metadata(url: str = URL, backref: str | None = "http://parent.onion/") -> dict[str, Any]:
    return {"url": url, "proxy": "tor", "host": "example.onion", "base": BASE, "name": url_hash(url),
            "backref": backref}


def page(**changes: Any) -> PageItem:
    values: dict[str, Any] = dict(
        link=LinkMetadata(url=URL, network="tor", scheme="http", host="example.onion", backref="http://parent.onion/"),
        timestamp=TS, final_url=URL, method="GET", status=200, reason="OK", content_type="text/html",
        request_headers={"User-Agent": "x"}, response_headers={"Content-Type": "text/html"},
        body=b"<html>hi</html>", is_html=True,
        document_path=f"{BASE}/{HASH}_{TOKEN}_raw.html", headers_path=f"{BASE}/{HASH}_{TOKEN}.json",
    )
    values.update(changes)
    return PageItem(**values)


COOKIE = {"version": 0, "name": "session", "value": "abc", "port": None, "port_specified": False,
          "domain": "example.onion", "domain_specified": False, "domain_initial_dot": False, "path": "/",
          "path_specified": True, "secure": False, "expires": None, "discard": True, "comment": None,
          "comment_url": None, "rfc2109": False, "_rest": {}}
HOP = {"URL": "http://example.onion/old", "Method": "GET", "Status-Code": 301, "Reason": "Moved Permanently",
       "Cookies": {"hop": "1"}, "Request": {"User-Agent": "x"}, "Response": {"Location": URL}}

REQUESTS_CASES = [
    pytest.param(
        page(),
        {
            "[metadata]": metadata(), "Timestamp": TS, "URL": URL, "Method": "GET", "Status-Code": 200,
            "Reason": "OK", "Cookies": [], "Session": [], "Request": {"User-Agent": "x"},
            "Response": {"Content-Type": "text/html"}, "Content-Type": "text/html",
            "Document": {"path": f"{BASE}/{HASH}_{TOKEN}_raw.html", "data": b64(b"<html>hi</html>")},
            "History": [],
        },
        id="html",
    ),
    pytest.param(
        # URL is the requested link (darc's link.url), not where the redirects ended
        page(final_url="http://example.onion/new", cookies=[COOKIE], session=[COOKIE], history=[HOP],
             link=LinkMetadata(url=URL, network="tor", scheme="http", host="example.onion")),
        {
            "[metadata]": metadata(backref=None), "Timestamp": TS, "URL": URL, "Method": "GET",
            "Status-Code": 200, "Reason": "OK", "Cookies": [COOKIE], "Session": [COOKIE],
            "Request": {"User-Agent": "x"}, "Response": {"Content-Type": "text/html"},
            "Content-Type": "text/html",
            "Document": {"path": f"{BASE}/{HASH}_{TOKEN}_raw.html", "data": b64(b"<html>hi</html>")},
            "History": [HOP],
        },
        id="redirected-with-cookies",
    ),
    pytest.param(
        # not saved by the storage pipeline: the path it would have used
        page(content_type="application/pdf", body=b"%PDF-1.4", is_html=False, status=404, reason="Not Found",
             document_path=None),
        {
            "[metadata]": metadata(), "Timestamp": TS, "URL": URL, "Method": "GET", "Status-Code": 404,
            "Reason": "Not Found", "Cookies": [], "Session": [], "Request": {"User-Agent": "x"},
            "Response": {"Content-Type": "text/html"}, "Content-Type": "application/pdf",
            "Document": {"path": f"{BASE}/{HASH}_{TOKEN}_raw.pdf", "data": b64(b"%PDF-1.4")},
            "History": [],
        },
        id="binary-unsaved",
    ),
]


@pytest.mark.parametrize(("item", "expected"), REQUESTS_CASES)
def test_requests_payload(item: PageItem, expected: dict[str, Any], tmp_path: Path) -> None:
    assert requests_payload(item, tmp_path) == expected


ROBOTS = b"User-agent: *\nDisallow: /private/\n"
SITEMAP = b"<urlset/>"
HOSTS = b"a.i2p=AAAA\n"
SITEMAP_PATH = f"{BASE}/sitemap_{url_hash(ROOT_URL + 'sitemap.xml')}.xml"


def new_host(**changes: Any) -> NewHostItem:
    values: dict[str, Any] = dict(
        link=LinkMetadata(url=ROOT_URL, network="tor", scheme="http", host="example.onion"),
        timestamp=TS, url=ROOT_URL,
    )
    values.update(changes)
    return NewHostItem(**values)


def host_metadata(network: str = "tor", host: str = "example.onion", url: str = ROOT_URL) -> dict[str, Any]:
    return {"url": url, "proxy": network, "host": host, "base": f"{network}/http/{host}",
            "name": url_hash(url), "backref": None}


NEW_HOST_CASES = [
    pytest.param(
        new_host(),
        {"$PARTIAL$": False, "$FORCE$": False, "$RELOAD$": False, "[metadata]": host_metadata(),
         "Timestamp": TS, "URL": ROOT_URL, "Robots": None, "Sitemaps": None, "Hosts": None},
        id="bare",
    ),
    pytest.param(
        new_host(robots=f"{BASE}/robots.txt", sitemaps=[SITEMAP_PATH], force=True),
        {"$PARTIAL$": False, "$FORCE$": True, "$RELOAD$": True, "[metadata]": host_metadata(),
         "Timestamp": TS, "URL": ROOT_URL,
         "Robots": {"path": f"{BASE}/robots.txt", "data": b64(ROBOTS)},
         "Sitemaps": [{"path": SITEMAP_PATH, "data": b64(SITEMAP)}], "Hosts": None},
        id="robots-sitemap-forced",
    ),
    pytest.param(
        new_host(link=LinkMetadata(url="http://x.i2p/", network="i2p", scheme="http", host="x.i2p"),
                 url="http://x.i2p/", hosts="i2p/http/x.i2p/hosts.txt", partial=True),
        {"$PARTIAL$": True, "$FORCE$": False, "$RELOAD$": False,
         "[metadata]": host_metadata("i2p", "x.i2p", "http://x.i2p/"),
         "Timestamp": TS, "URL": "http://x.i2p/", "Robots": None, "Sitemaps": None,
         "Hosts": {"path": "i2p/http/x.i2p/hosts.txt", "data": b64(HOSTS)}},
        id="i2p-hosts-partial",
    ),
    pytest.param(
        # a listed file that is gone keeps its path, with no data
        new_host(robots=f"{BASE}/missing.txt"),
        {"$PARTIAL$": False, "$FORCE$": False, "$RELOAD$": False, "[metadata]": host_metadata(),
         "Timestamp": TS, "URL": ROOT_URL, "Robots": {"path": f"{BASE}/missing.txt", "data": None},
         "Sitemaps": None, "Hosts": None},
        id="file-missing",
    ),
]


@pytest.mark.parametrize(("item", "expected"), NEW_HOST_CASES)
def test_new_host_payload(item: NewHostItem, expected: dict[str, Any], tmp_path: Path) -> None:
    for relative, data in ((f"{BASE}/robots.txt", ROBOTS), (SITEMAP_PATH, SITEMAP),
                           ("i2p/http/x.i2p/hosts.txt", HOSTS)):
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_bytes(data)
    assert new_host_payload(item, tmp_path) == expected


LINK = LinkMetadata(url=URL, network="tor", scheme="http", host="example.onion", backref="http://parent.onion/")
SELENIUM_CASES = [
    pytest.param(
        (LINK, TS, "<html>é</html>".encode(), f"{BASE}/{HASH}_{TOKEN}.html", b"\x89PNG", f"{BASE}/{HASH}_{TOKEN}.png"),
        {"[metadata]": metadata(), "Timestamp": TS, "URL": URL,
         "Document": {"path": f"{BASE}/{HASH}_{TOKEN}.html", "data": b64("<html>é</html>".encode())},
         "Screenshot": {"path": f"{BASE}/{HASH}_{TOKEN}.png", "data": b64(b"\x89PNG")}},
        id="with-screenshot",
    ),
    pytest.param(
        (LINK, TS, b"<html/>", f"{BASE}/{HASH}_{TOKEN}.html", None, None),
        {"[metadata]": metadata(), "Timestamp": TS, "URL": URL,
         "Document": {"path": f"{BASE}/{HASH}_{TOKEN}.html", "data": b64(b"<html/>")}, "Screenshot": None},
        id="no-screenshot",
    ),
]


@pytest.mark.parametrize(("args", "expected"), SELENIUM_CASES)
def test_selenium_payload(args: tuple[Any, ...], expected: dict[str, Any]) -> None:
    assert selenium_payload(*args) == expected


def test_payloads_are_json() -> None:
    json.dumps(requests_payload(page(), Path("/nonexistent")))


# -- spool --------------------------------------------------------------------------


def when(offset: float = 0.0) -> datetime:
    return datetime(2024, 5, 6, 23, 59, 59, tzinfo=timezone.utc) + timedelta(seconds=offset)


def test_put_writes_darc_layout(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    path = spool.put("requests", BASE, HASH, when(), {"a": 1})
    assert path == tmp_path / "api" / "2024-05-06" / BASE / "requests" / f"{HASH}_20240506T235959.000000Z.json"
    assert json.loads(path.read_bytes()) == {"a": 1}
    assert list(spool.pending()) == [("requests", path)]
    spool.done(path)
    assert list(spool.pending()) == []
    spool.done(path)  # twice is harmless


def test_put_rejects_unknown_event(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        Spool(tmp_path).put("other", BASE, HASH, when(), {})


def test_pending_is_oldest_first_across_days_hosts_and_events(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    made = [
        spool.put("requests", "clearnet/http/b", "b" * 64, when(5), {}),  # next day
        spool.put("new_host", "tor/http/a", "c" * 64, when(-1), {}),
        spool.put("requests", "tor/http/a", "a" * 64, when(-2), {}),
        spool.put("selenium", "tor/http/z", "0" * 64, when(0), {}),
    ]
    order = [made[2], made[1], made[3], made[0]]
    assert [p for _, p in spool.pending()] == order
    assert [e for e, _ in spool.pending()] == ["requests", "new_host", "selenium", "requests"]
    assert [p for _, p in spool.pending({"requests"})] == [made[2], made[0]]
    assert spool.count() == 4


def test_pending_ignores_temporary_and_stray_files(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    path = spool.put("requests", BASE, HASH, when(), {})
    (path.parent / f".{path.name}.123.0.tmp").write_bytes(b'{"torn')  # a write killed midway
    (path.parent / "notes.txt").write_text("x")
    # a host folder named like an event is not an event folder
    (spool.dir / "2024-05-06" / "clearnet" / "http" / "requests").mkdir(parents=True)
    (spool.dir / "2024-05-06" / "clearnet" / "http" / "requests" / "x.json").write_text("{}")
    assert list(spool.pending()) == [("requests", path)]


def test_prune_removes_only_empty_folders(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    keep = spool.put("requests", BASE, HASH, when(), {})
    gone = spool.put("new_host", "clearnet/http/x", HASH, when(), {})
    spool.done(gone)
    spool.prune()
    assert keep.exists() and not (spool.dir / "2024-05-06" / "clearnet").exists()
    assert spool.dir.is_dir()
    spool.done(keep)
    spool.prune()
    assert list(spool.dir.iterdir()) == []


def test_prune_removes_stale_temporary_files(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    path = spool.put("requests", BASE, HASH, when(), {})
    stale = path.parent / f".{path.name}.999.0.tmp"
    fresh = path.parent / f".{path.name}.999.1.tmp"
    stale.write_bytes(b"{")
    fresh.write_bytes(b"{")
    os.utime(stale, (time.time() - 7200, time.time() - 7200))
    spool.done(path)
    spool.prune()
    assert not stale.exists() and fresh.exists()  # a write in progress elsewhere is left alone


def test_rewrite_is_atomic_for_concurrent_readers(tmp_path: Path) -> None:
    """A reader never sees a half-written payload, even while the same file is rewritten."""
    spool = Spool(tmp_path)
    payloads = [{"data": c * 200_000} for c in "abcdef"]
    path = spool.put("requests", BASE, HASH, when(), payloads[0])
    stop = threading.Event()
    bad: list[str] = []

    def reader() -> None:
        while not stop.is_set():
            try:
                if json.loads(path.read_bytes()) not in payloads:
                    bad.append("unexpected")
            except ValueError as exc:
                bad.append(str(exc))

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for i in range(200):
            spool.put("requests", BASE, HASH, when(), payloads[i % len(payloads)])
    finally:
        stop.set()
        thread.join()
    assert not bad
    assert [p.name for p in path.parent.iterdir()] == [path.name]


WRITER = textwrap.dedent("""
    import sys
    from datetime import datetime, timezone
    from pathlib import Path
    from darkcrawl.submission.spool import Spool
    spool = Spool(Path(sys.argv[1]))
    i = 0
    while True:
        spool.put("requests", "clearnet/http/h", "%064x" % i, datetime.now(timezone.utc), {"i": i, "pad": "x" * 300_000})
        i += 1
        if i == 5:
            print("writing", flush=True)
""")


def test_kill_9_never_leaves_a_torn_payload(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path)], cwd=ROOT, stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None and proc.stdout.readline() == b"writing\n"
        time.sleep(0.3)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    spool = Spool(tmp_path)
    found = list(spool.pending())
    assert len(found) >= 5
    for _, path in found:
        assert json.loads(path.read_bytes())["pad"] == "x" * 300_000


# -- sending ------------------------------------------------------------------------


def deliver(path: Path, url: str, retries: int = 3, **kwargs: Any) -> tuple[Any, int]:
    retried = 0

    def count() -> None:
        nonlocal retried
        retried += 1

    async def go() -> Any:
        async with make_client(5.0, 4) as client:
            return await send(client, url, path, retries=retries, backoff=0.01, on_retry=count, **kwargs)

    return asyncio.run(go()), retried


@pytest.fixture
def api():
    with ApiServer() as server:
        yield server


@pytest.fixture
def spooled(tmp_path: Path) -> Path:
    return Spool(tmp_path).put("requests", BASE, HASH, when(), {"URL": URL})


def test_send_posts_the_spooled_bytes_with_the_key(api: ApiServer, spooled: Path) -> None:
    result, retried = deliver(spooled, api.url("requests"))
    assert result.outcome is Outcome.DELIVERED and result.attempts == 1 and retried == 0
    assert api.received["requests"] == {spooled.stem: {"URL": URL}}
    assert spooled.exists()  # deleting is the caller's move, after the 2xx
    deliver(spooled, api.url("requests"))
    assert api.duplicates["requests"] == 1 and len(api.received["requests"]) == 1


def test_send_retries_server_errors(api: ApiServer, spooled: Path) -> None:
    api.fail_next(3)
    result, retried = deliver(spooled, api.url("requests"), retries=3)
    assert result.outcome is Outcome.DELIVERED and result.attempts == 4 and retried == 3
    api.fail_next(5)
    result, _ = deliver(spooled, api.url("requests"), retries=3)
    assert result.outcome is Outcome.FAILED and result.detail == "HTTP 500"


def test_send_does_not_retry_a_refusal(api: ApiServer, spooled: Path) -> None:
    api.fail_next(1, status=422)
    result, retried = deliver(spooled, api.url("requests"))
    assert result.outcome is Outcome.REJECTED and retried == 0 and result.detail == "HTTP 422"


def test_send_to_a_dead_endpoint_fails_after_the_retries(api: ApiServer, spooled: Path) -> None:
    api.down()
    result, retried = deliver(spooled, api.url("requests"), retries=2)
    assert result.outcome is Outcome.FAILED and retried == 2 and "ConnectError" in result.detail
    api.up()
    result, _ = deliver(spooled, api.url("requests"))
    assert result.outcome is Outcome.DELIVERED


def test_send_of_a_delivered_file(api: ApiServer, spooled: Path) -> None:
    spooled.unlink()
    result, _ = deliver(spooled, api.url("requests"))
    assert result.outcome is Outcome.GONE and api.posts == 0


def test_send_ignores_proxy_environment(api: ApiServer, spooled: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # the API is reached directly, whatever proxy the environment names
    monkeypatch.setenv("ALL_PROXY", "socks5://127.0.0.1:9")
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    result, _ = deliver(spooled, api.url("requests"))
    assert result.outcome is Outcome.DELIVERED


def test_backoff_doubles_and_is_capped() -> None:
    assert [backoff_delay(n, 0.5, 3.0) for n in (1, 2, 3, 4, 5)] == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_api_server_down_and_up_keeps_the_port(api: ApiServer, spooled: Path) -> None:
    port = api.port
    api.down()
    assert not api.is_up
    api.up()
    assert api.port == port
    result, _ = deliver(spooled, api.url("requests"))
    assert result.outcome is Outcome.DELIVERED


def test_os_has_no_leftover_tmp(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    for i in range(20):
        spool.put("requests", BASE, f"{i:064x}", when(i), {"i": i})
    names = [name for _, _, files in os.walk(spool.dir) for name in files]
    assert len(names) == 20 and all(name.endswith(".json") for name in names)


def test_a_spooled_payload_names_its_files_and_is_filled_in_when_sent(tmp_path: Path) -> None:
    from darkcrawl.submission.payloads import file_field
    from darkcrawl.submission.spool import materialize

    (tmp_path / "tor" / "http" / "x.onion").mkdir(parents=True)
    (tmp_path / "tor/http/x.onion/robots.txt").write_bytes(b"User-agent: *\n")
    payload = {"URL": "http://x.onion/", "Robots": file_field("tor/http/x.onion/robots.txt", None, False),
               "Sitemaps": [file_field("tor/http/x.onion/gone.xml", None, False)], "Hosts": None}
    raw = json.dumps(payload).encode()
    sent = json.loads(materialize(raw, tmp_path))
    assert sent["Robots"] == {"path": "tor/http/x.onion/robots.txt", "data": "VXNlci1hZ2VudDogKgo="}
    assert sent["Sitemaps"] == [{"path": "tor/http/x.onion/gone.xml", "data": None}]  # deleted since: named, no data
    inline = json.dumps({"Document": file_field("a", b"abc", True)}).encode()
    assert materialize(inline, tmp_path) is inline  # nothing to fill in: the very bytes spooled
