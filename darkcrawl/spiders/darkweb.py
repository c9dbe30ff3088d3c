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
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scrapy import Request, Spider, signals
from scrapy.downloadermiddlewares.cookies import CookiesMiddleware
from scrapy.exceptions import CloseSpider, DontCloseSpider, StopDownload, UsageError
from scrapy.http import Response, TextResponse
from scrapy.utils.datatypes import LocalCache
from scrapy.utils.httpobj import urlparse_cached
from scrapy.utils.misc import load_object

from twisted.internet.task import LoopingCall

from darkcrawl import hostfiles
from darkcrawl.config import get_option
from darkcrawl.policy.gatebook import GateBook
from darkcrawl.meta import (ADMIT_KEY, GATE_CHECKED_KEY, GATE_KEY, HISTORY_KEY, REVISIT_STATE_KEY, SLOT_KEY,
                            TIMING_KEY, host_key, slot_key)
from darkcrawl.failures import ROBOTS_DISALLOWED, Transfer, failure_item, failure_reason
from darkcrawl.addresses import address_refusal
from darkcrawl.seen.content import build_content_seen, response_digest
from darkcrawl.frontier.revisit_policy import (
    RevisitPolicy, changefreq_word, content_key, parse_time,
)
from darkcrawl.frontier.store import FrontierStore, StoredRevisitSchedule
from darkcrawl.hooks.base import LinkNoReturn
from darkcrawl.policy.scope import strip_session_params
from darkcrawl.policy.traps import ONCE_PER_HOST, TrapGuard, trap_detail
from darkcrawl.hooks.registry import HookRegistry
from darkcrawl.items import FailureItem, LinkMetadata, PageItem, TrapItem
from darkcrawl.links.classify import Link, classify
from darkcrawl.links.extract import PageFacts, page_facts, truncated_depth
from darkcrawl.records import (
    bound_cookies,
    bound_page_record,
    cookie_dict,
    headers_dict,
    jar_cookies,
    reason_phrase,
    response_cookies,
)
from darkcrawl.spiders.bootstrap import HostBootstrap
from darkcrawl.spiders.common import BACKREF_KEY, BOOTSTRAP_KEY, HOOK_KEY, LINK_KEY, now_iso
from darkcrawl.spiders.gates import GatePages
from darkcrawl.spiders.hook_calls import SiteHooks
from darkcrawl.spiders.options import SpiderOptions
from darkcrawl.spiders.render import RenderStage
from darkcrawl.spiders.revisit_calls import RevisitCalls
from darkcrawl.spiders.seed_intake import SeedIntake
from darkcrawl.storage import paths

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from twisted.python.failure import Failure

    from darkcrawl.frontier.host_ledger import HostLedger
    from darkcrawl.seen.base import SeenSet

logger = logging.getLogger(__name__)

#: Refusals that are trap defences: each hit is recorded (misc/traps.jsonl).
TRAP_KINDS = frozenset({"url_too_long", "repeated_path_segment", "too_many_subdomains", "host_budget",
                        "query_variants", "calendar", "host_depth"})


