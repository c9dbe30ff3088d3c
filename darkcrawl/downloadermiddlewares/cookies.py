"""Scrapy's cookie middleware, without its one network call, and capped as browsers cap.

Scrapy checks cookie domains against the public-suffix list with ``tldextract``,
whose default is to download the list from the internet on first use: a direct,
un-proxied clear-web connection from a crawler that may be crawling onions.  The
list bundled with tldextract is used instead.

Scrapy keeps every cookie a site sets and sends them all back: one page setting
10,000 cookies made every later request to its host carry a 148 KB ``Cookie:``
header.  Browsers bound the jar (RFC 6265 §6.1 gives the minimums; Chromium keeps
180 cookies per domain, 3,300 in all, and drops a cookie whose name + value is over
4,096 bytes), and so does this middleware:

* a cookie over ``DARKCRAWL_COOKIE_MAX_SIZE`` is dropped when it is set;
* over ``DARKCRAWL_COOKIES_PER_HOST`` cookies for one domain, or
  ``DARKCRAWL_COOKIES_TOTAL`` in the jar, the least recently set are evicted
  (expired ones first, by the jar itself);
* the ``Cookie:`` header sent is cut at ``DARKCRAWL_COOKIE_HEADER_MAX`` bytes, at a
  cookie boundary (servers reject longer header lines: nginx, Apache at 8 KB).

Each cap is off at 0.  Everything dropped is counted under ``darkcrawl/cookies/...``.

Cookies imported for a host (``scrapy cookies import HOST FILE``, :mod:`darkcrawl.storage.cookiestore`)
are put in the jar before the host's next request, and again whenever they are imported
anew.  A render's request gets the host's cookies of the jar in its meta
(:data:`~darkcrawl.meta.BROWSER_COOKIES_KEY`): the browser does not share Scrapy's jar, and
the page init callback puts them in the browser context before the page loads (the queue's
cookie of a gated host, a session imported for it).
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import scrapy.downloadermiddlewares.cookies as scrapy_cookies
from scrapy.downloadermiddlewares.cookies import CookiesMiddleware
from scrapy.utils.httpobj import urlparse_cached
from tldextract import TLDExtract

from darkcrawl.config import options_into
from darkcrawl.intel.cookiefiles import jar_cookie_for_browser
from darkcrawl.storage.cookiestore import CookieImports
from darkcrawl.meta import BROWSER_COOKIES_KEY
from darkcrawl.records import jar_cookies

if TYPE_CHECKING:
    from collections.abc import Iterable
    from http.cookiejar import Cookie

    from scrapy import Request
    from scrapy.crawler import Crawler
    from scrapy.http import Response
    from scrapy.http.cookies import CookieJar
    from scrapy.settings import BaseSettings
    from typing_extensions import Self

logger = logging.getLogger(__name__)

CookieKey = tuple[str, str, str]  # (domain, path, name): a cookie's identity in a jar


@dataclass(frozen=True, slots=True)
class CookieLimits:
    per_host: int = 180
    total: int = 3000
    max_size: int = 4096
    header_max: int = 8192

    @classmethod
    def from_settings(cls, settings: BaseSettings) -> CookieLimits:
        return options_into(cls, settings, per_host="DARKCRAWL_COOKIES_PER_HOST", total="DARKCRAWL_COOKIES_TOTAL",
                            max_size="DARKCRAWL_COOKIE_MAX_SIZE", header_max="DARKCRAWL_COOKIE_HEADER_MAX")


def cookie_size(cookie: Cookie) -> int:
    """Bytes of a cookie's name + value, what browsers hold against 4,096."""
    return len(cookie.name.encode("utf-8", "surrogateescape")) + len((cookie.value or "").encode("utf-8", "surrogateescape"))


def cut_cookie_header(header: bytes, limit: int) -> tuple[bytes, int]:
    """The longest run of whole ``name=value`` pairs of a ``Cookie:`` header within
    *limit* bytes, and how many pairs were left out."""
    if len(header) <= limit:
        return header, 0
    pairs = header.split(b"; ")
    size = kept = 0
    for pair in pairs:
        size += len(pair) + (2 if kept else 0)
        if size > limit:
            break
        kept += 1
    return b"; ".join(pairs[:kept]), len(pairs) - kept


