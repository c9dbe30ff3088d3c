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
from typing import TYPE_CHECKING, Any

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
from darkcrawl.intel.book import GateBook
from darkcrawl.links.classify import Gateways, classify
from darkcrawl.downloadermiddlewares.gates import answer_gate
from darkcrawl.intel.gates import OWN_PROXY_RULES
from darkcrawl.meta import BOOTSTRAP_KEY, GATE_CHECKED_KEY, GATE_KEY, NETWORK_KEY, SLOT_KEY, slot_key
from darkcrawl.networks.base import NetworkManager, NetworkUnavailable
from darkcrawl.networks.registry import build_networks
from darkcrawl.networks.socks import reply_reason, socks5_reply_code
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
    """The proxy answered with its own error page instead of the site's."""


class OnionUnreachable(IgnoreRequest):
    """Tor could not open a stream to the onion service; the message says why."""


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
        network = request.meta.get(NETWORK_KEY)
        if network == "tor":
            self._tor_failures = 0
        if network in ANONYMOUS_NETWORKS and response.status >= 500:
            gate = self._proxy_error(request, response)
            if gate is not None:
                self.crawler.stats.inc_value(f"darkcrawl/network/proxy_error/{network}")
                raise ProxyError(f"{network} proxy error page for {request.url} (status {response.status}): "
                                 f"{gate['evidence']}")
        return response

    @staticmethod
    def _proxy_error(request: Request, response: Response) -> dict[str, Any] | None:
        """The error page of our own proxy (i2pd's "Host not found" / "Host is down",
        Privoxy's): the proxy's words, not the site's.  Read by the gate middleware
        already (darkcrawl.intel.gates), else here."""
        gate = request.meta.get(GATE_KEY)
        if gate is None and not request.meta.get(GATE_CHECKED_KEY):
            found = answer_gate(response, request.url)
            gate = found.as_dict() if found is not None else None
        return gate if gate is not None and gate.get("rule") in OWN_PROXY_RULES else None

    async def process_exception(self, request: Request, exception: Exception, spider: object = None) -> None:
        if request.meta.get(NETWORK_KEY) != "tor" or isinstance(exception, IgnoreRequest):
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
