"""Content-seen (darkcrawl/seen/content.py): the digest, the store, and a real
crawl in which pages share content under several URLs."""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path
from urllib.parse import unquote

import pytest

from darkcrawl.seen.content import FILE_NAME, MemoryContentSeen, content_digest, normalise
from darkcrawl.storage.paths import url_hash
from tests.conftest import run_crawl
from tests.darknet import Darknet, sites

HTML = "text/html"
PAGE = '<html><head><title>T</title></head>\n<body>\n  <p>Hello  world</p>\n</body></html>\n'


def html_digest(text: str) -> bytes:
    return content_digest(HTML, text.encode(), text)


# -- the digest (pure) -----------------------------------------------------------

SAME_HTML = [
    # white space is not content: re-indented, CRLF, trailing newline
    (PAGE, PAGE.replace("\n", "\r\n")),
    (PAGE, PAGE.replace("\n  ", "\n\t\t") + "\n\n"),
    ("<p>a b</p>", "  <p>a \n\t b</p>  "),
    # per-response values: CSP nonces, CSRF tokens in inputs and metas
    ('<script nonce="r4nd0m1">x()</script>', '<script nonce="0th3r">x()</script>'),
    ("<style NONCE='a1'>p{}</style>", "<style NONCE='b2'>p{}</style>"),
    ('<script src=a.js nonce=abc></script>', '<script src=a.js nonce=xyz></script>'),
    ('<input type="hidden" name="csrfmiddlewaretoken" value="tok1">',
     '<input type="hidden" name="csrfmiddlewaretoken" value="tok2">'),
    ('<meta name="csrf-token" content="aaa">', '<meta name="csrf-token" content="bbb">'),
    ("<input type=hidden name=authenticity_token value=x1>", "<input type=hidden name=authenticity_token value=x2>"),
    ('<input name="_wpnonce" value="1" type="hidden">', '<input name="_wpnonce" value="2" type="hidden">'),
    ('<INPUT TYPE="hidden" NAME="__RequestVerificationToken" VALUE="p">',
     '<INPUT TYPE="hidden" NAME="__RequestVerificationToken" VALUE="q">'),
    ('<input type="hidden" name="form_token" value="f1" />', '<input type="hidden" name="form_token" value="f2" />'),
]

DIFFERENT_HTML = [
    ("<p>a b</p>", "<p>ab</p>"),  # collapsed, never removed
    ("<p>a b</p>", "<p>a\u00a0b</p>"),  # NBSP renders differently: kept
    ("<p>Hello</p>", "<p>hello</p>"),
    ('<a href="/a">x</a>', '<a href="/b">x</a>'),
    # only token names: other hidden inputs are content
    ('<input type="hidden" name="thread_id" value="1">', '<input type="hidden" name="thread_id" value="2">'),
    ('<input type="hidden" name="creation_time" value="1">', '<input type="hidden" name="creation_time" value="2">'),
    ('<meta name="description" content="one">', '<meta name="description" content="two">'),
    # "nonce=" in the text of a page is text, not an attribute
    ('<p>set nonce="a" on scripts</p>', '<p>set nonce="b" on scripts</p>'),
    ("<p>csrf token: 1</p>", "<p>csrf token: 2</p>"),
    # an attribute merely ending in "nonce" is not one
    ('<div data-xnonce="1"></div>', '<div data-xnonce="2"></div>'),
]


@pytest.mark.parametrize(("a", "b"), SAME_HTML)
def test_same_html_content(a, b):
    assert html_digest(a) == html_digest(b)


@pytest.mark.parametrize(("a", "b"), DIFFERENT_HTML)
def test_different_html_content(a, b):
    assert html_digest(a) != html_digest(b)


@pytest.mark.parametrize(
    ("content_type", "a", "b", "same"),
    [
        # text/*: white space collapsed, but tokens are an HTML matter
        ("text/plain", "a  b\r\n", "a b", True),
        ("text/plain", '<input name="csrf" value="1">', '<input name="csrf" value="2">', False),
        ("text/plain", "<script nonce=1>", "<script nonce=2>", False),
        ("application/xhtml+xml", '<script nonce="1"/>', '<script nonce="2"/>', True),
    ],
)
def test_text_types(content_type, a, b, same):
    assert (content_digest(content_type, a.encode(), a) == content_digest(content_type, b.encode(), b)) is same


@pytest.mark.parametrize(
    ("content_type", "a", "b", "same"),
    [
        ("image/png", sites.PNG_1X1, sites.PNG_1X1, True),
        ("image/png", sites.PNG_1X1, sites.PNG_1X1 + b"\n", False),  # raw bytes: nothing normalised
        ("application/pdf", b"%PDF a  b", b"%PDF a b", False),
        ("application/octet-stream", b"", b"", True),
    ],
)
def test_other_types_are_raw_bytes(content_type, a, b, same):
    # a text given for a binary type is ignored
    assert (content_digest(content_type, a, "x") == content_digest(content_type, b, "y")) is same


