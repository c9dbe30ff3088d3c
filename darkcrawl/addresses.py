"""Addresses a clear-web request must not reach: loopback, private, link-local.

No page may point the crawler at itself (its Tor control port, Redis, scrapyd).
An address is judged in its canonical form (:func:`canonical_host`):
``2130706433``, ``0x7f000001``, ``127.1`` and ``[::ffff:127.0.0.1]`` are all
127.0.0.1 to the network stack, and so they are here.  Used at admission by the
spider (:func:`address_refusal`), before sending by the routing middleware, and on
every answer by the resolver (:mod:`darkcrawl.dns`).
"""

from __future__ import annotations

import ipaddress
import logging
import unicodedata
from typing import TYPE_CHECKING
from urllib.parse import unquote

from scrapy.exceptions import IgnoreRequest

if TYPE_CHECKING:
    from darkcrawl.links.classify import Link

logger = logging.getLogger(__name__)

_SHARED_ADDRESS_SPACE = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT, RFC 6598


class AddressRefused(IgnoreRequest):
    """A clear-web request whose host is, or resolves to, an address inside (loopback,
    private, link-local): refused before anything is sent, the proxy included."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason

    def __reduce__(self) -> tuple[type, tuple[str, str]]:  # picklable with both arguments
        return type(self), (str(self), self.reason)


#: Dots that IDNA (UTS #46) maps to "." before a host is parsed, as browsers do.
_DOT_VARIANTS = str.maketrans({"\u3002": ".", "\uff0e": ".", "\uff61": "."})
_RADIX_DIGITS = {16: frozenset("0123456789abcdef"), 10: frozenset("0123456789"), 8: frozenset("01234567")}
# IPv6 prefixes that carry an IPv4 address a packet may end up at.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052, well-known prefix
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")  # RFC 4291 (deprecated), ::a.b.c.d


def _ipv4_number(part: str) -> int | None:
    """One part of a WHATWG IPv4 host (``0x7f``, ``0177``, ``127``), or None if not a number."""
    radix = 10
    if part[:2] in ("0x", "0X"):
        radix, part = 16, part[2:]
    elif len(part) > 1 and part[0] == "0":
        radix, part = 8, part[1:]
    if not part:
        return 0
    if not set(part.lower()) <= _RADIX_DIGITS[radix]:
        return None
    return int(part, radix)


def _ends_in_number(parts: list[str]) -> bool:
    """WHATWG's "ends in a number" checker, on a host already split at dots."""
    last = parts[-1]
    if last.isascii() and last.isdigit():
        return True
    return _ipv4_number(last) is not None


def canonical_host(hostname: str) -> str:
    """The host as the network stack will read it: every numeric spelling of an IPv4
    address as its dotted quad, an IPv6 address compressed (no brackets), a name
    lower-cased without its trailing dot.

    IPv4 follows the WHATWG URL standard's host parser (what browsers do, and what
    ``inet_aton`` behind ``getaddrinfo`` accepts too): ``2130706433``, ``0x7f000001``,
    ``0177.0.0.1``, ``127.1`` and ``127.0.1`` are all ``127.0.0.1``.  A host that
    ends in a number but is not a valid address (``1.2.3.4.5``, ``256.1.1.1``,
    ``foo.0x1``) is not a name either: browsers reject it, so :class:`ValueError`.
    """
    name = unquote(hostname).strip()
    name = unicodedata.normalize("NFKC", name).translate(_DOT_VARIANTS).lower()
    if name.startswith("[") and name.endswith("]"):
        return str(ipaddress.IPv6Address(name[1:-1]))  # ValueError when not an IPv6 address
    if ":" in name:
        return str(ipaddress.IPv6Address(name))
    parts = name.split(".")
    if len(parts) > 1 and parts[-1] == "":
        parts.pop()  # one trailing dot: the same host
    if not parts or not parts[-1] or not _ends_in_number(parts):
        return ".".join(parts)
    if len(parts) > 4:
        raise ValueError(f"not an IPv4 address: {hostname!r}")
    numbers = [_ipv4_number(part) for part in parts] if all(parts) else [None]
    if any(number is None for number in numbers):
        raise ValueError(f"not an IPv4 address: {hostname!r}")
    *leading, last = numbers
    if any(n > 255 for n in leading) or last >= 256 ** (5 - len(numbers)):  # type: ignore[operator]
        raise ValueError(f"IPv4 address out of range: {hostname!r}")
    value = last + sum(n * 256 ** (3 - i) for i, n in enumerate(leading))  # type: ignore[operator]
    return str(ipaddress.IPv4Address(value))


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one leads to (mapped, compatible, NAT64, 6to4), if any."""
    if address.ipv4_mapped:
        return address.ipv4_mapped
    if address.sixtofour:
        return address.sixtofour
    if address in _NAT64 or (address in _IPV4_COMPATIBLE and int(address) > 1):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def address_reason(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """Why an address is inside (``loopback``, ``link_local``, ``private``), or None."""
    if isinstance(address, ipaddress.IPv6Address):
        address = _embedded_ipv4(address) or address
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link_local"
    if (address.is_private or address.is_reserved or address.is_unspecified or address.is_multicast
            or address in _SHARED_ADDRESS_SPACE):
        return "private"
    return None


def refused_address(hostname: str) -> str | None:
    """Why a clear-web host must not be fetched (it points back inside), or None.

    Judged on the canonical form (:func:`canonical_host`), so no spelling of an
    inside address slips through; a numeric-looking host that is no valid address
    is refused as ``invalid_address``.  A name gives None: what it resolves to is
    checked by the resolver."""
    try:
        name = canonical_host(hostname)
    except ValueError:
        return "invalid_address"
    if name == "localhost" or name.endswith(".localhost"):
        return "loopback"
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return None  # a name: the DNS resolver checks what it resolves to
    return address_reason(address)


def address_phrase(hostname: str, reason: str) -> str:
    """What is wrong with a refused host, in words: ``points at a loopback address
    (0x7f000001 is 127.0.0.1)``."""
    if reason == "invalid_address":
        return f"has a host that is no valid address ({hostname})"
    phrase = f"points at a {reason} address"
    try:
        canonical = canonical_host(hostname)
        address = ipaddress.ip_address(canonical)
    except ValueError:
        return phrase + ALLOW_HINT
    if isinstance(address, ipaddress.IPv6Address):
        canonical = str(_embedded_ipv4(address) or canonical)
    return phrase + ("" if canonical == hostname.strip("[]") else f" ({hostname} is {canonical})") + ALLOW_HINT


#: How a refused inside address is allowed, for whoever meant it (tests, a local service).
ALLOW_HINT = "; DARKCRAWL_ALLOW_LOOPBACK=1 allows it, for tests and local services"


def link_hostname(host: str) -> str:
    """A classified link's host without its port (``[::1]:8080`` -> ``[::1]``)."""
    if host.startswith("["):
        return host.split("]", 1)[0] + "]"
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def address_refusal(link: Link, allow_private: bool) -> str | None:
    """Admission's check (in the spider, before any request or bootstrap exists):
    why a clear-web link's host is refused by its spelling alone, or None; logged
    with the reason, as the middleware's refusals are."""
    if allow_private or link.kind not in ("clearnet", "tor2web"):
        return None
    hostname = link_hostname(link.host)
    reason = refused_address(hostname)
    if reason:
        logger.info("refused %s: %s", link.url, address_phrase(hostname, reason))
    return reason


def is_address(hostname: str) -> bool:
    """Whether a host is written as an address (in any spelling) rather than a name."""
    try:
        ipaddress.ip_address(canonical_host(hostname))
    except ValueError:
        return False
    return True
