"""Host bootstrap files: robots.txt sitemaps, sitemap XML (plain, index, gzip) and
I2P ``hosts.txt``.  Pure parsing; a broken file yields what can be read, never raises.
"""

from __future__ import annotations

import gzip
import io
import re
import zlib

from lxml import etree

#: Sitemaps are small text; a decompressed size above this is a gzip bomb.
MAX_SITEMAP_BYTES = 50 * 1024 * 1024

_SITEMAP_LINE = re.compile(rb"^\s*sitemap\s*:\s*(\S+)", re.IGNORECASE | re.MULTILINE)
_LOC = re.compile(rb"<(?:\w+:)?loc>\s*(.*?)\s*</(?:\w+:)?loc>", re.IGNORECASE | re.DOTALL)
_I2P_HOST = re.compile(r"^[a-z0-9][a-z0-9.-]*\.i2p$")


def robots_sitemaps(body: bytes) -> list[str]:
    """The ``Sitemap:`` URLs of a robots.txt, in order, de-duplicated."""
    out: list[str] = []
    for match in _SITEMAP_LINE.finditer(body):
        url = match.group(1).decode("utf-8", "replace")
        if url not in out:
            out.append(url)
    return out


def looks_like_html(body: bytes) -> bool:
    head = body[:512].lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html", b"<head", b"<body"))


def decompress_sitemap(body: bytes) -> bytes | None:
    """Gunzip a ``.gz`` sitemap (detected by its magic bytes); None if broken or too big."""
    if not body.startswith(b"\x1f\x8b"):
        return body
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(body)) as handle:
            data = handle.read(MAX_SITEMAP_BYTES + 1)
    except (OSError, EOFError, zlib.error):
        return None
    return data if len(data) <= MAX_SITEMAP_BYTES else None


def parse_sitemap(body: bytes) -> tuple[str, list[str]]:
    """("index" | "urlset" | "broken", locations) of sitemap XML.

    Parsed with a recovering, entity-free parser (no XXE, no billion laughs);
    when even that fails, ``<loc>`` elements are picked out with a regex.
    """
    parser = etree.XMLParser(recover=True, resolve_entities=False, no_network=True, huge_tree=False)
    try:
        root = etree.fromstring(body, parser=parser)
    except (etree.XMLSyntaxError, ValueError):
        root = None
    if root is None:
        locs = [m.group(1).decode("utf-8", "replace") for m in _LOC.finditer(body)]
        return ("broken", locs)
    tag = etree.QName(root).localname.lower() if isinstance(root.tag, str) else ""
    locs = [
        (el.text or "").strip()
        for el in root.iter()
        if isinstance(el.tag, str) and etree.QName(el).localname == "loc" and (el.text or "").strip()
    ]
    if tag == "sitemapindex":
        return ("index", locs)
    if tag == "urlset":
        return ("urlset", locs)
    return ("broken", locs)


def parse_hosts_txt(body: bytes) -> list[str]:
    """Root URLs of the ``name.i2p=destination`` lines of an I2P address book."""
    out: list[str] = []
    for line in body.decode("utf-8", "replace").splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        host = line.split("=", 1)[0].strip().lower()
        if _I2P_HOST.match(host):
            url = f"http://{host}/"
            if url not in out:
                out.append(url)
    return out
