"""Host bootstrap files: robots.txt sitemaps, sitemap XML (plain, index, gzip) and
I2P ``hosts.txt``.  Pure parsing; a broken file yields what can be read, never raises;
sitemaps are read in bounded chunks (:class:`SitemapReader`).
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterator

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


#: Decompressed bytes handed to the XML parser at a time: about a thousand URLs,
#: a few milliseconds of work, after which the caller can yield to the event loop.
SITEMAP_CHUNK = 64 * 1024
#: The saved copy of a compressed sitemap keeps this much of its XML (a plain one is
#: saved as downloaded: its bytes are in memory anyway).
SAVED_SITEMAP_BYTES = 2 * 1024 * 1024

#: Bytes after which a file whose root element has not appeared is scanned with a regex.
_SCAN_AFTER = 64 * 1024
_ROOT_KINDS = {"urlset": "urlset", "sitemapindex": "index"}
_CLOSING = {"urlset": b"\n</urlset>\n", "index": b"\n</sitemapindex>\n"}


#: sitemap hints held between two take_hints() calls, and the characters kept of one
_MAX_HINTS = 100_000
_MAX_HINT_CHARS = 64


class SitemapReader:
    """One sitemap (plain or gzip), read in bounded chunks.

    :meth:`batches` yields the ``<loc>`` values of each chunk as it is read, so a
    657,534-URL sitemap is never held whole, neither as XML nor as a list: gzip is
    inflated :data:`SITEMAP_CHUNK` bytes at a time (a decompressed size above
    :data:`MAX_SITEMAP_BYTES` is a gzip bomb and stops the reading), and the XML
    goes through a pull parser that forgets every ``<url>`` once read.  The parser
    resolves no entity and loads nothing (no XXE, no billion laughs); a file it
    cannot start on is scanned for ``<loc>`` with a regex.

    After reading: :attr:`kind` ("index" | "urlset" | "broken"), :attr:`error`
    (why the file was not read to its end, or None) and :attr:`copy` (what to save).
    """

    def __init__(self, body: bytes, chunk_size: int = SITEMAP_CHUNK, keep_bytes: int = SAVED_SITEMAP_BYTES) -> None:
        self.body = body
        self.gzip = body.startswith(b"\x1f\x8b")
        self.chunk_size = chunk_size
        self.keep_bytes = keep_bytes
        self.kind = "broken"
        self.root_tag = ""
        #: (bound or error name, human reason) when the file was not read to its end
        self.error: tuple[str, str] | None = None
        self.size = 0  # decompressed bytes read
        self.copy_truncated = False
        self._copy = bytearray()
        self._chunks: Iterator[bytes] | None = None
        #: loc -> (<lastmod>, <changefreq>) text of the <url> entries read since take_hints()
        self.hints: dict[str, tuple[str | None, str | None]] = {}
        self._entry: list[str | None] = [None, None, None]  # the <url> being read: loc, lastmod, changefreq

    # -- bytes ----------------------------------------------------------------------

    def _inflate(self) -> Iterator[bytes]:
        limit = MAX_SITEMAP_BYTES
        if not self.gzip:
            for start in range(0, len(self.body), self.chunk_size):
                yield self.body[start:start + self.chunk_size]
            return
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        data = self.body
        try:
            while True:
                out = inflater.decompress(data, self.chunk_size)
                data = inflater.unconsumed_tail
                if out:
                    self.size += len(out)
                    if self.size > limit:
                        self.error = ("SitemapTooLarge", f"decompressed sitemap exceeds {limit} bytes (a gzip bomb?)")
                        return
                    yield out
                if inflater.eof:
                    rest = inflater.unused_data
                    if not rest.startswith(b"\x1f\x8b"):  # members of a multi-member gzip follow
                        return
                    inflater, data = zlib.decompressobj(16 + zlib.MAX_WBITS), rest
                elif not data and not out:
                    self.error = ("TruncatedGzip", f"gzip stream ends early after {self.size} bytes (truncated download?)")
                    return
        except zlib.error as exc:
            self.error = ("BadGzip", f"gzip stream is corrupt after {self.size} bytes ({exc})")

    def _next_chunks(self) -> Iterator[bytes]:
        if self._chunks is None:
            self._chunks = self._inflate()
        for chunk in self._chunks:
            if self.gzip and not self.copy_truncated:
                room = self.keep_bytes - len(self._copy)
                if len(chunk) > room:
                    self._copy += chunk[:room]
                    self.copy_truncated = True
                else:
                    self._copy += chunk
            yield chunk

    # -- locations ------------------------------------------------------------------

    def batches(self) -> Iterator[list[str]]:
        """The locations of the sitemap, one list per chunk read (lists may be empty)."""
        parser = etree.XMLPullParser(events=("start", "end"), recover=True, resolve_entities=False,
                                     no_network=True, huge_tree=False)
        scanning = False  # the parser found no element: regex over the raw chunks
        head = bytearray()  # what was fed before the root element showed up
        carry = b""
        for chunk in self._next_chunks():
            if scanning:
                locs, carry = _scan_locs(carry + chunk)
                yield locs
                continue
            try:
                parser.feed(chunk)
            except etree.XMLSyntaxError:
                pass  # recover mode: what was parsed stays readable
            locs = self._read_events(parser)
            if not self.root_tag:
                head += chunk
                if len(head) >= _SCAN_AFTER:
                    scanning = True
                    locs, carry = _scan_locs(bytes(head))
            elif head:
                head = bytearray()
            yield locs
        if not scanning:
            try:
                parser.close()
            except etree.XMLSyntaxError:
                pass
            locs = self._read_events(parser)
            if not self.root_tag and head:
                locs = _scan_locs(bytes(head))[0]
            # closing a cut stream closes its last <loc> too: that one is a fragment
            yield locs if self.error is None else locs[:-1]

    def _read_events(self, parser: etree.XMLPullParser) -> list[str]:
        locs: list[str] = []
        for event, element in parser.read_events():
            tag = element.tag
            if not isinstance(tag, str):
                continue
            name = tag.rpartition("}")[2]
            if event == "start":
                if not self.root_tag:
                    self.root_tag = name
                    self.kind = _ROOT_KINDS.get(name.lower(), "broken")
                continue
            if name == "loc":
                text = (element.text or "").strip()
                if text:
                    locs.append(text)
                    self._entry[0] = text
            elif name in ("lastmod", "changefreq"):
                self._entry[1 if name == "lastmod" else 2] = (element.text or "").strip()[:_MAX_HINT_CHARS] or None
            elif name in ("url", "sitemap"):
                self._keep_hint(name)
                # forget what was read: memory stays flat however long the file is
                element.clear()
                parent = element.getparent()
                if parent is not None:
                    while element.getprevious() is not None:
                        del parent[0]
        return locs

    def _keep_hint(self, name: str) -> None:
        loc, lastmod, changefreq = self._entry
        if name == "url" and loc and (lastmod or changefreq) and len(self.hints) < _MAX_HINTS:
            self.hints[loc] = (lastmod, changefreq)
        self._entry = [None, None, None]

    def take_hints(self) -> dict[str, tuple[str | None, str | None]]:
        """The <lastmod>/<changefreq> text of the locations read since the last call
        (untrusted: the caller parses it)."""
        hints, self.hints = self.hints, {}
        return hints

    def count_rest(self) -> int:
        """About how many locations the unread rest holds (counted, not parsed)."""
        count = 0
        tail = b""  # three bytes cannot hold "loc>": nothing is counted twice
        for chunk in self._next_chunks():
            count += (tail + chunk).count(b"loc>")  # "<loc>" and "</loc>", with any prefix
            tail = chunk[-3:]
        return count // 2

    @property
    def copy(self) -> bytes:
        """What to save of the sitemap: the downloaded XML, or the first
        :data:`SAVED_SITEMAP_BYTES` of a compressed one; a copy that is cut (or whose
        gzip broke) ends after its last whole entry and is closed, so it stays well-formed."""
        if not self.gzip:
            return self.body
        data = bytes(self._copy)
        if not self.copy_truncated and self.error is None:
            return data
        end = max(data.rfind(b"</url>"), data.rfind(b"</sitemap>"))
        if end < 0:
            return data
        end = data.index(b">", end) + 1
        return data[:end] + _CLOSING.get(self.kind, b"\n")


def _scan_locs(data: bytes) -> tuple[list[str], bytes]:
    """``<loc>`` values in *data*, and the tail after the last one (kept, at most
    64 KiB, for the next chunk)."""
    locs: list[str] = []
    end = 0
    for match in _LOC.finditer(data):
        value = match.group(1).decode("utf-8", "replace").strip()
        if value:
            locs.append(value)
        end = match.end()
    return locs, data[end:][-65536:]


def parse_sitemap(body: bytes) -> tuple[str, list[str]]:
    """("index" | "urlset" | "broken", locations) of a whole sitemap (small files, tests)."""
    reader = SitemapReader(body)
    locs = [loc for batch in reader.batches() for loc in batch]
    return reader.kind, locs


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
