"""Per-network routing of every request, failing closed.

Each request is classified by its *actual* URL (not by meta: a redirect keeps the
meta of the page that redirected), its network kept in ``meta[NETWORK_KEY]`` for
the other middlewares (:func:`darkcrawl.meta.network_of`), and routed by it: tor through a
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

An address is judged in its canonical form (:mod:`darkcrawl.addresses`): ``2130706433``,
``0x7f000001``, ``127.1`` and ``[::ffff:127.0.0.1]`` are all 127.0.0.1 to the
network stack, and so they are here.  A *name* is checked by the resolver
(:mod:`darkcrawl.dns`); since a proxy taken from ``http_proxy`` would get the name
and never ask that resolver, a clear-web name is resolved and checked here first,
unless the request goes through Tor (see :meth:`NetworkRoutingMiddleware._check_address`).
The spider refuses inside addresses by their spelling at admission already
(:func:`darkcrawl.addresses.address_refusal`), so such a host never gets a bootstrap or a ``new_host``.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from scrapy import signals
from scrapy.exceptions import IgnoreRequest
from scrapy.utils.defer import maybe_deferred_to_future
from scrapy.utils.httpobj import urlparse_cached
from twisted.internet.error import DNSLookupError
from twisted.internet.threads import deferToThread

from darkcrawl.addresses import (
    AddressRefused,
    address_phrase,
    is_address,
    refused_address,
)
from darkcrawl.policy.gatebook import GateBook
from darkcrawl.links.classify import Gateways, classify
from darkcrawl.meta import BOOTSTRAP_KEY, NETWORK_KEY, SLOT_KEY, slot_key
from darkcrawl.networks.base import NetworkManager, NetworkUnavailable
from darkcrawl.networks.registry import build_networks
from darkcrawl.networks.proxy_errors import proxy_page
from darkcrawl.networks.socks import SocksReply, install_reply_codes, reply_code_of
from darkcrawl.networks.tor import TorNetwork

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.http import Request, Response
    from typing_extensions import Self

logger = logging.getLogger(__name__)

#: Networks that must never be reached directly.
ANONYMOUS_NETWORKS = frozenset({"tor", "i2p"})
#: Consecutive Tor failures after which new circuits are asked for.
NEWNYM_AFTER_FAILURES = 5

__all__ = ["AddressRefused", "NetworkRoutingMiddleware", "NetworkUnavailable", "OnionUnreachable", "ProxyError"]


class ProxyError(IgnoreRequest):
    """The proxy or gateway answered with its own error page instead of the site's;
    the message says what it said (darkcrawl.networks.proxy_errors)."""

    def __init__(self, message: str, error_name: str = "ProxyError") -> None:
        super().__init__(message)
        self.error_name = error_name


class OnionUnreachable(IgnoreRequest):
    """Tor could not open a stream to the onion service (or, through Tor, to a
    clear-web host); the message says why, in tor's own words (its SOCKS5 reply)."""

    def __init__(self, message: str, error_name: str = "OnionUnreachable") -> None:
        super().__init__(message)
        #: the failure record's error: the reply's short name (OnionDescriptorNotFound ...)
        self.error_name = error_name


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
        install_reply_codes()  # tor's extended SOCKS5 codes reach the failure, not "Malformed reply"
        crawler.signals.connect(self._stop, signal=signals.engine_stopped)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        settings = crawler.settings
        gateways = Gateways.from_settings(settings)
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
        request.meta[NETWORK_KEY] = link.kind  # the one network of this attempt: robots and handlers read it
        if request.meta.get("redirect_urls") and not request.meta.get("playwright"):
            # a redirect keeps the meta of the request it replaces: politeness and
            # backoff must follow the host it goes to now, not the one that redirected
            request.meta[SLOT_KEY] = slot_key(link.kind, link.service)
        else:
            request.meta.setdefault(SLOT_KEY, slot_key(link.kind, link.service))

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
        network = request.meta.get(NETWORK_KEY) or ""
        if network == "tor":
            self._tor_failures = 0
        page = proxy_page(network, response.status, response.body)
        if page is not None:
            stats = self.crawler.stats
            stats.inc_value(f"darkcrawl/network/proxy_error/{network}")
            stats.inc_value(f"darkcrawl/network/{network}/reason/{page.error}")
            raise ProxyError(page.reason, page.error)
        return response

    async def process_exception(self, request: Request, exception: Exception, spider: object = None) -> None:
        if request.meta.get(NETWORK_KEY) != "tor" and not str(request.meta.get("proxy", "")).startswith("socks5"):
            return
        if isinstance(exception, IgnoreRequest):
            return
        reply = reply_code_of(exception)
        if request.meta.get(NETWORK_KEY) == "tor":
            self._count_tor_failure(reply)
        if reply is not None:
            raise self._refused_stream(request, reply)

    def _count_tor_failure(self, reply: SocksReply | None) -> None:
        """Ask for new circuits after NEWNYM_AFTER_FAILURES failures in a row.  An
        onion's own verdict (no descriptor, offline, a malformed address) is no
        sign of bad circuits: it does not count."""
        if reply is not None and reply.onion:
            return
        self._tor_failures += 1
        tor = self.networks.get("tor")
        if self._tor_failures >= NEWNYM_AFTER_FAILURES and isinstance(tor, TorNetwork):
            self._tor_failures = 0
            gates = GateBook.for_crawler(self.crawler)
            if gates is not None and gates.waiting():
                # a queue is being waited out: its next request must leave on the circuit
                # the queue saw (new circuits would be a new visitor to a circuit-bound queue)
                self.crawler.stats.inc_value("darkcrawl/network/tor/newnym_deferred")
            else:
                deferToThread(tor.newnym).addErrback(lambda f: logger.warning("NEWNYM failed: %s",
                                                                              f.getErrorMessage()))

    def _refused_stream(self, request: Request, reply: SocksReply) -> OnionUnreachable:
        """Tor's SOCKS5 reply, in words, counted per reason."""
        stats = self.crawler.stats
        stats.inc_value(f"darkcrawl/network/tor/socks_reply/{reply.code:#04x}")
        stats.inc_value(f"darkcrawl/network/tor/reason/{reply.error}")
        return OnionUnreachable(f"tor: {reply.reason}", reply.error)

    def _stop(self) -> None:
        for manager in set(self.networks.values()):
            manager.stop()
