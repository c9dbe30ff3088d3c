"""Gates (DDoS queues, captchas, bans, login walls, proxy errors) read from every answer,
and the requests of a gated host held and paced (:mod:`darkcrawl.policy.gatebook`).

Every plain-stage answer passes :func:`~darkcrawl.intel.gates.worth_checking` (a few
byte searches); the few that might be a gate are read closely (the parsed tree is
Scrapy's, cached on the response: the spider does not parse it again) and a gate
found goes into the request's meta (:data:`~darkcrawl.meta.GATE_KEY`) for the spider,
which records the page as the host's gate and never as its content.  This happens
here, before any other middleware sees the answer: the robots.txt middleware, say,
would otherwise release the host's pages the moment its robots.txt came back as a
queue page, and they would go out with the queue's cookie long before its delay.

What the host's other requests do meanwhile (``process_request``):

* a queue or a ban: they wait (:mod:`darkcrawl.downloadermiddlewares.parking`: in the
  scheduler while other hosts have work, here otherwise, giving their place back when
  it is wanted) until the delay the page asked for (plus ``DARKCRAWL_GATE_MARGIN``) is
  over; then one request goes, the probe, with the queue's cookie, through the same
  SocksPort (onion services are pinned to one), and its answer decides for the others;
* a captcha or a login wall (needs a person), or a queue that never opened: they fail
  at once (:class:`HostNeedsPerson`, :class:`HostGateGaveUp`: ``IgnoreRequest``\\ s, so
  neither retried nor charged to the host's backoff), each with the reason, and wait
  for the revisit schedule; cookies imported for the host meanwhile open it again;
* every host that showed a gate is paced, plain stage and renders together
  (``DARKCRAWL_GATE_RATE``, ``DARKCRAWL_GATE_BURST``); a render also gets a pacer
  (:data:`~darkcrawl.meta.GATE_PACER_KEY`) for the resources the browser loads from the
  host, which a front such as EndGame counts against the same circuit.

A probe whose connection dies without an answer is what EndGame does to a request
that came back too early (it closes the circuit and bans the cookie): it is taken for
a ban.  After a ban the host's cookies are dropped from the jar (a banned cookie is
useless) and the next probe starts afresh.

Order (``darkcrawl/addon.py``): 660, after the host backoff (650) and before the
cookie middleware (700): a request that waited gets the cookies of the moment it
leaves, and this middleware reads an answer before every middleware but the cookie
middleware (which stores its cookies first).
"""

from __future__ import annotations

import logging
from time import monotonic
from typing import TYPE_CHECKING, Any

from scrapy.downloadermiddlewares.cookies import CookiesMiddleware
from scrapy.exceptions import IgnoreRequest, NotConfigured
from scrapy.http import TextResponse
from scrapy.utils.httpobj import urlparse_cached

from darkcrawl import hostfiles
from darkcrawl.downloadermiddlewares.parking import Parking
from darkcrawl.failures import Transfer, failure_reason
from darkcrawl.policy.gatebook import GateBook
from darkcrawl.intel.gates import (
    AnswerHeaders,
    Gate,
    detect,
    markup_signals,
    text_signals,
    worth_checking,
)
from darkcrawl.meta import GATE_CHECKED_KEY, GATE_KEY, GATE_PACER_KEY, GATE_PROBE_KEY, gate_key, network_of
from darkcrawl.networks.proxy_errors import proxy_page
from darkcrawl.policy.gates import Phase, Verdict
from darkcrawl.storage.paths import HTML_TYPES

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from scrapy.crawler import Crawler
    from scrapy.http import Request, Response
    from typing_extensions import Self

logger = logging.getLogger(__name__)

__all__ = ["GateMiddleware", "GateRefused", "HostGateGaveUp", "HostNeedsPerson"]

#: A waiting request looks at least this often whether its wait is over.
_POLL = 5.0
#: A probe holds its host for its download timeout plus this, at most.
_LEASE_SLACK = 15.0
_NO_TIMEOUT_LEASE = 300.0
#: What a connection that died without an answer is called (darkcrawl.failures' words).
_DROPPED = frozenset({"NoResponse", "ConnectionReset"})
#: Bytes of a plain-text answer read for a gate.
_TEXT_BYTES = 16384


