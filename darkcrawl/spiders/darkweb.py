"""The ``darkweb`` spider: darc's crawler stage on Scrapy.

``scrapy crawl darkweb -a seeds=seeds.txt`` (one URL per line) or
``-a urls=URL,URL``.  For every fetched page it yields a :class:`PageItem` (saved by
the pipelines) and requests for the links it has not seen; for every new host it
runs a bootstrap chain (robots.txt → sitemaps → I2P hosts.txt → ``new_host``).

Where the cost is: deciding seen-ness on the URL string before any Request exists
(most extracted links were seen already), and classifying only new URLs.
"""

from __future__ import annotations

import logging
import re
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import lxml.html
from scrapy import Request, Spider, signals
from scrapy.downloadermiddlewares.cookies import CookiesMiddleware
from scrapy.exceptions import CloseSpider, DontCloseSpider, StopDownload, UsageError
from scrapy.http import Response, TextResponse
from scrapy.utils.httpobj import urlparse_cached
from scrapy.utils.misc import load_object

from twisted.internet.task import LoopingCall

from darkcrawl import hostfiles
from darkcrawl.config import ConfigError
from darkcrawl.downloadermiddlewares.history import HISTORY_KEY
from darkcrawl.downloadermiddlewares.robots import NO_ROBOTS_NETWORKS
from darkcrawl.frontier.freshness import RevisitSchedule
from darkcrawl.hooks.base import LinkNoReturn, SiteHook
from darkcrawl.hooks.registry import HookRegistry
from darkcrawl.frontier.scope import ListRule, Scope, TrapRules
from darkcrawl.items import HostFileItem, LinkMetadata, NewHostItem, PageItem, RenderItem
from darkcrawl.links.classify import Gateways, Link, classify
from darkcrawl.links.extract import extract_links
from darkcrawl.links.patterns import compile_extra_patterns
from darkcrawl.records import cookie_dict, headers_dict, jar_cookies, reason_phrase, response_cookies
from darkcrawl.seeds import SeedError, parse_seed_lines, read_seed_file, split_inline
from darkcrawl.storage import paths

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from twisted.python.failure import Failure

    from darkcrawl.frontier.seen import SeenSet

logger = logging.getLogger(__name__)

#: Bootstrap fetches (robots.txt, sitemaps) go before pages: the new_host record
#: and the robots rules are wanted early.
BOOTSTRAP_PRIORITY = 100
LINK_KEY = "darkcrawl_link"
BACKREF_KEY = "darkcrawl_backref"
BOOTSTRAP_KEY = "darkcrawl_bootstrap"
HOOK_KEY = "darkcrawl_hook"
RENDER_KEY = "darkcrawl_render_of"
#: darc's SE_EMPTY: what Chromium shows for a page that did not load
EMPTY_RENDER = "<html><head></head><body></body></html>"
_EMPTY_PAGE = re.compile(r"\s+")
#: Playwright's words for a browser, context or page that died under a request
_BROWSER_GONE = re.compile(r"has been closed|Target closed|crashed|disconnected", re.IGNORECASE)


def _now_iso() -> str:
    return datetime.now(timezone.utc).isoformat()


