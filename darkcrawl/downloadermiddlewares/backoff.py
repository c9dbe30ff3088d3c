"""Dead hosts are backed off exponentially instead of hammered (policy: darkcrawl/policy/backoff.py).

A host is a download slot (``<network>@<service>``, set by the routing middleware),
so every subdomain of an onion service shares its fate, and two ports of one
clear-web host do not (the service of a clear-web link is its ``host:port``).  After
a redirect the routing middleware gives the request the slot of the host it now
goes to, so a redirect target's failures are charged to it, not to the host that
redirected.  A failure is an exception
of the download (refused, timed out, SOCKS or proxy failure, DNS) or a status of
Scrapy's ``RETRY_HTTP_CODES`` (5xx, 408, 429: the proxies' error pages among them);
any other answer means the host is alive and ends its backoff.  A failure to
reach the host at all (refused, connect or download timed out, name unresolvable,
SOCKS/proxy could not connect: :func:`unreachable`) counts towards
DARKCRAWL_BACKOFF_DEAD_AFTER too: that many in a row and the host is given up at
once, so that a dead host's queued requests (and the retries of its failed ones)
fail at once with the reason instead of each timing out again.  Requests already
past this gate and queued in the host's downloader slot (all of a host's requests
wait there together for its robots.txt, say) are stopped too: the download
handler asks :meth:`HostBackoffMiddleware.refusal` when their turn comes.

Where a backed-off host's requests wait: in the scheduler, as long as other hosts
have work, and here when handed out all the same, giving their place back as soon
as another host's request wants it (:mod:`darkcrawl.downloadermiddlewares.parking`,
shared with the gates).  A request downloaded
without the scheduler (``engine.download_async``: Scrapy's robots.txt requests)
cannot give its place back, so it fails at once instead, as it would at the host;
the robots.txt middleware then allows everything, as for any robots.txt that
cannot be fetched.  While the crawl closes, waiting requests are let through
rather than holding the close up.

Order (``darkcrawl/addon.py``): 650, above RetryMiddleware (550) and the redirect
middleware (600), so that every attempt's outcome is seen here before a retry or a
redirect replaces it (a 3xx means the host is alive), and below the cookie
middleware (700), so that a request that waited gets the cookies of the moment it
leaves.  Retries come back through the scheduler and wait like any request.  The
routing middleware (50) sees the same responses and exceptions as without this
middleware (they pass through unchanged), so its NEWNYM count is not disturbed;
the exceptions raised here (:class:`HostBackedOff`, :class:`HostGivenUp`) are
``IgnoreRequest`` subclasses, which routing and RetryMiddleware leave alone.

Render-stage (Playwright) requests are neither held nor counted: the plain stage
has just fetched those pages, and a browser's failure says little about the host.

The state of every host that was backed off goes to ``PATH_DATA/misc/hosts_backoff.json``
(rewritten atomically a second after it changes, and when the crawl closes).
"""

from __future__ import annotations

import logging
import math
from datetime import datetime, timezone
from pathlib import Path
from time import monotonic, time
from typing import TYPE_CHECKING, Any

from scrapy import signals
from scrapy.exceptions import (
    CannotResolveHostError,
    DownloadCancelledError,
    DownloadConnectionRefusedError,
    DownloadTimeoutError,
    IgnoreRequest,
    NotConfigured,
    NotSupported,
    StopDownload,
    UnsupportedURLSchemeError,
)
from scrapy.utils.httpobj import urlparse_cached
from twisted.internet.error import ConnectError
from twisted.internet.error import TimeoutError as TxTimeoutError

from darkcrawl.config import ConfigError, options_into
from darkcrawl.downloadermiddlewares.parking import Parking
from darkcrawl.policy.backoff import BackoffPolicy, BackoffTable, Event, HostState, Verdict
from darkcrawl.storage.statefile import StateFile
from darkcrawl.transfer import BodyTimeoutError, NoResponseError
from darkcrawl.meta import (
    BACKOFF_PROBE_KEY as PROBE_KEY,
    BACKOFF_DELAYED_KEY as DELAYED_KEY,
    SLOT_KEY,
)

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.http import Request, Response
    from typing_extensions import Self

logger = logging.getLogger(__name__)

__all__ = ["STATE_FILE", "HostBackedOff", "HostBackoffMiddleware", "HostGivenUp", "unreachable"]

