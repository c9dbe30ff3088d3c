"""How long an attempt took to connect, and to the first byte of its answer.

For an onion service the connect time *is* the circuit: tor answers the SOCKS5
request only once its rendezvous with the service is made, so a slow or
proof-of-work-protected onion shows here, and a liveness history keeps it
(:mod:`darkcrawl.catalog.facets.liveness`).

Neither transport says when its connection was made, so each is asked where it
makes one, for the attempt running in the current context (:data:`CURRENT`, set
by the download handler before the transport starts, and inherited by the
asyncio task it runs in):

- httpx (SOCKS: Tor, I2P's SOCKS port): httpcore's ``trace`` extension, put on
  each request by an httpx event hook (:func:`trace_hook`);
  ``socks.setup_socks5_connection.complete`` is the proxy's answer, ``start_tls.complete``
  the end of a TLS handshake after it;
- Twisted (direct, HTTP proxies, gateways): the connection pool, whose
  ``_newConnection`` is timed (:class:`TimedConnectionPool`); a connection taken
  from the pool has no connect time (``None``: nothing was connected).

The time to first byte runs from the attempt's start to its response headers,
connection included.
"""

from __future__ import annotations

import contextvars
from dataclasses import dataclass
from time import monotonic
from typing import TYPE_CHECKING, Any

from twisted.web.client import HTTPConnectionPool

if TYPE_CHECKING:
    from collections.abc import Hashable

    from twisted.internet.defer import Deferred

#: httpcore's events that end a connection's making (the last one seen wins)
#: (the prefix is the last part of httpcore's logger name: "httpcore2.socks" -> "socks")
_CONNECTED_EVENTS = frozenset({"connection.connect_tcp.complete", "connection.start_tls.complete",
                               "socks.connect_tcp.complete", "socks.setup_socks5_connection.complete",
                               "socks.start_tls.complete"})


@dataclass(slots=True)
class AttemptClock:
    """One download attempt's times (``time.monotonic()``)."""

    started: float
    connected: float | None = None
    first_byte: float | None = None

    def connected_now(self) -> None:
        self.connected = monotonic()

    def as_record(self, ended: float | None = None) -> dict[str, int | None]:
        """Milliseconds, as the headers record and the failure record keep them."""

        def ms(at: float | None) -> int | None:
            return None if at is None else max(0, round((at - self.started) * 1000))

        return {"connect_ms": ms(self.connected), "ttfb_ms": ms(self.first_byte),
                "elapsed_ms": ms(ended if ended is not None else monotonic())}


#: the attempt the transport is working for, in this context
CURRENT: contextvars.ContextVar[AttemptClock | None] = contextvars.ContextVar("darkcrawl.timing.attempt", default=None)


async def _trace(event: str, info: dict[str, Any]) -> None:
    clock = CURRENT.get()
    if clock is not None and event in _CONNECTED_EVENTS:
        clock.connected_now()


async def trace_hook(request: Any) -> None:
    """httpx's request event hook: the attempt's clock follows the connection httpcore makes."""
    if CURRENT.get() is not None:
        request.extensions["trace"] = _trace


class TimedConnectionPool(HTTPConnectionPool):
    """Twisted's pool, timing each new connection for the attempt that asked for it
    (installed by class swap on Scrapy's pool: it builds its pool itself)."""

    def _newConnection(self, key: Hashable, endpoint: Any) -> Deferred[Any]:
        clock = CURRENT.get()
        result = super()._newConnection(key, endpoint)
        if clock is not None:
            def connected(protocol: Any) -> Any:
                clock.connected_now()
                return protocol

            result.addCallback(connected)
        return result
