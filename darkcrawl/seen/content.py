"""Content-seen: a page whose content was already stored under another URL.

The same document often answers at many URLs: ``/`` and ``/index.php``, session or
tracking parameters, mirror directories, a forum thread under several sort orders.
The spider digests the content of every successfully fetched page (2xx) and asks
the :class:`ContentSeen` store for the URL that first had it.  A page whose content
another URL already had is a *duplicate of* that URL: its headers are still
recorded (with ``Duplicate-Of``), but its body is not stored again, its links are
not extracted again (they were taken from the first copy) and it is not rendered.
The same URL fetched again with unchanged content (a ``TIME_CACHE`` revisit) is not
a duplicate: it is a new snapshot of itself.  Only 2xx pages with a body are
digested, and not the pages a site hook parses: an error page or a redirect stub is
not the URL's content (a site's one 404 template must not make its pages duplicates
of each other), an empty body is no content, and a hook's outputs may depend on the
URL as much as on the page.

The digest (:func:`content_digest`, pure): BLAKE2b-128 of the normalised content.

* HTML and ``text/*``: the decoded text (so one page served in two encodings is
  one content), re-encoded as UTF-8, with runs of ASCII whitespace collapsed to
  one space and the ends stripped: re-indented templates, CRLF against LF and a
  trailing newline are not content.  Other white space (NBSP, U+2000...) is kept:
  it renders differently.
* HTML only: values that a server changes on every response and that are never
  content are blanked: ``nonce`` attributes (CSP nonces on scripts and styles), and
  the ``value``/``content`` of ``<input>``/``<meta>`` tags whose ``name`` is a
  CSRF token (names containing ``csrf``, ``xsrf`` or ``nonce`` -- Django's
  ``csrfmiddlewaretoken``, Rails' ``csrf-token`` meta, WordPress's ``_wpnonce`` --
  and ``authenticity_token``, ``__RequestVerificationToken``, ``_token``,
  ``form_token``).  Without this, two URLs of a site that puts a fresh token in
  every page (a login box on each page of a forum) would never match.  It is kept
  to those names on purpose: a hidden input of another name (a thread id, a
  ``creation_time``) may be content, and a false match costs the page's body and
  links, while a missed one only costs its storage.
* Anything else: the raw bytes.

The kind of normalisation is the BLAKE2b personalisation, so an HTML page and a
binary file never share a digest by accident.  128 bits: a chance collision (which
would make a page a duplicate of an unrelated one) is ~n**2 / 2**129, 1.5e-25 at
10M pages.

Memory (:class:`MemoryContentSeen`, digest -> first URL in a dict), measured with
tracemalloc over 300k pages: 133 bytes per distinct content plus the URL's length
(dict slot ~52, 16-byte ``bytes`` key 49, ``str`` header ~41): 231 B with 98-character
onion URLs, 167 B with 34-character ones; about 2.3 GB at 10M onion pages.  Pages
with the same content cost nothing more.  Keeping the URL (not a small id) is what
lets the duplicate record name it without a look-up elsewhere; a crawl of 10M pages
wants a store outside the process (Redis ``HSETNX``, or a file-backed table):
:class:`ContentSeen` is the seam, chosen by ``DARKCRAWL_CONTENT_SEEN_CLASS``.

Cost, measured alone: ~80 us of CPU per 15 KB HTML page (normalising ~65, most of it
the white-space split, BLAKE2b ~10), i.e. ~5% on top of the 1.44 CPU-ms per page
``make bench`` measured (not re-run); raw bytes ~10 us per 15 KB.

Persistence: with ``JOBDIR`` set, every new (digest, URL) pair is appended to
``JOBDIR/content-seen.jsonl`` as it is recorded (one ``write(2)``, never a torn
line) and the file is read back when the next run with that ``JOBDIR`` starts, so a
resumed crawl still knows which URL had which content first.  Without ``JOBDIR``
nothing outlives the process.
"""

from __future__ import annotations

import json
import logging
import re
from hashlib import blake2b
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from scrapy import signals
from scrapy.http import TextResponse
from scrapy.utils.misc import load_object

from darkcrawl.config import get_option
from darkcrawl.storage.atomic import AppendLog
from darkcrawl.storage.paths import HTML_TYPES

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.http import Response
    from typing_extensions import Self

logger = logging.getLogger(__name__)

DEFAULT_CLASS = "darkcrawl.seen.content.MemoryContentSeen"
DIGEST_SIZE = 16
#: file of the persisted store, under JOBDIR
FILE_NAME = "content-seen.jsonl"