class GateRefused(IgnoreRequest):
    """The host is behind a gate the crawl cannot pass now."""


class HostNeedsPerson(GateRefused):
    """A captcha or a login wall: cookies imported for the host open it (``scrapy cookies import``)."""


class HostGateGaveUp(GateRefused):
    """The host's queue never let the crawl in (``DARKCRAWL_GATE_MAX_ROUNDS``)."""


def answer_gate(response: Response, requested: str) -> Gate | None:
    """The gate *response* is, read closely (the caller checked :func:`worth_checking`)."""
    headers = AnswerHeaders.read(response.headers.get)
    raw_type = response.headers.get(b"Content-Type") or b""
    content_type = raw_type.decode("latin-1").split(";", 1)[0].strip().lower()
    html = content_type in HTML_TYPES or (not content_type and hostfiles.looks_like_html(response.body))
    if html and isinstance(response, TextResponse):
        try:
            root = response.selector.root
        except Exception:  # lxml and encodings fail in many ways; no gate read here then
            return None
        signals = markup_signals(root, response.status, response.url, headers)
    else:
        encoding = response.encoding if isinstance(response, TextResponse) else "utf-8"
        signals = text_signals(response.body[:_TEXT_BYTES].decode(encoding, "replace"), response.status, headers)
    return detect(signals, requested)


def content_type_of(response: Response) -> str:
    raw = response.headers.get(b"Content-Type") or b""
    return raw.decode("latin-1").split(";", 1)[0].strip().lower()