class DarkwebSpider(Spider):
    name = "darkweb"
    #: has a render stage: the download handler starts the browser for it
    renders = True

    def __init__(self, seeds: str | None = None, urls: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.seed_urls = urls
        # Fail before the crawl starts, with a one-line reason, rather than end an
        # empty crawl with a traceback.
        self.seed_files = [part for part in (seeds or "").split(",") if part]
        missing = [path for path in self.seed_files if not Path(path).is_file()]
        if missing:
            raise UsageError(f"seeds file not found: {', '.join(missing)}")

    # -- set-up ---------------------------------------------------------------------

    @property
    def stats(self) -> Any:
        # Crawler.stats exists only once the crawl starts, after the spider is built.
        return self.crawler.stats

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> DarkwebSpider:
        spider = super().from_crawler(crawler, *args, **kwargs)
        # The spider is built before add-ons finalise the settings: read them once
        # the spider opens.
        crawler.signals.connect(spider._configure, signal=signals.spider_opened)
        return spider

    config_error: str | None = None

    def _configure(self) -> None:
        # Runs in a signal handler, whose exceptions Scrapy only logs: keep the
        # reason, and let start() close the crawl with it.
        try:
            self._set_up(self.crawler)
        except Exception as exc:
            self.config_error = str(exc) or type(exc).__name__
            logger.error("darkcrawl cannot start: %s", self.config_error)

    def _set_up(self, crawler: Crawler) -> None:
        settings = crawler.settings
        self.gateways = Gateways(settings.getint("ZERONET_PORT"), settings.getint("FREENET_PORT"))
        self.scope = Scope(
            links=ListRule.build(settings["LINK_WHITE_LIST"], settings["LINK_BLACK_LIST"], settings["LINK_FALLBACK"]),
            networks=ListRule.build(settings["PROXY_WHITE_LIST"], settings["PROXY_BLACK_LIST"], settings["PROXY_FALLBACK"]),
            mimes=ListRule.build(settings["MIME_WHITE_LIST"], settings["MIME_BLACK_LIST"], settings["MIME_FALLBACK"]),
            traps=TrapRules(
                max_url_length=settings.getint("URLLENGTH_LIMIT"),
                max_segment_repeat=settings.getint("DARKCRAWL_MAX_SEGMENT_REPEAT"),
                max_subdomains=settings.getint("DARKCRAWL_MAX_SUBDOMAINS"),
            ),
        )
        try:
            self.extra_patterns = compile_extra_patterns(settings["DARC_URL_PAT"])
        except ValueError as exc:
            raise ConfigError(f"DARC_URL_PAT: {exc}") from None
        seen_cls = load_object(settings.get("DARKCRAWL_SEEN_CLASS", "darkcrawl.frontier.seen.MemorySeenSet"))
        self.seen: SeenSet = seen_cls.from_crawler(crawler)
        self.depth_limit = settings.getint("DEPTH_LIMIT")
        self.host_page_limit = settings.getint("DARKCRAWL_HOST_PAGE_LIMIT")
        self.max_sitemaps = settings.getint("DARKCRAWL_MAX_SITEMAPS")
        self.reboot = settings.getbool("DARC_REBOOT")
        self.time_cache = settings.getfloat("TIME_CACHE")
        self.revisits = RevisitSchedule(self.time_cache if not self.reboot else float("inf"))
        self.poll_interval = max(1.0, min(settings.getfloat("DARC_WAIT"), self.time_cache, 60.0))
        #: host key -> time of its last bootstrap
        self._hosts: dict[str, float] = {}
        self._host_pages: Counter[str] = Counter()
        self._cookies: CookiesMiddleware | None = None
        self.hooks = HookRegistry.from_crawler(crawler)
        self.render = settings.getbool("DARKCRAWL_RENDER")
        self.se_wait = settings.getfloat("SE_WAIT")
        self.render_retries = settings.getint("DARKCRAWL_RENDER_RETRIES")
        self.screenshot_max_height = settings.getint("DARKCRAWL_SCREENSHOT_MAX_HEIGHT")
        self.screenshot_timeout_ms = settings.getfloat("DARKCRAWL_SCREENSHOT_TIMEOUT") * 1000
        self._poller: LoopingCall | None = None
        crawler.signals.connect(self._engine_started, signal=signals.engine_started)
        crawler.signals.connect(self._spider_idle, signal=signals.spider_idle)
        crawler.signals.connect(self._spider_closed, signal=signals.spider_closed)
        if self.scope.mimes.white or self.scope.mimes.black:
            crawler.signals.connect(self._headers_received, signal=signals.headers_received)

    def _engine_started(self) -> None:
        self._cookies = self.crawler.get_downloader_middleware(CookiesMiddleware)  # or a subclass
        if self.revisits.enabled:
            self._poller = LoopingCall(self._schedule_due)
            self._poller.start(self.poll_interval, now=False)

    def _spider_closed(self) -> None:
        if self.config_error:
            return
        if self._poller and self._poller.running:
            self._poller.stop()
        self.stats.set_value("darkcrawl/seen_urls", len(self.seen))
        self.stats.set_value("darkcrawl/hosts", len(self._hosts))
        self.seen.close()

    def _spider_idle(self) -> None:
        # darc is a monitoring crawler: unless DARC_REBOOT, it waits for URLs to fall due.
        if self.revisits.enabled and len(self.revisits):
            raise DontCloseSpider

    # -- seeds ----------------------------------------------------------------------

    def _load_seeds(self) -> list[str]:
        urls: list[str] = []
        errors: list[SeedError] = []
        for path in self.seed_files:
            try:
                more, more_errors = read_seed_file(path, self.gateways)
            except (OSError, UnicodeDecodeError) as exc:
                logger.error("cannot read seeds file %s: %s", path, exc)
                self.stats.inc_value("darkcrawl/seeds/unreadable_files")
                continue
            urls += more
            errors += more_errors
        if self.seed_urls:
            more, more_errors = parse_seed_lines(split_inline(self.seed_urls), "urls", self.gateways)
            urls += more
            errors += more_errors
        for error in errors:
            logger.warning("bad seed skipped: %s", error)
        self.stats.set_value("darkcrawl/seeds/accepted", len(urls))
        self.stats.set_value("darkcrawl/seeds/rejected", len(errors))
        return urls

    async def start(self) -> AsyncIterator[Any]:
        if self.config_error:
            raise CloseSpider("config_error")
        started = 0
        for output in self._admit(self._load_seeds(), source=None, depth=0, specials=[]):
            started += 1
            yield output
        for hook in self.hooks.hooks:
            try:
                requests = hook.start_requests()
            except Exception:
                self._hook_failed(hook, "start_requests")
                continue
            for output in self._hook_outputs(hook, requests, "start_requests"):
                started += 1
                yield output
        if not started:
            logger.error("nothing to crawl: give -a seeds=FILE, -a urls=URL,URL, or a site hook with start requests")

    # -- admission: URL string -> Request, only for what is new and in scope --------

    def _admit(
        self, urls: Iterable[str], source: str | None, depth: int, specials: list[tuple[str, str, str | None]]
    ) -> list[Any]:
        seen = self.seen
        out: list[Any] = []
        duplicates = 0
        for url in urls:
            if url in seen:
                duplicates += 1
                continue
            link = classify(url, self.gateways)
            if not link.fetchable:
                specials.append((link.kind, link.value, link.reason))
                continue
            if link.url != url and link.url in seen:
                duplicates += 1
                continue
            refused = self._refusal(link, depth)
            if refused:
                self.stats.inc_value(f"darkcrawl/refused/{refused}")
                if refused != "depth":  # a shallower path may reach it later
                    seen.add(link.url)
                continue
            seen.add(link.url)
            out.extend(self._requests_for(link, depth, source))
        if duplicates:
            self.stats.inc_value("darkcrawl/links/duplicate", duplicates)
        return out

    def _refusal(self, link: Link, depth: int) -> str | None:
        if not self.scope.network_allowed(link.kind):
            return "network"
        if not self.scope.host_allowed(link.host):
            return "host"
        if self.depth_limit and depth > self.depth_limit:
            return "depth"
        trap = self.scope.traps.reason(link.url, link.service)
        if trap:
            return trap
        if self.host_page_limit and self._host_pages[f"{link.kind}|{link.host}"] >= self.host_page_limit:
            return "host_budget"
        return None

    def _requests_for(self, link: Link, depth: int, source: str | None, revisit: bool = False) -> list[Any]:
        out: list[Any] = []
        key = f"{link.kind}|{link.host}"
        bootstrapped = self._hosts.get(key)
        now = time.time()
        if bootstrapped is None:
            self._hosts[key] = now
            out.extend(self._bootstrap_start(link, force=False))
        elif revisit and now - bootstrapped >= self.time_cache:
            self._hosts[key] = now
            out.extend(self._bootstrap_start(link, force=True))
        if not revisit:
            self._host_pages[key] += 1
        request = self._hooked_request(self._page_request(link.url, link, depth, source), link, depth)
        if request is not None:
            out.append(request)
        return out

    def _hooked_request(self, request: Request, link: Link, depth: int) -> Request | None:
        hook = self.hooks.for_host(link.host)
        if hook is None:
            return request
        try:
            return hook.process_request(request, link)
        except LinkNoReturn as signal:
            self.stats.inc_value(f"darkcrawl/hooks/{'dropped' if signal.drop else 'deferred'}")
            if not signal.drop:
                self.revisits.fetched(link.url, depth, time.time())
        except Exception:
            self._hook_failed(hook, request.url)
        return None

    def _page_request(self, url: str, link: Link, depth: int, source: str | None) -> Request:
        return Request(
            url,
            callback=self.parse,
            errback=self.on_error,
            priority=-depth,
            dont_filter=True,  # seen-ness is decided above, on the URL string
            meta={
                "depth": depth,
                LINK_KEY: (link.kind, link.host, link.service),
                BACKREF_KEY: source,
                "download_slot": f"{link.kind}@{link.service}",
            },
        )

    # -- plain stage ----------------------------------------------------------------

    def parse(self, response: Response, **kwargs: Any) -> Iterator[Any]:
        request = response.request
        assert request is not None
        meta = response.meta
        depth: int = meta.get("depth", 0)
        redirects = meta.get("redirect_urls")
        url = redirects[0] if redirects else request.url
        kind, host, service = meta.get(LINK_KEY) or self._link_of(url)
        if redirects:
            self.seen.add(classify(response.url, self.gateways).url)

        raw_type = response.headers.get(b"Content-Type")
        content_type = raw_type.decode("latin-1").split(";", 1)[0].strip().lower() if raw_type else ""
        if not content_type:
            content_type = "text/html" if hostfiles.looks_like_html(response.body) else "application/octet-stream"
        if not self.scope.mime_allowed(content_type):
            self.stats.inc_value("darkcrawl/refused/mime")
            return
        is_html = content_type in paths.HTML_TYPES

        specials: list[tuple[str, str, str | None]] = []
        outputs: list[Any] = []
        found = 0
        hooked = self._hook_parse(response, host)
        if hooked is not None:
            outputs = hooked
        elif is_html and isinstance(response, TextResponse):
            try:
                links = extract_links(response.selector.root, response.url, self.extra_patterns)
            except Exception as exc:  # lxml and encodings fail in many ways; it costs this page only
                logger.info("cannot parse %s: %r", response.url, exc)
                self.stats.inc_value("darkcrawl/parse_error")
                links = []
            found = len(links)
            outputs = self._admit(links, source=url, depth=depth + 1, specials=specials)
        elif kind == "i2p" and content_type in ("text/plain", "text/text"):
            links = hostfiles.parse_hosts_txt(response.body)  # darc reads any i2p text as an address book
            found = len(links)
            outputs = self._admit(links, source=url, depth=depth + 1, specials=specials)

        cookies, session = self._cookie_records(request, response)
        item = PageItem(
            link=LinkMetadata(url=url, network=kind, scheme=url.split(":", 1)[0].lower(), host=host,
                              backref=meta.get(BACKREF_KEY)),
            timestamp=_now_iso(),
            final_url=response.url,
            method=request.method,
            status=response.status,
            reason=reason_phrase(response.status),
            content_type=content_type,
            request_headers=headers_dict(request.headers),
            response_headers=headers_dict(response.headers),
            cookies=cookies,
            session=session,
            history=list(meta.get(HISTORY_KEY, ())),
            body=response.body,
            is_html=is_html,
            special_links=specials,
            links_found=found,
            links_queued=sum(1 for o in outputs if isinstance(o, Request) and o.callback == self.parse),
        )
        self.stats.inc_value("darkcrawl/pages")
        if is_html:
            self.stats.inc_value("darkcrawl/html_pages")
        if found:
            self.stats.inc_value("darkcrawl/links/found", found)
        self.revisits.fetched(url, depth, time.time())
        yield item
        yield from outputs
        if self.render and is_html and response.status < 400 and not meta.get(HOOK_KEY):
            yield self._render_request(response, url, (kind, host, service), depth)

    # -- render stage (darc's "selenium" stage) ---------------------------------------

    def _render_request(self, response: Response, url: str, link: tuple[str, str, str], depth: int) -> Request:
        meta: dict[str, Any] = {
            "playwright": True,
            "playwright_include_page": True,
            "dont_obey_robotstxt": True,  # checked by the plain stage already
            LINK_KEY: link,
            BACKREF_KEY: response.meta.get(BACKREF_KEY),
            RENDER_KEY: url,
            "depth": depth,
            "download_slot": f"render@{link[2]}",
        }
        hook = self.hooks.for_host(link[1])
        if hook is not None:
            try:
                actions = hook.page_actions(response.request)  # type: ignore[arg-type]
            except Exception:
                self._hook_failed(hook, response.url)
                actions = []
            if actions:
                meta["playwright_page_methods"] = actions
        return Request(response.url, callback=self.parse_rendered, errback=self.on_render_error,
                       dont_filter=True, priority=-depth, meta=meta)

    async def parse_rendered(self, response: Response) -> AsyncIterator[Any]:
        meta = response.meta
        page = meta["playwright_page"]
        kind, host, _service = meta[LINK_KEY]
        url = meta[RENDER_KEY]
        try:
            if self.se_wait:
                await page.wait_for_timeout(self.se_wait * 1000)
            html = await page.content()
            if _EMPTY_PAGE.sub("", html) == EMPTY_RENDER:
                tries = meta.get("darkcrawl_render_try", 0)
                if tries < self.render_retries:  # darc retried an empty render too
                    self.stats.inc_value("darkcrawl/render/empty_retry")
                    retry_meta = {k: v for k, v in meta.items() if k != "playwright_page"}
                    retry_meta["darkcrawl_render_try"] = tries + 1
                    yield response.request.replace(meta=retry_meta)  # type: ignore[union-attr]
                    return
                self.stats.inc_value("darkcrawl/render/empty")
            screenshot, full_page = await self._screenshot(page)
        finally:
            await page.close()  # always: open pages are what freezes a long crawl
        self.stats.inc_value("darkcrawl/render/pages")
        yield RenderItem(
            link=LinkMetadata(url=url, network=kind, scheme=url.split(":", 1)[0].lower(), host=host,
                              backref=meta.get(BACKREF_KEY)),
            timestamp=_now_iso(), final_url=response.url, html=html.encode("utf-8", "replace"),
            screenshot=screenshot, screenshot_full_page=full_page,
        )
        try:
            links = extract_links(lxml.html.document_fromstring(html or "<html></html>"), response.url,
                                  self.extra_patterns)
        except Exception as exc:  # lxml fails in many ways on hostile markup; it costs these links only
            logger.info("cannot parse the rendered %s: %r", response.url, exc)
            links = []
        for output in self._admit(links, source=url, depth=meta.get("depth", 0) + 1, specials=[]):
            yield output

    async def _screenshot(self, page: Any) -> tuple[bytes | None, bool]:
        """A full-page PNG, cut at the height cap; the viewport when that fails."""
        timeout = self.screenshot_timeout_ms
        try:
            height = await page.evaluate(
                "() => Math.max(document.documentElement.scrollHeight, document.body ? document.body.scrollHeight : 0)")
            if height <= self.screenshot_max_height:
                return await page.screenshot(full_page=True, type="png", timeout=timeout), True
            width = (page.viewport_size or {"width": 1024})["width"]
            self.stats.inc_value("darkcrawl/render/screenshot_capped")
            clip = {"x": 0, "y": 0, "width": width, "height": self.screenshot_max_height}
            return await page.screenshot(full_page=True, clip=clip, type="png", timeout=timeout), True
        except Exception as exc:
            logger.info("full-page screenshot failed for %s: %r; taking the viewport", page.url, exc)
            self.stats.inc_value("darkcrawl/render/screenshot_fallback")
        try:
            return await page.screenshot(type="png", timeout=timeout), False
        except Exception as exc:
            logger.warning("no screenshot of %s: %r", page.url, exc)
            self.stats.inc_value("darkcrawl/render/screenshot_failed")
            return None, False

    async def on_render_error(self, failure: Failure) -> list[Request]:
        request: Request = failure.request  # type: ignore[attr-defined]
        page = request.meta.get("playwright_page")
        if page is not None:
            try:
                await page.close()
            except Exception:  # the browser may be gone already
                pass
        self.stats.inc_value(f"darkcrawl/render/error/{failure.type.__name__}")
        logger.info("render failed %s: %s", request.url, failure.getErrorMessage())
        tries = request.meta.get("darkcrawl_render_try", 0)
        if _BROWSER_GONE.search(failure.getErrorMessage()) and tries < self.render_retries:
            # scrapy-playwright restarts a crashed browser; this page deserves another go
            self.stats.inc_value("darkcrawl/render/crash_retry")
            meta = {k: v for k, v in request.meta.items() if k != "playwright_page"}
            meta["darkcrawl_render_try"] = tries + 1
            return [request.replace(meta=meta)]
        return []

    # -- site hooks -----------------------------------------------------------------

    def _hook_parse(self, response: Response, host: str) -> list[Any] | None:
        """The outputs of the hook handling this page, or None for the default parsing.

        A request a hook made with one of its methods as callback goes back to that
        method; other pages of a hook's hosts go to its ``parse``."""
        named = response.meta.get(HOOK_KEY)
        hook = self.hooks.by_name(named[0]) if named else self.hooks.for_host(host)
        if hook is None:
            return None
        try:
            result = getattr(hook, named[1])(response) if named else hook.parse(response)
        except Exception:
            self._hook_failed(hook, response.url)
            return []
        if result is None:
            return [] if named else None
        return list(self._hook_outputs(hook, result, response.url))

    def _hook_outputs(self, hook: SiteHook, result: Iterable[Any], where: str) -> Iterator[Any]:
        """Items and (adopted) requests from a hook; a failure costs this page only."""
        try:
            for output in result:
                yield self._adopt(hook, output) if isinstance(output, Request) else output
        except Exception:
            self._hook_failed(hook, where)

    def _hook_failed(self, hook: SiteHook, where: str) -> None:
        logger.exception("site hook %s failed on %s", type(hook).__name__, where)
        self.stats.inc_value(f"darkcrawl/hooks/error/{type(hook).__name__}")

    def _adopt(self, hook: SiteHook, request: Request) -> Request:
        """A hook's request, made serialisable: a hook method as callback is stored by name."""
        callback = request.callback
        meta = dict(request.meta)
        if callback is not None and getattr(callback, "__self__", None) is hook:
            meta[HOOK_KEY] = (type(hook).__name__, callback.__name__)
        link = classify(request.url, self.gateways)
        if link.fetchable:
            self.seen.add(link.url)
            meta.setdefault(LINK_KEY, (link.kind, link.host, link.service))
            meta.setdefault("download_slot", f"{link.kind}@{link.service}")
        meta.setdefault("depth", 0)
        return request.replace(callback=self.parse, errback=self.on_error, meta=meta)

    def _cookie_records(self, request: Request, response: Response) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        cookies = [cookie_dict(c) for c in response_cookies(request, response)]
        session: list[dict[str, Any]] = []
        if self._cookies is not None:
            jar = self._cookies.jars.get(request.meta.get("cookiejar"))
            if jar is not None and len(jar):
                hostname = urlparse_cached(request).hostname or ""
                session = [cookie_dict(c) for c in jar_cookies(jar.jar, hostname)]
        return cookies, session

    def on_error(self, failure: Failure) -> None:
        request: Request = failure.request  # type: ignore[attr-defined]
        self.stats.inc_value(f"darkcrawl/fetch_error/{failure.type.__name__}")
        logger.info("fetch failed %s: %s", request.url, failure.getErrorMessage())
        self.revisits.fetched(request.url, request.meta.get("depth", 0), time.time())

    def _headers_received(self, headers: Any, body_length: int, request: Request, spider: Spider) -> None:
        if request.meta.get(BOOTSTRAP_KEY):
            return
        raw = headers.get(b"Content-Type")
        if raw and not self.scope.mime_allowed(raw.decode("latin-1")):
            raise StopDownload(fail=False)  # the callback drops it: no body wasted on it

    def _link_of(self, url: str) -> tuple[str, str, str]:
        link = classify(url, self.gateways)
        return link.kind, link.host, link.service

    # -- freshness ------------------------------------------------------------------

    def _schedule_due(self) -> None:
        engine = self.crawler.engine
        if engine is None:
            return
        for url, depth in self.revisits.pop_due(time.time()):
            link = classify(url, self.gateways)
            if not link.fetchable:
                continue
            for output in self._requests_for(link, depth, None, revisit=True):
                if isinstance(output, Request):
                    engine.crawl(output)
            self.stats.inc_value("darkcrawl/revisits")

    # -- host bootstrap: robots.txt -> sitemaps -> hosts.txt -> new_host ------------

    def _bootstrap_start(self, link: Link, force: bool) -> list[Any]:
        scheme = link.url.split(":", 1)[0].lower()
        if link.kind in NO_ROBOTS_NETWORKS:
            root = link.url.split(link.host, 1)[0] + link.host + "/"
        else:
            root = f"{scheme}://{link.url.split('://', 1)[1].split('/', 1)[0]}/"
        state: dict[str, Any] = {
            "network": link.kind, "scheme": scheme, "host": link.host, "service": link.service,
            "root": root, "force": force, "partial": False, "robots": None, "sitemaps": [],
            "hosts": None, "todo": [], "visited": [], "hosts_done": link.kind != "i2p",
            "timestamp": _now_iso(),
        }
        self.stats.inc_value("darkcrawl/hosts/bootstrapped")
        if link.kind in NO_ROBOTS_NETWORKS:
            return [self._new_host_item(state)]
        return [self._bootstrap_request(root + "robots.txt", state, "robots")]

    def _bootstrap_request(self, url: str, state: dict[str, Any], step: str) -> Request:
        callback = {"robots": self._on_robots, "sitemap": self._on_sitemap, "hosts": self._on_hosts}[step]
        return Request(
            url,
            callback=callback,
            errback=self._on_bootstrap_error,
            priority=BOOTSTRAP_PRIORITY,
            dont_filter=True,
            meta={
                BOOTSTRAP_KEY: state,
                "darkcrawl_step": step,
                "dont_obey_robotstxt": True,
                LINK_KEY: (state["network"], state["host"], state["service"]),
                "download_slot": f"{state['network']}@{state['service']}",
            },
        )

    def _host_file(self, kind: str, url: str, state: dict[str, Any], body: bytes) -> HostFileItem:
        return HostFileItem(kind=kind, url=url, network=state["network"], scheme=state["scheme"],
                            host=state["host"], timestamp=_now_iso(), body=body)

    def _on_robots(self, response: Response) -> Iterator[Any]:
        state = response.meta[BOOTSTRAP_KEY]
        body = response.body if response.status == 200 and not hostfiles.looks_like_html(response.body) else b""
        sitemaps: list[str] = []
        if body:
            item = self._host_file("robots", response.request.url, state, body)  # type: ignore[union-attr]
            state["robots"] = str(paths.host_file_path("robots", item.url, item.network, item.scheme, item.host))
            yield item
            sitemaps = hostfiles.robots_sitemaps(body)
        state["todo"] = sitemaps or [state["root"] + "sitemap.xml"]
        yield from self._bootstrap_next(state)

    def _on_sitemap(self, response: Response) -> Iterator[Any]:
        state = response.meta[BOOTSTRAP_KEY]
        url = response.request.url  # type: ignore[union-attr]
        body = hostfiles.decompress_sitemap(response.body) if response.status == 200 else None
        if body is None and response.status == 200:
            state["partial"] = True
            self.stats.inc_value("darkcrawl/sitemaps/broken")
        if body:
            kind, locations = hostfiles.parse_sitemap(body)
            if kind == "broken":
                self.stats.inc_value("darkcrawl/sitemaps/broken")
            if kind != "broken" or locations:
                item = self._host_file("sitemap", url, state, body)
                state["sitemaps"].append(str(paths.host_file_path("sitemap", url, item.network, item.scheme, item.host)))
                yield item
            if kind == "index":
                budget = self.max_sitemaps - len(state["visited"]) - len(state["todo"])
                state["todo"].extend(loc for loc in locations[: max(0, budget)] if loc not in state["visited"])
            else:
                self.stats.inc_value("darkcrawl/sitemaps/urls", len(locations))
                yield from self._admit(locations, source=url, depth=1, specials=[])
        yield from self._bootstrap_next(state)

    def _on_hosts(self, response: Response) -> Iterator[Any]:
        state = response.meta[BOOTSTRAP_KEY]
        if response.status == 200 and response.body:
            url = response.request.url  # type: ignore[union-attr]
            item = self._host_file("hosts", url, state, response.body)
            state["hosts"] = str(paths.host_file_path("hosts", url, item.network, item.scheme, item.host))
            yield item
            yield from self._admit(hostfiles.parse_hosts_txt(response.body), source=url, depth=1, specials=[])
        yield from self._bootstrap_next(state)

    def _on_bootstrap_error(self, failure: Failure) -> Iterator[Any]:
        request: Request = failure.request  # type: ignore[attr-defined]
        state = request.meta[BOOTSTRAP_KEY]
        state["partial"] = True
        step = request.meta.get("darkcrawl_step")
        self.stats.inc_value(f"darkcrawl/bootstrap_error/{step}")
        logger.info("bootstrap %s failed for %s: %s", step, request.url, failure.getErrorMessage())
        if step == "robots":
            state["todo"] = [state["root"] + "sitemap.xml"]
        yield from self._bootstrap_next(state)

    def _bootstrap_next(self, state: dict[str, Any]) -> Iterator[Any]:
        while state["todo"]:
            url = state["todo"].pop(0)
            if url in state["visited"] or len(state["visited"]) >= self.max_sitemaps:
                continue
            state["visited"].append(url)
            link = classify(url, self.gateways)
            if link.fetchable and self.scope.network_allowed(link.kind) and self.scope.host_allowed(link.host):
                yield self._bootstrap_request(link.url, state, "sitemap")
                return
        if not state["hosts_done"]:
            state["hosts_done"] = True
            yield self._bootstrap_request(state["root"] + "hosts.txt", state, "hosts")
            return
        yield self._new_host_item(state)

    def _new_host_item(self, state: dict[str, Any]) -> NewHostItem:
        self.stats.inc_value("darkcrawl/hosts/new")
        return NewHostItem(
            link=LinkMetadata(url=state["root"], network=state["network"], scheme=state["scheme"], host=state["host"]),
            timestamp=state["timestamp"],
            url=state["root"],
            partial=state["partial"],
            force=state["force"],
            robots=state["robots"],
            sitemaps=list(state["sitemaps"]),
            hosts=state["hosts"],
        )


