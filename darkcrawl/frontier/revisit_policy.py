"""Adaptive revisits: from what the visits of a URL observed to when it is visited next.  Pure.

The crawl (:mod:`darkcrawl.frontier.revisits`), the catalogue's revisits facet and
``python -m bench.revisits`` all fold observations through this one policy, so a
rebuilt catalogue shows the intervals the crawl used.

**A page's interval** lies between ``floor`` (``TIME_CACHE``) and ``ceiling``
(``DARKCRAWL_REVISIT_MAX``).  Its change rate is estimated with Cho & Garcia-Molina's
estimator from "changed / not changed" observations ("Estimating frequency of change",
ACM TOIT 2003): of *n* visits *X* found the page changed, each after an interval of
mean *I*, so the rate is ``-ln((n - X + 0.5) / (n + 0.5)) / I`` (its bias-corrected
form, finite when every visit found a change).  *n*, *X* and the elapsed time are
counted with exponential decay (about the last ``window`` visits weigh), so three
numbers are kept rather than a history.  The target interval for that rate is the
freshness-optimal one of Cho & Garcia-Molina (:meth:`RevisitPolicy.target`: about the
square root of floor x time between changes, not proportional to it: proportional
allocation keeps fewer pages fresh than a fixed interval does).  Every visit moves the
interval towards it, at most by ``grow`` up (a page that did not change waits longer
each time, and never less than before) or by ``shrink`` down (a page that changed
comes back sooner: by ``settle`` at least, by ``shrink`` at most, so that one change
after a long quiet brings it back somewhat sooner, not at the floor).  A page that
changed at every visit stays at the floor.

**Sitemap hints** are untrusted.  ``changefreq`` only sets the first interval (the
target of a page changing that often; "never" and "yearly" count as "monthly").  A
``lastmod`` read after the last visit moves the next one (:meth:`RevisitPolicy.hint_due`):
certainly newer than our copy: due now; certainly older: not due before the sitemap's
read plus the interval, and never more than ``push_limit`` intervals after the last
visit, so that a lying sitemap is caught by a visit.  A host whose ``lastmod`` values
are caught lying ``distrust_after`` times (a lastmod older than a change a visit saw,
or a "changed" lastmod whose visit found the page unchanged) is no longer listened to.
A host's robots.txt and sitemaps are read again at a revisit after ``TIME_CACHE`` when
its lastmod values are listened to, else after ``reread`` (a day).

**A host that is down** (``down_after`` failures in a row that say it could not be
reached) is not tried URL by URL: one probe (its URL that answered last) comes back
after ``probe`` seconds, doubled at every failed probe up to the ceiling, and its
first answer brings its URLs back.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from scrapy.settings import BaseSettings

__all__ = [
    "CHANGED", "CHANGEFREQ", "DOWN", "FAILED", "GATED", "NEUTRAL", "NEW", "UNCHANGED",
    "HostState", "RevisitPolicy", "SitemapHint", "UrlState",
    "changefreq_word", "content_key", "failure_outcome", "parse_changefreq", "parse_lastmod", "parse_time",
]

# -- what one observation says --------------------------------------------------------------

NEW, CHANGED, UNCHANGED = "new", "changed", "unchanged"
#: a failure of the page itself (robots.txt, too large, an error status the server chose)
FAILED = "failed"
#: the host could not be reached: it says nothing about the page
DOWN = "down"
#: a failure on our side (the network unavailable, the crawl stopping): says nothing
NEUTRAL = "neutral"

#: error names (darkcrawl.failures) of a fetch that did not reach the host
DOWN_ERRORS = frozenset({
    "ConnectionRefused", "ConnectTimeout", "DownloadTimeout", "DNSLookupError", "NoRoute", "NoResponse",
    "ProxyError", "OnionUnreachable", "HostGivenUp", "HostBackedOff",
})
#: a visit that met an interstitial (a queue, a captcha: darkcrawl.intel.gates), not the page:
#: the host answered, the page was not seen
GATED = "Gated"
#: error names of a fetch that failed on the crawler's side, or that did not see the page
NEUTRAL_ERRORS = frozenset({
    "NetworkUnavailable", "DownloadCancelled", "ShutdownCancelled", "IgnoreRequest", "StopDownload", GATED,
    # the host's gate kept the page from us (darkcrawl.downloadermiddlewares.gates): a captcha
    # or a login wall that needs a person, a queue that never opened
    "HostNeedsPerson", "HostGateGaveUp", "GateGaveUp",
})


def failure_outcome(error: str) -> str:
    """What a failed fetch says: DOWN (the host), NEUTRAL (nothing) or FAILED (the page)."""
    if error in DOWN_ERRORS:
        return DOWN
    if error in NEUTRAL_ERRORS:
        return NEUTRAL
    return FAILED


def content_key(digest: str | None, status: int | None) -> str:
    """What is compared between two visits: the content digest of a 2xx page, else its status."""
    return digest if digest else f"status:{status}"


def parse_time(text: str) -> float:
    """An item's ISO 8601 timestamp -> seconds since the epoch."""
    return datetime.fromisoformat(text).timestamp()


