import pytest
from lxml import html

from darkcrawl.links.extract import extract_links, resolve

PAGE = "http://a.org/dir/page.html"


def links_of(markup: str, url: str = PAGE, text: bool = True) -> list[str]:
    return extract_links(html.fromstring(markup), url, text=text)


@pytest.mark.parametrize(
    ("markup", "expected"),
    [
        ('<a href="x.html">x</a>', ["http://a.org/dir/x.html"]),
        ('<a href="/x.html#frag">x</a>', ["http://a.org/x.html"]),
        ('<a href="#top">top</a>', ["http://a.org/dir/page.html"]),
        ('<a href="">empty</a><a href="  ">blank</a>', []),
        ('<a href="//b.org/p">proto-relative</a>', ["http://b.org/p"]),
        ('<img src="i.png"><script src="/s.js"></script><link href="c.css">',
         ["http://a.org/dir/i.png", "http://a.org/s.js", "http://a.org/dir/c.css"]),
        ('<form action="/post"><button formaction="/alt">b</button></form>',
         ["http://a.org/post", "http://a.org/alt"]),
        ('<object data="/o.swf"></object><video poster="/p.jpg"></video><blockquote cite="/q"></blockquote>',
         ["http://a.org/o.swf", "http://a.org/p.jpg", "http://a.org/q"]),
        ('<img srcset="/a-1x.png 1x, /a-2x.png 2x"><source srcset="b.webp 480w,c.webp 800w">',
         ["http://a.org/a-1x.png", "http://a.org/a-2x.png", "http://a.org/dir/b.webp", "http://a.org/dir/c.webp"]),
        ('<head><base href="/base/"></head><a href="child.html">c</a>', ["http://a.org/base/child.html"]),
        ('<head><base href="http://c.org/x/"></head><a href="y">y</a>', ["http://c.org/x/y"]),
        ('<meta http-equiv="Refresh" content="0; url=/next.html">', ["http://a.org/next.html"]),
        ('<a href="mailto:a@b.org">m</a><a href="javascript:void(0)">j</a><a href="bitcoin:1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa">b</a>',
         ["mailto:a@b.org", "javascript:void(0)", "bitcoin:1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"]),
        ('<a href="HTTP://B.ORG/X">upper</a>', ["http://B.ORG/X"]),  # the host is normalised by classify
        ('<a href="x\n.html">newline</a>', ["http://a.org/dir/x.html"]),
        # a broken absolute URL is passed on: classify records it as invalid, with its reason
        ('<a href="http://[::1">bad ipv6</a><a href="[">rel</a><a href="ok">ok</a>',
         ["http://[::1", "http://a.org/dir/[", "http://a.org/dir/ok"]),
        ('<a href="x.html">1</a><a href="x.html">2</a>', ["http://a.org/dir/x.html"]),
        # unclosed tags and unquoted attributes still yield their links
        ("<div><p><a href=broken-target.html>b</div></div><a href='z'>", ["http://a.org/dir/broken-target.html", "http://a.org/dir/z"]),
    ],
)
def test_extract_links(markup, expected):
    assert links_of(markup, text=False) == expected


def test_text_patterns_are_added():
    found = links_of("<p>write to contact@example.org or visit www.example.com today</p><a href='/a'>a</a>")
    assert found == ["http://a.org/a", "mailto:contact@example.org", "http://www.example.com"]


def test_resolve_keeps_special_schemes_as_written():
    assert resolve(["data:text/plain,hi#x", "magnet:?xt=urn:btih:abc"], PAGE) == [
        "data:text/plain,hi#x",
        "magnet:?xt=urn:btih:abc",
    ]


@pytest.mark.parametrize(
    "href",
    ["a.html", "/a.html", "a/b/c.html", "./a.html", "../a.html", "/x/../a.html", "?q=1", "#f", "//other.org/x",
     "a.html?x=1#y", "/", "..", ".", "a/./b", "x:y", "a\\b", "/a\\..\\b", "%2e%2e/a", "a b", "ümlaut.html"],
)
@pytest.mark.parametrize("base", ["http://a.org/dir/page.html?q=1", "http://a.org", "https://a.org:8443/d/", "http://a.org/d/x/"])
def test_fast_join_agrees_with_urljoin(base, href):
    from urllib.parse import urljoin

    from darkcrawl.links.extract import _joiner

    assert _joiner(base)(href) == urljoin(base, href)


