"""Where each record lives under ``PATH_DATA``: pure functions, no I/O.

Layout (darc's, with its portability bugs fixed: UTC timestamps without colons,
``host:port`` folders written ``host_port``)::

    <network>/<scheme>/<host>/<sha256(url)>_<ts>.json        headers, cookies, history
    <network>/<scheme>/<host>/<sha256(url)>_<ts>_raw.html    raw document (or _raw.<ext>, _raw.dat)
    <network>/<scheme>/<host>/<sha256(url)>_<ts>.html        rendered DOM     } same <ts>: one
    <network>/<scheme>/<host>/<sha256(url)>_<ts>.png         screenshot       } visit's files
    <network>/<scheme>/<host>/robots.txt | sitemap_<sha256(url)>.xml | hosts.txt
    <network>/<scheme>/<host>/favicon.ico | favicon_<sha256(url)>.<ext>   /favicon.ico, a declared icon
    link.csv                                                 one row per fetched document
    misc/<kind>.txt                                          special links, JSON lines
    misc/data/<sha256(url)>_<ts><ext>                        decoded data: URIs
    misc/hosts_gates.json                                    every gated host's state (queue, captcha, ...)
    cookies/imported.json                                    cookies imported for hosts (scrapy cookies import)
"""

from __future__ import annotations

import hashlib
import mimetypes
import re
from datetime import datetime, timezone
from pathlib import PurePosixPath
from urllib.parse import urlsplit

_UNSAFE = re.compile(r"[^A-Za-z0-9._@,~+=-]")

#: Types whose extension ``mimetypes`` gets wrong or does not know.
_EXTENSIONS = {
    "text/html": ".html",
    "application/xhtml+xml": ".xhtml",
    "text/plain": ".txt",
    "application/xml": ".xml",
    "text/xml": ".xml",
    "application/json": ".json",
    "application/javascript": ".js",
    "text/javascript": ".js",
    "image/jpeg": ".jpg",
    "application/gzip": ".gz",
    "application/x-gzip": ".gz",
    "application/octet-stream": ".dat",
}

HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})

#: every failure of a crawl, one JSON line each (pipelines/failures.py writes it, the catalogue reads it)
FAILURES_FILE = "misc/failures.jsonl"
#: every host that showed a gate this crawl, and its state (darkcrawl/policy/gatebook.py)
GATES_STATE_FILE = "misc/hosts_gates.json"
#: the cookies imported for hosts (``scrapy cookies import``): secrets, written 0600
IMPORTED_COOKIES_FILE = "cookies/imported.json"
#: the name :func:`headers_name` gives a visit's headers record
HEADERS_RECORD = re.compile(r"^[0-9a-f]{64}_\d{8}T\d{6}\.\d{6}Z\.json$")


#: the archive (darkcrawl/archive/): WARC files, and the WACZ packages made of them
ARCHIVE_DIR = "archive"
WARC_DIR = "archive/warc"
#: a WARC file still being written ends with this (Heritrix's convention)
OPEN_SUFFIX = ".open"


def warc_name(prefix: str, when: datetime, serial: int, pid: int, host: str) -> str:
    """Heritrix's WARC file name, ``<prefix>-<17-digit UTC time>-<serial>-<pid>-<host>.warc.gz``
    (``-`` where Heritrix has ``~``, which a WACZ's resource names may not hold): two
    processes sharing a PATH_DATA (a fleet's workers) never write the same file."""
    stamp = when.astimezone(timezone.utc).strftime("%Y%m%d%H%M%S%f")[:17]
    return f"{prefix}-{stamp}-{serial:05d}-{pid}-{host_dirname(host)}.warc.gz"


#: the parts of a :func:`warc_name`: time, serial, pid, host
WARC_NAME = re.compile(r"-(?P<time>\d{17})-(?P<serial>\d{5})-(?P<pid>\d+)-(?P<host>[^/]+?)\.warc\.gz(\.open)?$")


