"""The SSRF test web: a recording HTTP proxy that also plays a public site, and a
resolver with a fixed table (the names of a wildcard-DNS service cannot be looked
up here: no internet), guarded exactly as the crawl's.

The proxy records every request line it gets; ``redirector.test`` (the one public
site) answers through it with links and redirects to inside addresses in every
spelling.  Anything else that reaches the proxy is an SSRF the crawl let through.
"""

from __future__ import annotations

import json
import logging
import threading
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from twisted.internet import defer
from twisted.internet.base import ThreadedResolver
from twisted.internet.error import DNSLookupError

from darkcrawl.dns import GuardedResolver
from darkcrawl.addresses import canonical_host, is_address
from tests.harness.http import HttpService, QuietHandler

if TYPE_CHECKING:
    from collections.abc import Sequence

    from scrapy.crawler import Crawler
    from twisted.internet.base import ReactorBase

logger = logging.getLogger(__name__)

PUBLIC_SITE = "redirector.test"
#: what the test resolver answers (DARKCRAWL_TEST_DNS overrides it)
DNS_TABLE = {
    PUBLIC_SITE: "93.184.216.34",
    "metadata.test": "169.254.169.254",
    "169.254.169.254.nip.io": "169.254.169.254",
    "rebind.test": "127.0.0.1",
}
#: inside addresses in the spellings that used to slip through
NUMERIC_SPELLINGS = (
    "http://2130706433/", "http://0x7f000001/", "http://127.1/", "http://127.0.1/", "http://0177.0.0.1/",
    "http://0x7f.0.0.1/", "http://[::ffff:127.0.0.1]/", "http://[::1]/", "http://[::127.0.0.1]/",
    "http://127.0.0.1./", "http://0/", "http://2852039166/",  # 169.254.169.254 as one number
)
#: redirects of the public site, each to an inside address
REDIRECTS = {
    "/r/decimal": "http://2130706433/admin", "/r/hex": "http://0x7f000001/admin",
    "/r/short": "http://127.1/admin", "/r/mapped": "http://[::ffff:127.0.0.1]/admin",
    "/r/rebind": "http://rebind.test/admin", "/r/metadata": "http://169.254.169.254.nip.io/latest/",
}


class _TableLookup(ThreadedResolver):
    table: dict[str, str] = {}

    def getHostByName(self, name: str, timeout: Sequence[int] = ()) -> defer.Deferred[str]:
        logger.info("test resolver: looking up %s", name)
        if name in self.table:
            return defer.succeed(self.table[name])
        if is_address(name):  # the proxy's own address, as the system resolver answers
            return defer.succeed(canonical_host(name))
        return defer.fail(DNSLookupError(f"no such name in the test table: {name}"))


class TableResolver(GuardedResolver, _TableLookup):
    """GuardedResolver (its refusals and cache) over a fixed table instead of the system resolver."""

    @classmethod
    def from_crawler(cls, crawler: Crawler, reactor: ReactorBase) -> TableResolver:
        resolver = super().from_crawler(crawler, reactor)
        resolver.table = json.loads(crawler.settings.get("DARKCRAWL_TEST_DNS") or json.dumps(DNS_TABLE))
        return resolver


def _page(*links: str) -> bytes:
    anchors = "".join(f'<a href="{link}">x</a>' for link in links)
    return f"<html><body><p>the public site</p>{anchors}</body></html>".encode()


class _ProxyHandler(QuietHandler):
    def do_GET(self) -> None:
        self.server.service.record(self.requestline)
        target = urlsplit(self.path)
        if target.hostname != PUBLIC_SITE:
            self._answer(200, b"<html><body>inside: the crawl should never get here</body></html>")
        elif target.path in REDIRECTS:
            self.send_response(302)
            self.send_header("Location", REDIRECTS[target.path])
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif target.path == "/":
            self._answer(200, _page(*REDIRECTS, *NUMERIC_SPELLINGS, "http://metadata.test/"))
        else:
            self._answer(404, b"not found")

    def _answer(self, status: int, body: bytes) -> None:
        self.send_body(status, body)


class RecordingProxy(HttpService):
    """``with RecordingProxy() as proxy:`` ``proxy.url``, ``proxy.lines`` (request lines)."""

    handler_class = _ProxyHandler

    def __init__(self) -> None:
        super().__init__()
        self._lines: list[str] = []
        self._lock = threading.Lock()

    def record(self, line: str) -> None:
        with self._lock:
            self._lines.append(line)

    @property  # type: ignore[override]
    def url(self) -> str:
        return self.base_url

    @property
    def lines(self) -> list[str]:
        with self._lock:
            return list(self._lines)