# [^<>] keeps a match inside one tag: "nonce=" in the text of a page is content.
_NONCE = re.compile(rb"""(<[^<>]*?\snonce\s*=\s*)("[^"]*"|'[^']*'|[^\s"'<>]*)""", re.IGNORECASE)
_TOKEN_TAG = re.compile(rb"<(?:input|meta)\s[^<>]*>", re.IGNORECASE)
_NAME = re.compile(rb"""\sname\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'<>]+))""", re.IGNORECASE)
_TOKEN_NAME = re.compile(
    rb"[\w.:-]*(?:csrf|xsrf|nonce)[\w.:-]*|authenticity_token|__requestverificationtoken|_token|form_token",
    re.IGNORECASE,
)
_VALUE = re.compile(rb"""(\s(?:value|content)\s*=\s*)("[^"]*"|'[^']*'|[^\s"'<>]*)""", re.IGNORECASE)


def is_text_type(content_type: str) -> bool:
    """Types digested as decoded, normalised text (the others as raw bytes)."""
    return content_type in HTML_TYPES or content_type.startswith("text/")


def _blank_token(match: re.Match[bytes]) -> bytes:
    tag = match.group(0)
    name = _NAME.search(tag)
    if name is None or not _TOKEN_NAME.fullmatch(name.group(1) or name.group(2) or name.group(3) or b""):
        return tag
    return _VALUE.sub(rb'\1""', tag)


def normalise(content_type: str, text: str) -> bytes:
    """The decoded *text* of a page of *content_type*, as the bytes that are digested."""
    data = text.encode("utf-8", "surrogatepass")
    if content_type in HTML_TYPES:
        if b"nonce" in data.lower():  # most pages have none: spare them the regex scan
            data = _NONCE.sub(rb'\1""', data)
        data = _TOKEN_TAG.sub(_blank_token, data)
    # bytes.split() splits on ASCII white space only (HTML's, plus \v); UTF-8
    # multi-byte sequences never contain those bytes.
    return b" ".join(data.split())


def content_digest(content_type: str, body: bytes, text: str | None = None) -> bytes:
    """BLAKE2b-128 of a page's normalised content (see the module docstring).

    *text* is the decoded body; it is used for HTML and ``text/*`` types, and when it
    is None (or for any other type) the raw *body* is digested.
    """
    if text is not None and is_text_type(content_type):
        kind = b"html" if content_type in HTML_TYPES else b"text"
        return blake2b(normalise(content_type, text), digest_size=DIGEST_SIZE, person=kind).digest()
    return blake2b(body, digest_size=DIGEST_SIZE, person=b"raw").digest()


def response_digest(response: Response, content_type: str) -> bytes:
    """:func:`content_digest` of a response (its text is the one its parsing used)."""
    text = response.text if isinstance(response, TextResponse) and is_text_type(content_type) else None
    return content_digest(content_type, response.body, text)


class ContentSeen(Protocol):
    """Which URL first had a content.  Built by ``from_crawler``; closes itself when
    the spider closes.  A shared implementation (Redis ``HSETNX digest url``, then
    ``HGET`` when it was set already) makes workers agree on one first URL."""

    def first_url(self, digest: bytes, url: str) -> str | None:
        """The URL that first had this content, or None: then *url* is recorded as
        its first URL.  Returns *url* itself when *url* first had it (a revisit)."""

    def __len__(self) -> int: ...

    def close(self) -> None: ...


def build_content_seen(crawler: Crawler) -> ContentSeen | None:
    """The store ``DARKCRAWL_CONTENT_SEEN_CLASS`` names, or None when content-seen is off."""
    settings = crawler.settings
    if not get_option(settings, "DARKCRAWL_CONTENT_SEEN_ENABLED"):
        return None
    store: ContentSeen = load_object(settings.get("DARKCRAWL_CONTENT_SEEN_CLASS") or DEFAULT_CLASS).from_crawler(crawler)
    return store


class MemoryContentSeen:
    """digest -> first URL in a dict, for one process; appended to a file when
    *path* is given (``JOBDIR/content-seen.jsonl``) and read back from it."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self._first: dict[bytes, str] = {}
        self._log: AppendLog | None = None
        if path is not None:
            self._log = AppendLog(path)  # cuts a torn last line before it is read
            self._load(path)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        jobdir = crawler.settings.get("JOBDIR")
        store = cls(Path(jobdir) / FILE_NAME if jobdir else None)
        crawler.signals.connect(store.close, signal=signals.spider_closed)
        return store

    def first_url(self, digest: bytes, url: str) -> str | None:
        first = self._first.get(digest)
        if first is not None:
            return first
        self._first[digest] = url
        if self._log is not None:
            self._log.append((json.dumps([digest.hex(), url]) + "\n").encode())
        return None

    def __len__(self) -> int:
        return len(self._first)

    def close(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def _load(self, path: Path) -> None:
        bad = 0
        with open(path, "rb") as handle:
            for line in handle:
                try:
                    digest, url = json.loads(line)
                    self._first.setdefault(bytes.fromhex(digest), url)
                except (ValueError, TypeError):
                    bad += 1
        if bad:
            logger.warning("%s: %d unreadable lines skipped", path, bad)