def wacz_name(prefix: str, round_id: str = "") -> str:
    """``<prefix>-<round>.wacz`` (one round), ``<prefix>.wacz`` (everything)."""
    return f"{prefix}-{round_id}.wacz" if round_id else f"{prefix}.wacz"


def url_hash(url: str) -> str:
    """darc's record name: sha256 of the URL string."""
    return hashlib.sha256(url.encode("utf-8", "surrogatepass")).hexdigest()


def timestamp_token(when: datetime) -> str:
    """A file-name-safe, sortable UTC timestamp: ``20261123T125916.123456Z``."""
    return when.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")


def host_dirname(host: str) -> str:
    """A host (``name:port``, an IPv6 literal, a Freenet key) as one safe folder name."""
    name = _UNSAFE.sub("_", host.replace(":", "_"))
    if name in {"", ".", ".."}:
        return "_" + name
    return name


def host_base(network: str, scheme: str, host: str) -> PurePosixPath:
    """The folder of one host, relative to PATH_DATA (darc's ``Link.base``)."""
    return PurePosixPath(network, scheme or "_", host_dirname(host))


def extension_for(content_type: str) -> str:
    ctype = content_type.split(";", 1)[0].strip().lower()
    if ctype in _EXTENSIONS:
        return _EXTENSIONS[ctype]
    return mimetypes.guess_extension(ctype, strict=False) or ".dat"


def visit_stem(url: str, when: datetime) -> str:
    """``<sha256(url)>_<ts>``: the start of every file name of one visit."""
    return f"{url_hash(url)}_{timestamp_token(when)}"


def document_name(url: str, when: datetime, content_type: str) -> str:
    """``<sha256>_<ts>_raw.html`` for HTML (darc's name), ``<sha256>_<ts>_raw<ext>``
    otherwise: every downloaded document is ``_raw``, so a downloaded PNG is never
    taken for the render stage's screenshot (``<sha256>_<ts>.png``)."""
    stem = f"{visit_stem(url, when)}_raw"
    ctype = content_type.split(";", 1)[0].strip().lower()
    if ctype in HTML_TYPES:
        return f"{stem}.html"
    return stem + extension_for(ctype)


def headers_name(url: str, when: datetime) -> str:
    return f"{visit_stem(url, when)}.json"


def sitemap_name(url: str) -> str:
    return f"sitemap_{url_hash(url)}.xml"


#: extensions a declared icon keeps in its file name (others are ``.dat``)
_ICON_EXTENSIONS = frozenset((".ico", ".png", ".gif", ".jpg", ".jpeg", ".svg", ".webp", ".bmp"))


def favicon_name(url: str) -> str:
    """``favicon.ico`` for the host's ``/favicon.ico``; ``favicon_<sha256(url)><ext>``
    for an icon a page declares elsewhere (the extension of its path, when an image's)."""
    path = urlsplit(url).path
    if path == "/favicon.ico" and "?" not in url:
        return "favicon.ico"
    suffix = PurePosixPath(path).suffix.lower()
    return f"favicon_{url_hash(url)}{suffix if suffix in _ICON_EXTENSIONS else '.dat'}"


def data_uri_name(uri: str, when: datetime, media_type: str) -> str:
    return visit_stem(uri, when) + extension_for(media_type)


def host_file_path(kind: str, url: str, network: str, scheme: str, host: str) -> PurePosixPath:
    """Path of a host file (``robots``, ``sitemap``, ``hosts``, ``favicon``) relative to PATH_DATA."""
    base = host_base(network, scheme, host)
    if kind == "robots":
        return base / "robots.txt"
    if kind == "hosts":
        return base / "hosts.txt"
    if kind == "sitemap":
        return base / sitemap_name(url)
    if kind == "favicon":
        return base / favicon_name(url)
    raise ValueError(f"unknown host file kind {kind!r}")