# -- sitemap hints ----------------------------------------------------------------------------

#: changefreq -> seconds (the sitemap protocol's words); always/never: the bounds
CHANGEFREQ = {
    "always": 0.0, "hourly": 3600.0, "daily": 86400.0, "weekly": 604800.0,
    "monthly": 2629800.0, "yearly": 31557600.0, "never": math.inf,
}

#: W3C datetime as sitemaps write it: YYYY, YYYY-MM, YYYY-MM-DD, then hh:mm[:ss[.s]] and a zone
_W3C = re.compile(
    r"(\d{4})(?:-(\d{2})(?:-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?"
    r"\s*(Z|[+-]\d{2}:?\d{2})?)?)?)?")
#: a lastmod this far past the sitemap's read is a lie, not a hint
FUTURE_SLACK = 86400.0
_MAX_HINT = 64


def changefreq_word(seconds: float | None) -> str | None:
    """The ``<changefreq>`` word of *seconds* (:data:`CHANGEFREQ`'s inverse)."""
    return next((word for word, value in CHANGEFREQ.items() if value == seconds), None)


def parse_changefreq(text: str | None) -> float | None:
    """Seconds for a ``<changefreq>`` word; None when absent or not one of the protocol's."""
    if not text:
        return None
    return CHANGEFREQ.get(text.strip().lower()[:_MAX_HINT])


def parse_lastmod(text: str | None, read: float) -> tuple[float, float] | None:
    """The span a ``<lastmod>`` names, (first, last second): ``2026-12-07`` is the whole
    day.  None when absent, malformed, out of range or in the future of *read*."""
    if not text:
        return None
    match = _W3C.fullmatch(text.strip()[:_MAX_HINT])
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    try:
        start = datetime(int(year), int(month or 1), int(day or 1), int(hour or 0), int(minute or 0),
                         int(second or 0), int((fraction or "0")[:6].ljust(6, "0")), tzinfo=_zone(zone))
    except ValueError:  # month 13, day 32, hour 25 ...
        return None
    span = _span(month, day, hour, second)
    first = start.timestamp()
    if first > read + FUTURE_SLACK or int(year) < 1990:
        return None
    return first, _end(start, span).timestamp()


def _zone(text: str | None) -> timezone:
    if not text or text == "Z":
        return timezone.utc
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:])
    if hours > 23 or minutes > 59:
        raise ValueError(text)
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


def _span(month: str | None, day: str | None, hour: str | None, second: str | None) -> str:
    if month is None:
        return "year"
    if day is None:
        return "month"
    if hour is None:
        return "day"
    return "second" if second is not None else "minute"


def _end(start: datetime, span: str) -> datetime:
    if span == "year":
        return start.replace(year=start.year + 1) - timedelta(microseconds=1)
    if span == "month":
        following = start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(month=start.month + 1)
        return following - timedelta(microseconds=1)
    return start + {"day": timedelta(days=1), "minute": timedelta(minutes=1),
                    "second": timedelta(seconds=1)}[span] - timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class SitemapHint:
    """What a sitemap said of one URL, and when it was read."""

    read: float
    lastmod: tuple[float, float] | None = None  # the span its lastmod names
    changefreq: float | None = None


# -- the state of a URL and of a host ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UrlState:
    interval: float
    last: float = 0.0  # the last visit that answered
    key: str | None = None  # its content key
    visits: int = 0  # visits that answered
    changes: int = 0  # visits that found it changed
    failures: int = 0  # visits that failed (the page, or its host down)
    last_change: float | None = None  # the visit that last found it changed
    changed_after: float | None = None  # ... and the one before: the change happened after it
    # the estimator's decayed counts: visits, changes, seconds between visits
    n: float = 0.0
    x: float = 0.0
    elapsed: float = 0.0

    def as_list(self) -> list[object]:
        return [self.interval, self.last, self.key, self.visits, self.changes, self.failures, self.last_change,
                self.changed_after, self.n, self.x, self.elapsed]

    @classmethod
    def from_list(cls, values: list[object]) -> UrlState:
        return cls(*values)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class HostState:
    failures: int = 0  # fetches in a row that did not reach it
    down: bool = False
    probe_url: str | None = None  # while down: the one URL that tries it
    probe_wait: float = 0.0
    up_url: str | None = None  # its URL that answered last
    lies: int = 0  # lastmod values of its sitemaps caught lying
    hinted: bool = False  # its sitemaps give lastmod values

    def as_list(self) -> list[object]:
        return [self.failures, self.down, self.probe_url, self.probe_wait, self.up_url, self.lies, self.hinted]

    @classmethod
    def from_list(cls, values: list[object]) -> HostState:
        return cls(*values)  # type: ignore[arg-type]


