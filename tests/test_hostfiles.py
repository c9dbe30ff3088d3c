import gzip

import pytest

from darkcrawl import hostfiles

URLSET = b"""<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
  <url><loc> http://a.org/1 </loc></url><url><loc>http://a.org/2</loc></url>
</urlset>"""
INDEX = b"""<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
<sitemap><loc>http://a.org/s1.xml</loc></sitemap><sitemap><loc>http://a.org/s2.xml.gz</loc></sitemap>
</sitemapindex>"""


def test_robots_sitemaps():
    body = b"User-agent: *\nDisallow: /x\nSitemap: http://a.org/s.xml\nsitemap:http://a.org/t.xml\nSitemap: http://a.org/s.xml\n"
    assert hostfiles.robots_sitemaps(body) == ["http://a.org/s.xml", "http://a.org/t.xml"]
    assert hostfiles.robots_sitemaps(b"\x00\xff garbage") == []


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (URLSET, ("urlset", ["http://a.org/1", "http://a.org/2"])),
        (INDEX, ("index", ["http://a.org/s1.xml", "http://a.org/s2.xml.gz"])),
        (b"<urlset><url><loc>http://a.org/x</loc></url>", ("urlset", ["http://a.org/x"])),  # truncated
        (b"not xml at all", ("broken", [])),
        (b"", ("broken", [])),
        # an XXE attempt: entities are not resolved, nothing is read from disk
        (b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
         b"<urlset><url><loc>&x;</loc></url></urlset>", ("urlset", [])),
    ],
)
def test_parse_sitemap(body, expected):
    assert hostfiles.parse_sitemap(body) == expected


def read_all(body: bytes, **kw) -> tuple[hostfiles.SitemapReader, list[str]]:
    reader = hostfiles.SitemapReader(body, **kw)
    return reader, [loc for batch in reader.batches() for loc in batch]


def test_gzip_sitemaps():
    for body in (URLSET, gzip.compress(URLSET), gzip.compress(URLSET[:100]) + gzip.compress(URLSET[100:])):
        reader, locs = read_all(body)
        assert (reader.kind, locs, reader.error) == ("urlset", ["http://a.org/1", "http://a.org/2"], None)
        assert reader.copy == URLSET  # multi-member gzip too


@pytest.mark.parametrize(
    ("body", "error", "some_read"),
    [
        (b"\x1f\x8b broken", "BadGzip", False),
        (gzip.compress(URLSET)[:40], "TruncatedGzip", False),
    ],
)
def test_unreadable_gzip_says_why(body, error, some_read):
    reader, found = read_all(body)
    assert reader.error is not None and reader.error[0] == error and reader.error[1]
    assert bool(found) is some_read


def test_truncated_gzip_keeps_what_was_read():
    reader, found = read_all(gzip.compress(big_urlset(5000))[:-500])
    assert reader.error[0] == "TruncatedGzip"
    assert 1000 < len(found) < 5000 and found == [f"http://a.org/p/{i}" for i in range(len(found))]  # no fragment


def test_gzip_bomb_is_refused(monkeypatch):
    monkeypatch.setattr(hostfiles, "MAX_SITEMAP_BYTES", 1000)
    reader, locs = read_all(gzip.compress(b"a" * 5000))
    assert reader.error[0] == "SitemapTooLarge" and "gzip bomb" in reader.error[1]
    assert reader.size <= 1000 + hostfiles.SITEMAP_CHUNK


def big_urlset(n: int) -> bytes:
    return (b'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
            + b"".join(b"<url><loc>http://a.org/p/%d</loc><lastmod>2024-01-01</lastmod></url>" % i for i in range(n))
            + b"</urlset>")


def test_big_sitemap_is_read_in_bounded_chunks():
    body = gzip.compress(big_urlset(20000))
    reader = hostfiles.SitemapReader(body, chunk_size=16 * 1024, keep_bytes=100_000)
    sizes = [len(batch) for batch in reader.batches()]
    assert sum(sizes) == 20000 and len(sizes) > 20 and max(sizes) < 1000  # never all at once
    # the saved copy is cut after a whole entry and closed: still a sitemap
    assert len(reader.copy) < 100_100 and reader.copy_truncated
    kind, locs = hostfiles.parse_sitemap(reader.copy)
    assert kind == "urlset" and locs == [f"http://a.org/p/{i}" for i in range(len(locs))] and len(locs) > 100


def test_rest_of_a_sitemap_is_counted_not_parsed():
    reader = hostfiles.SitemapReader(gzip.compress(big_urlset(5000)), chunk_size=8 * 1024)
    batches = reader.batches()
    first = next(batches)
    assert len(first) + reader.count_rest() in (4999, 5000)  # the loc cut by the first chunk may be missed


def test_sitemap_with_a_huge_prolog_is_scanned():
    body = b"\x00garbage" + b" " * 70_000 + b"<loc>http://a.org/x</loc>" + b" " * 70_000 + b"<loc>http://a.org/y</loc>"
    reader, locs = read_all(body)
    assert (reader.kind, locs) == ("broken", ["http://a.org/x", "http://a.org/y"])


def test_hosts_txt():
    body = b"# i2p addressbook\nzzz.i2p=AAAA\nstats.i2p=BBBB\nbad host=CCC\nexample.com=DDD\nzzz.i2p=again\n"
    assert hostfiles.parse_hosts_txt(body) == ["http://zzz.i2p/", "http://stats.i2p/"]


@pytest.mark.parametrize(
    ("body", "html"),
    [(b"<!DOCTYPE html><html>", True), (b"  <HTML><body>", True), (b"User-agent: *", False)],
)
def test_looks_like_html(body, html):
    assert hostfiles.looks_like_html(body) is html
