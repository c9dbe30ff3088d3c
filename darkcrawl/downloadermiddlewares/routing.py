"""Per-network routing of every request, failing closed.

Each request is classified by its *actual* URL (not by meta: a redirect keeps the
meta of the page that redirected) and routed by its network: tor through a
SocksPort of the pool (the onion service pinned to one port), i2p through its HTTP
proxy, zeronet and freenet to their local gateway, the clear web directly (or
through Tor with ``DARKCRAWL_CLEARNET_VIA_TOR``).  The network is made ready on
first use; until it is, requests wait (bounded by its wait setting), and when it
cannot be, they fail with the reason in the stats.  Nothing for ``.onion`` or
``.i2p`` ever goes out directly.

The clear web may not point the crawler at itself: loopback, private and
link-local addresses are refused (unless ``DARKCRAWL_ALLOW_LOOPBACK``), so no page
can make it talk to its own Tor control port, Redis or scrapyd.  Gateways are not
affected: their URLs are classified as zeronet/freenet, not as clear web.

An address is judged in its canonical form (:func:`canonical_host`): ``2130706433``,
``0x7f000001``, ``127.1`` and ``[::ffff:127.0.0.1]`` are all 127.0.0.1 to the
network stack, and so they are here.  A *name* is checked by the resolver
(:mod:`darkcrawl.dns`); since a proxy taken from ``http_proxy`` would get the name
and never ask that resolver, a clear-web name is resolved and checked here first,
unless the request goes through Tor (see :meth:`NetworkRoutingMiddleware._check_address`).
The spider refuses inside addresses by their spelling at admission already
(:func:`address_refusal`), so such a host never gets a bootstrap or a ``new_host``.
"""

from __future__ import annotations

import ipaddress
import logging
import unicodedata
from typing import TYPE_CHECKING
from urllib.parse import unquote

from scrapy import signals
from scrapy.exceptions import IgnoreRequest
from scrapy.utils.defer import maybe_deferred_to_future
from scrapy.utils.httpobj import urlparse_cached
from twisted.internet.error import DNSLookupError
from twisted.internet.threads import deferToThread

from darkcrawl.links.classify import Gateways, Link, classify
from darkcrawl.networks.base import NetworkManager, NetworkUnavailable
from darkcrawl.networks.registry import build_networks
from darkcrawl.networks.socks import reply_reason, socks5_reply_code
from darkcrawl.networks.tor import TorNetwork
from darkcrawl.spiders.common import BOOTSTRAP_KEY

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.http import Request, Response
    from typing_extensions import Self

logger = logging.getLogger(__name__)

#: Networks that must never be reached directly.
ANONYMOUS_NETWORKS = frozenset({"tor", "i2p"})
#: Proxy error pages (i2pd's "Host not found" / "Host is down", privoxy's): the
#: proxy's words, not the site's content.
PROXY_ERROR_MARKERS = (b"Proxy error", b"Privoxy", b"Website Unreachable", b"Website Unknown")
#: Consecutive Tor failures after which new circuits are asked for.
NEWNYM_AFTER_FAILURES = 5

_SHARED_ADDRESS_SPACE = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT, RFC 6598

__all__ = [
    "AddressRefused", "NetworkRoutingMiddleware", "NetworkUnavailable", "OnionUnreachable", "ProxyError",
    "canonical_host", "refused_address",
]


class ProxyError(IgnoreRequest):
    """The proxy answered with its own error page instead of the site's."""


class OnionUnreachable(IgnoreRequest):
    """Tor could not open a stream to the onion service; the message says why."""


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


#: Settings of every browser context: no service workers (they outlive the page and
#: fetch on their own), certificate errors tolerated (onions use self-signed ones).
CONTEXT_DEFAULTS: dict[str, object] = {
    "ignore_https_errors": True,
    "service_workers": "block",
    "viewport": {"width": 1024, "height": 800},  # darc's width
}


def browser_context(network: str, proxy: str | None) -> tuple[str, dict[str, object]]:
    """The name and settings of the browser context for a network and its proxy.

    Chromium wants ``socks5://`` (it resolves names through the proxy anyway) and
    rejects ``socks5h://``; it cannot authenticate to SOCKS, so isolation between
    onion services comes from the SocksPort each context uses."""
    if not proxy:
        return network, dict(CONTEXT_DEFAULTS)
    server = proxy.replace("socks5h://", "socks5://", 1)
    port = server.rsplit(":", 1)[-1]
    return f"{network}-{port}", {**CONTEXT_DEFAULTS, "proxy": {"server": server}}


