"""Bounds on one download besides its size: a connect deadline per network and a minimum rate.

DOWNLOAD_TIMEOUT bounds a whole download; alone it lets a dead host cost that much
per request (90 s) and a host that drips its body a byte a second hold a slot just
as long.  So a download also has

- a *connect deadline*, shorter, per network: the clear web's connections open in
  well under a second, a Tor circuit to an onion service takes 10-30 s to build
  (and the SOCKS reply only comes once it is built), an I2P tunnel as long;
- a *minimum rate*: over any window of ``window`` seconds after the connection
  allowance it must receive at least ``rate * window`` bytes, else it is cut.  The
  window starts when the response headers arrive or, for a host that accepted the
  connection and never answers, when the connect allowance is over.

Pure: the caller passes the time (one monotonic clock) and the bytes it received.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from scrapy.exceptions import DownloadTimeoutError

__all__ = [
    "DARKNETS",
    "BodyTimeoutError",
    "ConnectTimeoutError",
    "NoResponseError",
    "RateRule",
    "RateWatch",
    "SlowDownloadError",
    "TransferBounds",
]

#: Networks whose connections go through an overlay (a circuit or tunnel to build first).
DARKNETS = frozenset(("tor", "i2p", "zeronet", "freenet"))


class SlowDownloadError(Exception):
    """The download was cut: slower than the minimum rate.

    Not a DownloadTimeoutError: a retry of a host that drips would only hold a slot
    again for as long (RetryMiddleware retries only the exceptions it lists)."""


class NoResponseError(SlowDownloadError):
    """The host accepted the connection and sent nothing (a dead host for the backoff)."""


class ConnectTimeoutError(DownloadTimeoutError):
    """No connection within the connect deadline (retried, and counted as a dead host's failure)."""


class BodyTimeoutError(DownloadTimeoutError):
    """The host answered, but its body did not arrive in time (retried; the host is alive)."""


@dataclass(frozen=True, slots=True)
class RateRule:
    rate: int  # bytes/s; 0: no minimum
    window: float  # seconds

    def __post_init__(self) -> None:
        if self.rate < 0:
            raise ValueError(f"rate={self.rate}: expected bytes/s >= 0")
        if self.rate and not 0 < self.window < float("inf"):
            raise ValueError(f"window={self.window}: expected a positive, finite number of seconds")

    @property
    def on(self) -> bool:
        return self.rate > 0


@dataclass(frozen=True, slots=True)
class TransferBounds:
    connect_clearnet: float
    connect_darknet: float
    rule: RateRule

    def connect_timeout(self, network: str | None) -> float:
        return self.connect_darknet if network in DARKNETS else self.connect_clearnet

    @property
    def tick(self) -> float:
        """How often a download's rate is looked at: a few times per window, at most once a second."""
        if not self.rule.on:
            return 1.0
        return min(1.0, max(0.05, self.rule.window / 4))


class RateWatch:
    """The bytes one download received, and whether it is too slow."""

    __slots__ = ("grace", "headers_at", "origin", "received", "rule", "samples", "start")

    def __init__(self, rule: RateRule, start: float, grace: float) -> None:
        self.rule = rule
        self.start = start
        self.grace = grace  # the connect allowance: nothing can arrive before a connection
        self.received = 0
        self.headers_at: float | None = None
        self.origin: float | None = None  # where the first window begins
        self.samples: deque[tuple[float, int]] = deque()

    def headers(self, now: float) -> None:
        if self.headers_at is None:
            self.headers_at = now
            self._begin(now)

    def data(self, size: int) -> None:
        self.received += size

    def _begin(self, now: float) -> None:
        if self.origin is None:
            self.origin = now
            self.samples.append((now, self.received))

    def check(self, now: float) -> str | None:
        """Why the download is too slow at *now*, or None."""
        rule = self.rule
        if not rule.on:
            return None
        if self.origin is None:
            if now < self.start + self.grace:
                return None
            self._begin(self.start + self.grace)
        samples = self.samples
        samples.append((now, self.received))
        horizon = now - rule.window
        # the baseline: the latest sample at least one window old
        while len(samples) > 1 and samples[1][0] <= horizon:
            samples.popleft()
        then, before = samples[0]
        if then > horizon:
            return None  # not one window yet
        got = self.received - before
        if got >= rule.rate * rule.window:
            return None
        if self.headers_at is None:
            return (f"no response in {now - self.start:.0f} s: nothing for {rule.window:g} s "
                    f"after the {self.grace:g} s connect allowance")
        return f"body slower than {rule.rate} B/s for {rule.window:g} s ({got} bytes in {now - then:.1f} s)"