# --- pages nested deeper than libxml2 builds ------------------------------------

from scrapy.http import HtmlResponse  # noqa: E402

from darkcrawl.links.extract import scan_links, truncated_depth  # noqa: E402


def nested(levels: int) -> str:
    return ("<html><body><a href='/first'>f</a>" + "<div>" * levels + '<a href="/deep?a=1&amp;b=2">d</a>'
            + "</div>" * levels + "<a href=/after>a</a><img src='i.png'></body></html>")


@pytest.mark.parametrize(
    ("levels", "parser", "cut"),
    [
        (10, "scrapy", None),
        (1000, "scrapy", None),  # Scrapy's selectors parse with huge_tree: 2048 levels
        (3000, "scrapy", 2047),
        (10, "lxml", None),
        (300, "lxml", 255),  # lxml.html's default parser: 256 levels
    ],
)
def test_truncated_tree_is_detected_and_its_links_scanned(levels, parser, cut):
    markup = nested(levels)
    if parser == "scrapy":
        root = HtmlResponse(PAGE, body=markup.encode(), encoding="utf-8").selector.root
    else:
        root = html.document_fromstring(markup)
    assert truncated_depth(root) == cut
    links = extract_links(root, PAGE, text=False, markup=markup if cut else None)
    assert sorted(links) == sorted(["http://a.org/first", "http://a.org/deep?a=1&b=2", "http://a.org/after",
                                    "http://a.org/dir/i.png"])


@pytest.mark.parametrize(
    ("markup", "expected"),
    [
        ('<a href="x">', ["x"]),
        ("<a class=b href='y' >", ["y"]),
        ("<img SRC=z.png alt=q>", ["z.png"]),
        ('<form action="/p?a=1&amp;b=2">', ["/p?a=1&b=2"]),
        ('<a title="href=nope">no link</a>', []),
        ("text href=loose", []),
    ],
)
def test_scan_links(markup, expected):
    assert scan_links(markup) == expected


# --- meta refresh: a delay alone is this page again, not a link ------------------

from darkcrawl.links.extract import refresh_parts  # noqa: E402


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("5", (5.0, None)),  # EndGame's queue page: this page again after 5 s (not a link to /5)
        ("10", (10.0, None)),
        (" 3 ", (3.0, None)),
        ("2.5", (2.5, None)),
        ("0.", (0.0, None)),
        ("5;", (5.0, None)),
        ("5; url=", (5.0, None)),
        ("0; url=/next.html", (0.0, "/next.html")),
        ("0;URL=/next.html", (0.0, "/next.html")),
        ("3, url = 'http://b.org/x'", (3.0, "http://b.org/x")),
        ('1;url="/q?a=1"', (1.0, "/q?a=1")),
        ("2 /y", (2.0, "/y")),
        ("0;/z", (0.0, "/z")),
        ("7; URL=/a b ", (7.0, "/a b")),
        ("1.5.3; url=/v", (1.5, "/v")),
        ("", (None, None)),
        ("; url=/x", (None, None)),  # no delay: browsers ignore it
        ("url=/x", (None, None)),
        ("soon", (None, None)),
    ],
)
def test_refresh_parts(content, expected):
    assert refresh_parts(content) == expected


@pytest.mark.parametrize(
    ("markup", "expected"),
    [
        ('<meta http-equiv="refresh" content="5">', []),
        ('<meta http-equiv="REFRESH" content="10"><a href="/in">in</a>', ["http://a.org/in"]),
        ('<meta http-equiv="refresh" content="3; url=/behind">', ["http://a.org/behind"]),
        ('<meta http-equiv="refresh" content="0;url=\'../up.html\'">', ["http://a.org/up.html"]),
        ('<meta http-equiv="refresh" content="url=/nope">', []),
    ],
)
def test_meta_refresh_links(markup, expected):
    assert links_of(markup, text=False) == expected