STATE_FILE = "hosts_backoff.json"
#: A waiting request looks at least this often whether the crawl is closing...
_POLL = 5.0
#: ...and, in a one-round crawl, whether anything but waiting is left to do.
_ONE_ROUND_POLL = 0.5
#: A probe holds its host for its download timeout plus this, at most.
_LEASE_SLACK = 15.0
#: The lease when downloads have no timeout.
_NO_TIMEOUT_LEASE = 300.0
_ERROR_CHARS = 300
#: Exceptions that say nothing about the host: a request refused before it left, a
#: download cut short by us (DOWNLOAD_MAXSIZE) or by the crawl's close.
_NEUTRAL = (IgnoreRequest, DownloadCancelledError, UnsupportedURLSchemeError, NotSupported)
#: Exceptions that say the host could not be reached at all (Twisted's own, for a
#: handler that does not wrap them).  A timeout of a whole download counts, unless the
#: response had begun (BodyTimeoutError): the dead host that accepts connections and
#: never answers is the one that costs most.
_UNREACHABLE = (DownloadConnectionRefusedError, CannotResolveHostError, DownloadTimeoutError,
                NoResponseError, ConnectError, TxTimeoutError)
#: What the SOCKS client (httpx) says when Tor could not open the stream: it is
#: a DownloadFailedError like any broken download, so it is told by its message.
_SOCKS_UNREACHABLE = ("Malformed reply", "SOCKS", "Proxy")


class HostBackedOff(IgnoreRequest):
    """The host is backed off, and the request cannot wait for it in the scheduler."""


class HostGivenUp(HostBackedOff):
    """The host failed DARKCRAWL_BACKOFF_GIVE_UP times in a row: its requests fail at once."""


def unreachable(exception: BaseException) -> bool:
    """Did the download fail because the host could not be reached at all?"""
    if isinstance(exception, BodyTimeoutError):  # it answered: too big or too slow a body, a live host
        return False
    if isinstance(exception, _UNREACHABLE):
        return True
    text = str(exception)
    return type(exception).__name__ == "DownloadFailedError" and any(m in text for m in _SOCKS_UNREACHABLE)


def describe(exception: BaseException) -> str:
    text = str(exception).strip()
    name = type(exception).__name__
    return (f"{name}: {text}" if text else name)[:_ERROR_CHARS]