class GateMiddleware:
    def __init__(self, crawler: Crawler, book: GateBook, download_timeout: float) -> None:
        self.crawler = crawler
        self.book = book
        self.download_timeout = download_timeout
        self.parking = Parking(crawler, lambda request: gate_key(request.meta), monotonic)
        self._cookies: CookiesMiddleware | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        book = GateBook.for_crawler(crawler)
        if book is None:
            raise NotConfigured
        return cls(crawler, book, crawler.settings.getfloat("DOWNLOAD_TIMEOUT"))

    # -- before a request -------------------------------------------------------------------

    async def process_request(self, request: Request, spider: object = None) -> Request | None:
        meta = request.meta
        for key in (GATE_KEY, GATE_CHECKED_KEY, GATE_PROBE_KEY, GATE_PACER_KEY):
            meta.pop(key, None)  # a retry or a requeued request copies its parent's meta
        key = gate_key(meta)
        if key is None:
            return None
        hostname = urlparse_cached(request).hostname or ""
        if key not in self.book.table.hosts and not self.book.watch_if_imported(key, hostname):
            return None
        held = await self._hold(request, key, hostname)
        if held is not None:
            return held
        await self._pace(request, key)
        if meta.get("playwright"):
            meta[GATE_PACER_KEY] = self._pacer(key)
        return None

    async def _hold(self, request: Request, key: str, hostname: str) -> Request | None:
        """Wait while the host is gated; the request itself when it should go back to the
        scheduler instead.  Raises GateRefused for a host that cannot be passed now."""
        parking, stats = self.parking, self.crawler.stats
        waited = told = False
        while True:
            admission = self.book.admit(key, hostname, self._lease(request))
            if admission.verdict is Verdict.GO:
                return None
            if admission.verdict is Verdict.PROBE:
                request.meta[GATE_PROBE_KEY] = admission.token
                stats.inc_value("darkcrawl/gates/probes")
                parking.mark(key, request, monotonic() + self._lease(request))  # the others wait for its outcome
                return None
            if admission.verdict is Verdict.REFUSE:
                stats.inc_value("darkcrawl/gates/refused")
                error = HostNeedsPerson if self.book.phase(key) is Phase.PERSON else HostGateGaveUp
                raise error(f"{admission.reason}: {request.url}")
            if parking.scheduled(request) and parking.give_back(waited, told):
                stats.inc_value("darkcrawl/gates/requeued")
                return request.replace(dont_filter=True)
            if not waited:
                waited = True
                stats.inc_value("darkcrawl/gates/held")
                if not parking.marked(key):
                    parking.mark(key, request, self.book.not_before(key))
            told = await parking.wait(request, key, min(admission.wait, _POLL))

    async def _pace(self, request: Request, key: str) -> None:
        delay = self.book.pace(key)
        if delay <= 0:
            return
        self.crawler.stats.inc_value("darkcrawl/gates/paced")
        turn = monotonic() + delay
        while (left := turn - monotonic()) > 0:
            await self.parking.wait(request, key, left)

    def _pacer(self, key: str) -> Callable[[], Awaitable[None]]:
        """The render's pacer: the browser's requests to the host wait their turn too."""
        import asyncio

        async def turn() -> None:
            delay = self.book.pace(key)
            if delay > 0:
                self.crawler.stats.inc_value("darkcrawl/gates/paced_browser")
                await asyncio.sleep(delay)

        return turn

    def _lease(self, request: Request) -> float:
        timeout = request.meta.get("download_timeout", self.download_timeout)
        return (float(timeout) if timeout else _NO_TIMEOUT_LEASE) + _LEASE_SLACK

    # -- after an answer ------------------------------------------------------------------

    def process_response(self, request: Request, response: Response, spider: object = None) -> Response:
        meta = request.meta
        if meta.get("playwright"):
            return response  # a render: the plain stage's answer of the page decided already
        key = gate_key(meta)
        token = meta.get(GATE_PROBE_KEY)
        gate = None
        # a gated host's answers are all read closely: whether it let us in decides for its other requests
        gated = key is not None and self.book.phase(key) not in (None, Phase.OPEN)
        if proxy_page(network_of(meta) or "", response.status, response.body) is not None:
            return response  # our proxy's or gateway's words, not the host's: routing fails the request
        if gated or worth_checking(response.status, content_type_of(response), response.body,
                                   AnswerHeaders.read(response.headers.get)):
            meta[GATE_CHECKED_KEY] = True
            requested = (meta.get("redirect_urls") or [request.url])[0]
            gate = answer_gate(response, requested)
        if key is None:
            return response
        if gate is None:
            if self.book.passed(key, token):
                self.parking.unmark(key)
                self.parking.wake(key)
            return response
        self.record(request, key, gate)
        return response

    def record(self, request: Request, key: str, gate: Gate) -> dict[str, Any]:
        """Tell the book the host answered *request* with *gate*; the gate as the page records it."""
        record = self.book.met(key, gate, request.meta.get(GATE_PROBE_KEY), urlparse_cached(request).hostname or "",
                               request.url)
        request.meta[GATE_KEY] = record
        if gate.kind == "ban":
            self._forget_cookies(request)
        if self.book.phase(key) is Phase.WAIT:
            self.parking.mark(key, request, self.book.not_before(key))
        else:  # the host needs a person, or was given up: its waiting requests fail now
            self.parking.unmark(key)
        self.parking.wake(key)
        return record

    def process_exception(self, request: Request, exception: Exception, spider: object = None) -> None:
        meta = request.meta
        token = meta.get(GATE_PROBE_KEY)
        key = gate_key(meta)
        if token is None or key is None or meta.get("playwright"):
            return
        if not isinstance(exception, IgnoreRequest):
            _reason, error = failure_reason(exception, Transfer.of(request, 0))
            if error in _DROPPED and self.book.dropped(key, token, error):
                self._forget_cookies(request)
                if self.book.phase(key) is Phase.WAIT:
                    self.parking.mark(key, request, self.book.not_before(key))
                self.parking.wake(key)
                return
        self.book.released(key, token)
        self.parking.unmark(key)
        self.parking.wake(key)

    def _forget_cookies(self, request: Request) -> None:
        """Drop the host's cookies from the request's jar: a banned cookie opens nothing."""
        if self._cookies is None:
            self._cookies = self.crawler.get_downloader_middleware(CookiesMiddleware)
            if self._cookies is None:
                return
        jar = self._cookies.jars.get(request.meta.get("cookiejar"))
        hostname = urlparse_cached(request).hostname or ""
        if jar is None or not hostname:
            return
        dropped = 0
        for domain in (hostname, "." + hostname):
            try:
                dropped += sum(len(names) for names in jar.jar._cookies.get(domain, {}).values())  # noqa: SLF001
                jar.jar.clear(domain)
            except KeyError:
                continue
        if dropped:
            self.crawler.stats.inc_value("darkcrawl/gates/cookies_dropped", dropped)
