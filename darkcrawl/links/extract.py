"""Links of an HTML page: every URL-bearing attribute, ``<base href>``, meta refresh,
and darc's patterns over the page text.

Speed matters here (it runs on every page): the attributes are collected with a
few compiled XPath expressions evaluated in C, relative URLs are joined with
``urljoin`` only when they are relative, and nothing here builds a Request.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import lxml.html
from lxml import etree

from darkcrawl.links.patterns import find_text_links

#: Attributes holding one URL each (darc took every href and src; forms, media,
#: objects and quotes carry links too).
_URL_ATTRS = etree.XPath(
    "//@href[not(parent::base)]|//@src|//@action|//@formaction|//@data|//@poster|//@background|//@cite|//@longdesc",
    smart_strings=False,
)
_SRCSETS = etree.XPath("//@srcset|//@imagesrcset", smart_strings=False)
_BASE = etree.XPath("//base/@href", smart_strings=False)
_REFRESHES = etree.XPath(
    "//meta[translate(@http-equiv,'REFSH','refsh')='refresh']/@content", smart_strings=False
)
_TEXT = etree.XPath("//text()", smart_strings=False)
# what a person reads: no script, style or template source
_VISIBLE_TEXT = etree.XPath("//body//text()[not(parent::script|parent::style)]", smart_strings=False)
#: rendered DOMs are parsed as deep as Scrapy's selectors parse a response
#: (libxml2's default stops at 255 levels)
_DEEP_HTML_PARSER = lxml.html.HTMLParser(huge_tree=True)
_TITLE = etree.XPath("//title//text()", smart_strings=False)
#: characters of a title kept: enough for every real one, not a page stuffed into <title>
MAX_TITLE = 500

#: The depths at which libxml2 stops building a tree (its ``xmlParserMaxDepth``):
#: 256 levels by default (``lxml.html.document_fromstring``), 2048 with
#: ``huge_tree`` (Scrapy's selectors).  The parser does not fail: it stops, and the
#: tree simply ends there, every link after that point missing.
LIBXML2_DEPTH_LIMITS = (255, 2047)

#: URL-bearing attributes in raw markup, for pages whose tree was cut short.
_RAW_ATTR = re.compile(
    r"""<[A-Za-z][^>]*?\s(?:href|src|action|formaction|data|poster|background|cite|longdesc)\s*=\s*"""
    r"""(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""",
    re.IGNORECASE,
)

_HAS_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")
#: a meta refresh's ``content``: the delay, then (after ``;``, ``,`` or white space) the
#: URL, optionally as ``url=``, optionally quoted (WHATWG's "shared declarative refresh steps")
_REFRESH = re.compile(r"""^\s*(\d*(?:\.\d*)?)[\d.]*\s*(?:[;,\s]\s*(?:url\s*=\s*)?(?:(["'])(.*?)(?:\2|$)|(.*)))?$""",
                      re.IGNORECASE | re.DOTALL)
_CONTROL = str.maketrans("", "", "\t\n\r")


def _srcset_urls(value: str) -> Iterable[str]:
    # "a.png 1x, b.png 2x": the URL is the first token of each candidate.  URLs may
    # contain commas, but srcset candidates are separated by ", " in practice.
    for candidate in value.split(","):
        token = candidate.strip().split(None, 1)
        if token:
            yield token[0]


def refresh_parts(content: str) -> tuple[float | None, str | None]:
    """The delay (seconds) and the URL of a meta refresh's ``content``.

    ``"5"`` is *this page again after 5 s*: no URL (it is not a link to ``/5``).
    ``"0; url=/next"``, ``"3,URL='/x'"``, ``"2 /y"`` name one.  A content that does
    not start with a delay is no refresh at all (browsers ignore it): (None, None).
    """
    match = _REFRESH.match(content)
    if match is None or not match.group(1) or match.group(1) == ".":
        return None, None
    delay = float(match.group(1).rstrip(".") or 0)
    target = (match.group(3) if match.group(2) else match.group(4)) or ""
    target = target.strip()
    return delay, (target or None)


def refreshes(root: etree._Element) -> list[tuple[float | None, str | None]]:
    """Every meta refresh of the page: (delay, URL or None)."""
    return [refresh_parts(content) for content in _REFRESHES(root)]


def raw_links(root: etree._Element) -> tuple[list[str], str | None]:
    """The URL strings found in the markup of *root*, and the ``<base href>`` if any."""
    found: list[str] = _URL_ATTRS(root)
    for value in _SRCSETS(root):
        found.extend(_srcset_urls(value))
    for content in _REFRESHES(root):
        _delay, target = refresh_parts(content)
        if target:
            found.append(target)
    bases = _BASE(root)
    return found, (bases[0].strip() if bases else None)


def truncated_depth(root: etree._Element) -> int | None:
    """The depth at which the parser stopped building *root*, or None if it did not.

    When libxml2 hits its nesting limit the element it was in is the last one of
    the document, at the limit; following last children from the root finds it in
    as many steps as the tree is deep (a few on most pages)."""
    element, depth = root, 0
    while len(element):
        element = element[-1]
        depth += 1
        if depth > LIBXML2_DEPTH_LIMITS[-1]:
            break
    return depth if depth in LIBXML2_DEPTH_LIMITS or depth > LIBXML2_DEPTH_LIMITS[-1] else None


def scan_links(markup: str) -> list[str]:
    """Attribute URLs found by a regex over raw markup, entities decoded: the links a
    truncated tree lost (a tag scan, not a parse: comments and scripts are included)."""
    out: list[str] = []
    for match in _RAW_ATTR.finditer(markup):
        value = match.group(1) if match.group(1) is not None else (
            match.group(2) if match.group(2) is not None else match.group(3))
        out.append(html.unescape(value) if "&" in value else value)
    return out


def page_text(root: etree._Element) -> str:
    return " ".join(_TEXT(root))


def rendered_tree(html: str) -> etree._Element:
    """The tree of a rendered DOM (a string): the render stage and the catalogue's
    rebuild parse it alike."""
    return lxml.html.document_fromstring(html or "<html></html>", parser=_DEEP_HTML_PARSER)


def page_title(root: etree._Element) -> str:
    """The document's ``<title>``, whitespace collapsed, at most :data:`MAX_TITLE` characters."""
    return " ".join(" ".join(_TITLE(root)).split())[:MAX_TITLE]


def visible_text(root: etree._Element, limit: int) -> str:
    """The text a person reads on the page (body text, no scripts or styles), at
    most *limit* characters; line breaks are kept (a PGP key block is read by its lines)."""
    return "\n".join([text.strip() for text in _VISIBLE_TEXT(root) if not text.isspace()])[:limit]


def _joiner(base: str) -> Callable[[str], str]:
    """``urljoin(base, href)`` with fast paths for the two common shapes of relative
    link (``/path`` and ``name/path``), which need no dot-segment removal; anything
    else goes through ``urljoin``.  urljoin was a tenth of a page's CPU."""
    try:
        parts = urlsplit(base)
    except ValueError:
        return lambda href: urljoin(base, href)
    if not parts.scheme or not parts.netloc:
        return lambda href: urljoin(base, href)
    origin = f"{parts.scheme}://{parts.netloc}"
    path = parts.path or "/"
    directory = origin + path[: path.rfind("/") + 1]

    def join(href: str) -> str:
        first = href[0]
        if first == "/":
            if href.startswith("//") or "/." in href or "\\" in href:
                return urljoin(base, href)
            return origin + href
        if first in "?#." or "/." in href or "\\" in href or ":" in href.split("/", 1)[0]:
            return urljoin(base, href)
        return directory + href

    return join


def resolve(raw: Sequence[str], base: str) -> list[str]:
    """Absolute, fragment-free URLs (special schemes kept as they are), de-duplicated."""
    out: list[str] = []
    seen: set[str] = set()
    join = _joiner(base)
    for value in raw:
        value = value.strip()
        if not value:
            continue
        if "\n" in value or "\t" in value or "\r" in value:
            # browsers strip ASCII tab/newline anywhere in a URL (WHATWG URL spec)
            value = value.translate(_CONTROL)
        if value.startswith(("http://", "https://")):
            url = value
        elif _HAS_SCHEME.match(value) and not value[:6].lower().startswith("http"):
            url = value  # mailto:, bitcoin:, data:, javascript: ... are recorded as written
        else:
            try:
                url = join(value)
            except ValueError:  # e.g. an unbalanced IPv6 bracket
                continue
        if url[:4].lower() == "http":
            url = url.partition("#")[0]
            if not url:
                continue
        if url not in seen:
            seen.add(url)
            out.append(url)
    return out


def extract_links(
    root: etree._Element,
    page_url: str,
    extra_patterns: Sequence[tuple[str, re.Pattern[str]]] = (),
    text: bool = True,
    markup: str | None = None,
) -> list[str]:
    """Every link of the page at *page_url* whose parsed tree is *root*.

    *markup*: the page's source, given when the tree was cut short
    (:func:`truncated_depth`): its attribute links are then scanned for as well.
    """
    found, base_href = raw_links(root)
    if markup is not None:
        found.extend(scan_links(markup))
    base = page_url
    if base_href:
        try:
            base = urljoin(page_url, base_href)
        except ValueError:
            pass
    if text:
        found.extend(find_text_links(page_text(root), extra=extra_patterns))
    return resolve(found, base)


@dataclass(frozen=True, slots=True)
class PageFacts:
    """What one parse of a page gives the crawl and its catalogue."""

    links: list[str]
    title: str
    text: str


def page_facts(
    root: etree._Element,
    page_url: str,
    extra_patterns: Sequence[tuple[str, re.Pattern[str]]] = (),
    markup: str | None = None,
    max_text: int = 0,
) -> PageFacts:
    """The page's links (:func:`extract_links`), title and visible text (up to
    *max_text* characters; 0: none), from one tree: the spider and
    ``scrapy catalog --rebuild`` both call this, so they record the same facts."""
    links = extract_links(root, page_url, extra_patterns, markup=markup)
    text = visible_text(root, max_text) if max_text else ""
    return PageFacts(links, page_title(root), text)