def _utc(wall: float | None) -> str | None:
    if wall is None:
        return None
    return datetime.fromtimestamp(wall, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class HostBackoffMiddleware:
    def __init__(self, crawler: Crawler, table: BackoffTable, failure_codes: frozenset[int],
                 path: Path, download_timeout: float, one_round: bool) -> None:
        self.crawler = crawler
        self.table = table
        self.failure_codes = failure_codes
        self.path = path
        self.state_file = StateFile(path, self.report)
        self.download_timeout = download_timeout
        self.one_round = one_round
        self._poll = _ONE_ROUND_POLL if one_round else _POLL
        self.parking = Parking(crawler, self._key, monotonic)
        crawler.signals.connect(self.state_file.opened, signal=signals.spider_opened)
        crawler.signals.connect(self._spider_closed, signal=signals.spider_closed)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        settings = crawler.settings
        if not settings.getbool("DARKCRAWL_BACKOFF_ENABLED"):
            raise NotConfigured
        try:
            policy = options_into(BackoffPolicy, settings, after="DARKCRAWL_BACKOFF_AFTER", base="DARKCRAWL_BACKOFF_BASE",
                                  maximum="DARKCRAWL_BACKOFF_MAX", give_up="DARKCRAWL_BACKOFF_GIVE_UP",
                                  jitter="DARKCRAWL_BACKOFF_JITTER", dead_after="DARKCRAWL_BACKOFF_DEAD_AFTER")
        except ValueError as exc:
            raise ConfigError(f"DARKCRAWL_BACKOFF_*: {exc}") from None
        codes = frozenset(int(code) for code in settings.getlist("RETRY_HTTP_CODES"))
        path = Path(settings["PATH_DATA"]) / "misc" / STATE_FILE
        return cls(crawler, BackoffTable(policy), codes, path, settings.getfloat("DOWNLOAD_TIMEOUT"),
                   settings.getbool("DARC_REBOOT"))

    # -- the gate ---------------------------------------------------------------------

    async def process_request(self, request: Request, spider: object = None) -> Request | None:
        request.meta.pop(PROBE_KEY, None)  # a retry or redirect copies its parent's meta
        if request.meta.get("playwright"):
            return None
        key = self._key(request)
        if key not in self.table.hosts:
            request.meta.pop(DELAYED_KEY, None)
            return None
        stats = self.crawler.stats
        parking = self.parking
        waited_since: float | None = None
        give_back = False
        while True:
            now = monotonic()
            if self.one_round and self._idle_but_for_backoff(request):
                self._hurry(now)
            admission = self.table.admit(key, now, self._lease(request))
            if admission.verdict is Verdict.GO:
                break
            if admission.verdict is Verdict.PROBE:
                request.meta[PROBE_KEY] = admission.token
                stats.inc_value("darkcrawl/backoff/probes")
                parking.mark(key, request, self.table.hosts[key].probe_until)  # until its outcome
                break
            state = self.table.hosts[key]
            if admission.verdict is Verdict.DROP:
                stats.inc_value("darkcrawl/backoff/dropped")
                self._changed()
                raise HostGivenUp(f"{key} given up after {self._failures_text(state)} "
                                  f"(last: {state.last_error}): {request.url}")
            if parking.closing():
                stats.inc_value("darkcrawl/backoff/released_at_close")
                break
            if not parking.scheduled(request):
                # downloaded directly (``engine.download_async``: Scrapy's robots.txt
                # requests), it could not give its place back, and the requests of its
                # host that wait for it would hold theirs too: fail it, as the host would
                stats.inc_value("darkcrawl/backoff/failed_fast")
                raise HostBackedOff(f"{key} is backed off after {state.failures} failures in a row "
                                    f"(last: {state.last_error}): {request.url}")
            if parking.give_back(waited_since is not None, give_back):
                # other hosts' requests want this place: wait in the scheduler instead,
                # where this host's slot looks busy (see Parking.mark)
                stats.inc_value("darkcrawl/backoff/requeued")
                stats.inc_value("darkcrawl/backoff/wait_seconds", round(now - waited_since, 3))
                return request.replace(dont_filter=True)
            if waited_since is None:
                waited_since = now
                if not request.meta.get(DELAYED_KEY):  # once per request, however often it is requeued
                    request.meta[DELAYED_KEY] = True
                    state.delayed += 1
                    stats.inc_value("darkcrawl/backoff/delayed")
            give_back = await parking.wait(request, key, min(admission.wait, self._poll))
        request.meta.pop(DELAYED_KEY, None)  # its retries are new requests
        if waited_since is not None:
            stats.inc_value("darkcrawl/backoff/wait_seconds", round(monotonic() - waited_since, 3))
        return None

    def refusal(self, request: Request) -> HostGivenUp | None:
        """At the start of a transfer (the download handler asks): the reason the request
        must fail at once, its host having been given up since it passed the gate."""
        if request.meta.get("playwright"):
            return None
        key = self._key(request)
        state = self.table.hosts.get(key)
        if state is None or not state.gave_up:
            return None
        token = request.meta.get(PROBE_KEY)
        if token is not None and token == state.probe:
            return None
        state.dropped += 1
        self.crawler.stats.inc_value("darkcrawl/backoff/dropped")
        self.crawler.stats.inc_value("darkcrawl/backoff/dropped_queued")
        self._changed()
        return HostGivenUp(f"{key} given up after {self._failures_text(state)} "
                           f"(last: {state.last_error}): {request.url}")

    def process_response(self, request: Request, response: Response, spider: object = None) -> Response:
        if request.meta.get("playwright") or "cached" in response.flags:
            return response
        if response.status in self.failure_codes:
            self._failed(request, f"HTTP {response.status}")
        else:
            self._succeeded(request)
        return response

    def process_exception(self, request: Request, exception: Exception, spider: object = None) -> None:
        if request.meta.get("playwright"):
            return
        if isinstance(exception, _NEUTRAL):
            token = request.meta.get(PROBE_KEY)
            if token is not None:
                key = self._key(request)
                self.table.released(key, token)
                self.parking.unmark(key)
                self.parking.wake(key)
            return
        if isinstance(exception, StopDownload):  # we stopped it after the headers: the host answered
            self._succeeded(request)
            return
        self._failed(request, describe(exception), unreachable(exception))

    # -- outcomes ---------------------------------------------------------------------

    def _succeeded(self, request: Request) -> None:
        key = self._key(request)
        if key not in self.table.hosts:
            return
        state = self.table.hosts[key]
        failures = state.failures
        if self.table.succeeded(key) is Event.RECOVERED:
            self.crawler.stats.inc_value("darkcrawl/backoff/recovered")
            logger.info("Host %s answers again after %d failures in a row: backoff ended", key, failures)
            self.parking.unmark(key)
            self._changed()
            self.parking.wake(key)

    def _failed(self, request: Request, error: str, unreachable: bool = False) -> None:
        key = self._key(request)
        if unreachable:
            self.crawler.stats.inc_value("darkcrawl/backoff/unreachable")
        events = self.table.failed(key, request.meta.get(PROBE_KEY), monotonic(), error, unreachable)
        if not events:
            return
        state = self.table.hosts[key]
        stats = self.crawler.stats
        wait = max(0.0, state.next_try - monotonic())
        if Event.BACKOFF in events:
            stats.inc_value("darkcrawl/backoff/entered")
            stats.set_value("darkcrawl/backoff/hosts", sum(1 for s in self.table.hosts.values() if s.backoffs))
            logger.info("Host %s backed off after %d failures in a row (last: %s): next try in %.1f s",
                        key, state.failures, state.last_error, wait)
        else:
            logger.debug("Host %s failed again (%d in a row, last: %s): next try in %.1f s",
                         key, state.failures, state.last_error, wait)
        if Event.GAVE_UP in events:
            stats.inc_value("darkcrawl/backoff/gave_up")
            dead = self._dead(state)
            if dead:
                stats.inc_value("darkcrawl/backoff/dead")
            logger.warning("Host %s given up after %s (last: %s): its requests now fail "
                           "at once; next probe in %.1f s", key, self._failures_text(state), state.last_error, wait)
        if state.gave_up:
            self.parking.unmark(key)  # its requests fail at once: the sooner they are taken, the better
        else:
            self.parking.mark(key, request, state.next_try)
        self._changed()
        self.parking.wake(key)

    # -- one round ----------------------------------------------------------------------

    def _idle_but_for_backoff(self, me: Request) -> bool:
        """Nothing but backed-off hosts is left to do: every download under way waits here
        or probes, the callbacks are done, and the start requests too."""
        engine = self.crawler.engine
        if getattr(engine, "_start", None) is not None:
            return False
        scraper_slot = getattr(engine.scraper, "slot", None)
        if scraper_slot is not None and not scraper_slot.is_idle():
            return False
        if not engine.downloader.needs_backout():
            # with room in the downloader, whatever is queued is on its way here (backed-off
            # hosts' requests included): a request just made by a callback, say
            scheduler = getattr(getattr(engine, "_slot", None), "scheduler", None)
            if scheduler is not None and scheduler.has_pending_requests():
                return False
        return all(request is me or request in self.parking.sleeping or request.meta.get(PROBE_KEY) is not None
                   for request in engine.downloader.active)

    def _hurry(self, now: float) -> None:
        """One round (DARC_REBOOT) and nothing else to do: waiting gains nothing, so the
        backed-off hosts are probed one request after the other until they answer or
        are given up, and the round ends instead of waiting out their backoff."""
        hurried = self.table.hurry(now)
        if not hurried:
            return
        self.crawler.stats.inc_value("darkcrawl/backoff/hurried", len(hurried))
        for key in hurried:
            self.parking.due(key)
            self.parking.wake(key)

    def _dead(self, state: HostState) -> bool:
        dead_after = self.table.policy.dead_after
        return bool(dead_after) and state.unreachable >= dead_after

    def _failures_text(self, state: HostState) -> str:
        if self._dead(state):
            return f"{state.failures} failures in a row, {state.unreachable} of them unreachable (a dead host)"
        return f"{state.failures} failures in a row"

    def _key(self, request: Request) -> str:
        # the network location: a dead port must not back off the live one next to it
        return request.meta.get(SLOT_KEY) or urlparse_cached(request).netloc.lower()

    def _lease(self, request: Request) -> float:
        timeout = request.meta.get("download_timeout", self.download_timeout)
        return (float(timeout) if timeout else _NO_TIMEOUT_LEASE) + _LEASE_SLACK

    # -- the state file ---------------------------------------------------------------

    def report(self) -> dict[str, Any]:
        """Every host that was backed off, as the state file shows it."""
        now, wall = monotonic(), time()
        after = self.table.policy.after
        hosts = []
        for key, state in sorted(self.table.hosts.items()):
            if not state.backoffs:
                continue
            status = state.status(after, now)
            waiting = state.failures >= after
            hosts.append({
                "host": key,
                "state": status,
                "failures": state.failures,
                "unreachable": state.unreachable,
                "last_error": state.last_error,
                "last_failure": _utc(None if state.last_failure is None else wall - now + state.last_failure),
                "next_try": _utc(wall - now + state.next_try) if waiting else None,
                "backoffs": state.backoffs,
                "probes": state.probes,
                "delayed": state.delayed,
                "dropped": state.dropped,
            })
        policy = self.table.policy
        return {
            "updated": _utc(wall),
            "policy": {"after": policy.after, "base": policy.base,
                       "max": policy.maximum if math.isfinite(policy.maximum) else None,  # JSON has no inf
                       "give_up": policy.give_up, "jitter": policy.jitter, "dead_after": policy.dead_after},
            "hosts": hosts,
        }

    def _changed(self) -> None:
        self.state_file.changed()

    def _spider_closed(self) -> None:
        self.state_file.closed()
