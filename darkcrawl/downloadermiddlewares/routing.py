"""Per-network routing of every request, failing closed.

Each request is classified by its *actual* URL (not by meta: a redirect keeps the
meta of the page that redirected), and routed by its network.  A ``.onion`` or
``.i2p`` request with no route configured is refused here, before any connection
or DNS lookup, with the reason counted in the stats: it never goes out directly.

This is the seam the network stage extends (Tor SOCKS ports, the I2P proxy, the
ZeroNet/Freenet gateways, the browser context per network).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from scrapy.exceptions import IgnoreRequest

from darkcrawl.links.classify import Gateways, classify

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.http import Request
    from typing_extensions import Self

#: Networks that must never be reached directly.
ANONYMOUS_NETWORKS = frozenset({"tor", "i2p"})


class NetworkUnavailable(IgnoreRequest):
    """The request's network has no route (yet): refused, never sent directly."""


class NetworkRoutingMiddleware:
    def __init__(self, crawler: Crawler, gateways: Gateways, routes: dict[str, str]) -> None:
        self.crawler = crawler
        self.gateways = gateways
        #: network -> proxy URL; a network absent here goes direct, unless anonymous
        self.routes = routes

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        settings = crawler.settings
        gateways = Gateways(settings.getint("ZERONET_PORT"), settings.getint("FREENET_PORT"))
        routes = {k: v for k, v in settings.getdict("DARKCRAWL_PROXIES").items() if v}
        return cls(crawler, gateways, routes)

    def process_request(self, request: Request, spider: object = None) -> None:
        link = classify(request.url, self.gateways)
        stats = self.crawler.stats
        if not link.fetchable:
            stats.inc_value(f"darkcrawl/network/refused/{link.kind}")
            raise IgnoreRequest(f"not a fetchable URL ({link.reason or link.kind}): {request.url}")
        proxy = self.routes.get(link.kind)
        if proxy:
            request.meta["proxy"] = proxy
        elif link.kind in ANONYMOUS_NETWORKS:
            stats.inc_value(f"darkcrawl/network/unavailable/{link.kind}")
            raise NetworkUnavailable(f"no route to the {link.kind} network for {request.url}")
        request.meta.setdefault("download_slot", f"{link.kind}@{link.service}")
