"""The crawl's DNS resolver: Scrapy's caching resolver, with two refusals.

1. ``.onion`` and ``.i2p`` names are never sent to the local resolver (RFC 7686
   says so for .onion): if one ever reaches here, the lookup fails at once.  The
   routing middleware already keeps them away; this is the second wall.
2. A clear-web name that resolves to a loopback, private or link-local address is
   refused (unless ``DARKCRAWL_ALLOW_LOOPBACK``): the routing middleware only sees
   names, so this is where DNS tricks pointing the crawler at its own services stop.
   The routing middleware asks this resolver first, before a clear-web request
   goes out directly or through an ``http_proxy`` (which would get the name,
   unchecked), but never for the clear web sent through Tor; the refusal
   (:class:`ResolvedInside`) carries its reason.

Enable with ``TWISTED_DNS_RESOLVER = "darkcrawl.dns.GuardedResolver"`` in the
settings profile (the reactor is set up before add-ons run, so the add-on cannot).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from scrapy.resolver import CachingThreadedResolver
from twisted.internet import defer
from twisted.internet.error import DNSLookupError

from darkcrawl.addresses import is_address, refused_address
from darkcrawl.config import read_option

if TYPE_CHECKING:
    from collections.abc import Sequence

    from scrapy.crawler import Crawler
    from twisted.internet.base import ReactorBase
    from typing_extensions import Self

ANONYMOUS_SUFFIXES = (".onion", ".i2p")


class ResolvedInside(DNSLookupError):
    """A name that resolves to a loopback, private or link-local address."""

    def __init__(self, name: str, address: str, reason: str) -> None:
        super().__init__(f"refused: {name} resolves to a {reason} address ({address})")
        self.name, self.address, self.reason = name, address, reason

    def __reduce__(self) -> tuple[type, tuple[str, str, str]]:  # picklable with its three arguments
        return type(self), (self.name, self.address, self.reason)


class GuardedResolver(CachingThreadedResolver):
    def __init__(self, reactor: ReactorBase, cache_size: int, timeout: float, allow_private: bool = False) -> None:
        super().__init__(reactor, cache_size, timeout)
        self.allow_private = allow_private

    @classmethod
    def from_crawler(cls, crawler: Crawler, reactor: ReactorBase) -> Self:
        # Built by the crawler process before add-ons load the environment, so the
        # option is read here with the same precedence.
        resolver = super().from_crawler(crawler, reactor)
        resolver.allow_private = read_option(crawler.settings, "DARKCRAWL_ALLOW_LOOPBACK", os.environ)
        return resolver

    def getHostByName(self, name: str, timeout: Sequence[int] = ()) -> defer.Deferred[str]:
        if name.rstrip(".").lower().endswith(ANONYMOUS_SUFFIXES):
            return defer.fail(DNSLookupError(f"refused: {name} is an anonymity-network name"))
        result = super().getHostByName(name, timeout)
        if not self.allow_private:
            result.addCallback(self._check, name)
        return result

    def _check(self, address: Any, name: str) -> Any:
        host = name.rstrip(".").lower()
        if refused_address(host) is not None or is_address(host):
            # an address (in any spelling) or localhost written in the URL: the
            # routing middleware, which knows the configured gateways, has decided
            return address
        reason = refused_address(str(address))
        if reason:
            raise ResolvedInside(name, str(address), reason)
        return address
