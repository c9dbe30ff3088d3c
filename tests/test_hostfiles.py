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


def test_gzip_sitemaps():
    assert hostfiles.decompress_sitemap(gzip.compress(URLSET)) == URLSET
    assert hostfiles.decompress_sitemap(URLSET) == URLSET
    assert hostfiles.decompress_sitemap(b"\x1f\x8b broken") is None


def test_gzip_bomb_is_refused(monkeypatch):
    monkeypatch.setattr(hostfiles, "MAX_SITEMAP_BYTES", 1000)
    assert hostfiles.decompress_sitemap(gzip.compress(b"a" * 5000)) is None


def test_hosts_txt():
    body = b"# i2p addressbook\nzzz.i2p=AAAA\nstats.i2p=BBBB\nbad host=CCC\nexample.com=DDD\nzzz.i2p=again\n"
    assert hostfiles.parse_hosts_txt(body) == ["http://zzz.i2p/", "http://stats.i2p/"]


@pytest.mark.parametrize(
    ("body", "html"),
    [(b"<!DOCTYPE html><html>", True), (b"  <HTML><body>", True), (b"User-agent: *", False)],
)
def test_looks_like_html(body, html):
    assert hostfiles.looks_like_html(body) is html