def test_digest_is_16_bytes_and_encoding_independent():
    text = "<p>café “quoted”</p>"
    utf8 = content_digest(HTML, text.encode("utf-8"), text)
    assert len(utf8) == 16
    assert content_digest(HTML, text.encode("cp1252"), text) == utf8  # digested as decoded text


def test_kinds_never_share_a_digest():
    body = b"<p>same</p>"
    digests = {content_digest(t, body, body.decode()) for t in ("text/html", "text/plain", "image/png")}
    assert len(digests) == 3


def test_normalise():
    assert normalise(HTML, PAGE) == b"<html><head><title>T</title></head> <body> <p>Hello world</p> </body></html>"
    assert normalise(HTML, '<input name="csrf_token" value="s3cr3t" type=hidden>') == (
        b'<input name="csrf_token" value="" type=hidden>'
    )
    assert normalise(HTML, "<script nonce='n' src=x></script>") == b"<script nonce=\"\" src=x></script>"


# -- the store ----------------------------------------------------------------------


def test_first_url():
    store = MemoryContentSeen()
    a, b = bytes(16), bytes(range(16))
    assert store.first_url(a, "http://x/1") is None
    assert store.first_url(a, "http://x/2") == "http://x/1"
    assert store.first_url(a, "http://x/1") == "http://x/1"  # a revisit: the caller sees its own URL
    assert store.first_url(b, "http://x/2") is None
    assert len(store) == 2


def test_persisted_in_a_file(tmp_path):
    path = tmp_path / FILE_NAME
    store = MemoryContentSeen(path)
    store.first_url(b"\x01" * 16, "http://x/1")
    store.first_url(b"\x02" * 16, "http://x/2")
    store.first_url(b"\x01" * 16, "http://x/3")  # a duplicate: nothing new to keep
    # killed here: no close(), yet every pair is on disk
    with open(path, "ab") as handle:
        handle.write(b'["0303')  # a torn last line is cut, not read
    again = MemoryContentSeen(path)
    assert len(again) == 2
    assert again.first_url(b"\x01" * 16, "http://y/") == "http://x/1"
    assert again.first_url(b"\x03" * 16, "http://y/") is None
    again.close()
    assert len(path.read_text().splitlines()) == 3


def test_without_a_path_nothing_is_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    store = MemoryContentSeen()
    store.first_url(bytes(16), "http://x/")
    store.close()
    assert not list(tmp_path.iterdir())


# -- a real crawl -------------------------------------------------------------------