class OfflineCookiesMiddleware(CookiesMiddleware):
    limits = CookieLimits()

    def __init__(self, debug: bool = False) -> None:
        super().__init__(debug)
        #: per jar (by id: jars live as long as the crawl): when each cookie was last set
        self._set_at: dict[int, dict[CookieKey, int]] = {}
        self._clock = itertools.count()
        self.imports: CookieImports | None = None
        #: (jar, host name) -> the version of the imported cookies put in that jar for it
        self._loaded: dict[tuple[Any, str], str] = {}

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        if getattr(scrapy_cookies._split_domain, "suffix_list_urls", None):
            scrapy_cookies._split_domain = TLDExtract(
                suffix_list_urls=(), cache_dir=None, include_psl_private_domains=True
            )
        middleware = super().from_crawler(crawler)
        middleware.limits = CookieLimits.from_settings(crawler.settings)
        middleware.imports = CookieImports.for_crawler(crawler)
        return middleware

    def process_request(self, request: Request, spider: Any = None) -> None:
        if self.imports is not None and not request.meta.get("dont_merge_cookies", False):
            self._load_imported(request)
        super().process_request(request)
        if request.meta.get("playwright"):
            request.meta[BROWSER_COOKIES_KEY] = self._browser_cookies(request)
        header = request.headers.get(b"Cookie")
        if header and self.limits.header_max and len(header) > self.limits.header_max:
            cut, left_out = cut_cookie_header(header, self.limits.header_max)
            if cut:
                request.headers[b"Cookie"] = cut
            else:
                del request.headers[b"Cookie"]
            self.crawler.stats.inc_value("darkcrawl/cookies/header_cut")
            self.crawler.stats.inc_value("darkcrawl/cookies/left_out", left_out)

    def _load_imported(self, request: Request) -> None:
        """Put the cookies imported for the request's host in its jar (once per import)."""
        hostname = urlparse_cached(request).hostname or ""
        version, cookies = self.imports.for_host(hostname)  # type: ignore[union-attr]
        loaded = (request.meta.get("cookiejar"), hostname)
        if not cookies or self._loaded.get(loaded) == version:
            return
        jar = self.jars[loaded[0]]
        for cookie in cookies:
            jar.jar.set_cookie(cookie.jar_cookie())
        self._loaded[loaded] = version  # type: ignore[assignment]
        self.crawler.stats.inc_value("darkcrawl/cookies/imported_used", len(cookies))
        logger.info("%d cookies imported for %s are in use from %s on", len(cookies), hostname, request.url)

    def _browser_cookies(self, request: Request) -> list[dict[str, Any]]:
        """The jar's cookies for the request's host, as the browser context takes them."""
        jar = self.jars.get(request.meta.get("cookiejar"))
        hostname = urlparse_cached(request).hostname or ""
        if jar is None or not hostname:
            return []
        return [jar_cookie_for_browser(cookie, request.url) for cookie in jar_cookies(jar.jar, hostname)
                if not cookie.is_expired()]

    def process_response(self, request: Request, response: Response, spider: Any = None) -> Response:
        cap = self.limits.per_host
        lines = response.headers.getlist(b"Set-Cookie") if cap else []
        if len(lines) > cap and not request.meta.get("dont_merge_cookies", False):
            # Parsing is what costs (10,000 cookies: seconds of a blocked event loop), and
            # taking them one by one would evict all but the last ones anyway.
            self.crawler.stats.inc_value("darkcrawl/cookies/dropped/per_host", len(lines) - cap)
            logger.info("%s set %d cookies: the last %d kept", request.url, len(lines), cap)
            super().process_response(request, response.replace(headers={b"Set-Cookie": lines[-cap:]}))
            return response
        return super().process_response(request, response)

    def _process_cookies(self, cookies: Iterable[Cookie], *, jar: CookieJar, request: Request) -> None:
        stats = self.crawler.stats
        wanted: list[Cookie] = []
        for cookie in cookies:
            if self.limits.max_size and cookie_size(cookie) > self.limits.max_size:
                stats.inc_value("darkcrawl/cookies/dropped/too_large")
            else:
                wanted.append(cookie)
        if self.limits.per_host and len(wanted) > self.limits.per_host:  # Request.cookies, say
            stats.inc_value("darkcrawl/cookies/dropped/per_host", len(wanted) - self.limits.per_host)
            wanted = wanted[-self.limits.per_host:]
        if not wanted:
            return
        super()._process_cookies(wanted, jar=jar, request=request)
        set_at = self._set_at.setdefault(id(jar), {})
        for cookie in wanted:
            set_at[(cookie.domain, cookie.path, cookie.name)] = next(self._clock)
        self._enforce(jar, set_at, {cookie.domain for cookie in wanted})

    def _enforce(self, jar: CookieJar, set_at: dict[CookieKey, int], domains: set[str]) -> None:
        """Evict the least recently set cookies over the caps of *domains* and of the jar."""
        index: dict[str, dict[str, dict[str, Cookie]]] = jar.jar._cookies  # domain -> path -> name -> cookie
        over: list[CookieKey] = []
        for domain in domains:
            keys = [(domain, path, name) for path, names in index.get(domain, {}).items() for name in names]
            if self.limits.per_host and len(keys) > self.limits.per_host:
                keys.sort(key=lambda key: set_at.get(key, -1))
                over += keys[: len(keys) - self.limits.per_host]
        self._evict(jar, set_at, over, "per_host")
        if self.limits.total and sum(len(names) for paths in index.values() for names in paths.values()) > self.limits.total:
            jar.jar.clear_expired_cookies()
            keys = [(domain, path, name) for domain, paths in index.items() for path, names in paths.items()
                    for name in names]
            if len(keys) > self.limits.total:
                keys.sort(key=lambda key: set_at.get(key, -1))
                self._evict(jar, set_at, keys[: len(keys) - self.limits.total], "total")
        # forget what the jar no longer holds (rejected by its policy, expired, evicted)
        if len(set_at) > 2 * (self.limits.total or 10_000):
            for key in [key for key in set_at if key[2] not in index.get(key[0], {}).get(key[1], {})]:
                del set_at[key]

    def _evict(self, jar: CookieJar, set_at: dict[CookieKey, int], keys: list[CookieKey], cap: str) -> None:
        for domain, path, name in keys:
            jar.jar.clear(domain, path, name)
            set_at.pop((domain, path, name), None)
        if keys:
            self.crawler.stats.inc_value(f"darkcrawl/cookies/dropped/{cap}", len(keys))