class NetworkRoutingMiddleware:
    def __init__(self, crawler: Crawler, gateways: Gateways, networks: dict[str, NetworkManager],
                 allow_loopback: bool) -> None:
        self.crawler = crawler
        self.gateways = gateways
        self.networks = networks
        self.allow_loopback = allow_loopback
        self._tor_failures = 0
        crawler.signals.connect(self._stop, signal=signals.engine_stopped)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        settings = crawler.settings
        gateways = Gateways(settings.getint("ZERONET_PORT"), settings.getint("FREENET_PORT"))
        return cls(crawler, gateways, build_networks(crawler), settings.getbool("DARKCRAWL_ALLOW_LOOPBACK"))

    async def process_request(self, request: Request, spider: object = None) -> None:
        link = classify(request.url, self.gateways)
        stats = self.crawler.stats
        if not link.fetchable:
            stats.inc_value(f"darkcrawl/network/refused/{link.kind}")
            raise IgnoreRequest(f"not a fetchable URL ({link.reason or link.kind}): {request.url}")
        manager = self.networks.get(link.kind)
        if link.kind in ("clearnet", "tor2web") and not self.allow_loopback:
            await self._check_address(request, via_tor=manager is not None)
        proxy = None
        if manager is None and link.kind in ANONYMOUS_NETWORKS:  # unreachable by construction; fail closed anyway
            self._unavailable(request, link.kind)
            raise NetworkUnavailable(f"no route to the {link.kind} network for {request.url}")
        if manager is not None:
            try:
                await manager.ensure_ready()
            except NetworkUnavailable:
                self._unavailable(request, manager.name)
                raise
            proxy = manager.proxy_for(link.service)
        if request.meta.get("playwright"):
            # the browser takes its proxy from its context: one context per proxy
            request.meta.pop("proxy", None)
            request.meta["playwright_context"], request.meta["playwright_context_kwargs"] = browser_context(
                link.kind if manager is None else manager.name, proxy)
        elif proxy:
            request.meta["proxy"] = proxy
        else:
            request.meta.pop("proxy", None)
        request.meta["darkcrawl_network"] = link.kind
        if request.meta.get("redirect_urls") and not request.meta.get("playwright"):
            # a redirect keeps the meta of the request it replaces: politeness and
            # backoff must follow the host it goes to now, not the one that redirected
            request.meta["download_slot"] = f"{link.kind}@{link.service}"
        else:
            request.meta.setdefault("download_slot", f"{link.kind}@{link.service}")

    def _unavailable(self, request: Request, network: str) -> None:
        stats = self.crawler.stats
        stats.inc_value(f"darkcrawl/network/unavailable/{network}")
        if request.meta.get("depth") == 0 and BOOTSTRAP_KEY not in request.meta:  # a seed: the exit code says so
            stats.inc_value(f"darkcrawl/network/unavailable_seeds/{network}")

    async def _check_address(self, request: Request, via_tor: bool) -> None:
        """Refuse a clear-web request that points inside, before anything is sent.

        Every numeric spelling is judged as the address it is.  A name is resolved
        here first, through the crawl's (guarded, caching) resolver, when the request
        does not go through Tor: a proxy from ``http_proxy``/``https_proxy`` gets the
        name, not an address, so the resolver would otherwise never see it; the
        handler's own lookup then hits the cache.  Through Tor nothing is resolved
        locally (that would tell the local resolver every site visited): the exit
        resolves the name, on its own network, and refuses private addresses.
        """
        hostname = urlparse_cached(request).hostname or ""
        stats = self.crawler.stats
        reason = refused_address(hostname)
        if reason:
            stats.inc_value(f"darkcrawl/network/refused/{reason}")
            raise AddressRefused(f"refused: {request.url} {address_phrase(hostname, reason)}", reason)
        if via_tor or is_address(hostname):
            return
        from twisted.internet import reactor  # the running one, with the crawl's resolver installed

        try:
            address = await maybe_deferred_to_future(reactor.resolver.getHostByName(hostname))
        except DNSLookupError as exc:
            if not hasattr(exc, "reason"):  # not the guarded resolver's refusal (dns.ResolvedInside)
                raise  # the same failure the download handler would report
            address, reason = exc.address, exc.reason  # type: ignore[attr-defined]
        else:
            reason = refused_address(str(address))
        if reason:
            stats.inc_value(f"darkcrawl/network/refused/{reason}")
            raise AddressRefused(f"refused: {request.url}: {hostname} resolves to a {reason} address ({address})",
                                 reason)

    def process_response(self, request: Request, response: Response, spider: object = None) -> Response:
        network = request.meta.get("darkcrawl_network")
        if network == "tor":
            self._tor_failures = 0
        if (network in ANONYMOUS_NETWORKS and response.status >= 500
                and any(marker in response.body[:4096] for marker in PROXY_ERROR_MARKERS)):
            self.crawler.stats.inc_value(f"darkcrawl/network/proxy_error/{network}")
            raise ProxyError(f"{network} proxy error page for {request.url} (status {response.status})")
        return response

    async def process_exception(self, request: Request, exception: Exception, spider: object = None) -> None:
        if request.meta.get("darkcrawl_network") != "tor" or isinstance(exception, IgnoreRequest):
            return
        self._tor_failures += 1
        tor = self.networks.get("tor")
        if self._tor_failures >= NEWNYM_AFTER_FAILURES and isinstance(tor, TorNetwork):
            self._tor_failures = 0
            deferToThread(tor.newnym).addErrback(lambda f: logger.warning("NEWNYM failed: %s", f.getErrorMessage()))
        proxy = request.meta.get("proxy", "")
        if proxy.startswith("socks5") and "Malformed reply" in str(exception):
            raise await self._onion_failure(request, proxy)

    async def _onion_failure(self, request: Request, proxy: str) -> OnionUnreachable:
        """Ask Tor once more, by hand, to turn "Malformed reply" into its reason."""
        parsed = urlparse_cached(request)
        proxy_host, _, proxy_port = proxy.split("://", 1)[1].rstrip("/").rpartition(":")
        try:
            code = await maybe_deferred_to_future(deferToThread(
                socks5_reply_code, proxy_host, int(proxy_port), parsed.hostname or "",
                parsed.port or (443 if parsed.scheme == "https" else 80)))
        except OSError as exc:
            return OnionUnreachable(f"SOCKS proxy failed: {exc}")
        self.crawler.stats.inc_value(f"darkcrawl/network/tor/socks_reply/{code:#04x}")
        return OnionUnreachable(reply_reason(code))

    def _stop(self) -> None:
        for manager in set(self.networks.values()):
            manager.stop()