#: The content of a/page.html, b/page.html (byte for byte) and c/page.html (other
#: white space, nonce and CSRF token): one page at three URLs.  Its relative link
#: resolves differently under each, so the links of a copy lead somewhere new.
SHARED = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Shared</title><script nonce="{nonce}">var x = 1;</script></head>
<body>
{indent}<h1>Shared page</h1>
{indent}<form><input type="hidden" name="csrfmiddlewaretoken" value="{token}"><input name="q"></form>
{indent}<p><a href="child.html">child</a></p>
</body></html>
"""
COPIES = ("/a/page.html", "/b/page.html", "/c/page.html")
PNG_COPIES = ("/img/x.png", "/img/y.png")


def write_mirror_site(root: Path) -> None:
    site = root / "other"
    pages = {
        "/mirror/index.html": "<html><body>"
        + "".join(f'<a href="{p}">{p}</a>\n' for p in (*COPIES, "/d/page.html", *PNG_COPIES, "/img/z.png"))
        + "</body></html>",
        "/a/page.html": SHARED.format(nonce="n1", token="t1", indent="  "),
        "/c/page.html": SHARED.format(nonce="n2", token="t2", indent="\t\t"),
        # one word more: another content
        "/d/page.html": SHARED.format(nonce="n1", token="t1", indent="  ").replace("Shared page", "Shared page!"),
    }
    pages["/b/page.html"] = pages["/a/page.html"]
    for letter in "abcd":
        pages[f"/{letter}/child.html"] = f"<html><body><p>Child of {letter}</p></body></html>"
    for path, text in pages.items():
        (site / path.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
        (site / path.lstrip("/")).write_text(text)
    (site / "img").mkdir()
    for path in (*PNG_COPIES, "/img/z.png"):
        (site / path.lstrip("/")).write_bytes(sites.PNG_1X1 if path != "/img/z.png" else sites.WEBP_1X1)


@pytest.fixture(scope="module")
def mirror(tmp_path_factory):
    root = tmp_path_factory.mktemp("web")
    write_mirror_site(root)
    with Darknet(root=root) as net:
        yield net


def crawl_mirror(net: Darknet, workdir: Path, **settings) -> tuple:
    net.reset_hits()
    result = run_crawl(
        workdir, "-a", f"urls={net.url('other', '/mirror/index.html')}",
        settings={"LINK_WHITE_LIST": json.dumps([r"127\.0\.0\.1:%d" % net["other"].port]), **settings},
    )
    return result, net["other"].hits


@pytest.fixture(scope="module")
def mirror_crawl(mirror, tmp_path_factory):
    started = time.monotonic()
    result, hits = crawl_mirror(mirror, tmp_path_factory.mktemp("crawl"))
    print(f"\ncrawl: {time.monotonic() - started:.1f} s")
    assert result.returncode == 0, result.log[-3000:]
    return result, hits


def records_by_url(result) -> dict[str, dict]:
    return {r["[metadata]"]["url"]: r for r in result.headers_records()}


def test_duplicates_are_recorded_not_stored(mirror_crawl, mirror):
    result, hits = mirror_crawl
    records = records_by_url(result)
    for group in (COPIES, PNG_COPIES):
        urls = [mirror.url("other", p) for p in group]
        assert all(hits[p] == 1 for p in group)  # every copy is fetched, and recorded
        stored = [u for u in urls if "Duplicate-Of" not in records[u]]
        assert len(stored) == 1, [records[u].get("Duplicate-Of") for u in urls]
        first = stored[0]
        assert (result.data / records[first]["Document"]).is_file()
        for url in urls:
            if url != first:
                assert records[url]["Duplicate-Of"] == first
                assert records[url]["Document"] is None
                assert records[url]["Status-Code"] == 200 and records[url]["Response"]
                saved = result.files(f"clearnet/http/*/{url_hash(url)}_*")
                assert [p.suffix for p in saved] == [".json"]
    d = records[mirror.url("other", "/d/page.html")]
    assert "Duplicate-Of" not in d and d["Document"]
    assert records[mirror.url("other", "/img/z.png")]["Document"]


def test_links_of_a_duplicate_are_not_extracted(mirror_crawl, mirror):
    result, hits = mirror_crawl
    # the three copies link to a/, b/ and c/child.html: only the stored copy's is fetched
    assert sorted(hits[f"/{x}/child.html"] for x in "abc") == [0, 0, 1]
    assert hits["/d/child.html"] == 1
    pages = {i["link"]["url"]: i for i in result.items if "final_url" in i}
    for path in COPIES:
        item = pages[mirror.url("other", path)]
        assert len(item["content_digest"]) == 32
        if item["duplicate_of"]:
            assert item["links_found"] == item["links_queued"] == 0
        else:
            assert item["links_found"] >= 1
    assert len({pages[mirror.url("other", p)]["content_digest"] for p in COPIES}) == 1


def test_duplicates_counted_and_listed(mirror_crawl, mirror):
    result, _ = mirror_crawl
    stats = result.stats
    assert stats["darkcrawl/content/duplicates"] == stats["darkcrawl/saved/duplicates"] == 3
    assert stats["darkcrawl/saved/documents"] == stats["darkcrawl/pages"] - 3
    # distinct 2xx contents: index, the shared page, d, 2 children, the PNG, z.png
    assert stats["darkcrawl/content/new"] == 7 and "darkcrawl/content/unchanged" not in stats
    with open(result.data / "misc" / "duplicates.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 3
    records = records_by_url(result)
    for row in rows:
        url, first = unquote(row["link"]), unquote(row["duplicate_of"])
        assert records[url]["Duplicate-Of"] == first and len(row["digest"]) == 32
    # link.csv still has a row per fetched page, duplicates included
    with open(result.data / "link.csv", newline="") as handle:
        assert len(list(csv.DictReader(handle))) == stats["darkcrawl/pages"]


def test_revisits_of_the_same_url_are_not_duplicates(mirror, tmp_path):
    result, hits = crawl_mirror(mirror, tmp_path, DARC_REBOOT=0, TIME_CACHE=1, DARC_WAIT=1, CLOSESPIDER_TIMEOUT=5)
    assert result.stats["finish_reason"] == "closespider_timeout"
    copies = [r for r in result.headers_records() if r["[metadata]"]["url"] in {mirror.url("other", p) for p in COPIES}]
    first = {r["[metadata]"]["url"] for r in copies if "Duplicate-Of" not in r}
    assert len(first) == 1  # one URL keeps the content, however often it is fetched again
    stored = [r for r in copies if r["[metadata]"]["url"] in first]
    assert len(stored) >= 2 and all(r["Document"] for r in stored)  # revisited, and stored each time
    duplicates = [r for r in copies if r not in stored]
    assert len(duplicates) >= 2 * (len(COPIES) - 1)  # the other copies, fetched again, still duplicates
    assert {r["Duplicate-Of"] for r in duplicates} == first
    assert result.stats["darkcrawl/revisits"] >= 2
    assert result.stats["darkcrawl/content/unchanged"] >= len(stored) - 1


def test_content_seen_can_be_turned_off(mirror, tmp_path):
    result, hits = crawl_mirror(mirror, tmp_path, DARKCRAWL_CONTENT_SEEN_ENABLED=0)
    assert result.returncode == 0
    assert "darkcrawl/content/duplicates" not in result.stats
    assert all(hits[f"/{x}/child.html"] == 1 for x in "abcd")
    assert not any("Duplicate-Of" in r for r in result.headers_records())