class DarkwebSpider(SeedIntake, RevisitCalls, HostBootstrap, GatePages, RenderStage, SiteHooks, Spider):
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
        self.options = options = SpiderOptions.from_settings(settings)
        seen_cls = load_object(get_option(settings, "DARKCRAWL_SEEN_CLASS"))
        self.seen: SeenSet = seen_cls.from_crawler(crawler)
        store = FrontierStore.for_crawler(crawler)
        if store is not None:
            # after a crash: the URLs queued since the seen set was last saved
            restored = store.attach_seen(self.seen)
            if restored:
                self.stats.set_value("darkcrawl/frontier/seen_restored", restored)
        self.trap_guard = TrapGuard(options.trap_limits)
        self.revisits = StoredRevisitSchedule(RevisitPolicy.from_settings(settings) or float("inf"), store,
                                              host_of=self._host_key_of, stats=self.stats)
        ledger_cls = load_object(get_option(settings, "DARKCRAWL_HOST_LEDGER_CLASS"))
        self.hosts: HostLedger = ledger_cls.from_crawler(crawler)
        self._cookies: CookiesMiddleware | None = None
        self.hooks = HookRegistry.from_crawler(crawler)
        self.content_seen = build_content_seen(crawler)
        self.gates = GateBook.for_crawler(crawler)
        self._gate_digests = {}
        self.icons_fetched = LocalCache(limit=10_000)
        self._poller: LoopingCall | None = None
        crawler.signals.connect(self._engine_started, signal=signals.engine_started)
        crawler.signals.connect(self._spider_idle, signal=signals.spider_idle)
        crawler.signals.connect(self._spider_closed, signal=signals.spider_closed)
        if options.scope.mimes.white or options.scope.mimes.black:
            crawler.signals.connect(self._headers_received, signal=signals.headers_received)

    def _engine_started(self) -> None:
        self._cookies = self.crawler.get_downloader_middleware(CookiesMiddleware)  # or a subclass
        if self.revisits.enabled:
            self._poller = LoopingCall(self._schedule_due)
            self._poller.start(self.options.poll_interval, now=False)

    def _spider_closed(self) -> None:
        if self.config_error:
            return
        if self._poller and self._poller.running:
            self._poller.stop()
        self.stats.set_value("darkcrawl/seen_urls", len(self.seen))
        self.stats.set_value("darkcrawl/hosts", len(self.hosts))
        store = FrontierStore.for_crawler(self.crawler)
        if store is not None and not store.closed:
            store.checkpoint()  # the seen set is saved after the queue's last commit
        self.seen.close()
        self.hosts.close()

    def _spider_idle(self) -> None:
        # darc is a monitoring crawler: unless DARC_REBOOT, it waits for URLs to fall due.
        if self.revisits.enabled and len(self.revisits):
            raise DontCloseSpider

    # -- seeds ----------------------------------------------------------------------

    async def start(self) -> AsyncIterator[Any]:
        if self.config_error:
            raise CloseSpider("config_error")
        started = 0
        seeds = self._load_seeds()
        before = dict(self.stats.get_stats())
        for output in self._admit(seeds, source=None, depth=0, specials=[]):
            started += 1
            yield output
        if seeds and not started:
            self._log_seeds_not_queued(seeds, before)
        for hook in self.hooks.hooks:
            try:
                requests = hook.start_requests()
            except Exception:
                self._hook_failed(hook, "start_requests")
                continue
            for output in self._hook_outputs(hook, requests, "start_requests"):
                started += 1
                yield output
        if started or self.settings.getbool("DARKCRAWL_DISTRIBUTED"):  # a worker gets its URLs from Redis
            return
        resumed = self.stats.get_value("darkcrawl/frontier/resumed", 0)
        if resumed:
            logger.info("resumed: %d requests pending from the last run", resumed)
        elif not seeds:
            logger.error("nothing to crawl: give -a seeds=FILE, -a urls=URL,URL, or a site hook with start requests")

    def admit_seeds(self, urls: Iterable[str]) -> list[Any]:
        """Requests (and new-host items) for seeds that arrive during the crawl (pushed into Redis)."""
        return self._admit(urls, source=None, depth=0, specials=[])

    # -- admission: URL string -> Request, only for what is new and in scope --------

    def _admit(
        self,
        urls: Iterable[str],
        source: str | None,
        depth: int,
        specials: list[tuple[str, str, str | None]],
        page: bool = True,
        traps: Counter[str] | None = None,
        examples: dict[str, str] | None = None,
    ) -> list[Any]:
        """Requests for the new, in-scope URLs of *urls*, and a TrapItem per trap hit.

        *page*: the URLs are a page's links, bounded by DARKCRAWL_MAX_LINKS_PER_PAGE
        (sitemaps and address books have their own bounds).  *traps*: a caller
        reading one source in parts (a sitemap) collects the trap counts (and an
        example URL of each, in *examples*) there and records them itself; otherwise
        they are recorded here, per source.
        """
        trapped: Counter[str] = Counter() if traps is None else traps
        examples = {} if examples is None else examples
        out: list[Any] = []
        if not self.seen.batched:
            duplicates = self._screen(urls, source, depth, specials, page, trapped, examples,
                                      known=self.seen.__contains__, mark=self.seen.add,
                                      admit=lambda link: self._admit_now(link, depth, source, out))
        else:
            batch: list[Link] = []
            marks: list[str] = []

            def admit_later(link: Link) -> bool:  # the whole batch is added after the loop
                batch.append(link)
                return True

            duplicates = self._screen(urls, source, depth, specials, page, trapped, examples,
                                      known=self.seen.known, mark=marks.append, admit=admit_later)
            if batch or marks:
                # a shared seen set (Redis) decides a page's links in one round trip
                duplicates += self._admit_batch(self.seen.add_many(
                    [link.url for link in batch], marks), batch, depth, source, trapped, examples, out)
        if duplicates:
            self.stats.inc_value("darkcrawl/links/duplicate", duplicates)
        if trapped and traps is None and source is not None:
            out.extend(self._trap_items(source, trapped, examples))
        return out

    def _screen(
        self,
        urls: Iterable[str],
        source: str | None,
        depth: int,
        specials: list[tuple[str, str, str | None]],
        page: bool,
        trapped: Counter[str],
        examples: dict[str, str],
        *,
        known: Callable[[str], bool],
        mark: Callable[[str], Any],
        admit: Callable[[Link], bool],
    ) -> int:
        """Hands the new, in-scope links of *urls* to *admit* (False: seen after all) and
        the refused ones to *mark* (seen); records specials and refusals.  Returns the
        number of URLs seen already."""
        guard = self.trap_guard if source is not None else None
        inside: str | None = None  # the source's service: classified once a new URL needs it
        cap = guard.limits.links_per_page if guard is not None and page else 0
        duplicates = admitted = 0
        iterator = iter(urls)
        for url in iterator:
            if known(url):
                duplicates += 1
                continue
            link = classify(url, self.options.gateways)
            if not link.fetchable:
                specials.append((link.kind, link.value, link.reason))
                continue
            stripped = strip_session_params(link.url)
            if stripped != link.url:
                trapped["session_params"] += 1
                examples.setdefault("session_params", link.url)
                link = replace(link, url=stripped)
            if link.url != url and known(link.url):
                duplicates += 1
                continue
            refused = self._refusal(link, depth)
            if refused is None and guard is not None:
                if inside is None:
                    inside = self._link_of(source)[2]  # type: ignore[arg-type]
                refused = guard.check(link.url, link.service, depth, link.service == inside)
            if refused:
                self._count_refusal(refused, link.url, trapped, examples)
                if refused not in ("depth", "host_depth"):  # a shallower path may reach it later
                    mark(link.url)
                continue
            if not admit(link):
                duplicates += 1
                continue
            admitted += 1
            if cap and admitted >= cap:
                # the rest is counted, not classified nor marked seen: another page may admit it
                rest = sum(1 for more in iterator if not known(more))
                if rest:
                    trapped["links_per_page"] += rest
                break
        return duplicates

    def _count_refusal(self, refused: str, url: str, trapped: Counter[str], examples: dict[str, str]) -> None:
        self.stats.inc_value(f"darkcrawl/refused/{refused}")
        if refused in TRAP_KINDS:
            trapped[refused] += 1
            examples.setdefault(refused, url)

    def _admit_now(self, link: Link, depth: int, source: str | None, out: list[Any]) -> bool:
        """A local seen set: *link* is marked seen at once, its requests go to *out*."""
        if not self.seen.add(link.url):
            return False
        out.extend(self._requests_for(link, depth, source))
        return True

    def _admit_batch(self, new: Iterable[bool], batch: list[Link], depth: int, source: str | None,
                     trapped: Counter[str], examples: dict[str, str], out: list[Any]) -> int:
        """A shared seen set: the links *new* says no one had go to *out*, unless their
        host's budget was spent meanwhile.  Returns the number seen already.  When the
        seen set admits later (a fleet's), *new* is provisional: the page requests are
        tagged, and the shared queue drops those another worker has seen."""
        duplicates = 0
        later = self.seen.admits_later
        for link, is_new in zip(batch, new):
            if not is_new:  # another worker (or this page) has it
                duplicates += 1
            elif self._budget_spent(link):
                self._count_refusal("host_budget", link.url, trapped, examples)
            else:
                out.extend(self._requests_for(link, depth, source, admit_later=later))
        return duplicates

    def _trap_items(self, source: str, trapped: Counter[str], examples: dict[str, str]) -> list[TrapItem]:
        """One record per trap kind hit by *source* (once per host for the kinds every
        page of a host repeats), and its stats."""
        _kind, host, _service = self._link_of(source)
        items: list[TrapItem] = []
        for kind, dropped in trapped.items():
            self.stats.inc_value(f"darkcrawl/traps/{kind}/dropped", dropped)
            if kind in ONCE_PER_HOST and not self.trap_guard.first_for_host(kind, host):
                continue
            self.stats.inc_value(f"darkcrawl/traps/{kind}")
            limit = self._trap_limit(kind)
            items.append(TrapItem(url=source, host=host, trap=kind, timestamp=now_iso(),
                                  detail=trap_detail(kind, dropped, limit, examples.get(kind, source)),
                                  dropped=dropped))
        return items

    def _trap_limit(self, kind: str) -> int:
        traps = self.options.scope.traps
        return self.trap_guard.limit_of(kind) or {
            "host_budget": self.options.host_page_limit, "url_too_long": traps.max_url_length,
            "repeated_path_segment": traps.max_segment_repeat, "too_many_subdomains": traps.max_subdomains,
            "sitemap_urls": self.options.max_sitemap_urls,
        }.get(kind, 0)

    def _truncated_tree(self, response: Response, url: str, network: str, depth: int) -> FailureItem:
        """The record of a page the HTML parser stopped reading at its nesting limit."""
        self.stats.inc_value("darkcrawl/parse_truncated")
        reason = f"HTML nested deeper than {depth} levels: links after depth {depth} taken by text scan"
        logger.info("%s: %s", response.url, reason)
        return FailureItem(url=url, timestamp=now_iso(), network=network, stage="plain", reason=reason,
                           error="HtmlTooDeep", redirects=list(response.meta.get("redirect_urls", ())),
                           partial=True)

    def _refusal(self, link: Link, depth: int) -> str | None:
        if address := address_refusal(link, self.options.allow_private):  # hostile web: inside addresses, any spelling
            return address
        if not self.options.scope.network_allowed(link.kind):
            return "network"
        if not self.options.scope.host_allowed(link.host):
            return "host"
        if self.options.depth_limit and depth > self.options.depth_limit:
            return "depth"
        trap = self.options.scope.traps.reason(link.url, link.service)
        if trap:
            return trap
        if self._budget_spent(link):
            return "host_budget"
        return None

    def _budget_spent(self, link: Link) -> bool:
        """Whether the link's host has had its DARKCRAWL_HOST_PAGE_LIMIT pages."""
        limit = self.options.host_page_limit
        return bool(limit) and self.hosts.pages(host_key(link.kind, link.host)) >= limit

    def _requests_for(self, link: Link, depth: int, source: str | None, revisit: bool = False,
                      admit_later: bool = False) -> list[Any]:
        out: list[Any] = []
        key = host_key(link.kind, link.host)
        now = time.time()
        if self.hosts.claim_bootstrap(key, now, now - self.revisits.bootstrap_age(key) if revisit else None):
            out.extend(self._bootstrap_start(link, force=revisit))
        if not revisit:
            self.hosts.count_page(key)
        request = self._hooked_request(self._page_request(link.url, link, depth, source), link, depth)
        if admit_later:  # the shared queue admits the link's URL when it writes the request
            if request is None:
                self.seen.add_many((), [link.url])  # (a hook's drop): seen all the same
            else:
                request.meta[ADMIT_KEY] = link.url
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
                self.revisits.deferred(link.url, depth, time.time())
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
                SLOT_KEY: slot_key(link.kind, link.service),
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
            self.seen.add(classify(response.url, self.options.gateways).url)

        content_type = self._content_type(response)
        if not self.options.scope.mime_allowed(content_type):
            self.stats.inc_value("darkcrawl/refused/mime")
            return
        is_html = content_type in paths.HTML_TYPES
        if meta.get(GATE_KEY):  # the gate middleware read this answer as a gate: not the site's content
            yield from self._gate_page(response, url, kind, host, content_type, meta[GATE_KEY])
            return

        read = self._read_page(response, url, kind, host, service, depth, content_type)
        if isinstance(read, list):  # a gate page, found once the page was read
            yield from read
            return
        outputs, found, facts, digest, duplicate_of, specials = read
        visit = now_iso()  # names this visit's files, its render's too
        changefreq = self.revisits.first_changefreq(url)
        item = self._page_item(
            response, url, kind, host, content_type, visit,
            special_links=specials,
            links_found=found,
            links_queued=sum(1 for o in outputs if isinstance(o, Request) and o.callback == self.parse),
            content_digest=digest.hex() if digest else None,
            duplicate_of=duplicate_of,
            links=facts.links if facts else None,
            title=facts.title if facts else None,
            text=facts.text if facts else None,
            sitemap_changefreq=changefreq_word(changefreq),
        )
        if self.revisits.enabled:  # the visit's own time: the catalogue's revisits facet folds the same
            self.revisits.adopt(url, meta.get(REVISIT_STATE_KEY))
            self.revisits.visited(url, depth, parse_time(visit),
                                  content_key(item.content_digest, response.status), host_key(kind, host))
        yield item
        yield from outputs
        if self.options.render and is_html and response.status < 400 and not meta.get(HOOK_KEY) and duplicate_of is None:
            yield self._render_request(response, url, (kind, host, service), depth, visit)

    def _read_page(self, response: Response, url: str, kind: str, host: str, service: str, depth: int,
                   content_type: str) -> list[Any] | tuple[list[Any], int, PageFacts | None, bytes | None,
                                                            str | None, list[tuple[str, str, str | None]]]:
        """What the page gives: (requests and items of its links, how many links it has, its
        facts, its content digest, the URL it duplicates, its special links); or, for a gate
        page found in it, that page's outputs."""
        specials: list[tuple[str, str, str | None]] = []
        outputs: list[Any] = []
        found = 0
        facts: PageFacts | None = None
        hooked = self._hook_parse(response, host)
        digest, duplicate_of = (None, None) if hooked is not None else self._content_seen(response, url, content_type)
        if duplicate_of is not None and digest in self._gate_digests:
            return list(self._gate_page(response, url, kind, host, content_type,
                                        self._late_gate_record(response, self._gate_digests[digest])))
        if hooked is not None:
            outputs = hooked
        elif duplicate_of is not None:
            self.stats.inc_value("darkcrawl/content/duplicates")  # links: taken from its first copy
        else:
            facts, cut = self._parse_page(response, content_type)
            gate = self._late_gate(response, facts) if facts is not None and not response.meta.get(GATE_CHECKED_KEY) \
                else None
            if gate is not None:
                if digest is not None:
                    self._gate_digests[digest] = gate  # its copies elsewhere are gate pages too, not duplicates
                return list(self._gate_page(response, url, kind, host, content_type,
                                            self._late_gate_record(response, gate)))
            outputs, found = self._page_links(response, url, kind, depth, content_type, specials, facts, cut)
            if facts is not None:  # an HTML page: a root page's declared icon, for the clone signatures
                outputs += self._declared_favicon(response, url, kind, host, service)
        return outputs, found, facts, digest, duplicate_of, specials

    @staticmethod
    def _content_type(response: Response) -> str:
        """The declared MIME type, else sniffed: HTML or bytes."""
        raw_type = response.headers.get(b"Content-Type")
        content_type = raw_type.decode("latin-1").split(";", 1)[0].strip().lower() if raw_type else ""
        if not content_type:
            content_type = "text/html" if hostfiles.looks_like_html(response.body) else "application/octet-stream"
        return content_type

    def _content_seen(self, response: Response, url: str, content_type: str) -> tuple[bytes | None, str | None]:
        """The page's content digest (2xx pages with a body), and the URL that had this
        content first when it is another URL's (the page is then its duplicate)."""
        if self.content_seen is None or not 200 <= response.status < 300 or not response.body:
            return None, None
        digest = response_digest(response, content_type)
        first = self.content_seen.first_url(digest, url)
        if first is None:
            self.stats.inc_value("darkcrawl/content/new")
        elif first == url:  # a revisit: the page did not change
            self.stats.inc_value("darkcrawl/content/unchanged")
        else:
            return digest, first
        return digest, None

    def _parse_page(self, response: Response, content_type: str) -> tuple[PageFacts | None, int | None]:
        """An HTML page's facts for the crawl and the catalogue (links, title, visible text),
        and the depth at which its tree was cut short, if it was; (None, None) for other types."""
        if content_type not in paths.HTML_TYPES or not isinstance(response, TextResponse):
            return None, None
        cut: int | None = None
        try:
            root = response.selector.root
            cut = truncated_depth(root)  # nested deeper than libxml2 builds: links scanned for
            return page_facts(root, response.url, self.options.extra_patterns,
                              markup=response.text if cut else None, max_text=self.options.catalog_text), cut
        except Exception as exc:  # lxml and encodings fail in many ways; it costs this page only
            logger.info("cannot parse %s: %r", response.url, exc)
            self.stats.inc_value("darkcrawl/parse_error")
            return None, cut

    def _page_links(self, response: Response, url: str, kind: str, depth: int, content_type: str,
                    specials: list[tuple[str, str, str | None]], facts: PageFacts | None,
                    cut: int | None) -> tuple[list[Any], int]:
        """What the page's links give (requests, items), and how many links it has (an
        HTML page's, or an I2P address book's)."""
        if facts is not None:
            links = facts.links
            outputs = self._admit(links, source=url, depth=depth + 1, specials=specials)
            if cut:
                outputs.append(self._truncated_tree(response, url, kind, cut))
            return outputs, len(links)
        if kind == "i2p" and content_type in ("text/plain", "text/text"):
            links = hostfiles.parse_hosts_txt(response.body)  # darc reads any i2p text as an address book
            return self._admit(links, source=url, depth=depth + 1, specials=specials), len(links)
        return [], 0

    def _page_item(self, response: Response, url: str, kind: str, host: str, content_type: str, visit: str,
                   **links: Any) -> PageItem:
        """The page's record (its headers record bounded), counted in the stats;
        *links*: the PageItem fields of what its links gave."""
        request = response.request
        assert request is not None
        meta = response.meta
        is_html = content_type in paths.HTML_TYPES
        cut: list[str] = []  # what the headers record's caps leave out
        cookies, session = self._cookie_records(request, response, cut)
        item = PageItem(
            link=LinkMetadata(url=url, network=kind, scheme=url.split(":", 1)[0].lower(), host=host,
                              backref=meta.get(BACKREF_KEY)),
            timestamp=visit,
            final_url=response.url,
            method=request.method,
            status=response.status,
            reason=reason_phrase(response.status),
            content_type=content_type,
            request_headers=headers_dict(request.headers, self.options.record_limits, cut, "request headers"),
            response_headers=headers_dict(response.headers, self.options.record_limits, cut, "response headers"),
            cookies=cookies,
            session=session,
            history=list(meta.get(HISTORY_KEY, ())),
            body=response.body,
            is_html=is_html,
            timing=meta.get(TIMING_KEY),
            **links,
        )
        bound_page_record(item, self.options.record_limits, cut)
        if item.cut:
            self.stats.inc_value("darkcrawl/records/cut")
            logger.info("headers record of %s cut: %s", url, "; ".join(item.cut))
        self.stats.inc_value("darkcrawl/pages")
        if is_html:
            self.stats.inc_value("darkcrawl/html_pages")
        if item.links_found:
            self.stats.inc_value("darkcrawl/links/found", item.links_found)
        return item

    def _cookie_records(self, request: Request, response: Response,
                        cut: list[str]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        limits = self.options.record_limits
        cookies = bound_cookies([cookie_dict(c) for c in response_cookies(request, response, limits, cut)],
                                limits, cut, "Cookies")
        session: list[dict[str, Any]] = []
        if self._cookies is not None:
            jar = self._cookies.jars.get(request.meta.get("cookiejar"))
            if jar is not None and len(jar):
                hostname = urlparse_cached(request).hostname or ""
                session = bound_cookies([cookie_dict(c) for c in jar_cookies(jar.jar, hostname)], limits, cut, "Session")
        return cookies, session

    def on_error(self, failure: Failure) -> Iterator[FailureItem]:
        request: Request = failure.request  # type: ignore[attr-defined]
        self.stats.inc_value(f"darkcrawl/fetch_error/{failure.type.__name__}")
        reason, error = failure_reason(failure, Transfer.of(request, self.settings.getint("DOWNLOAD_MAXSIZE")))
        if error == ROBOTS_DISALLOWED:  # a skip, recorded all the same
            logger.info("skipped %s: %s", request.url, reason)
        else:
            logger.info("fetch failed %s: %s", request.url, reason)
        item = failure_item(request, "plain", reason, error)
        if self.revisits.enabled:
            kind, host, _service = request.meta.get(LINK_KEY) or self._link_of(request.url)
            self.revisits.adopt(request.url, request.meta.get(REVISIT_STATE_KEY))
            self.revisits.failed(request.url, request.meta.get("depth", 0), parse_time(item.timestamp), error,
                                 host_key(kind, host))
        yield item

    def _headers_received(self, headers: Any, body_length: int, request: Request, spider: Spider) -> None:
        if request.meta.get(BOOTSTRAP_KEY):
            return
        raw = headers.get(b"Content-Type")
        if raw and not self.options.scope.mime_allowed(raw.decode("latin-1")):
            raise StopDownload(fail=False)  # the callback drops it: no body wasted on it

    def _link_of(self, url: str) -> tuple[str, str, str]:
        link = classify(url, self.options.gateways)
        return link.kind, link.host, link.service

    # -- freshness ------------------------------------------------------------------

    def _host_key_of(self, url: str) -> str:
        kind, host, _service = self._link_of(url)
        return host_key(kind, host)