# -- the policy -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RevisitPolicy:
    floor: float  # TIME_CACHE
    ceiling: float  # DARKCRAWL_REVISIT_MAX
    adaptive: bool = True  # False: every interval is the floor (darc's TIME_CACHE)
    grow: float = 2.0
    shrink: float = 2.0
    settle: float = 0.8  # the least a change shrinks the interval by
    effort: float = 0.25  # Cho & Garcia-Molina's multiplier, in floors: what a visit must buy
    window: float = 8.0  # visits the estimator weighs, about
    probe: float = 3600.0  # a down host's first probe wait
    down_after: int = 2
    distrust_after: int = 2
    reread: float = 86400.0  # robots.txt and sitemaps of a host without lastmod: daily
    push_limit: float = 4.0  # a lastmod saying "unchanged" defers a visit this many intervals at most

    def __post_init__(self) -> None:
        if not 0 <= self.floor:
            raise ValueError(f"floor={self.floor}: expected a number of seconds, 0 or more")
        if self.ceiling < self.floor:
            raise ValueError(f"ceiling={self.ceiling}: expected at least the floor ({self.floor})")

    @classmethod
    def from_settings(cls, settings: BaseSettings) -> RevisitPolicy | None:
        """The crawl's policy; None when nothing is revisited (``DARC_REBOOT=1``, ``TIME_CACHE=inf``)."""
        from darkcrawl.config import get_option

        if get_option(settings, "DARC_REBOOT") or not math.isfinite(get_option(settings, "TIME_CACHE")):
            return None
        return cls.for_catalogue(settings)

    @classmethod
    def for_catalogue(cls, settings: BaseSettings | None) -> RevisitPolicy:
        """The policy as the settings name it, one round or not (None: the defaults): the
        catalogue shows when a URL would be due, also for crawls run one round at a time."""
        from darkcrawl.config import OPTIONS_BY_NAME, get_option, parse_option

        def option(name: str) -> Any:
            if settings is None:
                return parse_option(name, OPTIONS_BY_NAME[name].default)
            return get_option(settings, name)

        floor = option("TIME_CACHE")
        floor = floor if math.isfinite(floor) else parse_option("TIME_CACHE", OPTIONS_BY_NAME["TIME_CACHE"].default)
        return cls(floor, max(floor, option("DARKCRAWL_REVISIT_MAX")), adaptive=option("DARKCRAWL_REVISIT_ADAPTIVE"),
                   probe=option("DARKCRAWL_REVISIT_PROBE"), down_after=max(1, option("DARKCRAWL_BACKOFF_AFTER")))

    def bound(self, seconds: float) -> float:
        return min(max(seconds, self.floor), self.ceiling)

    def start(self, changefreq: float | None) -> float:
        """The first interval: the target of a page that changes as often as the sitemap's
        changefreq says ("never" is taken as "yearly": it may lie), else the floor."""
        if not self.adaptive or changefreq is None:
            return self.floor
        if changefreq <= 0:
            return self.floor
        return self.bound(self.target(1.0 / min(changefreq, CHANGEFREQ["monthly"])))

    def target(self, rate: float) -> float:
        """The interval that makes the most of a visit to a page changing *rate* times a
        second: the freshness-optimal schedule of Cho & Garcia-Molina ("Synchronizing a
        database to improve freshness", SIGMOD 2000) solves ``1 - (1 + r) e^-r = mu * rate``
        for ``r = rate * interval``, with ``mu = effort * floor``: a daily page every
        3.5 h, a weekly one every 9 h, a monthly one every 19 h (floor 1 h).  A page
        changing faster than that can follow (``mu * rate >= 1``) is hopeless: inf."""
        demand = self.effort * self.floor * rate
        if demand >= 1.0:
            return math.inf
        low, high = 0.0, 64.0  # 1 - 65 e^-64: 1.0 in a double
        for _ in range(60):  # bisection: the same float on every machine, for the catalogue too
            middle = (low + high) / 2
            if 1.0 - (1.0 + middle) * math.exp(-middle) < demand:
                low = middle
            else:
                high = middle
        return high / rate

    @staticmethod
    def rate(n: float, x: float, elapsed: float) -> float | None:
        """Changes per second (Cho & Garcia-Molina's bias-corrected estimator); None: unknown."""
        if n <= 0 or elapsed <= 0:
            return None
        return -math.log((n - x + 0.5) / (n + 0.5)) / (elapsed / n)

    def visited(self, state: UrlState | None, when: float, key: str, changefreq: float | None = None) -> UrlState:
        """After a visit that answered at *when* with content *key*."""
        if state is None or state.visits == 0:
            base = state or UrlState(self.floor)
            return replace(base, interval=self.start(changefreq), last=when, key=key, visits=1)
        changed = key != state.key
        keep = 1.0 - 1.0 / self.window
        since = max(when - state.last, 0.0)
        n, x, elapsed = state.n * keep + 1.0, state.x * keep + changed, state.elapsed * keep + since
        interval = self._next(state.interval, changed, self.rate(n, x, elapsed))
        return replace(state, interval=interval, last=when, key=key, visits=state.visits + 1,
                       changes=state.changes + changed, n=n, x=x, elapsed=elapsed,
                       last_change=when if changed else state.last_change,
                       changed_after=state.last if changed else state.changed_after)

    def _next(self, interval: float, changed: bool, rate: float | None) -> float:
        if not self.adaptive:
            return self.floor
        target = interval if rate is None else (self.target(rate) if rate > 0 else math.inf)
        if changed and rate is not None and target == math.inf:  # hopeless: visits cannot keep up
            return self.bound(interval * self.grow)
        if changed:  # always somewhat sooner: a change after a long quiet is news too
            return self.bound(min(interval * self.settle, max(target, interval / self.shrink)))
        return self.bound(max(interval, min(target, interval * self.grow)))

    def failed(self, state: UrlState | None, outcome: str) -> UrlState:
        """After a visit that failed with *outcome* (FAILED, DOWN or NEUTRAL)."""
        base = state or UrlState(self.floor)
        if outcome == NEUTRAL:
            return base
        if outcome == FAILED and self.adaptive:  # a page that keeps failing is asked less often
            return replace(base, interval=self.bound(base.interval * self.grow), failures=base.failures + 1)
        return replace(base, failures=base.failures + 1)

    # -- hosts ------------------------------------------------------------------------------

    def host_answered(self, host: HostState | None, url: str) -> HostState:
        if host is None:
            return HostState(up_url=url)
        return replace(host, failures=0, down=False, probe_url=None, probe_wait=0.0, up_url=url)

    def host_failed(self, host: HostState | None, url: str) -> HostState:
        """After a fetch of *url* that did not reach the host.  A down host's probe wait
        doubles when its probe fails; a host goes down after ``down_after`` in a row."""
        host = host or HostState()
        if host.down:
            if url != host.probe_url:
                return host  # under way before it went down: tells nothing new
            return replace(host, failures=host.failures + 1, probe_wait=min(host.probe_wait * 2, self.ceiling))
        failures = host.failures + 1
        if failures < self.down_after or not self.adaptive:
            return replace(host, failures=failures)
        return replace(host, failures=failures, down=True, probe_url=host.up_url or url,
                       probe_wait=self.bound(self.probe))

    # -- sitemap hints ----------------------------------------------------------------------

    def trusts(self, host: HostState | None) -> bool:
        return self.adaptive and (host is None or host.lies < self.distrust_after)

    def bootstrap_age(self, host: HostState | None) -> float:
        """How long a host's robots.txt and sitemaps stay fresh: the floor (darc's) when its
        sitemap's lastmod values are listened to (one read checks all its pages), else
        ``reread`` (robots.txt alone changes seldom: reading it at every revisit of a
        busy page doubled a static host's requests)."""
        if not self.adaptive or (host is not None and host.hinted and self.trusts(host)):
            return self.floor
        return self.bound(self.reread)

    @staticmethod
    def hint_lies(state: UrlState, hint: SitemapHint) -> bool:
        """Whether *hint*'s lastmod is older than a change a visit saw (after ``changed_after``)."""
        return (hint.lastmod is not None and state.changed_after is not None
                and hint.lastmod[1] < state.changed_after)

    def hint_due(self, state: UrlState, hint: SitemapHint, due: float) -> tuple[float, str | None]:
        """The URL's due time once *hint* is known: ("pulled": changed since the last
        visit, due at the read), ("pushed": unchanged, due later), or as it was."""
        if not self.adaptive or hint.lastmod is None or state.visits == 0 or hint.read <= state.last:
            return due, None
        first, last = hint.lastmod
        if first > state.last:
            return (hint.read, "pulled") if hint.read < due else (due, None)
        if last <= state.last:  # on credit: a visit every push_limit intervals still checks it
            pushed = min(max(due, hint.read + state.interval), state.last + self.push_limit * state.interval)
            return (pushed, "pushed") if pushed > due else (due, None)
        return due, None
