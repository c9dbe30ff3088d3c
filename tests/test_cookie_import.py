"""Cookies a person imports for a host (``scrapy cookies``): the exported files read
(darkcrawl/intel/cookiefiles.py), the store on disk and in a fleet's Redis, a crawl's
view of it (darkcrawl/storage/cookiestore.py), the jar and the browser getting them, and
the command's lines and exit codes."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from scrapy import Request
from scrapy.utils.test import get_crawler

from darkcrawl.downloadermiddlewares.cookies import OfflineCookiesMiddleware
from darkcrawl.intel.cookiefiles import (
    CookieFileError,
    StoredCookie,
    for_host,
    parse_cookie_text,
)
from darkcrawl.meta import BROWSER_COOKIES_KEY
from darkcrawl.storage import cookiestore
from darkcrawl.storage.cookiestore import CookieImports, FileCookieStore
from tests.components import needs
from tests.conftest import ROOT

ONION = "harbormxmplmarketxmplmarketxmplmarketxmplmarketxmplmarkd.onion"
FAR = 4102444800.0  # 2100-01-01
PAST = 946684800.0  # 2000-01-01

NETSCAPE = (
    "# Netscape HTTP Cookie File\n"
    "# exported by cookies.txt\n"
    "\n"
    f"{ONION}\tFALSE\t/\tFALSE\t0\tdcap\tq1w2e3\n"
    f"#HttpOnly_.{ONION}\tTRUE\t/forum\tTRUE\t{int(FAR)}\tsid\tabc\n"
    f".example.org\tTRUE\t/\tFALSE\t{int(FAR)}\tpref\tdark\n"
    f"{ONION}\tFALSE\t/\tFALSE\t{int(PAST)}\told\tgone\n"
)
COOKIE_EDITOR = json.dumps([
    {"domain": ONION, "hostOnly": True, "httpOnly": True, "name": "dcap", "path": "/", "sameSite": "lax",
     "secure": False, "session": True, "storeId": "0", "value": "q1w2e3"},
    {"domain": "." + ONION, "expirationDate": FAR + 0.5, "hostOnly": False, "httpOnly": False, "name": "sid",
     "path": "/", "secure": True, "session": False, "value": "abc"},
], indent=2)
PLAYWRIGHT_STATE = json.dumps({"cookies": [
    {"name": "dcap", "value": "q1w2e3", "domain": ONION, "path": "/", "expires": -1, "httpOnly": True,
     "secure": False, "sameSite": "Lax"}], "origins": []})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (NETSCAPE, [
            StoredCookie("dcap", "q1w2e3", ONION),
            StoredCookie("sid", "abc", ONION, "/forum", secure=True, http_only=True, expires=FAR, subdomains=True),
            StoredCookie("pref", "dark", "example.org", expires=FAR, subdomains=True),
            StoredCookie("old", "gone", ONION, expires=PAST),
        ]),
        (COOKIE_EDITOR, [
            StoredCookie("dcap", "q1w2e3", ONION, http_only=True),
            StoredCookie("sid", "abc", ONION, secure=True, expires=FAR + 0.5, subdomains=True),
        ]),
        (PLAYWRIGHT_STATE, [StoredCookie("dcap", "q1w2e3", ONION, http_only=True)]),
        ("\ufeff" + COOKIE_EDITOR, [  # a byte-order mark, as some exporters write one
            StoredCookie("dcap", "q1w2e3", ONION, http_only=True),
            StoredCookie("sid", "abc", ONION, secure=True, expires=FAR + 0.5, subdomains=True),
        ]),
        (f"{ONION}\tFALSE\t/\tFALSE\t0\tempty\t\n", [StoredCookie("empty", "", ONION)]),
        (f"{ONION}\tFALSE\t/\tFALSE\t0\tempty\n", [StoredCookie("empty", "", ONION)]),  # its last tab trimmed
    ],
)
def test_exported_files_are_read(text, expected):
    assert parse_cookie_text(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (f"# cookies\n{ONION}\tFALSE\t/\n", "line 2: expected 7 tab-separated fields (domain, subdomains, path, "
                                           "secure, expiry, name, value), found 3"),
        (f"{ONION} FALSE / FALSE 0 dcap v\n", "line 1: expected 7 tab-separated fields"),
        (f"{ONION}\tMAYBE\t/\tFALSE\t0\tdcap\tv\n", "line 1: subdomains must be TRUE or FALSE, not 'MAYBE'"),
        (f"\n\n{ONION}\tFALSE\t/\tFALSE\tsoon\tdcap\tv\n", "line 3: expiry must be a number of seconds since 1970"),
        (f"{ONION}\tFALSE\t/\tFALSE\t0\t\tv\n", "line 1: a cookie without a name"),
        ("/x\tFALSE\t/\tFALSE\t0\tn\tv\n", "line 1: not a cookie domain: '/x'"),
        ('[\n  {"name": "a", "value": "b", "domain": "x.onion"},\n  {"name": "c", "domain": "x.onion"}\n]',
         "line 3: the cookie has no 'value' (a string)"),
        ('[\n {"name": "a", "value": "b", "domain": "x.onion",\n "expirationDate": "tomorrow"}]',
         "line 2: expirationDate must be a number"),
        ('[\n  {"name": "a",\n  "value": "b"\n  "domain": "x.onion"}\n]', "line 4: not valid JSON (Expecting ',' delimiter"),
        ('[\n  "a=b"\n]', "line 2: expected a cookie object"),
        ('{"cookie": []}', 'line 1: expected a JSON list of cookies, or an object with a "cookies" list'),
        ("# nothing here\n\n", "no cookies in the file"),
        ("[]", "no cookies in the file"),
        ("SQLite format 3\x00...", "this is a browser's cookie database, not an export"),
    ],
)
def test_a_bad_file_is_refused_with_its_line(text, message):
    with pytest.raises(CookieFileError) as error:
        parse_cookie_text(text)
    assert str(error.value).startswith(message)


def test_the_cookies_of_a_host_are_picked_out():
    cookies = parse_cookie_text(NETSCAPE + f"www.{ONION}\tFALSE\t/\tFALSE\t0\tsub\tv\n")
    mine, others, expired = for_host(cookies, ONION.upper(), now=PAST + 1)
    assert [c.name for c in mine] == ["dcap", "sid", "sub"]  # its subdomains' cookies come with it
    assert (others, expired) == (1, 1)
    # a domain cookie reaches www; the host-only one of the onion does not
    assert [c.name for c in for_host(cookies, "www." + ONION, now=PAST + 1)[0]] == ["sid", "sub"]


def test_a_cookie_goes_to_the_jar_and_to_the_browser_as_set():
    from darkcrawl.intel.cookiefiles import jar_cookie_for_browser

    host_only, domain = StoredCookie("dcap", "v", ONION), StoredCookie("sid", "w", ONION, "/f", True, True, FAR, True)
    assert jar_cookie_for_browser(host_only.jar_cookie(), f"http://{ONION}/page") == {
        "name": "dcap", "value": "v", "url": f"http://{ONION}/", "secure": False, "httpOnly": False}
    assert jar_cookie_for_browser(domain.jar_cookie(), f"http://{ONION}/") == {
        "name": "sid", "value": "w", "domain": f".{ONION}", "path": "/f", "expires": FAR, "secure": True,
        "httpOnly": True}


# -- the store -----------------------------------------------------------------------------------

def test_the_file_store_is_private_and_versioned(tmp_path):
    store = FileCookieStore(tmp_path / "cookies" / "imported.json")
    assert store.entries() == {} and store.version() == ""
    store.put(ONION, [StoredCookie("dcap", "v", ONION)], "cookies.txt")
    first = store.version()
    assert first
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(store.path.parent.stat().st_mode) == 0o700
    entry = store.entries()[ONION]
    assert entry["source"] == "cookies.txt" and entry["cookies"] == [StoredCookie("dcap", "v", ONION).to_json()]
    store.put("b.onion", [StoredCookie("x", "y", "b.onion")], "b.json")
    assert set(store.entries()) == {ONION, "b.onion"} and store.version() != first
    assert store.remove(ONION) and not store.remove(ONION)
    assert set(store.entries()) == {"b.onion"}


def test_a_damaged_store_says_so(tmp_path):
    store = FileCookieStore(tmp_path / "imported.json")
    store.path.write_text("{not json")
    with pytest.raises(OSError, match="is damaged"):
        store.entries()


@needs("redis-server")
def test_the_fleet_store_is_shared_through_redis(tmp_path):
    from scrapy.settings import Settings

    from darkcrawl.distributed.cookies import RedisCookieStore
    from tests.harness.redisserver import RedisServer

    with RedisServer(tmp_path / "redis") as server:
        settings = Settings({"DARKCRAWL_REDIS_URL": server.url})
        writer, reader = RedisCookieStore.from_settings(settings), RedisCookieStore.from_settings(settings)
        assert reader.entries() == {} and reader.version() == ""
        writer.put(ONION, [StoredCookie("dcap", "v", ONION)], "cookies.txt")
        assert reader.version() == "1"
        assert reader.entries()[ONION]["cookies"] == [StoredCookie("dcap", "v", ONION).to_json()]
        assert writer.remove(ONION) and not writer.remove(ONION)
        assert reader.entries() == {} and reader.version() == "3"
        assert server.client().exists("darkcrawl:darkweb:cookies:version")


# -- a crawl's view -----------------------------------------------------------------------------

class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_crawl_sees_cookies_imported_while_it_runs(tmp_path):
    store = FileCookieStore(tmp_path / "imported.json")
    clock = Clock()
    imports = CookieImports(store, clock)
    assert imports.for_host(ONION) == (None, [])
    store.put(ONION, [StoredCookie("dcap", "v", ONION), StoredCookie("old", "x", ONION, expires=PAST)], "c.txt")
    assert imports.for_host(ONION) == (None, [])  # not looked at again yet
    clock.now += cookiestore.REFRESH
    version, cookies = imports.for_host(ONION)
    assert version and [c.name for c in cookies] == ["dcap"]  # the expired one is left out
    assert imports.for_host("www." + ONION)[0] == version  # a subdomain of the host is the host's
    assert imports.for_host("other.onion") == (None, [])
    store.put(ONION, [StoredCookie("dcap", "w", ONION)], "c.txt")
    clock.now += cookiestore.REFRESH
    assert imports.for_host(ONION)[0] != version


def _middleware(tmp_path):
    crawler = get_crawler(settings_dict={"COOKIES_ENABLED": True, "PATH_DATA": str(tmp_path)})
    crawler.stats.open_spider()
    return OfflineCookiesMiddleware.from_crawler(crawler), crawler


def test_imported_cookies_go_to_the_jar_and_to_the_browser(tmp_path):
    FileCookieStore.from_settings(get_crawler(settings_dict={"PATH_DATA": str(tmp_path)}).settings).put(
        ONION, [StoredCookie("dcap", "solved", ONION, http_only=True)], "cookies.txt")
    mw, crawler = _middleware(tmp_path)
    plain = Request(f"http://{ONION}/listings.html")
    mw.process_request(plain)
    assert plain.headers.get(b"Cookie") == b"dcap=solved"
    assert crawler.stats.get_value("darkcrawl/cookies/imported_used") == 1
    render = Request(f"http://{ONION}/", meta={"playwright": True})
    mw.process_request(render)
    assert render.meta[BROWSER_COOKIES_KEY] == [
        {"name": "dcap", "value": "solved", "url": f"http://{ONION}/", "secure": False, "httpOnly": True}]
    other = Request("http://other.onion/", meta={"playwright": True})
    mw.process_request(other)
    assert other.meta[BROWSER_COOKIES_KEY] == [] and not other.headers.get(b"Cookie")
    mw.process_request(Request(f"http://{ONION}/again"))
    assert crawler.stats.get_value("darkcrawl/cookies/imported_used") == 1  # put in the jar once per import


# -- the command ---------------------------------------------------------------------------------

def cookies_command(*args: str, data: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "scrapy", "cookies", *args, "-s", f"PATH_DATA={data}"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60, env={**os.environ, **(env or {})})


def test_the_command_imports_lists_and_removes(tmp_path):
    exported = tmp_path / "cookies.txt"
    exported.write_text(NETSCAPE)
    data = tmp_path / "data"
    done = cookies_command("import", f"http://{ONION}/login", str(exported), data=data)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (
        f"imported 2 cookies for {ONION} (dcap, sid) from {exported} into {data}/cookies/imported.json; "
        f"left out: 1 for other hosts, 1 expired. The next visit of {ONION} uses them")
    listed = cookies_command("list", data=data)
    assert listed.returncode == 0
    assert listed.stdout.startswith(f"{ONION}: 2 cookies (dcap, sid), imported 20")
    assert "q1w2e3" not in listed.stdout + done.stdout  # values are secrets: never printed
    assert "the first expires 2100-01-01 00:00 UTC" in listed.stdout
    removed = cookies_command("remove", ONION, data=data)
    assert (removed.returncode, removed.stdout.strip()) == (0, f"removed the cookies imported for {ONION}")
    again = cookies_command("remove", ONION, data=data)
    assert (again.returncode, again.stderr.strip()) == (1, f"cookies: no cookies imported for {ONION}")


@pytest.mark.parametrize(
    ("args", "content", "line"),
    [
        (("import", ONION, "{file}"), f"{ONION}\tFALSE\t/\n", "cookies: {file}: line 1: expected 7 tab-separated "
                                                             "fields (domain, subdomains, path, secure, expiry, name, "
                                                             "value), found 3"),
        (("import", "other.onion", "{file}"), NETSCAPE, "cookies: {file} has no cookie for other.onion that is "
                                                        f"still valid (4 for other hosts: {ONION}, example.org)"),
        (("import", ONION, "{missing}"), None, "cookies: [Errno 2] No such file or directory: '{missing}'"),
        (("import", "a b", "{file}"), NETSCAPE, "cookies: not a host name: 'a b'"),
        (("import", ONION), None, "usage: scrapy cookies import HOST FILE | list | remove HOST"),
        (("forget", ONION), None, "usage: scrapy cookies import HOST FILE | list | remove HOST"),
    ],
)
def test_a_bad_import_is_one_line_and_exit_code_2(tmp_path, args, content, line):
    exported, missing = tmp_path / "exported.txt", tmp_path / "missing.txt"
    if content is not None:
        exported.write_text(content)
    names = {"file": str(exported), "missing": str(missing)}
    done = cookies_command(*(arg.format(**names) for arg in args), data=tmp_path / "data")
    assert done.returncode == 2
    assert done.stderr.strip() == line.format(**names)
    assert not (tmp_path / "data" / "cookies" / "imported.json").exists()
