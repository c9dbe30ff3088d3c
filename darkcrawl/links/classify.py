"""One table-driven classifier for every link the crawler meets.

Derived from darc 1.0.3's ``parse_link`` with its bugs fixed: onion addresses are
checksum-validated (v2 ones are rejected instead of queued forever), tor2web
gateways are not mistaken for Tor, default ports are dropped so ``:80`` and no
port are the same page, and any scheme we cannot fetch is reported with a reason
rather than silently treated as clearnet.

It runs once per *new* URL, so it avoids ``SplitResult.hostname``/``.port`` (each
re-parses the netloc) and memoises nothing but the SHA3-based onion check.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from darkcrawl.links.onion import onion_identity

__all__ = ["NETWORKS", "SPECIAL_KINDS", "Gateways", "Link", "classify"]

#: Networks the crawler can fetch from.
NETWORKS = ("clearnet", "tor", "tor2web", "i2p", "zeronet", "freenet")
#: Links that are recorded but never fetched.
SPECIAL_KINDS = (
    "bitcoin", "ethereum", "monero", "data", "ed2k", "magnet", "mail", "tel", "irc", "ws", "script", "invalid",
)  # fmt: skip

_FETCHABLE = frozenset(NETWORKS)
#: Networks reached through a shared local gateway: no per-site robots.txt.
NO_ROBOTS_NETWORKS = frozenset({"zeronet", "freenet"})
# Marker for schemes that need network detection rather than a fixed kind.
_HTTP = "http"
_SCHEME_KINDS: dict[str, str] = {
    "http": _HTTP,
    "https": _HTTP,
    "bitcoin": "bitcoin",
    "btc": "bitcoin",
    "ethereum": "ethereum",
    "eth": "ethereum",
    "monero": "monero",
    "data": "data",
    "ed2k": "ed2k",
    "magnet": "magnet",
    "mailto": "mail",
    "tel": "tel",
    "irc": "irc",
    "ircs": "irc",
    "ws": "ws",
    "wss": "ws",
    "javascript": "script",
}
# Kinds whose recorded value is the bare address rather than the whole URL.
_ADDRESS_KINDS = frozenset(("bitcoin", "ethereum", "monero"))
_DEFAULT_PORTS = {"http": 80, "https": 443}
# Public tor2web gateways: clearnet hosts that proxy onion services.  Fetching
# them goes over clearnet, so they must not be routed to the Tor proxy.
_TOR2WEB_SUFFIXES = (".onion.sh", ".onion.ly", ".onion.ws", ".onion.pet", ".onion.to", ".onion.dog")
_LOOPBACK_HOSTS = frozenset(("127.0.0.1", "localhost"))
_BASE32_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz234567")
# RFC 3986 scheme syntax; matched by hand so data: URLs (possibly megabytes) are
# never copied or scanned by urlsplit.
_SCHEME_RE = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")


@dataclass(frozen=True, slots=True)
class Gateways:
    """Ports of the local ZeroNet and Freenet HTTP gateways (ZERONET_PORT / FREENET_PORT)."""

    zeronet_port: int = 43110
    freenet_port: int = 8888

    @classmethod
    def from_settings(cls, settings: Any) -> Gateways:
        """The gateways of a crawl's settings (anything with ``getint``: Scrapy's settings)."""
        return cls(settings.getint("ZERONET_PORT"), settings.getint("FREENET_PORT"))


_DEFAULT_GATEWAYS = Gateways()


@dataclass(frozen=True, slots=True)
class Link:
    """A classified link.

    ``host`` keys storage (it keeps a non-default port, or is the site key for
    ZeroNet/Freenet, or a pseudo-host such as ``(bitcoin)``); ``service`` keys
    politeness, backoff and identity: the network location, ``host[:port]`` on the
    clear web and I2P (two ports of one host are two servers: one can be dead while
    the other answers), the onion service for Tor (the same whatever its subdomain
    or port: one descriptor, one circuit), the site key for ZeroNet/Freenet.
    """

    url: str
    kind: str
    scheme: str
    host: str
    service: str
    value: str
    reason: str | None = None

    @property
    def fetchable(self) -> bool:
        return self.kind in _FETCHABLE


def _invalid(url: str, scheme: str, reason: str) -> Link:
    return Link(url, "invalid", scheme, "(invalid)", "", url, reason)


def _address(rest: str) -> str:
    # "bitcoin:ADDR?amount=1" (BIP-21) and the common "bitcoin://ADDR/" variant
    # both record ADDR alone, so one address is one record.
    end = len(rest)
    for sep in "?#":
        pos = rest.find(sep)
        if 0 <= pos < end:
            end = pos
    return rest[:end].strip("/")


def _is_b32_i2p(hostname: str) -> bool:
    label = hostname[: -len(".b32.i2p")].rpartition(".")[2]
    # 52 chars: SHA-256 of a destination; 56 or more: an encrypted-leaseset "b33".
    return (len(label) == 52 or len(label) >= 56) and _BASE32_CHARS.issuperset(label)


def _classify_http(url: str, scheme: str, gateways: Gateways) -> Link:
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. unbalanced IPv6 brackets
        return _invalid(url, scheme, "unparsable URL")
    userinfo, at, hostport = parts.netloc.rpartition("@")
    if hostport.startswith("["):
        # IPv6 literal: the colons inside the brackets are not a port separator.
        end = hostport.find("]") + 1
        hostname, port_text = hostport[:end].lower(), hostport[end:]
        if port_text and port_text[0] != ":":
            return _invalid(url, scheme, "invalid port")
        port_text = port_text[1:]
    else:
        hostname, _, port_text = hostport.partition(":")
        # A trailing dot is the same DNS name; without stripping it
        # "x.onion." would be taken for clearnet and leak to a DNS resolver.
        hostname = hostname.lower().rstrip(".")
    if not hostname:
        return _invalid(url, scheme, "missing host")
    default_port = _DEFAULT_PORTS[scheme]
    port = default_port
    if port_text:  # "host:" with an empty port means the default, as in urllib
        if not (port_text.isascii() and port_text.isdigit()):
            return _invalid(url, scheme, "invalid port")
        port = int(port_text)
        if not 0 < port < 65536:
            return _invalid(url, scheme, "invalid port")
    host = hostname if port == default_port else f"{hostname}:{port}"
    path = parts.path or "/"
    query = parts.query
    normalised = f"{scheme}://{userinfo}{at}{host}{path}"
    if query:  # an empty "?" is dropped, as urlsplit cannot tell it from none
        normalised = f"{normalised}?{query}"

    kind = "clearnet"
    service = host  # the network location (a non-default port kept)
    if hostname.endswith(".onion"):
        identity, reason = onion_identity(hostname)
        if identity is None:
            return _invalid(url, scheme, reason or "malformed onion address")
        kind, service = "tor", identity
    elif hostname.endswith(_TOR2WEB_SUFFIXES):
        kind = "tor2web"
    elif hostname.endswith(".i2p"):
        if hostname.endswith(".b32.i2p") and not _is_b32_i2p(hostname):
            return _invalid(url, scheme, "malformed I2P b32 address")
        kind = "i2p"
    elif hostname in _LOOPBACK_HOSTS and port in (gateways.zeronet_port, gateways.freenet_port):
        # The gateway serves each site under /<site key>/; its root is the
        # gateway's own UI, which darc also treated as clearnet.
        site = path.lstrip("/").partition("/")[0]
        if site:
            kind = "zeronet" if port == gateways.zeronet_port else "freenet"
            host = service = site
    return Link(normalised, kind, scheme, host, service, normalised)


def classify(url: str, gateways: Gateways = _DEFAULT_GATEWAYS) -> Link:
    """Classify an absolute URL into a network to fetch from, or a special kind.

    Fetchable links come back normalised (lower-case scheme and host, no default
    port, no fragment, ``/`` for an empty path; userinfo, path and query untouched).
    Special and invalid links keep the original URL, stripped of surrounding space.
    """
    url = url.strip()
    match = _SCHEME_RE.match(url)
    if match is None:
        return _invalid(url, "", "no scheme")
    scheme = match.group(1).lower()
    kind = _SCHEME_KINDS.get(scheme)
    if kind is None:
        return _invalid(url, scheme, f"unsupported scheme {scheme!r}")
    if kind == _HTTP:
        return _classify_http(url, scheme, gateways)
    value = _address(url[match.end() :]) if kind in _ADDRESS_KINDS else url
    return Link(url, kind, scheme, f"({kind})", "", value)
